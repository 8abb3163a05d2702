"""The mail room's own rules: who may get optional mail, unsubscribe tokens, and the email log's rows as a mail moves
from queued to sent (or failed). Reading the log, changing preferences and a provider's events are notify/email.py's."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from voxhub.clock import utcnow
from voxhub.mail.models import OPTIONAL, EmailCategory, EmailLog, EmailPreferences, EmailStatus, EmailSuppression
from voxhub.security import Keyring

UNSUBSCRIBE_PURPOSE = "email-unsubscribe"


class AlreadySent(Exception):
    """The log already holds a mail for this event and address."""


# ---- who gets optional mail ----


def normalize(address: str) -> str:
    """An address as the log and the suppression list keep it."""
    return address.strip().lower()


def wants(db: Session, *, user_id: str, category: EmailCategory) -> bool:
    """Whether the user wants mail of `category` (always, for security and account mail)."""
    if category not in OPTIONAL:
        return True
    row = db.get(EmailPreferences, user_id)
    return row is None or bool(getattr(row, category.value))


def is_suppressed(db: Session, *, address: str) -> bool:
    """Whether `address` bounced or complained before."""
    return db.get(EmailSuppression, normalize(address)) is not None


def may_send(db: Session, *, to: str, user_id: str | None, category: EmailCategory) -> bool:
    """Optional mail goes to users who want its category, at addresses that never bounced or complained."""
    if category not in OPTIONAL:
        return True
    if user_id is not None and not wants(db, user_id=user_id, category=category):
        return False
    return not is_suppressed(db, address=to)


# ---- one-click unsubscribe tokens: the user and the category, signed; no expiry, as links in old mail must work ----


def unsubscribe_token(keyring: Keyring, *, user_id: str, category: EmailCategory) -> str:
    """The token of a one-click unsubscribe link: good for this user and category only."""
    claim = base64.urlsafe_b64encode(f"{user_id}:{category.value}".encode()).decode().rstrip("=")
    return f"{claim}.{keyring.sign(claim, purpose=UNSUBSCRIBE_PURPOSE)}"


def read_unsubscribe_token(keyring: Keyring, token: str) -> tuple[str, EmailCategory] | None:
    """The user and category a token unsubscribes, or None when it was not made by this voxhub."""
    claim, _, signature = token.partition(".")
    if not claim or not signature or not keyring.verify(claim, signature, purpose=UNSUBSCRIBE_PURPOSE):
        return None
    try:
        user_id, _, category = base64.urlsafe_b64decode(claim + "=" * (-len(claim) % 4)).decode().partition(":")
        parsed = EmailCategory(category)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return (user_id, parsed) if parsed in OPTIONAL and user_id else None


# ---- the log, written by the mailer's delivery thread in sessions of its own ----


def _event_key(event_key: str | None, to: str) -> str | None:
    if event_key is None:
        return None
    key = f"{event_key}|{normalize(to)}"
    return key if len(key) <= 200 else f"sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def log_queued(
    db: Session,
    *,
    to: str,
    subject: str,
    template: str,
    category: EmailCategory,
    provider: str,
    user_id: str | None,
    workspace_id: str | None,
    event_key: str | None,
) -> str:
    """A new row for a mail about to be sent; AlreadySent when its event was mailed to `to` before."""
    row = EmailLog(
        to_address=normalize(to)[:320],
        subject=subject[:500],
        template=template[:64],
        category=category.value,
        provider=provider,
        user_id=user_id,
        workspace_id=workspace_id,
        event_key=_event_key(event_key, to),
        status=EmailStatus.QUEUED.value,
    )
    db.add(row)
    try:
        db.flush()
    except IntegrityError as exc:
        db.rollback()
        if row.event_key is not None and db.scalar(select(EmailLog.id).where(EmailLog.event_key == row.event_key)):
            raise AlreadySent(row.event_key) from exc
        raise
    return row.id


def _change(db: Session, log_id: str, **values: Any) -> None:
    db.execute(update(EmailLog).where(EmailLog.id == log_id).values(updated_at=utcnow(), **values))


def log_attempt(db: Session, *, log_id: str, attempts: int, error: str) -> None:
    """A try failed and another will follow."""
    _change(db, log_id, attempts=attempts, error=error[:2000])


def log_sent(db: Session, *, log_id: str, attempts: int, provider_message_id: str | None) -> None:
    """The provider accepted the mail, under its id."""
    _change(
        db,
        log_id,
        status=EmailStatus.SENT.value,
        attempts=attempts,
        error=None,
        sent_at=utcnow(),
        provider_message_id=(provider_message_id or "")[:200] or None,
    )


def log_failed(db: Session, *, log_id: str, attempts: int, error: str) -> None:
    """The provider refused the mail, or the last try failed."""
    _change(db, log_id, status=EmailStatus.FAILED.value, attempts=attempts, error=error[:2000])
