"""voxhub's side of eWAY, which sends no webhooks: a checkout is confirmed by asking eWAY about its access code when
the customer comes back (never by trusting the redirect), and a plan's token customer is charged by voxhub itself
when its period ends. Each answer from eWAY becomes a stored billing event, acted on once per transaction id."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from voxhub.billing import payments
from voxhub.billing import service as billing
from voxhub.billing.models import Checkout, CheckoutStatus, EwayTokenCustomer, Subscription, SubscriptionStatus
from voxhub.billing.providers import EwayProvider, ProviderError
from voxhub.billing.providers.eway import TransactionResult
from voxhub.clock import utcnow
from voxhub.context import AppContext
from voxhub.db import affected, finish, on_commit
from voxhub.errors import Conflict, NotFound

log = logging.getLogger("voxhub.billing.eway")

PROVIDER = "eway"
RETRY_AFTER = timedelta(days=3)  # a declined renewal is tried again this much later
MAX_RENEWAL_FAILURES = 3  # declined renewals in a row before the plan ends
STALE_CLAIM = timedelta(minutes=15)  # a charge unanswered this long is looked up at eWAY by its reference


def _eway(ctx: AppContext) -> EwayProvider:
    adapter = payments._provider(ctx, PROVIDER)
    assert isinstance(adapter, EwayProvider)
    return adapter


def _iso(moment: datetime) -> str:
    return moment.isoformat()


# ---- checkouts: the customer comes back from the shared page ----


def checkout_by_access_code(db: Session, *, access_code: str) -> Checkout:
    """The eWAY checkout an access code belongs to, or 404 `checkout_not_found`."""
    checkout = db.scalar(
        select(Checkout).where(Checkout.provider == PROVIDER, Checkout.external_id == access_code[:200])
    )
    if checkout is None:
        raise NotFound("No eWAY checkout has this access code.", code="checkout_not_found")
    return checkout


def get_checkout(db: Session, *, workspace_id: str, checkout_id: str) -> Checkout:
    """The workspace's checkout, or 404 `checkout_not_found`."""
    checkout = db.get(Checkout, checkout_id)
    if checkout is None or checkout.workspace_id != workspace_id:
        raise NotFound("Checkout not found.", code="checkout_not_found")
    return checkout


def confirm_checkout(db: Session, *, ctx: AppContext, checkout: Checkout) -> Checkout:
    """Ask eWAY what became of the checkout's payment and act on its answer, once: an approved transaction
    credits the package (or starts the plan, keeping the token customer for renewals); a declined one closes the
    checkout; no transaction yet leaves it open."""
    if checkout.provider != PROVIDER:
        raise Conflict(
            f"This checkout is paid through {checkout.provider}; its webhook completes it.",
            code="checkout_not_eway",
            details={"provider": checkout.provider},
        )
    if checkout.status != CheckoutStatus.OPEN:
        return checkout
    try:
        result = _eway(ctx).transaction_result(checkout.external_id)
    except ProviderError as exc:
        raise payments.ProviderUnavailable(str(exc), details={"provider": PROVIDER, "status": exc.status}) from exc
    if result.transaction_id is None:
        return checkout  # the customer has not paid (yet)
    new_status = CheckoutStatus.COMPLETED if result.approved else CheckoutStatus.FAILED
    # The conditional update decides which of two simultaneous returns acts on the answer.
    if not affected(
        db,
        update(Checkout)
        .where(Checkout.id == checkout.id, Checkout.status == CheckoutStatus.OPEN)
        .values(status=new_status),
    ):
        db.refresh(checkout)
        return checkout
    db.refresh(checkout)
    purchase: dict[str, Any] = {
        "workspace_id": checkout.workspace_id,
        "purchase": checkout.kind,
        "item": checkout.item,
        "interval": checkout.interval,
        "currency": checkout.currency,
        "checkout_id": checkout.id,
    }
    _record_transaction(db, ctx=ctx, result=result, kind="checkout", purchase=purchase)
    if result.approved and checkout.kind == "plan":
        _start_plan(db, ctx=ctx, checkout=checkout, result=result, purchase=purchase)
    return checkout


