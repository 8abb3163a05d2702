"""Money coming in: checkouts at a payment provider, its webhooks (verified, stored, then acted on exactly once),
payments and refunds on the ledger, manual payments recorded by an administrator, and receipts."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from voxhub.audit import service as audit
from voxhub.audit.service import Actor
from voxhub.billing import ledger, receipts
from voxhub.billing import service as billing
from voxhub.billing.catalog import catalog_of
from voxhub.billing.models import (
    BillingEventStatus,
    Checkout,
    CheckoutStatus,
    EntryKind,
    Payment,
    PaymentStatus,
    ProviderEventRecord,
    Subscription,
    SubscriptionStatus,
)
from voxhub.billing.providers import (
    PRODUCT_PROVIDERS,
    CheckoutRequest,
    DodoProvider,
    EwayProvider,
    ProviderError,
    ProviderEvent,
    ProviderNotConfigured,
    WebhookVerificationError,
    get_provider,
)
from voxhub.clock import utcnow
from voxhub.context import AppContext
from voxhub.db import Database, affected
from voxhub.errors import BadRequest, Conflict, NotFound, TooManyRequests, Unprocessable, VoxhubError, field_errors
from voxhub.workspaces import service as workspaces
from voxhub.workspaces.models import Workspace
from voxhub.workspaces.service import WorkspaceAccess

log = logging.getLogger("voxhub.billing")

MAX_EVENT_ATTEMPTS = 5
REJECTIONS_AUDITED_PER_MINUTE = 10
# Headers kept with a stored event: what parsing it again later needs.
KEPT_HEADERS = ("webhook-id", "webhook-timestamp")


class ProviderUnavailable(VoxhubError):
    status_code = 502
    code = "payment_provider_error"
    message = "The payment provider could not be reached or refused the request."


class InvalidSignature(BadRequest):
    code = "invalid_signature"
    keep_changes = True  # the security record of the attempt stays


def _provider(ctx: AppContext, name: str) -> Any:
    try:
        return get_provider(ctx.settings, name)
    except ProviderNotConfigured as exc:
        raise NotFound(str(exc), code="provider_not_configured", details={"provider": name}) from exc


# ---- checkouts ----


def start_checkout(
    db: Session,
    *,
    ctx: AppContext,
    access: WorkspaceAccess,
    provider: str,
    package: str | None,
    plan: str | None,
    interval: Literal["month", "year"],
    success_url: str | None,
    cancel_url: str | None,
) -> tuple[Checkout, str | None]:
    """Open a checkout at the provider for a credit package or a plan; its webhook completes the purchase."""
    catalog = catalog_of(ctx.settings)
    if (package is None) == (plan is None):
        raise Unprocessable(
            "Name either a package or a plan.",
            code="validation_error",
            details=field_errors(("package", "give package or plan, not both")),
        )
    if package is not None:
        if package not in catalog.packages:
            raise Unprocessable(
                f"Unknown package {package!r}; known: {', '.join(catalog.packages)}.", code="unknown_package"
            )
        item = catalog.packages[package]
        kind: Literal["package", "plan"] = "package"
        amount, description, product_ids = (
            item.price_cents,
            f"voxhub credits: {package} ({item.credits} credits)",
            item.product_ids,
        )
        name = package
    else:
        assert plan is not None
        if plan not in catalog.plans or catalog.plans[plan].price_cents(interval) == 0:
            raise Unprocessable(
                f"{plan!r} is not a paid plan; paid plans: "
                f"{', '.join(p for p, v in catalog.plans.items() if v.monthly_price_cents)}.",
                code="unknown_plan",
            )
        chosen = catalog.plans[plan]
        kind, amount, product_ids, name = "plan", chosen.price_cents(interval), chosen.product_ids, plan
        description = f"voxhub {chosen.name} plan, {'yearly' if interval == 'year' else 'monthly'}"
    adapter = _provider(ctx, provider)
    product_id = (product_ids.get(f"{provider}:{interval}") if kind == "plan" else None) or product_ids.get(provider)
    if provider in PRODUCT_PROVIDERS and product_id is None:
        log.warning(
            "the billing catalog has no %s product id for %s %r: add product_ids.%s (or %s:month and "
            "%s:year for plans) to it",
            provider,
            kind,
            name,
            provider,
            provider,
            provider,
        )
        raise Unprocessable(
            f"The {kind} {name!r} cannot be bought through polar on this server; choose another provider.",
            code="not_sold_through_provider",
            details={"provider": provider, kind: name},
        )
    public = ctx.settings.public_url
    request = CheckoutRequest(
        workspace_id=access.workspace_id,
        kind=kind,
        item=name,
        interval=interval if kind == "plan" else None,
        amount_cents=amount,
        currency=catalog.currency,
        description=description,
        success_url=success_url or f"{public}/billing/success",
        cancel_url=cancel_url or f"{public}/billing/canceled",
        customer_email=access.user.email if access.user else None,
        # A provider that sells each interval as its own product names them `polar:year`, `polar:month`.
        product_id=product_id,
    )
    try:
        result = adapter.create_checkout(request)
    except ProviderError as exc:
        raise ProviderUnavailable(str(exc), details={"provider": provider, "status": exc.status}) from exc
    checkout = Checkout(
        workspace_id=access.workspace_id,
        provider=provider,
        external_id=result.external_id,
        kind=kind,
        item=name,
        interval=request.interval,
        amount_cents=amount,
        currency=catalog.currency,
        url=result.url,
        success_url=request.success_url,
        cancel_url=request.cancel_url,
        created_by=access.user.id if access.user else None,
    )
    db.add(checkout)
    db.flush()
    audit.record(
        db,
        actor=access.actor,
        action="billing.checkout_started",
        workspace_id=access.workspace_id,
        target_type="checkout",
        target_id=checkout.id,
        summary={"provider": provider, "kind": kind, "item": name, "amount_cents": amount},
    )
    return checkout, result.instructions


def cancel_subscription(db: Session, *, ctx: AppContext, access: WorkspaceAccess) -> None:
    """Stop the plan renewing: the provider is told first (so it stops charging), then the plan ends with its
    period here."""
    sub = billing.subscription(db, workspace_id=access.workspace_id)
    if sub.provider and sub.external_id and sub.plan != "free" and not sub.cancel_at_period_end:
        try:
            _provider(ctx, sub.provider).cancel_at_period_end(sub.external_id)
        except ProviderError as exc:
            raise ProviderUnavailable(str(exc), details={"provider": sub.provider, "status": exc.status}) from exc
    billing.cancel_at_period_end(db, ctx=ctx, workspace_id=access.workspace_id, actor=access.actor)


# ---- incoming webhooks ----


def receive_webhook(
    db: Session, *, ctx: AppContext, provider: str, headers: Mapping[str, str], body: bytes, actor: Actor
) -> tuple[str, bool]:
    """Verify and store one webhook. Returns (stored event id, whether it is new); a replay stores nothing."""
    adapter = _provider(ctx, provider)
    try:
        payload = adapter.verify(headers=headers, body=body, now=utcnow())
        event = adapter.parse(headers=headers, payload=payload)
    except WebhookVerificationError as exc:
        log.warning("rejected %s webhook from %s: %s", provider, actor.ip, exc.reason)
        # Each rejection is audited; past a few a minute from one address, a flood is turned away unrecorded.
        decision = ctx.rate_limiter.hit(f"webhook-rejections:{actor.ip}", REJECTIONS_AUDITED_PER_MINUTE)
        if not decision.allowed:
            raise TooManyRequests(
                "Too many deliveries that fail verification; try again later.",
                code="rate_limited",
                retry_after_s=decision.reset_s,
            ) from exc
        audit.record(
            db,
            actor=actor,
            action="billing.webhook_rejected",
            target_type="billing_provider",
            target_id=provider,
            summary={"reason": exc.reason, "ip": actor.ip},
        )
        raise InvalidSignature(str(exc), details={"reason": exc.reason}) from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise BadRequest(f"The {provider} event could not be read.", code="malformed_event") from exc
    return _store_event(db, provider=provider, event=event, payload=payload, headers=headers)


def _store_event(
    db: Session, *, provider: str, event: ProviderEvent, payload: dict[str, Any], headers: Mapping[str, str]
) -> tuple[str, bool]:
    """Store one event once per (provider, event id). Returns (stored event id, whether it is new)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    inserted = ledger.insert_ignoring_conflict(
        db,
        ProviderEventRecord,
        {
            "id": billing.new_id(),
            "provider": provider,
            "event_id": event.event_id,
            "raw_type": event.raw_type[:100],
            "workspace_id": _workspace_ref(event.workspace_id),
            "payload": payload,
            "headers": {key: lowered[key] for key in KEPT_HEADERS if key in lowered},
            "payment_ref": _payment_ref(event),
            "status": BillingEventStatus.RECEIVED,
            "attempts": 0,
            "received_at": utcnow(),
        },
        ["provider", "event_id"],
    )
    record_id = db.scalar(
        select(ProviderEventRecord.id).where(
            ProviderEventRecord.provider == provider, ProviderEventRecord.event_id == event.event_id
        )
    )
    assert record_id is not None
    return record_id, bool(inserted)


