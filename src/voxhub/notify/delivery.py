"""Outgoing webhook deliveries: events queued per subscribed endpoint, sent signed, retried with backoff for up to a
day, logged attempt by attempt; an endpoint failing for three days is disabled."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
from prometheus_client import Counter
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from voxhub.audit import service as audit
from voxhub.clock import as_utc, utcnow
from voxhub.context import AppContext
from voxhub.errors import NotFound, Unprocessable
from voxhub.notify import signing
from voxhub.notify.endpoints import check_target, get_endpoint
from voxhub.notify.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from voxhub.observability import PROCESS_REGISTRY
from voxhub.pagination import paginate
from voxhub.workspaces import service as workspaces
from voxhub.workspaces.models import Role
from voxhub.workspaces.service import WorkspaceAccess

log = logging.getLogger("voxhub.webhooks")

# Delays before each retry, Standard Webhooks style, kept within the promised 24 hours (23.6 h in all).
RETRY_DELAYS_S = (5, 300, 1800, 7200, 18000, 28800, 28800)
DISABLE_AFTER = timedelta(days=3)
BODY_KEEP = 2048
WEBHOOK_DELIVERIES = Counter(
    "voxhub_webhook_deliveries_total", "Webhook delivery attempts by outcome.", ["outcome"], registry=PROCESS_REGISTRY
)


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


# ---- the delivery log ----


def list_deliveries(
    db: Session, *, endpoint: WebhookEndpoint, cursor: str | None, limit: int
) -> tuple[list[WebhookDelivery], str | None]:
    """One page of the endpoint's deliveries and the cursor of the next page."""
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    return paginate(db, query, WebhookDelivery.id, cursor=cursor, limit=limit)


def delivery_attempts(db: Session, *, delivery_ids: list[str]) -> dict[str, list[WebhookAttempt]]:
    """The attempts of each given delivery, in the order they were made (one query for a whole page)."""
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
                WebhookDelivery.status == DeliveryStatus.PENDING,
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
        return signing.job_webhook_secret(ctx, delivery.workspace_id), None
    endpoint = db.get(WebhookEndpoint, delivery.endpoint_id)
    assert endpoint is not None
    return signing.open_secret(ctx, endpoint_id=endpoint.id, ciphertext=endpoint.secret_ciphertext), endpoint


def attempt_delivery(db: Session, *, ctx: AppContext, delivery: WebhookDelivery) -> None:
    """POST the delivery, signed, once; record the attempt and either finish it or schedule its next retry."""
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
        "webhook-signature": signing.sign(secret, delivery.id, timestamp, body),
    }
    delivery.attempts += 1
    record = WebhookAttempt(delivery_id=delivery.id, number=delivery.attempts)
    started = time.monotonic()
    ok = False
    try:
        check_target(ctx, delivery.url)
        response = httpx.post(
            delivery.url,
            content=body,
            headers=headers,
            timeout=ctx.settings.webhook_timeout_s,
            follow_redirects=False,
        )
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
        delivery.status, delivery.finished_at, delivery.next_attempt_at = DeliveryStatus.SUCCEEDED, now, None
        if endpoint is not None:
            endpoint.failing_since = None
        return
    if delivery.attempts > len(RETRY_DELAYS_S):
        delivery.status, delivery.finished_at, delivery.next_attempt_at = DeliveryStatus.FAILED, now, None
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
        for owner in workspaces.owners(db, workspace_id=endpoint.workspace_id):
            ctx.mailer.send_after_commit(
                db,
                template="webhook_disabled",
                to=owner.email,
                context={"name": owner.name, "url": endpoint.url},
                user_id=owner.id,
                workspace_id=endpoint.workspace_id,
            )
        log.warning("webhook endpoint %s disabled after failing for 3 days", endpoint.id)