def _record_transaction(
    db: Session, *, ctx: AppContext, result: TransactionResult, kind: str, purchase: dict[str, Any]
) -> None:
    """One transaction's outcome as a stored event: the payment (approved) or the decline."""
    payments.record_own_event(
        db,
        ctx=ctx,
        provider=PROVIDER,
        payload={
            **purchase,
            "id": f"transaction:{result.transaction_id}",
            "type": "transaction.approved" if result.approved else "transaction.declined",
            "kind": kind,
            "payment_id": result.transaction_id,
            "amount_cents": result.amount_cents,
            "response_code": result.response_code,
            "response_message": result.response_message,
            "transaction": result.raw,
        },
    )


def _start_plan(
    db: Session, *, ctx: AppContext, checkout: Checkout, result: TransactionResult, purchase: dict[str, Any]
) -> None:
    interval = checkout.interval or "month"
    start = utcnow().replace(microsecond=0)
    end = billing.add_months(start, 12 if interval == "year" else 1)
    if result.token_customer_id is None:
        # Paid, but no card kept: the plan runs its period and is not renewed.
        log.warning("eWAY transaction %s for a plan came back without a TokenCustomerID", result.transaction_id)
    payments.record_own_event(
        db,
        ctx=ctx,
        provider=PROVIDER,
        payload={
            **purchase,
            "id": f"subscription:{result.transaction_id}",
            "type": "subscription.started",
            "token_customer_id": result.token_customer_id,
            "period_start": _iso(start),
            "period_end": _iso(end),
        },
    )
    if result.token_customer_id is None:
        billing.subscription(db, workspace_id=checkout.workspace_id).cancel_at_period_end = True
        return
    values = {
        "token_customer_id": result.token_customer_id,
        "plan": checkout.item,
        "interval": interval,
        "amount_cents": result.amount_cents or checkout.amount_cents,
        "currency": checkout.currency,
        "paid_through": end,
        "charging_since": None,
        "failures": 0,
        "retry_at": None,
        "last_error": None,
    }
    token = db.get(EwayTokenCustomer, checkout.workspace_id)
    if token is None:
        db.add(EwayTokenCustomer(workspace_id=checkout.workspace_id, **values))
    else:
        for key, value in values.items():
            setattr(token, key, value)
    db.flush()


# ---- renewals: voxhub charges the token customer ----


def charge_renewals(db: Session, *, ctx: AppContext, now: datetime | None = None, limit: int = 100) -> int:
    """Periodic: claim each plan whose paid period is over, and charge its token customer once this transaction has
    committed (a charge cannot be rolled back, so the claim must be durable first). A claim whose charge got no
    answer is looked up at eWAY by its invoice reference once it is STALE_CLAIM old, never charged blindly again.
    Returns how many were claimed."""
    now = now or utcnow()
    due = list(
        db.scalars(
            select(EwayTokenCustomer)
            .where(
                EwayTokenCustomer.paid_through <= now,
                (EwayTokenCustomer.charging_since.is_(None) & (
                    EwayTokenCustomer.retry_at.is_(None) | (EwayTokenCustomer.retry_at <= now)
                ))
                | (EwayTokenCustomer.charging_since <= now - STALE_CLAIM),
            )
            .order_by(EwayTokenCustomer.paid_through)
            .limit(limit)
        )
    )  # fmt: skip
    claimed = 0
    for token in due:
        lost_answer = token.charging_since is not None
        if not lost_answer and not _renews(db, token):
            # Canceled, moved to another plan or provider: the card is not charged again.
            db.delete(token)
            continue
        if affected(
            db,
            update(EwayTokenCustomer)
            .where(
                EwayTokenCustomer.workspace_id == token.workspace_id,
                EwayTokenCustomer.paid_through == token.paid_through,
                EwayTokenCustomer.charging_since.is_(None)
                if token.charging_since is None
                else EwayTokenCustomer.charging_since == token.charging_since,
            )
            .values(charging_since=now),
        ):
            claimed += 1
            bind = db.get_bind()
            assert isinstance(bind, Engine)
            on_commit(db, _later(bind, ctx, token.workspace_id, look_up=lost_answer))
    return claimed