def record_own_event(db: Session, *, ctx: AppContext, provider: str, payload: dict[str, Any]) -> str:
    """An event voxhub writes itself from a provider's API answer (eWAY sends no webhooks): stored like a webhook,
    once per id, and acted on in this transaction. Returns the stored event's id."""
    event = _provider(ctx, provider).parse(headers={}, payload=payload)
    record_id, new = _store_event(db, provider=provider, event=event, payload=payload, headers={})
    if new:
        process_event(db, ctx=ctx, record_id=record_id)
    return record_id


def process_event(
    db: Session, *, ctx: AppContext, record_id: str, waiting_as: BillingEventStatus = BillingEventStatus.RECEIVED
) -> BillingEventStatus | None:
    """Act on one stored event, once: the conditional update takes it (and locks it) for this transaction.
    Returns its new status, or None when it was not `waiting_as` (received, or a refund awaiting its payment)."""
    taken = affected(
        db,
        update(ProviderEventRecord)
        .where(ProviderEventRecord.id == record_id, ProviderEventRecord.status == waiting_as)
        .values(attempts=ProviderEventRecord.attempts + 1),
    )
    if not taken:
        return None
    record = db.get(ProviderEventRecord, record_id, populate_existing=True)
    assert record is not None
    adapter = _provider(ctx, record.provider)
    event = adapter.parse(headers=record.headers or {}, payload=record.payload)
    outcome = _apply(db, ctx=ctx, event=event)
    record.status, record.note, record.processed_at = outcome.status, outcome.note, utcnow()
    record.workspace_id = _workspace_ref(event.workspace_id)
    record.payment_ref = _payment_ref(event)
    return outcome.status


