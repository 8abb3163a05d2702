"""HTTP routes for outgoing webhook endpoints and their delivery logs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from voxhub.deps import AdminAccess, Ctx, DbSession
from voxhub.errors import responses
from voxhub.notify import delivery, endpoints, signing
from voxhub.notify.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from voxhub.notify.schemas import (
    AttemptOut,
    DeliveryOut,
    SecretOut,
    WebhookCreatedOut,
    WebhookIn,
    WebhookOut,
    WebhookPatch,
)
from voxhub.pagination import Cursor, Page

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/webhooks", tags=["webhooks"])

ERRORS = responses(401, 403, 404, 422)


def endpoint_out(endpoint: WebhookEndpoint) -> WebhookOut:
    return WebhookOut(
        id=endpoint.id,
        url=endpoint.url,
        events=endpoint.events,
        description=endpoint.description,
        enabled=endpoint.enabled,
        disabled_reason=endpoint.disabled_reason,
        failing_since=endpoint.failing_since,
        created_at=endpoint.created_at,
    )


def delivery_out(delivery: WebhookDelivery, attempts: list[WebhookAttempt]) -> DeliveryOut:
    return DeliveryOut(
        id=delivery.id,
        event_type=delivery.event_type,
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        last_status_code=delivery.last_status_code,
        created_at=delivery.created_at,
        finished_at=delivery.finished_at,
        payload=delivery.payload,
        attempt_log=[
            AttemptOut(
                number=a.number,
                attempted_at=a.attempted_at,
                status_code=a.status_code,
                response_ms=a.response_ms,
                response_body=a.response_body,
                error=a.error,
            )
            for a in attempts
        ],
    )


@router.post("", status_code=201, summary="Add a webhook endpoint", responses=ERRORS)
def create_webhook(body: WebhookIn, db: DbSession, ctx: Ctx, access: AdminAccess) -> WebhookCreatedOut:
    """Subscribe a URL to events. The signing secret is in this response only."""
    endpoint, secret = endpoints.create_endpoint(
        db,
        ctx=ctx,
        access=access,
        url=str(body.url),
        events=body.events,
        description=body.description,
        enabled=body.enabled,
    )
    return WebhookCreatedOut(**endpoint_out(endpoint).model_dump(), secret=secret)


@router.get("", summary="List webhook endpoints", responses=ERRORS)
def list_webhooks(db: DbSession, access: AdminAccess) -> Page[WebhookOut]:
    """Every endpoint of the workspace."""
    return Page(items=[endpoint_out(e) for e in endpoints.list_endpoints(db, workspace_id=access.workspace_id)])


@router.get("/job-secret", summary="The secret signing job webhook_url deliveries", responses=ERRORS)
def job_secret(ctx: Ctx, access: AdminAccess) -> SecretOut:
    """Deliveries to a job's own `webhook_url` are signed with this workspace secret."""
    return SecretOut(secret=signing.job_webhook_secret(ctx, access.workspace_id))


@router.get("/{webhook_id}", summary="Get a webhook endpoint", responses=ERRORS)
def get_webhook(webhook_id: str, db: DbSession, access: AdminAccess) -> WebhookOut:
    """One endpoint."""
    return endpoint_out(endpoints.get_endpoint(db, workspace_id=access.workspace_id, endpoint_id=webhook_id))


@router.patch("/{webhook_id}", summary="Change a webhook endpoint", responses=ERRORS)
def patch_webhook(webhook_id: str, body: WebhookPatch, db: DbSession, ctx: Ctx, access: AdminAccess) -> WebhookOut:
    """Change URL, events, description, or enable/disable it."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True, mode="json")  # null: leave it as it is
    return endpoint_out(endpoints.update_endpoint(db, ctx=ctx, access=access, endpoint_id=webhook_id, changes=changes))


@router.delete("/{webhook_id}", status_code=204, summary="Delete a webhook endpoint", responses=ERRORS)
def delete_webhook(webhook_id: str, db: DbSession, access: AdminAccess) -> Response:
    """Stop sending events to this endpoint."""
    endpoints.delete_endpoint(db, access=access, endpoint_id=webhook_id)
    return Response(status_code=204)


@router.post("/{webhook_id}/rotate-secret", summary="Rotate the signing secret", responses=ERRORS)
def rotate_webhook_secret(webhook_id: str, db: DbSession, ctx: Ctx, access: AdminAccess) -> SecretOut:
    """A new secret signs every delivery from now on."""
    return SecretOut(secret=endpoints.rotate_secret(db, ctx=ctx, access=access, endpoint_id=webhook_id))


@router.get("/{webhook_id}/deliveries", summary="Delivery log", responses=ERRORS)
def list_deliveries(
    webhook_id: str,
    db: DbSession,
    access: AdminAccess,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[DeliveryOut]:
    """Deliveries to this endpoint, newest first, each with its attempts (status, response time, body)."""
    endpoint = endpoints.get_endpoint(db, workspace_id=access.workspace_id, endpoint_id=webhook_id)
    rows, next_cursor = delivery.list_deliveries(db, endpoint=endpoint, cursor=cursor, limit=limit)
    attempts = delivery.delivery_attempts(db, delivery_ids=[row.id for row in rows])
    return Page(items=[delivery_out(row, attempts[row.id]) for row in rows], next_cursor=next_cursor)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    summary="Send a delivery again",
    responses=ERRORS,
)
def redeliver(webhook_id: str, delivery_id: str, db: DbSession, access: AdminAccess) -> DeliveryOut:
    """Queue the same event again as a new delivery."""
    copy = delivery.redeliver(db, access=access, endpoint_id=webhook_id, delivery_id=delivery_id)
    return delivery_out(copy, [])