def _renews(db: Session, token: EwayTokenCustomer) -> bool:
    sub = db.get(Subscription, token.workspace_id)
    return (
        sub is not None
        and sub.provider == PROVIDER
        and sub.external_id == token.token_customer_id
        and sub.plan == token.plan
        and not sub.cancel_at_period_end
        and sub.status != SubscriptionStatus.CANCELED
    )


def _later(engine: Engine, ctx: AppContext, workspace_id: str, *, look_up: bool) -> Callable[[], None]:
    def charge() -> None:
        with _unit_of_work(engine) as db:
            charge_one(db, ctx=ctx, workspace_id=workspace_id, look_up=look_up)

    return charge


@contextmanager
def _unit_of_work(engine: Engine) -> Iterator[Session]:
    db = Session(engine, expire_on_commit=False)
    try:
        yield db
    except BaseException as exc:
        finish(db, exc)
        raise
    finish(db, None)


def renewal_reference(token: EwayTokenCustomer) -> str:
    """The invoice reference of the charge for the token customer's next period (and attempt): what eWAY is asked
    about when a charge got no answer, and what a person finds it by in MyeWAY."""
    return f"{token.workspace_id[:36]}:{token.paid_through:%Y%m%d}:{token.failures}"


def charge_one(db: Session, *, ctx: AppContext, workspace_id: str, look_up: bool = False) -> None:
    """Charge one claimed token customer for its next period and record the outcome: a payment and the period moved
    on, or a declined renewal (past due, the owners mailed; after MAX_RENEWAL_FAILURES the plan ends). With
    `look_up`, an earlier charge got no answer: eWAY is asked what it made of it instead, and only when it has no
    transaction with that reference is the claim let go, to be charged on a later run."""
    token = db.get(EwayTokenCustomer, workspace_id, with_for_update=True)
    if token is None or token.charging_since is None:
        return
    reference = renewal_reference(token)
    adapter = _eway(ctx)
    try:
        if look_up:
            found = adapter.transactions_by_reference(reference)
            if not found:
                token.charging_since, token.last_error = None, None  # never charged: the next run charges it
                return
            result = found[-1]
        else:
            result = adapter.charge_token(
                token_customer_id=token.token_customer_id,
                amount_cents=token.amount_cents,
                currency=token.currency,
                reference=reference,
                description=f"voxhub {token.plan} plan renewal",
            )
    except ProviderError as exc:
        token.last_error = str(exc)[:1000]
        if exc.status is not None and not look_up:
            # eWAY answered with an error: nothing was charged; try again on a later run.
            token.charging_since = None
        else:
            # No answer: the charge may or may not have gone through. The claim stays, and once it is STALE_CLAIM
            # old eWAY is asked about the reference, rather than risk charging twice.
            log.warning("eWAY renewal %s got no answer; it is looked up later: %s", reference, exc)
        return
    _apply_renewal(db, ctx=ctx, token=token, result=result, reference=reference)


def _apply_renewal(
    db: Session, *, ctx: AppContext, token: EwayTokenCustomer, result: TransactionResult, reference: str
) -> None:
    start = token.paid_through
    end = billing.add_months(start, 12 if token.interval == "year" else 1)
    purchase = {
        "workspace_id": token.workspace_id,
        "purchase": "plan",
        "item": token.plan,
        "interval": token.interval,
        "currency": token.currency,
        "token_customer_id": token.token_customer_id,
    }
    _record_transaction(db, ctx=ctx, result=result, kind="renewal", purchase=purchase)
    token.charging_since = None
    if result.approved:
        token.paid_through, token.failures, token.retry_at, token.last_error = end, 0, None, None
        payments.record_own_event(
            db,
            ctx=ctx,
            provider=PROVIDER,
            payload={
                **purchase,
                "id": f"subscription:{result.transaction_id}",
                "type": "subscription.started",
                "period_start": _iso(start),
                "period_end": _iso(end),
            },
        )
        return
    token.failures += 1
    token.last_error = f"declined: {result.response_code} {result.response_message}"
    if token.failures >= MAX_RENEWAL_FAILURES:
        payments.record_own_event(
            db,
            ctx=ctx,
            provider=PROVIDER,
            payload={**purchase, "id": f"subscription-ended:{reference}", "type": "subscription.ended"},
        )
        db.delete(token)
        return
    token.retry_at = utcnow() + RETRY_AFTER