def _workspace_ref(workspace_id: str | None) -> str | None:
    """A workspace id as an event claims it, if it could be one of ours (a longer one is kept in the payload and
    the flag's note only: another product may sell through the same provider account)."""
    return workspace_id if workspace_id and len(workspace_id) <= 36 else None


def _payment_ref(event: ProviderEvent) -> str | None:
    """The provider's id of the payment the event is about, as stored beside it (one too long to be a payment's id
    of ours is left in the payload)."""
    return event.payment_id if event.payment_id and len(event.payment_id) <= 200 else None


def process_safely(database: Database, ctx: AppContext, record_id: str) -> BillingEventStatus | None:
    """Process one event in its own transaction; a failure is noted on the event and retried later."""
    try:
        with database.session() as db:
            return process_event(db, ctx=ctx, record_id=record_id)
    except Exception as exc:
        log.exception("billing event %s failed", record_id)
        with database.session() as db:
            _note_failure(db, record_id=record_id, error=exc)
        return BillingEventStatus.FAILED


def process_pending(db: Session, *, ctx: AppContext, limit: int = 50) -> int:
    """Periodic: events stored but not yet acted on (the process stopped in between, or an attempt failed)."""
    ids = list(
        db.scalars(
            select(ProviderEventRecord.id)
            .where(ProviderEventRecord.status == BillingEventStatus.RECEIVED)
            .order_by(ProviderEventRecord.received_at)
            .limit(limit)
        )
    )
    done = 0
    for record_id in ids:
        try:
            with db.begin_nested():
                done += process_event(db, ctx=ctx, record_id=record_id) is not None
        except Exception as exc:
            log.exception("billing event %s failed", record_id)
            _note_failure(db, record_id=record_id, error=exc)
    return done


