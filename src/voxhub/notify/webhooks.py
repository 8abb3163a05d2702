"""Outgoing webhooks, signed with the Standard Webhooks scheme and retried with backoff for up to a day."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from prometheus_client import Counter
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from voxhub.audit import service as audit
from voxhub.clock import as_utc, utcnow
from voxhub.context import AppContext
from voxhub.errors import NotFound, Unprocessable, field_errors
from voxhub.notify.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from voxhub.observability import PROCESS_REGISTRY
from voxhub.pagination import paginate
from voxhub.workspaces.models import Membership, Role
from voxhub.workspaces.service import WorkspaceAccess

log = logging.getLogger("voxhub.webhooks")

EVENT_TYPES = ("job.succeeded", "job.failed", "job.canceled", "file.ready", "file.rejected", "billing.usage_alert")
# Delays before each retry, Standard Webhooks style, kept within the promised 24 hours (23.6 h in all).
RETRY_DELAYS_S = (5, 300, 1800, 7200, 18000, 28800, 28800)
TIMEOUT_S = 10.0
DISABLE_AFTER = timedelta(days=3)
BODY_KEEP = 2048
WEBHOOK_DELIVERIES = Counter(
    "voxhub_webhook_deliveries_total", "Webhook delivery attempts by outcome.", ["outcome"], registry=PROCESS_REGISTRY
)


# ---- signing ----


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def job_webhook_secret(ctx: AppContext, workspace_id: str) -> str:
    """The secret signing deliveries to a job's own webhook_url: derived per workspace, never stored."""
    raw = ctx.keyring.sign(f"job-webhook:{workspace_id}", purpose="webhooks")
    return "whsec_" + base64.b64encode(bytes.fromhex(raw)[:24]).decode()


def _context(endpoint_id: str) -> str:
    return f"webhook-endpoint:{endpoint_id}"


# ---- where deliveries may go ----


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


# ---- endpoints ----


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
    access.require(Role.ADMIN)
    check_target(ctx, url)
    secret = new_secret()
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
    endpoint.secret_ciphertext = ctx.keyring.encrypt(secret, context=_context(endpoint.id))
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
    endpoint = db.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.workspace_id != workspace_id:
        raise NotFound("Webhook not found.", code="webhook_not_found")
    return endpoint


def list_endpoints(db: Session, *, workspace_id: str) -> list[WebhookEndpoint]:
    return list(
        db.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.workspace_id == workspace_id).order_by(WebhookEndpoint.id)
        )
    )


def update_endpoint(
    db: Session, *, ctx: AppContext, access: WorkspaceAccess, endpoint_id: str, changes: dict[str, Any]
) -> WebhookEndpoint:
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
    access.require(Role.ADMIN)
    endpoint = get_endpoint(db, workspace_id=access.workspace_id, endpoint_id=endpoint_id)
    secret = new_secret()
    endpoint.secret_ciphertext = ctx.keyring.encrypt(secret, context=_context(endpoint.id))
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


def list_deliveries(
    db: Session, *, endpoint: WebhookEndpoint, cursor: str | None, limit: int
) -> tuple[list[WebhookDelivery], str | None]:
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    return paginate(db, query, WebhookDelivery.id, cursor=cursor, limit=limit)


def delivery_attempts(db: Session, *, delivery_ids: list[str]) -> dict[str, list[WebhookAttempt]]:
    grouped: dict[str, list[WebhookAttempt]] = {delivery_id: [] for delivery_id in delivery_ids}
    for attempt in db.scalars(
        select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(delivery_ids)).order_by(WebhookAttempt.number)
    ):
        grouped[attempt.delivery_id].append(attempt)
    return grouped


def redeliver(db: Session, *, access: WorkspaceAccess, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
    """Send a past event again, as a new delivery with a fresh retry schedule."""
    access.require(Role.ADMIN)
    endpoint = get_endpoint(db, workspace_id=access.workspace_id, endpoint_id=endpoint_id)
    original = db.get(WebhookDelivery, delivery_id)
    if original is None or original.endpoint_id != endpoint.id:
        raise NotFound("Delivery not found.", code="delivery_not_found")
    copy = WebhookDelivery(
        workspace_id=endpoint.workspace_id,
        endpoint_id=endpoint.id,
        url=endpoint.url,
        event_type=original.event_type,
        payload=original.payload,
    )
    db.add(copy)
    db.flush()
    audit.record(
        db,
        actor=access.actor,
        action="webhook.redelivered",
        workspace_id=access.workspace_id,
        target_type="webhook_delivery",
        target_id=copy.id,
        summary={"original": delivery_id},
    )
    return copy


# ---- producing events ----


def emit(
    db: Session, *, workspace_id: str, event_type: str, data: dict[str, Any], extra_url: str | None = None
) -> list[WebhookDelivery]:
    """Queue one delivery per enabled endpoint subscribed to `event_type` (and one to `extra_url`)."""
    payload = {"type": event_type, "timestamp": utcnow().isoformat().replace("+00:00", "Z"), "data": data}
    deliveries = []
    endpoints = db.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.workspace_id == workspace_id, WebhookEndpoint.enabled.is_(True))
    )
    for endpoint in endpoints:
        if event_type in endpoint.events:
            deliveries.append(
                WebhookDelivery(
                    workspace_id=workspace_id,
                    endpoint_id=endpoint.id,
                    url=endpoint.url,
                    event_type=event_type,
                    payload=payload,
                )
            )
    if extra_url:
        deliveries.append(
            WebhookDelivery(
                workspace_id=workspace_id, endpoint_id=None, url=extra_url, event_type=event_type, payload=payload
            )
        )
    db.add_all(deliveries)
    return deliveries


