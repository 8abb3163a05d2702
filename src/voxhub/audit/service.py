"""Recording who changed what (audit log) and what happened to an account (security events)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from voxhub import geo
from voxhub.audit.models import AuditEvent, SecurityEvent
from voxhub.pagination import created_between, paginate


@dataclass(frozen=True)
class Actor:
    """Who is making a change, and from where: a signed-in user or an API key."""

    user_id: str | None = None
    api_key_id: str | None = None
    ip: str = ""
    user_agent: str = ""

    @classmethod
    def system(cls) -> Actor:
        return cls(user_agent="voxhub")


def record(
    db: Session,
    *,
    actor: Actor,
    action: str,
    workspace_id: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    summary: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit row to the caller's transaction; it commits or rolls back with the change it describes."""
    event = AuditEvent(
        workspace_id=workspace_id,
        actor_user_id=actor.user_id,
        actor_api_key_id=actor.api_key_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        ip=actor.ip[:64],
        user_agent=actor.user_agent[:500],
        summary=summary or {},
    )
    db.add(event)
    return event


def security_event(
    db: Session, *, user_id: str, kind: str, actor: Actor, details: dict[str, Any] | None = None
) -> None:
    """Add an entry to the user's own security log (sign-ins, password and key changes), placed by its IP."""
    place = geo.locate(actor.ip)
    db.add(
        SecurityEvent(
            user_id=user_id,
            kind=kind,
            ip=actor.ip[:64],
            user_agent=actor.user_agent[:500],
            country=place.country if place else None,
            city=place.city if place else None,
            details=details or {},
        )
    )


def list_audit(
    db: Session,
    *,
    workspace_id: str,
    cursor: str | None,
    limit: int,
    action: str | None = None,
    actor_user_id: str | None = None,
    actor_api_key_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[AuditEvent], str | None]:
    """One page of the workspace's audit log, filtered by action, actor and time, and the next cursor."""
    query = select(AuditEvent).where(AuditEvent.workspace_id == workspace_id)
    if action:
        # "workspace.member." matches every member action; a full name matches exactly.
        query = query.where(
            AuditEvent.action.startswith(action) if action.endswith(".") else AuditEvent.action == action
        )
    if actor_user_id:
        query = query.where(AuditEvent.actor_user_id == actor_user_id)
    if actor_api_key_id:
        query = query.where(AuditEvent.actor_api_key_id == actor_api_key_id)
    query = created_between(query, AuditEvent.created_at, since, until)
    return paginate(db, query, AuditEvent.id, cursor=cursor, limit=limit)


def list_security_events(
    db: Session, *, user_id: str, cursor: str | None, limit: int
) -> tuple[list[SecurityEvent], str | None]:
    """One page of the user's security log and the next cursor."""
    query = select(SecurityEvent).where(SecurityEvent.user_id == user_id)
    return paginate(db, query, SecurityEvent.id, cursor=cursor, limit=limit)
