"""Tables for billing: subscriptions, credit accounts and their append-only ledger, allowance use, usage records,
payments, checkouts, provider events and sent alerts."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from voxhub.clock import utcnow
from voxhub.db import Base, id_column


class EntryKind(enum.StrEnum):
    """What a ledger entry is (`LedgerEntry.kind`)."""

    PURCHASE = "purchase"
    GRANT = "grant"
    HOLD = "hold"
    CAPTURE = "capture"
    RELEASE = "release"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"
    EXPIRY = "expiry"


# How each kind of entry moves the account: its signed `amount` is added to the balance, to `held`, or both
# (a capture spends held credits: it leaves the balance and the hold together).
BALANCE_KINDS = frozenset(
    {EntryKind.PURCHASE, EntryKind.GRANT, EntryKind.CAPTURE, EntryKind.REFUND, EntryKind.ADJUSTMENT, EntryKind.EXPIRY}
)
HELD_KINDS = frozenset({EntryKind.HOLD, EntryKind.CAPTURE, EntryKind.RELEASE})


class PaymentStatus(enum.StrEnum):
    """Where a payment stands (`Payment.status`): refunds move it on."""

    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class CheckoutStatus(enum.StrEnum):
    """`Checkout.status`: open until its webhook (or an administrator, for the manual provider) completes it."""

    OPEN = "open"
    COMPLETED = "completed"
    FAILED = "failed"  # the provider declined the payment (eWAY, whose answer voxhub asks for)


class SubscriptionStatus(enum.StrEnum):
    """`Subscription.status`, as the provider reports it."""

    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"


class BillingEventStatus(enum.StrEnum):
    """Where a stored provider event stands (`ProviderEventRecord.status`)."""

    RECEIVED = "received"  # stored, not yet acted on (or an attempt failed and it will be tried again)
    PROCESSED = "processed"
    IGNORED = "ignored"  # nothing to do: an event type voxhub does not act on, a replaced subscription's news
    FLAGGED = "flagged"  # for a person to look at: an unknown workspace, package or plan
    # A refund of a payment voxhub has not seen (yet): providers do not promise order; it is applied when the
    # payment (`payment_ref`) lands.
    AWAITING_PAYMENT = "awaiting_payment"
    FAILED = "failed"  # gave up after MAX_EVENT_ATTEMPTS


class Subscription(Base):
    """A workspace's plan. `period_*` is the billing period (a month or a year); `allowance_*` the month whose
    allowances are being used (the same as the period on monthly plans)."""

    __tablename__ = "billing_subscriptions"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    plan: Mapped[str] = mapped_column(String(40), default="free")
    interval: Mapped[str] = mapped_column(String(8), default="month")
    status: Mapped[str] = mapped_column(String(16), default=SubscriptionStatus.ACTIVE)  # a SubscriptionStatus
    provider: Mapped[str | None] = mapped_column(String(20))
    external_id: Mapped[str | None] = mapped_column(String(200), index=True)
    # Periods are counted in whole months from here, so one that starts on the 31st comes back to the 31st
    # after a shorter month instead of drifting to the 28th.
    anchor_at: Mapped[datetime]
    current_period_start: Mapped[datetime]
    current_period_end: Mapped[datetime]
    allowance_period_start: Mapped[datetime]
    allowance_period_end: Mapped[datetime]
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CreditAccount(Base):
    __tablename__ = "credit_accounts"
    __table_args__ = (
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        CheckConstraint("held >= 0 AND held <= balance", name="held_within_balance"),
    )

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    held: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LedgerEntry(Base):
    """One change to a credit account. Never updated or deleted: corrections are new entries."""

    __tablename__ = "credit_ledger"
    __table_args__ = (Index("ix_credit_ledger_ws_id", "workspace_id", "id"),)

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    held_after: Mapped[int] = mapped_column(BigInteger)
    job_id: Mapped[str | None] = mapped_column(String(36), index=True)
    payment_id: Mapped[str | None] = mapped_column(String(36))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    actor: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AllowanceUse(Base):
    """How much of one meter's monthly allowance is used and held, for one allowance period."""

    __tablename__ = "allowance_use"
    __table_args__ = (UniqueConstraint("workspace_id", "period_start", "meter"),)

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    period_start: Mapped[datetime]
    meter: Mapped[str] = mapped_column(String(32))
    used: Mapped[int] = mapped_column(BigInteger, default=0)
    held: Mapped[int] = mapped_column(BigInteger, default=0)