def _note_failure(db: Session, *, record_id: str, error: Exception) -> None:
    record = db.get(ProviderEventRecord, record_id, populate_existing=True)
    if record is not None and record.status == BillingEventStatus.RECEIVED:
        record.attempts += 1
        record.note = f"{type(error).__name__}: {error}"[:1000]
        if record.attempts >= MAX_EVENT_ATTEMPTS:
            record.status = BillingEventStatus.FAILED


# ---- what each kind of event does ----


@dataclass(frozen=True)
class Outcome:
    """What acting on an event came to: its new status, and a note for the person who reads it."""

    status: BillingEventStatus
    note: str | None = None


PROCESSED = Outcome(BillingEventStatus.PROCESSED)


class EventHandler(Protocol):
    def __call__(self, db: Session, *, ctx: AppContext, event: ProviderEvent) -> Outcome: ...


class WorkspaceEventHandler(Protocol):
    def __call__(self, db: Session, *, ctx: AppContext, event: ProviderEvent, workspace: Workspace) -> Outcome: ...


def _provider_actor(provider: str) -> Actor:
    return Actor(user_agent=f"billing provider {provider}")


def _for_live_workspace(handler: WorkspaceEventHandler) -> EventHandler:
    """`handler` acts on the workspace the event names; an event naming none voxhub has (live) is flagged."""

    def handle(db: Session, *, ctx: AppContext, event: ProviderEvent) -> Outcome:
        workspace = db.get(Workspace, event.workspace_id) if _workspace_ref(event.workspace_id) else None
        if workspace is None or workspace.deleted_at is not None:
            return Outcome(BillingEventStatus.FLAGGED, f"unknown workspace {event.workspace_id!r}")
        return handler(db, ctx=ctx, event=event, workspace=workspace)

    return handle


def _order_paid(db: Session, *, ctx: AppContext, event: ProviderEvent, workspace: Workspace) -> Outcome:
    """A paid order: a package's credits go on the ledger; a plan's payment is recorded (the plan itself comes with
    its subscription event)."""
    catalog = catalog_of(ctx.settings)
    if event.package:
        if event.package not in catalog.packages:
            return Outcome(BillingEventStatus.FLAGGED, f"unknown package {event.package!r}")
        kind: Literal["package", "plan"] = "package"
        item, list_price_cents = event.package, catalog.packages[event.package].price_cents
    elif event.plan:
        kind, item, list_price_cents = "plan", event.plan, 0
    else:
        return Outcome(BillingEventStatus.FLAGGED, "a paid order names neither a package nor a plan")
    record_payment(
        db,
        ctx=ctx,
        workspace_id=workspace.id,
        provider=event.provider,
        external_id=event.payment_id or event.event_id,
        kind=kind,
        item=item,
        amount_cents=event.amount_cents if event.amount_cents is not None else list_price_cents,
        currency=event.currency or catalog.currency,
        customer_email=event.customer_email,
        actor=_provider_actor(event.provider),
    )
    return PROCESSED


