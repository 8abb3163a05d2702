"""Tables for outgoing mail: the log of every mail sent, each user's choices by category, and suppressed addresses."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from voxhub.clock import utcnow
from voxhub.db import Base, id_column


class EmailStatus(enum.StrEnum):
    """Where a mail stands (`EmailLog.status`): voxhub sets the first three, the provider's events the others."""

    QUEUED = "queued"  # handed to the sender, not yet accepted by the provider
    SENT = "sent"  # the provider (SMTP server, SendGrid, the dev mailbox) accepted it
    DELIVERED = "delivered"  # the receiving server took it (SendGrid's `delivered` event)
    BOUNCED = "bounced"
    COMPLAINED = "complained"  # the recipient marked it as spam
    FAILED = "failed"  # refused by the provider, or still failing after the last retry


class EmailCategory(enum.StrEnum):
    """What a mail is about; security and account mail always goes out, the others only while the user wants it."""

    SECURITY = "security"
    ACCOUNT = "account"
    BILLING = "billing"
    JOBS = "jobs"
    PRODUCT_NEWS = "product_news"


ALWAYS_ON = frozenset({EmailCategory.SECURITY, EmailCategory.ACCOUNT})
OPTIONAL = tuple(category for category in EmailCategory if category not in ALWAYS_ON)


class EmailLog(Base):
    """One mail to one address. `event_key` names the event it announces: a second mail for that event is refused by
    the unique index, so an event retried or replayed is never mailed twice."""

    __tablename__ = "email_log"

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str | None] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    to_address: Mapped[str] = mapped_column(String(320), index=True)
    template: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default=EmailStatus.QUEUED.value)
    provider: Mapped[str] = mapped_column(String(16))
    provider_message_id: Mapped[str | None] = mapped_column(String(200), index=True)
    event_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EmailPreferences(Base):
    """A user's choices for optional mail; no row means every category is on."""

    __tablename__ = "email_preferences"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    billing: Mapped[bool] = mapped_column(Boolean, default=True)
    jobs: Mapped[bool] = mapped_column(Boolean, default=True)
    product_news: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EmailSuppression(Base):
    """An address that bounced or complained: it gets security and account mail only, never optional mail again."""

    __tablename__ = "email_suppressions"

    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    reason: Mapped[str] = mapped_column(String(16))  # bounced | complained
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
