"""Webhook endpoints a workspace's admins manage: create, list, change, rotate the secret, delete; and the check
that a delivery target is not a private address."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from voxhub.audit import service as audit
from voxhub.context import AppContext
from voxhub.errors import NotFound, Unprocessable, field_errors
from voxhub.notify import signing
from voxhub.notify.models import WebhookEndpoint
from voxhub.workspaces.models import Role
from voxhub.workspaces.service import WorkspaceAccess

EVENT_TYPES = (
    "job.succeeded",
    "job.failed",
    "job.canceled",
    "file.ready",
    "file.rejected",
    "billing.usage_alert",
    "podcast.succeeded",
    "podcast.failed",
    "dub.awaiting_review",
    "dub.succeeded",
    "dub.failed",
)


def check_target(ctx: AppContext, url: str) -> None:
    """Refuse URLs that resolve to private, loopback or link-local addresses (unless the operator allows them)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Unprocessable("Webhook URLs must be http(s) URLs.", code="webhook_url_not_allowed")
    if ctx.settings.webhooks_allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except socket.gaierror as exc:
        raise Unprocessable(f"The host {parts.hostname} cannot be resolved.", code="webhook_url_not_allowed") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise Unprocessable(
                "Webhook URLs may not point at private, loopback or link-local addresses.",
                code="webhook_url_not_allowed",
                details={"address": str(address)},
            )


def _validate_events(events: list[str]) -> list[str]:
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise Unprocessable(
            f"Unknown event types: {', '.join(unknown)}.",
            code="validation_error",
            details=field_errors(("events", f"known: {', '.join(EVENT_TYPES)}")),
        )
    return sorted(set(events))


def create_endpoint(
    db: Session,
    *,
    ctx: AppContext,
    access: WorkspaceAccess,
    url: str,
    events: list[str],
    description: str,
    enabled: bool,
) -> tuple[WebhookEndpoint, str]:
    """Subscribe `url` to `events` (admins only); returns the endpoint and its secret, which is shown only now."""
    access.require(Role.ADMIN)
    check_target(ctx, url)
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(
        workspace_id=access.workspace_id,
        url=url,
        events=_validate_events(events),
        description=description,
        enabled=enabled,
        secret_ciphertext="",
        created_by=access.user.id if access.user else None,
    )
    db.add(endpoint)
    db.flush()
    endpoint.secret_ciphertext = signing.seal_secret(ctx, endpoint_id=endpoint.id, secret=secret)
    audit.record(
        db,
        actor=access.actor,
        action="webhook.created",
        workspace_id=access.workspace_id,
        target_type="webhook",
        target_id=endpoint.id,
        summary={"url": url, "events": endpoint.events},
    )
    return endpoint, secret


def get_endpoint(db: Session, *, workspace_id: str, endpoint_id: str) -> WebhookEndpoint:
    """The workspace's endpoint, or 404 `webhook_not_found` (also for another workspace's)."""
    endpoint = db.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.workspace_id != workspace_id:
        raise NotFound("Webhook not found.", code="webhook_not_found")
    return endpoint


def list_endpoints(db: Session, *, workspace_id: str) -> list[WebhookEndpoint]:
    """Every endpoint of the workspace, oldest first."""
    return list(
        db.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.workspace_id == workspace_id).order_by(WebhookEndpoint.id)
        )
    )


def update_endpoint(
    db: Session, *, ctx: AppContext, access: WorkspaceAccess, endpoint_id: str, changes: dict[str, Any]
) -> WebhookEndpoint:
    """Apply the given changes (url, events, description, enabled; admins only); enabling clears the failure state."""
    access.require(Role.ADMIN)
    endpoint = get_endpoint(db, workspace_id=access.workspace_id, endpoint_id=endpoint_id)
    if "url" in changes:
        check_target(ctx, changes["url"])
        endpoint.url = changes["url"]
    if "events" in changes:
        endpoint.events = _validate_events(changes["events"])
    if "description" in changes:
        endpoint.description = changes["description"]
    if "enabled" in changes:
        endpoint.enabled = bool(changes["enabled"])
        if endpoint.enabled:
            endpoint.failing_since = None
            endpoint.disabled_reason = None
    audit.record(
        db,
        actor=access.actor,
        action="webhook.updated",
        workspace_id=access.workspace_id,
        target_type="webhook",
        target_id=endpoint.id,
        summary={k: v for k, v in changes.items()},
    )
    return endpoint


def rotate_secret(db: Session, *, ctx: AppContext, access: WorkspaceAccess, endpoint_id: str) -> str:
    """Give the endpoint a new signing secret (admins only) and return it; it signs every delivery from now on."""
    access.require(Role.ADMIN)
    endpoint = get_endpoint(db, workspace_id=access.workspace_id, endpoint_id=endpoint_id)
    secret = signing.new_secret()
    endpoint.secret_ciphertext = signing.seal_secret(ctx, endpoint_id=endpoint.id, secret=secret)
    audit.record(
        db,
        actor=access.actor,
        action="webhook.secret_rotated",
        workspace_id=access.workspace_id,
        target_type="webhook",
        target_id=endpoint.id,
    )
    return secret


def delete_endpoint(db: Session, *, access: WorkspaceAccess, endpoint_id: str) -> None:
    """Remove the endpoint (admins only): no more events are sent to it."""
    access.require(Role.ADMIN)
    endpoint = get_endpoint(db, workspace_id=access.workspace_id, endpoint_id=endpoint_id)
    db.delete(endpoint)
    audit.record(
        db,
        actor=access.actor,
        action="webhook.deleted",
        workspace_id=access.workspace_id,
        target_type="webhook",
        target_id=endpoint_id,
        summary={"url": endpoint.url},
    )