def _replaced(current: Subscription, event: ProviderEvent) -> Outcome | None:
    """Ignored, when the event is about a subscription the workspace has since moved away from."""
    if event.subscription_id and current.external_id and event.subscription_id != current.external_id:
        return Outcome(
            BillingEventStatus.IGNORED, f"subscription {event.subscription_id} was replaced by {current.external_id}"
        )
    return None


def _subscription_updated(db: Session, *, ctx: AppContext, event: ProviderEvent, workspace: Workspace) -> Outcome:
    """A subscription started, renewed, changed plan or fell past due: the workspace follows it."""
    current = billing.subscription(db, workspace_id=workspace.id)
    replaced = _replaced(current, event)
    if replaced and event.subscription_status != SubscriptionStatus.ACTIVE:
        # News of a subscription the workspace moved away from (its cancellation, its last failed payment).
        return replaced
    plan = event.plan or current.plan
    if plan not in catalog_of(ctx.settings).plans:
        return Outcome(BillingEventStatus.FLAGGED, f"unknown plan {plan!r}")
    past_due = SubscriptionStatus.PAST_DUE
    if event.subscription_status == past_due and current.status != past_due:
        _mail_payment_failed(db, ctx=ctx, workspace=workspace, provider=event.provider)
    billing.set_plan(
        db,
        ctx=ctx,
        workspace_id=workspace.id,
        plan=plan,
        interval=event.interval or current.interval,
        actor=_provider_actor(event.provider),
        provider=event.provider,
        external_id=event.subscription_id,
        period_start=event.period_start,
        period_end=event.period_end,
        status=event.subscription_status or SubscriptionStatus.ACTIVE,
        cancel_at_period_end=event.cancel_at_period_end,
    )
    return PROCESSED


def _subscription_canceled(db: Session, *, ctx: AppContext, event: ProviderEvent, workspace: Workspace) -> Outcome:
    """The subscription ended: the workspace is back on the free plan (unless it has moved to another one)."""
    replaced = _replaced(billing.subscription(db, workspace_id=workspace.id), event)
    if replaced:
        return replaced
    billing.set_plan(
        db,
        ctx=ctx,
        workspace_id=workspace.id,
        plan="free",
        interval="month",
        actor=_provider_actor(event.provider),
        status=SubscriptionStatus.ACTIVE,
    )
    return PROCESSED


def _payment_failed(db: Session, *, ctx: AppContext, event: ProviderEvent, workspace: Workspace) -> Outcome:
    """A renewal's payment failed: a paid plan is past due, and the owners are mailed."""
    current = billing.subscription(db, workspace_id=workspace.id)
    if current.plan != "free":
        current.status = SubscriptionStatus.PAST_DUE
    _mail_payment_failed(db, ctx=ctx, workspace=workspace, provider=event.provider)
    audit.record(
        db,
        actor=_provider_actor(event.provider),
        action="billing.payment_failed",
        workspace_id=workspace.id,
        target_type="subscription",
        target_id=workspace.id,
        summary={"provider": event.provider},
    )
    return PROCESSED


def _apply(db: Session, *, ctx: AppContext, event: ProviderEvent) -> Outcome:
    """What the event does: its type's handler, or nothing (an `ignored` event, a type with no handler)."""
    handler = EVENT_HANDLERS.get(event.type)
    if handler is None:
        return Outcome(BillingEventStatus.IGNORED, None if event.type == "ignored" else f"no effect for {event.type}")
    return handler(db, ctx=ctx, event=event)


def _mail_payment_failed(db: Session, *, ctx: AppContext, workspace: Workspace, provider: str) -> None:
    for owner in workspaces.owners(db, workspace_id=workspace.id):
        ctx.mailer.send_after_commit(
            db,
            template="payment_failed",
            to=owner.email,
            context={"workspace_name": workspace.name, "provider": provider},
            user_id=owner.id,
            workspace_id=workspace.id,
        )


