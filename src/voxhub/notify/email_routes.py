"""HTTP routes for email: one's own preferences, one-click unsubscribe, the email log (workspace admins, superusers)
and SendGrid's Event Webhook."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from voxhub.deps import AdminAccess, AnonymousActor, Ctx, CurrentUser, DbSession, SuperUser
from voxhub.errors import responses
from voxhub.mail.models import EmailLog, EmailStatus
from voxhub.mail.schemas import (
    EmailLogOut,
    EmailPreferencesOut,
    EmailPreferencesPatch,
    ProviderEventsAck,
    UnsubscribedOut,
)
from voxhub.notify import email
from voxhub.pagination import Cursor, Page

router = APIRouter(tags=["email"])

Limit = Annotated[int, Query(ge=1, le=200)]
Template = Annotated[str | None, Query(max_length=64, pattern="^[a-z_]+$")]
To = Annotated[str | None, Query(max_length=320, description="Only mail to this address.")]


def log_out(row: EmailLog) -> EmailLogOut:
    return EmailLogOut(
        id=row.id,
        workspace_id=row.workspace_id,
        user_id=row.user_id,
        to=row.to_address,
        template=row.template,
        category=row.category,
        subject=row.subject,
        status=EmailStatus(row.status),
        provider=row.provider,
        provider_message_id=row.provider_message_id,
        error=row.error,
        attempts=row.attempts,
        created_at=row.created_at,
        sent_at=row.sent_at,
        updated_at=row.updated_at,
    )


@router.get("/api/v1/me/email-preferences", summary="My email preferences", responses=responses(401, 403))
def get_preferences(db: DbSession, me: CurrentUser) -> EmailPreferencesOut:
    """Which mail I get: security and account mail always; billing, jobs and product news while turned on."""
    return email.preferences(db, user_id=me.user.id)


@router.patch(
    "/api/v1/me/email-preferences", summary="Change my email preferences", responses=responses(400, 401, 403, 422)
)
def patch_preferences(body: EmailPreferencesPatch, db: DbSession, me: CurrentUser) -> EmailPreferencesOut:
    """Turn optional mail (billing, jobs, product_news) on or off; security and account mail cannot be."""
    return email.update_preferences(db, user_id=me.user.id, patch=body, actor=me.actor)


@router.post(
    "/api/v1/email/unsubscribe",
    summary="One-click unsubscribe",
    responses=responses(400, 422, 429),
)
def unsubscribe(
    db: DbSession,
    ctx: Ctx,
    actor: AnonymousActor,
    token: Annotated[str, Query(min_length=10, max_length=300, description="The token of the mail's link.")],
) -> UnsubscribedOut:
    """The link in every optional mail and its `List-Unsubscribe` header (RFC 8058: mail clients POST
    `List-Unsubscribe=One-Click` here). No sign-in: the token turns off its own category for its own user."""
    return email.unsubscribe(db, ctx=ctx, token=token, actor=actor)


@router.post(
    "/api/v1/email/sendgrid/events",
    summary="SendGrid Event Webhook",
    responses=responses(400, 404, 429),
)
async def sendgrid_events(request: Request, db: DbSession, ctx: Ctx) -> ProviderEventsAck:
    """SendGrid's signed events (delivered, bounce, dropped, spamreport) update the email log by message id;
    bounces and spam complaints stop optional mail to the address."""
    body = await request.body()
    received, applied = await run_in_threadpool(
        email.receive_sendgrid_events, db, ctx=ctx, headers=dict(request.headers), body=body
    )
    return ProviderEventsAck(received=received, applied=applied)


@router.get(
    "/api/v1/workspaces/{workspace_id}/email-log",
    summary="The workspace's email log",
    responses=responses(401, 403, 404, 422),
)
def workspace_email_log(
    db: DbSession,
    access: AdminAccess,
    cursor: Cursor = None,
    limit: Limit = 50,
    status: EmailStatus | None = None,
    template: Template = None,
    to: To = None,
) -> Page[EmailLogOut]:
    """Mail sent about this workspace (invitations, billing, finished jobs), newest first, with its status (admins)."""
    rows, next_cursor = email.list_log(
        db, workspace_id=access.workspace_id, cursor=cursor, limit=limit, status=status, template=template, to=to
    )
    return Page(items=[log_out(row) for row in rows], next_cursor=next_cursor)


@router.get("/api/v1/admin/email-log", summary="Every mail (superusers)", responses=responses(401, 403, 422))
def all_email_log(
    db: DbSession,
    me: SuperUser,
    cursor: Cursor = None,
    limit: Limit = 50,
    status: EmailStatus | None = None,
    template: Template = None,
    to: To = None,
) -> Page[EmailLogOut]:
    """Every mail voxhub sent, of every workspace and of none (sign-in and account mail), newest first."""
    rows, next_cursor = email.list_log(
        db, workspace_id=None, cursor=cursor, limit=limit, status=status, template=template, to=to
    )
    return Page(items=[log_out(row) for row in rows], next_cursor=next_cursor)
