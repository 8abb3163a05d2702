"""Email that people manage: their preferences by category, one-click unsubscribe, the email log as superusers and
workspace admins read it, and SendGrid's signed events moving a mail to delivered, bounced or complained.
Sending is the mail room's (voxhub.mail); this module holds the audited changes and reads above it."""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from voxhub.accounts.models import User
from voxhub.audit import service as audit
from voxhub.audit.service import Actor
from voxhub.clock import utcnow
from voxhub.context import AppContext
from voxhub.errors import BadRequest, NotFound
from voxhub.mail import service as mail
from voxhub.mail.models import EmailLog, EmailPreferences, EmailStatus, EmailSuppression
from voxhub.mail.providers import sendgrid_signature_valid
from voxhub.mail.schemas import EmailPreferencesOut, EmailPreferencesPatch, UnsubscribedOut
from voxhub.pagination import paginate

log = logging.getLogger("voxhub.mail")

SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"

# A later event never moves a mail back: a `delivered` arriving after its `bounce` changes nothing, nor does a replay.
RANK = {
    EmailStatus.QUEUED: 0,
    EmailStatus.SENT: 1,
    EmailStatus.DELIVERED: 2,
    EmailStatus.FAILED: 3,
    EmailStatus.BOUNCED: 4,
    EmailStatus.COMPLAINED: 5,
}


class InvalidSignature(BadRequest):
    code = "invalid_signature"


# ---- preferences ----


def preferences(db: Session, *, user_id: str) -> EmailPreferencesOut:
    """The user's mail preferences; every optional category is on until they turn it off."""
    row = db.get(EmailPreferences, user_id)
    if row is None:
        return EmailPreferencesOut(billing=True, jobs=True, product_news=True)
    return EmailPreferencesOut(billing=row.billing, jobs=row.jobs, product_news=row.product_news)


def _set(db: Session, *, user_id: str, changes: dict[str, bool]) -> EmailPreferences:
    row = db.get(EmailPreferences, user_id)
    if row is None:
        row = EmailPreferences(user_id=user_id, billing=True, jobs=True, product_news=True)
        db.add(row)
    for category, wanted in changes.items():
        setattr(row, category, wanted)
    row.updated_at = utcnow()
    return row


def update_preferences(db: Session, *, user_id: str, patch: EmailPreferencesPatch, actor: Actor) -> EmailPreferencesOut:
    """Turn optional categories on or off for the user (audited)."""
    changes = {name: value for name, value in patch.model_dump(exclude_none=True).items()}
    if changes:
        _set(db, user_id=user_id, changes=changes)
        audit.record(
            db,
            actor=actor,
            action="user.email_preferences_changed",
            target_type="user",
            target_id=user_id,
            summary=changes,
        )
    return preferences(db, user_id=user_id)


def unsubscribe(db: Session, *, ctx: AppContext, token: str, actor: Actor) -> UnsubscribedOut:
    """One-click unsubscribe from a mail's link, no sign-in: the token names its user and category, and turns off
    that category for that user only (400 `invalid_token` for a token this voxhub did not sign)."""
    found = mail.read_unsubscribe_token(ctx.keyring, token)
    if found is None:
        raise BadRequest("This unsubscribe link is not valid.", code="invalid_token")
    user_id, category = found
    user = db.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise BadRequest("This unsubscribe link is not valid.", code="invalid_token")
    _set(db, user_id=user_id, changes={category.value: False})
    audit.record(
        db,
        actor=Actor(user_id=user_id, ip=actor.ip, user_agent=actor.user_agent),
        action="user.email_unsubscribed",
        target_type="user",
        target_id=user_id,
        summary={"category": category.value},
    )
    return UnsubscribedOut(user_id=user_id, category=category)


# ---- the log ----


def list_log(
    db: Session,
    *,
    workspace_id: str | None,
    cursor: str | None,
    limit: int,
    status: EmailStatus | None = None,
    template: str | None = None,
    to: str | None = None,
) -> tuple[list[EmailLog], str | None]:
    """One page of the email log, newest first: a workspace's own mail, or (workspace_id None) every mail."""
    query = select(EmailLog)
    if workspace_id is not None:
        query = query.where(EmailLog.workspace_id == workspace_id)
    if status is not None:
        query = query.where(EmailLog.status == status.value)
    if template:
        query = query.where(EmailLog.template == template)
    if to:
        query = query.where(EmailLog.to_address == mail.normalize(to))
    return paginate(db, query, EmailLog.id, cursor=cursor, limit=limit)