def _receipt_number() -> str:
    return f"VX-{utcnow():%Y%m%d}-{secrets.token_hex(4).upper()}"


def record_payment(
    db: Session,
    *,
    ctx: AppContext,
    workspace_id: str,
    provider: str,
    external_id: str,
    kind: str,
    item: str,
    amount_cents: int,
    currency: str,
    customer_email: str | None,
    actor: Actor,
) -> Payment:
    """A paid order: recorded once per (provider, payment), with the package's credits on the ledger."""
    existing = db.scalar(select(Payment).where(Payment.provider == provider, Payment.external_id == external_id))
    if existing is not None:
        return existing
    credits = catalog_of(ctx.settings).packages[item].credits if kind == "package" else 0
    payment = Payment(
        workspace_id=workspace_id,
        provider=provider,
        external_id=external_id,
        kind=kind,
        item=item,
        amount_cents=amount_cents,
        currency=currency.lower()[:3],
        credits=credits,
        receipt_number=_receipt_number(),
        customer_email=customer_email,
    )
    db.add(payment)
    db.flush()
    if credits:
        account = ledger.lock_account(db, workspace_id)
        ledger.post(
            db,
            account=account,
            kind=EntryKind.PURCHASE,
            amount=credits,
            idempotency_key=f"purchase:{provider}:{external_id}",
            actor=f"provider:{provider}",
            payment_id=payment.id,
            reason=f"{item} package",
        )
    _apply_refunds_that_came_first(db, ctx=ctx, provider=provider, external_id=external_id)
    audit.record(
        db,
        actor=actor,
        action="billing.payment_received",
        workspace_id=workspace_id,
        target_type="payment",
        target_id=payment.id,
        summary={"provider": provider, "kind": kind, "item": item, "amount_cents": amount_cents, "credits": credits},
    )
    return payment


def _apply_refunds_that_came_first(db: Session, *, ctx: AppContext, provider: str, external_id: str) -> None:
    """Providers do not promise order: a refund that arrived before its payment awaits it; it is applied now."""
    waiting = db.scalars(
        select(ProviderEventRecord.id).where(
            ProviderEventRecord.provider == provider,
            ProviderEventRecord.payment_ref == external_id,
            ProviderEventRecord.status == BillingEventStatus.AWAITING_PAYMENT,
        )
    ).all()
    for record_id in waiting:
        process_event(db, ctx=ctx, record_id=record_id, waiting_as=BillingEventStatus.AWAITING_PAYMENT)


def _refund(db: Session, *, ctx: AppContext, event: ProviderEvent) -> Outcome:
    """Take back the credits a refund paid for. Credits already spent cannot be taken: the balance goes to zero
    (never below what running jobs hold) and the shortfall is recorded on the payment. A refund of a payment not
    seen yet awaits it."""
    if _payment_ref(event) is None:
        return Outcome(BillingEventStatus.FLAGGED, "a refund that names no payment")
    payment = db.scalar(
        select(Payment).where(Payment.provider == event.provider, Payment.external_id == event.payment_id)
    )
    if payment is None:
        return Outcome(BillingEventStatus.AWAITING_PAYMENT, f"refund for unknown payment {event.payment_id!r}")
    if event.refunded_cents is None and event.refund_cents is not None:
        # A provider that reports each refund alone: this one adds to what was refunded before (the event is acted
        # on once, so it is counted once).
        refunded_cents = min(payment.amount_cents, payment.refunded_cents + event.refund_cents)
    else:
        refunded_cents = min(payment.amount_cents, event.refunded_cents or payment.amount_cents)
    if refunded_cents <= payment.refunded_cents:
        return Outcome(BillingEventStatus.IGNORED, "refund already applied")
    owed = (payment.credits * refunded_cents) // payment.amount_cents if payment.amount_cents else payment.credits
    to_take = owed - payment.credits_refunded - payment.shortfall
    account = ledger.lock_account(db, payment.workspace_id)
    taken = max(0, min(to_take, account.balance - account.held))
    if taken:
        ledger.post(
            db,
            account=account,
            kind=EntryKind.REFUND,
            amount=-taken,
            idempotency_key=f"refund:{payment.provider}:{payment.external_id}:{refunded_cents}",
            actor=f"provider:{payment.provider}",
            payment_id=payment.id,
            reason=f"refund of {refunded_cents} {payment.currency} cents",
        )
    payment.refunded_cents = refunded_cents
    payment.credits_refunded += taken
    payment.shortfall += to_take - taken
    payment.status = (
        PaymentStatus.REFUNDED if refunded_cents >= payment.amount_cents else PaymentStatus.PARTIALLY_REFUNDED
    )
    audit.record(
        db,
        actor=_provider_actor(payment.provider),
        action="billing.payment_refunded",
        workspace_id=payment.workspace_id,
        target_type="payment",
        target_id=payment.id,
        summary={"refunded_cents": refunded_cents, "credits_taken": taken, "shortfall": to_take - taken},
    )
    return Outcome(
        BillingEventStatus.PROCESSED, f"{to_take - taken} credits were already spent" if to_take > taken else None
    )


