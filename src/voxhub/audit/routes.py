"""HTTP routes for reading the audit log and one's own security events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from voxhub.audit import service
from voxhub.audit.schemas import AuditEventOut, SecurityEventOut
from voxhub.deps import AdminAccess, CurrentUser, DbSession
from voxhub.errors import responses
from voxhub.pagination import Cursor, Page, QueryTime

router = APIRouter(tags=["audit"])

Limit = Annotated[int, Query(ge=1, le=200)]


@router.get(
    "/api/v1/workspaces/{workspace_id}/audit-log", summary="Read the audit log", responses=responses(401, 403, 404, 422)
)
def audit_log(
    db: DbSession,
    access: AdminAccess,
    cursor: Cursor = None,
    limit: Limit = 50,
    action: Annotated[str | None, Query(description="Exact action, or a prefix ending in '.'")] = None,
    actor_user_id: str | None = None,
    actor_api_key_id: str | None = None,
    since: QueryTime | None = None,
    until: QueryTime | None = None,
) -> Page[AuditEventOut]:
    """Every change made in the workspace, newest first (admins)."""
    rows, next_cursor = service.list_audit(
        db,
        workspace_id=access.workspace_id,
        cursor=cursor,
        limit=limit,
        action=action,
        actor_user_id=actor_user_id,
        actor_api_key_id=actor_api_key_id,
        since=since,
        until=until,
    )
    return Page(items=[AuditEventOut.model_validate(row) for row in rows], next_cursor=next_cursor)


@router.get("/api/v1/me/security-events", summary="My security events", responses=responses(401, 403, 422))
def security_events(db: DbSession, me: CurrentUser, cursor: Cursor = None, limit: Limit = 50) -> Page[SecurityEventOut]:
    """Failed sign-ins, sign-ins from a new country or device, lockouts, token reuse, password and key changes, each
    with its IP address and the place it was looked up to — newest first."""
    rows, next_cursor = service.list_security_events(db, user_id=me.user.id, cursor=cursor, limit=limit)
    return Page(items=[SecurityEventOut.of(row) for row in rows], next_cursor=next_cursor)