# ---- delivering ----


def deliver_due(db: Session, *, ctx: AppContext, now: datetime | None = None, limit: int = 50) -> int:
    """Attempt every delivery that is due; returns how many were attempted."""
    now = now or utcnow()
    # A disabled endpoint's retries wait, and resume if it is enabled again.
    due = list(
        db.scalars(
            select(WebhookDelivery)
            .outerjoin(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now,
                or_(WebhookDelivery.endpoint_id.is_(None), WebhookEndpoint.enabled.is_(True)),
            )
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        )
    )
    # Results are written when the batch ends: no write lock is held while waiting on receivers (SQLite has one).
    with db.no_autoflush:
        for delivery in due:
            attempt_delivery(db, ctx=ctx, delivery=delivery)
    return len(due)


def _secret_for(db: Session, ctx: AppContext, delivery: WebhookDelivery) -> tuple[str, WebhookEndpoint | None]:
    if delivery.endpoint_id is None:
        return job_webhook_secret(ctx, delivery.workspace_id), None
    endpoint = db.get(WebhookEndpoint, delivery.endpoint_id)
    assert endpoint is not None
    return ctx.keyring.decrypt(endpoint.secret_ciphertext, context=_context(endpoint.id)), endpoint


def attempt_delivery(db: Session, *, ctx: AppContext, delivery: WebhookDelivery) -> None:
    secret, endpoint = _secret_for(db, ctx, delivery)
    if endpoint is not None:
        delivery.url = endpoint.url  # a retry follows the endpoint to the URL it was changed to
    body = json.dumps(delivery.payload, separators=(",", ":"), default=str).encode()
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": "voxhub-webhooks/1",
        "webhook-id": delivery.id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, delivery.id, timestamp, body),
    }
    delivery.attempts += 1
    record = WebhookAttempt(delivery_id=delivery.id, number=delivery.attempts)
    started = time.monotonic()
    ok = False
    try:
        check_target(ctx, delivery.url)
        response = httpx.post(delivery.url, content=body, headers=headers, timeout=TIMEOUT_S, follow_redirects=False)
        record.status_code = response.status_code
        record.response_body = response.text[:BODY_KEEP]
        ok = 200 <= response.status_code < 300
    except (httpx.HTTPError, Unprocessable) as exc:
        record.error = f"{type(exc).__name__}: {exc}"[:500]
    record.response_ms = int((time.monotonic() - started) * 1000)
    db.add(record)
    delivery.last_status_code = record.status_code
    now = utcnow()
    WEBHOOK_DELIVERIES.labels("success" if ok else "failure").inc()
    if ok:
        delivery.status, delivery.finished_at, delivery.next_attempt_at = "succeeded", now, None
        if endpoint is not None:
            endpoint.failing_since = None
        return
    if delivery.attempts > len(RETRY_DELAYS_S):
        delivery.status, delivery.finished_at, delivery.next_attempt_at = "failed", now, None
    else:
        delivery.next_attempt_at = now + timedelta(seconds=RETRY_DELAYS_S[delivery.attempts - 1])
    if endpoint is not None:
        _note_endpoint_failure(db, ctx=ctx, endpoint=endpoint, now=now)


def _note_endpoint_failure(db: Session, *, ctx: AppContext, endpoint: WebhookEndpoint, now: datetime) -> None:
    """An endpoint failing for three days is disabled, and the workspace's owners are told by mail."""
    if endpoint.failing_since is None:
        endpoint.failing_since = now
        return
    if endpoint.enabled and as_utc(endpoint.failing_since) <= now - DISABLE_AFTER:
        endpoint.enabled = False
        endpoint.disabled_reason = "failing for 3 days"
        from voxhub.accounts.models import User

        owners = db.scalars(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.workspace_id == endpoint.workspace_id, Membership.role == Role.OWNER.value)
        )
        for owner in owners:
            ctx.mailer.send_after_commit(
                db, template="webhook_disabled", to=owner.email, context={"name": owner.name, "url": endpoint.url}
            )
        log.warning("webhook endpoint %s disabled after failing for 3 days", endpoint.id)
