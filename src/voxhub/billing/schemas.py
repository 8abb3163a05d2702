"""Request and response bodies of the billing API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from voxhub.billing.catalog import METER_UNITS, Catalog, Package, Plan
from voxhub.billing.ledger import MAX_GRANT, MAX_REASON
from voxhub.billing.models import LedgerEntry, Payment
from voxhub.pagination import Page


class PlanOut(BaseModel):
    id: str
    name: str
    currency: str
    monthly_price_cents: int
    yearly_price_cents: int
    allowances: dict[str, int | None] = Field(description="Per month; null is unlimited.")
    max_file_size_mb: int
    storage_quota_mb: int
    concurrent_jobs: int
    requests_per_minute: int
    retention_days: int
    features: list[str]


def plan_out(plan: Plan, catalog: Catalog) -> PlanOut:
    return PlanOut(
        id=plan.id,
        name=plan.name,
        currency=catalog.currency,
        monthly_price_cents=plan.monthly_price_cents,
        yearly_price_cents=plan.yearly_price_cents,
        allowances={str(meter): amount for meter, amount in plan.allowances.items()},
        max_file_size_mb=plan.max_file_size_mb,
        storage_quota_mb=plan.storage_quota_mb,
        concurrent_jobs=plan.concurrent_jobs,
        requests_per_minute=plan.requests_per_minute,
        retention_days=plan.retention_days,
        features=list(plan.features),
    )


class PackageOut(BaseModel):
    id: str
    credits: int
    price_cents: int
    currency: str


def package_out(package: Package, catalog: Catalog) -> PackageOut:
    return PackageOut(
        id=package.id, credits=package.credits, price_cents=package.price_cents, currency=catalog.currency
    )


class PriceOut(BaseModel):
    job_type: str
    credits: int
    per: str
    of: str | None
    meter: str | None


class CatalogOut(Page[PlanOut]):
    """The plans (`items`, as every list), and what each job type costs beyond a plan's allowances."""

    prices: list[PriceOut]
    rounding: str
    providers: list[str] = Field(description="Payment providers this server takes checkouts through.")


class AllowanceOut(BaseModel):
    included: int | float | None = Field(description="Per month; null is unlimited. Audio in minutes.")
    used: int | float
    held: int | float = Field(description="Reserved by jobs that have not finished.")
    left: int | float | None


class BillingOut(BaseModel):
    plan: str
    plan_name: str
    interval: str
    status: str
    cancel_at_period_end: bool
    period_start: datetime
    period_end: datetime
    allowance_period_start: datetime
    allowance_period_end: datetime
    allowances: dict[str, AllowanceOut]
    balance: int
    held: int
    available: int
    currency: str
    billing_enabled: bool


class LedgerEntryOut(BaseModel):
    id: str
    kind: str
    amount: int = Field(description="Signed: added to the balance, to the held credits, or (capture) to both.")
    balance_after: int
    held_after: int
    job_id: str | None
    payment_id: str | None
    actor: str
    reason: str | None
    created_at: datetime


def entry_out(entry: LedgerEntry) -> LedgerEntryOut:
    return LedgerEntryOut(
        id=entry.id,
        kind=entry.kind,
        amount=entry.amount,
        balance_after=entry.balance_after,
        held_after=entry.held_after,
        job_id=entry.job_id,
        payment_id=entry.payment_id,
        actor=entry.actor,
        reason=entry.reason,
        created_at=entry.created_at,
    )


class UsagePoint(BaseModel):
    meter: str
    period: str = Field(description="YYYY-MM-DD (the day, or the first of the month).")
    quantity: int | float = Field(description="Audio in minutes, characters and counts as they are.")


class UsageOut(Page[UsagePoint]):
    """Usage per meter and period (`items`, as every list), and the window it covers."""

    granularity: str
    start: datetime
    end: datetime
    meters: list[str] = Field(default_factory=lambda: list(METER_UNITS))


class CheckoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: Literal["stripe", "polar", "eway", "dodo", "manual"]
    package: str | None = Field(default=None, max_length=40)
    plan: str | None = Field(default=None, max_length=40)
    interval: Literal["month", "year"] = "month"
    success_url: str | None = Field(default=None, max_length=2000)
    cancel_url: str | None = Field(default=None, max_length=2000)


class CheckoutOut(BaseModel):
    id: str
    provider: str
    url: str | None = Field(description="Send the customer here; null for the manual provider.")
    external_id: str
    kind: str
    item: str
    amount_cents: int
    currency: str
    instructions: str | None = None


class CheckoutStateOut(BaseModel):
    """Where a checkout stands: open (not paid yet), completed (paid, credits or plan applied) or failed (declined)."""

    id: str
    provider: str
    status: Literal["open", "completed", "failed"]
    kind: str
    item: str
    amount_cents: int
    currency: str


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_cents: int | None = Field(default=None, gt=0, description="Refund this much; leave it out for the rest.")
    reason: str | None = Field(default=None, max_length=MAX_REASON)


class GrantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credits: int = Field(
        ge=-MAX_GRANT, le=MAX_GRANT, description="Positive grants credits; negative takes them back (an adjustment)."
    )
    reason: str = Field(min_length=1, max_length=MAX_REASON)


class PlanChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: str = Field(max_length=40)
    interval: Literal["month", "year"] = "month"


class PaymentOut(BaseModel):
    id: str
    provider: str
    external_id: str
    kind: str
    item: str
    amount_cents: int
    currency: str
    credits: int
    status: str
    refunded_cents: int
    credits_refunded: int
    shortfall: int
    receipt_number: str
    created_at: datetime


def payment_out(payment: Payment) -> PaymentOut:
    return PaymentOut.model_validate(payment, from_attributes=True)


class WebhookAck(BaseModel):
    received: bool = True
    duplicate: bool = False
    event: str