# Every kind of provider event (providers.EVENT_KINDS) and what it does; `ignored` has nothing to do.
EVENT_HANDLERS: dict[str, EventHandler] = {
    "order.paid": _for_live_workspace(_order_paid),
    "order.refunded": _refund,
    "subscription.updated": _for_live_workspace(_subscription_updated),
    "subscription.canceled": _for_live_workspace(_subscription_canceled),
    "payment.failed": _for_live_workspace(_payment_failed),
}


# ---- manual payments ----


def mark_checkout_paid(db: Session, *, ctx: AppContext, checkout_id: str, actor: Actor) -> Payment:
    """An administrator confirms a manual checkout was paid outside voxhub: it completes like a provider's order."""
    checkout = db.get(Checkout, checkout_id)
    if checkout is None:
        raise NotFound("Checkout not found.", code="checkout_not_found")
    if checkout.provider != "manual":
        raise Conflict(
            f"This checkout is paid through {checkout.provider}; its webhook completes it.",
            code="checkout_not_manual",
            details={"provider": checkout.provider},
        )
    payment = record_payment(
        db,
        ctx=ctx,
        workspace_id=checkout.workspace_id,
        provider=checkout.provider,
        external_id=checkout.external_id,
        kind=checkout.kind,
        item=checkout.item,
        amount_cents=checkout.amount_cents,
        currency=checkout.currency,
        customer_email=None,
        actor=actor,
    )
    if checkout.kind == "plan" and checkout.status != CheckoutStatus.COMPLETED:
        billing.set_plan(
            db,
            ctx=ctx,
            workspace_id=checkout.workspace_id,
            plan=checkout.item,
            interval=checkout.interval or "month",
            actor=actor,
            provider=checkout.provider,
        )
    checkout.status = CheckoutStatus.COMPLETED
    return payment


# ---- refunds an administrator starts ----