# ---- SendGrid's Event Webhook ----


def _status_of(event: dict[str, Any]) -> EmailStatus | None:
    kind = event.get("event")
    if kind == "delivered":
        return EmailStatus.DELIVERED
    if kind == "bounce":
        # `blocked` is a refusal that may pass later (a reputation or content block): no suppression for it.
        return EmailStatus.FAILED if event.get("type") == "blocked" else EmailStatus.BOUNCED
    if kind == "dropped":
        return EmailStatus.FAILED
    if kind == "spamreport":
        return EmailStatus.COMPLAINED
    return None  # processed, deferred, open, click, …: nothing the log shows


def receive_sendgrid_events(db: Session, *, ctx: AppContext, headers: dict[str, str], body: bytes) -> tuple[int, int]:
    """Verify a signed Event Webhook delivery and apply its events; returns (events received, events applied).
    404 when no verification key is set, 400 `invalid_signature` for a delivery SendGrid did not sign."""
    key = ctx.settings.sendgrid_webhook_public_key
    if not key:
        raise NotFound("SendGrid's Event Webhook is not configured here.", code="provider_not_configured")
    lowered = {name.lower(): value for name, value in headers.items()}
    signature, timestamp = lowered.get(SIGNATURE_HEADER, ""), lowered.get(TIMESTAMP_HEADER, "")
    if (
        not signature
        or not timestamp
        or not sendgrid_signature_valid(key, signature=signature, timestamp=timestamp, body=body)
    ):
        raise InvalidSignature("The event delivery's signature does not verify with the configured key.")
    try:
        events = json.loads(body)
    except ValueError as exc:
        raise BadRequest("The event delivery is not JSON.", code="invalid_json") from exc
    if not isinstance(events, list):
        raise BadRequest("SendGrid sends a JSON array of events.", code="invalid_json")
    applied = sum(apply_sendgrid_event(db, event=event) for event in events if isinstance(event, dict))
    return len(events), applied


def _mail_of(db: Session, event: dict[str, Any]) -> EmailLog | None:
    message_id = str(event.get("sg_message_id") or "").split(".", 1)[0]
    if message_id:
        row = db.scalar(
            select(EmailLog).where(EmailLog.provider == "sendgrid", EmailLog.provider_message_id == message_id)
        )
        if row is not None:
            return row
    log_id = event.get("voxhub_email_id")  # our custom arg: the mail whose 202 (and its id) never reached us
    return db.get(EmailLog, log_id) if isinstance(log_id, str) and log_id else None


def apply_sendgrid_event(db: Session, *, event: dict[str, Any]) -> bool:
    """Move the mail an event is about to its new status (never back), and suppress an address that bounced or
    complained for optional mail. Whether it changed anything."""
    status = _status_of(event)
    if status is None:
        return False
    row = _mail_of(db, event)
    changed = False
    if row is not None:
        now = utcnow()
        error = str(event.get("reason") or event.get("response") or "")[:2000] or None
        lower = [s.value for s in EmailStatus if RANK[s] < RANK[status]]
        changed = bool(
            db.execute(
                update(EmailLog)
                .where(EmailLog.id == row.id, EmailLog.status.in_(lower))
                .values(status=status.value, updated_at=now, **({"error": error} if error else {}))
            ).rowcount  # type: ignore[attr-defined]
        )
    address = mail.normalize(str(event.get("email") or (row.to_address if row else "")))
    if status in (EmailStatus.BOUNCED, EmailStatus.COMPLAINED) and address:
        changed |= suppress(db, address=address, reason=status.value, detail=str(event.get("reason") or "") or None)
    return changed


def suppress(db: Session, *, address: str, reason: str, detail: str | None = None) -> bool:
    """No more optional mail to `address` (it bounced or complained); whether it was new."""
    address = mail.normalize(address)
    if db.get(EmailSuppression, address) is not None:
        return False
    db.add(EmailSuppression(address=address[:320], reason=reason, detail=detail))
    db.flush()
    log.warning("optional mail to %s suppressed: %s", address, reason)
    return True