class UsageRecord(Base):
    """Usage on a meter, in stored units (seconds for audio), recorded when a job's cost is captured."""

    __tablename__ = "usage_records"
    __table_args__ = (Index("ix_usage_records_ws_meter_at", "workspace_id", "meter", "recorded_at"),)

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    meter: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[int] = mapped_column(BigInteger)
    job_id: Mapped[str | None] = mapped_column(String(36))
    period_start: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Payment(Base):
    """Money received through a provider (or recorded by an administrator), and what it bought."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("provider", "external_id"),)

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # package | plan
    item: Mapped[str] = mapped_column(String(40))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    credits: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(20), default=PaymentStatus.PAID)  # a PaymentStatus
    refunded_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    # Credits a refund should have removed but that were already spent: recorded, not hidden.
    shortfall: Mapped[int] = mapped_column(BigInteger, default=0)
    receipt_number: Mapped[str] = mapped_column(String(40), unique=True)
    customer_email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Checkout(Base):
    """A checkout started from voxhub; the provider's webhook (or an administrator) completes it."""

    __tablename__ = "checkouts"

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    item: Mapped[str] = mapped_column(String(40))
    interval: Mapped[str | None] = mapped_column(String(8))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    url: Mapped[str | None] = mapped_column(String(2000))
    # Where the customer goes after paying or giving up, for providers that return to voxhub first (eWAY).
    success_url: Mapped[str | None] = mapped_column(String(2000))
    cancel_url: Mapped[str | None] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(16), default=CheckoutStatus.OPEN)  # a CheckoutStatus
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProviderEventRecord(Base):
    """A verified webhook from a payment provider, stored before it is acted on; (provider, event_id) is unique,
    so a replayed event is recognised and does nothing."""

    __tablename__ = "billing_events"
    __table_args__ = (
        UniqueConstraint("provider", "event_id"),
        Index("ix_billing_events_status", "status"),
        Index("ix_billing_events_payment", "provider", "payment_ref"),
    )

    id: Mapped[str] = id_column()
    provider: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(200))
    raw_type: Mapped[str] = mapped_column(String(100))
    workspace_id: Mapped[str | None] = mapped_column(String(36))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # The provider's id of the payment the event is about (a refund waiting for its payment is found by it).
    payment_ref: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=BillingEventStatus.RECEIVED)  # a BillingEventStatus
    note: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]


class BillingAlert(Base):
    """An alert that was sent, so that each threshold alerts once per period."""

    __tablename__ = "billing_alerts"
    __table_args__ = (UniqueConstraint("workspace_id", "period_start", "key"),)

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    period_start: Mapped[datetime]
    key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SyncChargeStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class SyncCharge(Base):
    """What a synchronous call (the OpenAI-compatible /v1 routes) holds while it runs: the call outlives any
    transaction, so its hold is committed first and settled when the call ends, or released by the periodic sweep
    if the process died in between."""

    __tablename__ = "sync_charges"
    __table_args__ = (Index("ix_sync_charges_status_created", "status", "created_at"),)

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default=SyncChargeStatus.RUNNING.value)
    credits: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class EwayTokenCustomer(Base):
    """A workspace's card stored at eWAY (a token customer) for its plan: voxhub charges it when `paid_through`
    passes. `charging_since` is set while a charge is in flight, so no two charges start for one period."""

    __tablename__ = "eway_token_customers"
    __table_args__ = (Index("ix_eway_token_customers_paid_through", "paid_through"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    token_customer_id: Mapped[str] = mapped_column(String(40))
    plan: Mapped[str] = mapped_column(String(40))
    interval: Mapped[str] = mapped_column(String(8))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    paid_through: Mapped[datetime]
    charging_since: Mapped[datetime | None]
    # Declined renewals in a row, and when to try again.
    failures: Mapped[int] = mapped_column(default=0)
    retry_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