def refund_payment(
    db: Session,
    *,
    ctx: AppContext,
    workspace_id: str,
    payment_id: str,
    amount_cents: int | None,
    reason: str | None,
    actor: Actor,
) -> Payment:
    """Refund a payment through its provider's API (eWAY, Dodo), in full unless `amount_cents` says less. The credits
    it bought come back off the ledger as with any refund: at once for eWAY, whose answer is final; with Dodo's
    refund.succeeded webhook. Stripe and Polar payments are refunded in their dashboards."""
    payment = get_payment(db, workspace_id=workspace_id, payment_id=payment_id)
    # One refund of a payment at a time: a second waits here and then sees what the first refunded.
    db.execute(select(Payment.id).where(Payment.id == payment.id).with_for_update())
    db.refresh(payment)
    remaining = payment.amount_cents - payment.refunded_cents
    amount = remaining if amount_cents is None else amount_cents
    if remaining <= 0:
        raise Conflict("This payment is refunded in full already.", code="already_refunded")
    if amount > remaining:
        # 409, not 422: the same amount was fine before an earlier refund; it is the payment's state that refuses it.
        raise Conflict(
            f"At most {remaining} cents of this payment are left to refund.",
            code="refund_too_large",
            details={"remaining_cents": remaining},
        )
    adapter = _provider(ctx, payment.provider)
    try:
        if isinstance(adapter, EwayProvider):
            result = adapter.refund(transaction_id=payment.external_id, amount_cents=amount)
            if not result.approved or result.transaction_id is None:
                raise Conflict(
                    f"eWAY declined the refund ({result.response_message or result.response_code or 'no reason'}).",
                    code="refund_declined",
                    details={"provider": "eway", "response_message": result.response_message},
                )
            refund_id = result.transaction_id
            record_own_event(
                db,
                ctx=ctx,
                provider="eway",
                payload={
                    "id": f"refund:{refund_id}",
                    "type": "refund.approved",
                    "workspace_id": payment.workspace_id,
                    "payment_id": payment.external_id,
                    "refund_cents": amount,
                    "currency": payment.currency,
                    "transaction": result.raw,
                },
            )
        elif isinstance(adapter, DodoProvider):
            if amount != remaining:
                raise Conflict(
                    "Dodo payments are refunded whole through voxhub; refund part of one in Dodo's dashboard.",
                    code="partial_refund_unsupported",
                    details={"provider": "dodo", "remaining_cents": remaining},
                )
            refund_id = adapter.start_refund(payment_id=payment.external_id, reason=reason).refund_id
        else:
            raise Conflict(
                f"Refund a {payment.provider} payment at {payment.provider}; its refund reaches voxhub from there.",
                code="refund_at_provider",
                details={"provider": payment.provider},
            )
    except ProviderError as exc:
        raise ProviderUnavailable(str(exc), details={"provider": payment.provider, "status": exc.status}) from exc
    audit.record(
        db,
        actor=actor,
        action="billing.refund_requested",
        workspace_id=payment.workspace_id,
        target_type="payment",
        target_id=payment.id,
        summary={"provider": payment.provider, "amount_cents": amount, "refund_id": refund_id, "reason": reason},
    )
    db.flush()
    return payment


# ---- receipts ----


def list_payments(db: Session, *, workspace_id: str) -> list[Payment]:
    """Every payment of the workspace, newest first."""
    return list(
        db.scalars(select(Payment).where(Payment.workspace_id == workspace_id).order_by(Payment.created_at.desc()))
    )


def payment_of_entry(db: Session, *, workspace_id: str, entry_id: str) -> Payment:
    """The payment behind a purchase in the workspace's ledger, or 404 `receipt_not_found`."""
    entry = billing.ledger_entry(db, workspace_id=workspace_id, entry_id=entry_id)
    payment = db.get(Payment, entry.payment_id) if entry.payment_id else None
    if payment is None or entry.kind != EntryKind.PURCHASE:
        raise NotFound("This ledger entry is not a payment, so it has no receipt.", code="receipt_not_found")
    return payment


def get_payment(db: Session, *, workspace_id: str, payment_id: str) -> Payment:
    """The workspace's payment, or 404 `payment_not_found`."""
    payment = db.get(Payment, payment_id)
    if payment is None or payment.workspace_id != workspace_id:
        raise NotFound("Payment not found.", code="payment_not_found")
    return payment


def receipt(db: Session, *, ctx: AppContext, payment: Payment) -> receipts.Receipt:
    """The receipt of a payment, issued in the operator's name to the workspace."""
    workspace_id = payment.workspace_id
    workspace = db.get(Workspace, workspace_id)
    issuer = ctx.settings.mail_from.split("<")[0].strip() or "voxhub"
    return receipts.receipt_for(payment, workspace_name=workspace.name if workspace else workspace_id, issuer=issuer)
