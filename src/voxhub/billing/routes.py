"""HTTP routes for billing: the public catalog, a workspace's account, ledger, usage, checkouts and receipts,
provider webhooks, and superusers' grants and plan changes."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Header, Query, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from voxhub.billing import eway, payments, receipts
from voxhub.billing import service as billing
from voxhub.billing.catalog import catalog_of
from voxhub.billing.providers import configured_providers
from voxhub.billing.schemas import (
    BillingOut,
    CatalogOut,
    CheckoutIn,
    CheckoutOut,
    CheckoutStateOut,
    GrantIn,
    LedgerEntryOut,
    PackageOut,
    PaymentOut,
    PlanChangeIn,
    PriceOut,
    RefundIn,
    UsageOut,
    UsagePoint,
    WebhookAck,
    entry_out,
    package_out,
    payment_out,
    plan_out,
)
from voxhub.clock import utcnow
from voxhub.deps import AdminAccess, AnonymousActor, Ctx, DbSession, MemberAccess, SuperUser
from voxhub.errors import responses
from voxhub.pagination import Cursor, Page, QueryTime

public = APIRouter(prefix="/api/v1/billing", tags=["billing"])
router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/billing", tags=["billing"])
admin = APIRouter(prefix="/api/v1/admin", tags=["admin"])


@public.get("/plans", summary="Plans")
async def list_plans(ctx: Ctx) -> CatalogOut:
    """Every plan with its prices, monthly allowances and limits, and what each job type costs in credits."""
    catalog = catalog_of(ctx.settings)
    return CatalogOut(
        items=[plan_out(plan, catalog) for plan in catalog.plans.values()],
        prices=[
            PriceOut(job_type=name, credits=price.credits, per=price.per, of=price.of, meter=price.meter)
            for name, price in catalog.prices.items()
        ],
        rounding=catalog.rounding,
        providers=configured_providers(ctx.settings),
    )


@public.get("/packages", summary="Credit packages")
async def list_packages(ctx: Ctx) -> Page[PackageOut]:
    """Credit packages for sale."""
    catalog = catalog_of(ctx.settings)
    return Page(items=[package_out(package, catalog) for package in catalog.packages.values()])


@public.post(
    "/webhooks/{provider}",
    summary="Payment provider webhook",
    responses={**responses(400, 404, 429), 200: {"description": "Stored (or a replay, which does nothing)"}},
)
async def provider_webhook(
    provider: str, request: Request, db: DbSession, ctx: Ctx, actor: AnonymousActor, tasks: BackgroundTasks
) -> WebhookAck:
    """Verify a provider's signed event, store it once and answer at once; it is acted on from the store."""
    body = await request.body()
    record_id, new = await run_in_threadpool(
        payments.receive_webhook, db, ctx=ctx, provider=provider, headers=dict(request.headers), body=body, actor=actor
    )
    if new:
        tasks.add_task(payments.process_safely, request.app.state.db, ctx, record_id)
    return WebhookAck(duplicate=not new, event=record_id)


@public.get(
    "/eway/return",
    summary="Back from eWAY's payment page",
    response_class=RedirectResponse,
    status_code=303,
    responses={**responses(404), 303: {"description": "To the checkout's success_url, or its cancel_url"}},
)
def eway_return(
    db: DbSession, ctx: Ctx, access_code: Annotated[str, Query(alias="AccessCode", min_length=1, max_length=200)]
) -> RedirectResponse:
    """eWAY sends the customer here; voxhub asks eWAY what became of the payment, acts on it, and sends them on."""
    checkout = eway.checkout_by_access_code(db, access_code=access_code)
    checkout = eway.confirm_checkout(db, ctx=ctx, checkout=checkout)
    public_url = ctx.settings.public_url
    if checkout.status == "completed":
        return RedirectResponse(checkout.success_url or f"{public_url}/billing/success", status_code=303)
    return RedirectResponse(checkout.cancel_url or f"{public_url}/billing/canceled", status_code=303)


def _checkout_state(checkout: Any) -> CheckoutStateOut:
    return CheckoutStateOut.model_validate(checkout, from_attributes=True)


@router.get("", summary="Plan, allowances and credits", responses=responses(401, 403, 404))
def get_billing(db: DbSession, ctx: Ctx, access: MemberAccess) -> BillingOut:
    """The plan and its period, what is left of each monthly allowance, and the credit balance."""
    return BillingOut.model_validate(billing.summary(db, ctx=ctx, workspace_id=access.workspace_id))


@router.get("/ledger", summary="Credit ledger", responses=responses(401, 403, 404, 422))
def get_ledger(
    db: DbSession,
    access: MemberAccess,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[LedgerEntryOut]:
    """Every change to the workspace's credits, newest first."""
    entries, next_cursor = billing.ledger_page(db, workspace_id=access.workspace_id, cursor=cursor, limit=limit)
    return Page(items=[entry_out(entry) for entry in entries], next_cursor=next_cursor)


def _receipt_response(receipt: receipts.Receipt, format: str) -> Response:
    if format == "pdf":
        return Response(
            receipts.render_pdf(receipt),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="receipt-{receipt.number}.pdf"'},
        )
    return Response(receipts.render_html(receipt), media_type="text/html; charset=utf-8")


@router.get(
    "/ledger/{entry_id}/receipt",
    summary="Receipt of a purchase",
    response_class=Response,
    responses={
        **responses(401, 403, 404),
        200: {"content": {"text/html": {}, "application/pdf": {}}, "description": "The receipt"},
    },
)
def get_entry_receipt(
    entry_id: str, db: DbSession, ctx: Ctx, access: MemberAccess, format: Literal["html", "pdf"] = "html"
) -> Response:
    """The receipt of the payment behind a purchase entry, as HTML or PDF."""
    payment = payments.payment_of_entry(db, workspace_id=access.workspace_id, entry_id=entry_id)
    return _receipt_response(payments.receipt(db, ctx=ctx, payment=payment), format)


@router.get("/payments", summary="Payments", responses=responses(401, 403, 404))
def get_payments(db: DbSession, access: MemberAccess) -> Page[PaymentOut]:
    """Paid orders, newest first, with refunds and any credits a refund could not take back."""
    paid = payments.list_payments(db, workspace_id=access.workspace_id)
    return Page(items=[payment_out(payment) for payment in paid])


@router.get(
    "/payments/{payment_id}/receipt",
    summary="Receipt of a payment",
    response_class=Response,
    responses={
        **responses(401, 403, 404),
        200: {"content": {"text/html": {}, "application/pdf": {}}, "description": "The receipt"},
    },
)
def get_payment_receipt(
    payment_id: str, db: DbSession, ctx: Ctx, access: MemberAccess, format: Literal["html", "pdf"] = "html"
) -> Response:
    """The receipt of a payment (credit packages and plans alike), as HTML or PDF."""
    payment = payments.get_payment(db, workspace_id=access.workspace_id, payment_id=payment_id)
    return _receipt_response(payments.receipt(db, ctx=ctx, payment=payment), format)


@router.get("/usage", summary="Usage by meter", responses=responses(401, 403, 404, 422))
def get_usage(
    db: DbSession,
    access: MemberAccess,
    meter: str | None = None,
    start: Annotated[QueryTime | None, Query(alias="from")] = None,
    end: Annotated[QueryTime | None, Query(alias="to")] = None,
    granularity: Literal["day", "month"] = "day",
) -> UsageOut:
    """What was used on each meter per day (or month); the last 30 days unless `from` and `to` say otherwise."""
    end = end or utcnow()
    start = start or end - timedelta(days=30)
    items = billing.usage(
        db, workspace_id=access.workspace_id, meter=meter, start=start, end=end, granularity=granularity
    )
    return UsageOut(items=[UsagePoint(**item) for item in items], granularity=granularity, start=start, end=end)


@router.post(
    "/checkout",
    status_code=201,
    summary="Buy credits or a plan",
    responses={**responses(401, 403, 404, 422), 502: {"description": "The payment provider failed"}},
)
def create_checkout(body: CheckoutIn, db: DbSession, ctx: Ctx, access: AdminAccess) -> CheckoutOut:
    """Open a checkout at the provider; send the customer to `url`. Credits or the plan arrive with its webhook."""
    checkout, instructions = payments.start_checkout(
        db,
        ctx=ctx,
        access=access,
        provider=body.provider,
        package=body.package,
        plan=body.plan,
        interval=body.interval,
        success_url=body.success_url,
        cancel_url=body.cancel_url,
    )
    return CheckoutOut(
        id=checkout.id,
        provider=checkout.provider,
        url=checkout.url,
        external_id=checkout.external_id,
        kind=checkout.kind,
        item=checkout.item,
        amount_cents=checkout.amount_cents,
        currency=checkout.currency,
        instructions=instructions,
    )


@router.post(
    "/checkouts/{checkout_id}/confirm",
    summary="Confirm an eWAY payment",
    responses={**responses(401, 403, 404, 409), 502: {"description": "eWAY failed"}},
)
def confirm_checkout(checkout_id: str, db: DbSession, ctx: Ctx, access: AdminAccess) -> CheckoutStateOut:
    """Ask eWAY what became of this checkout's payment and apply it, once (what its return page does, for clients
    that keep the customer elsewhere)."""
    checkout = eway.get_checkout(db, workspace_id=access.workspace_id, checkout_id=checkout_id)
    return _checkout_state(eway.confirm_checkout(db, ctx=ctx, checkout=checkout))


@router.post(
    "/subscription/cancel",
    summary="Cancel the plan at period end",
    responses={**responses(401, 403, 404, 422), 502: {"description": "The payment provider failed"}},
)
def cancel_subscription(db: DbSession, ctx: Ctx, access: AdminAccess) -> BillingOut:
    """The plan stays until the end of the period it is paid for, then the workspace moves to the free plan."""
    payments.cancel_subscription(db, ctx=ctx, access=access)
    return BillingOut.model_validate(billing.summary(db, ctx=ctx, workspace_id=access.workspace_id))


# ---- superusers ----


@admin.post(
    "/workspaces/{workspace_id}/billing/payments/{payment_id}/refund",
    summary="Refund a payment (superusers)",
    responses={**responses(401, 403, 404, 409, 422), 502: {"description": "The payment provider failed"}},
)
def refund_payment(
    workspace_id: str, payment_id: str, body: RefundIn, db: DbSession, ctx: Ctx, me: SuperUser
) -> PaymentOut:
    """Refund an eWAY or Dodo payment through the provider; the credits it bought are taken back. Audited."""
    payment = payments.refund_payment(
        db,
        ctx=ctx,
        workspace_id=workspace_id,
        payment_id=payment_id,
        amount_cents=body.amount_cents,
        reason=body.reason,
        actor=me.actor,
    )
    return payment_out(payment)


@admin.post(
    "/workspaces/{workspace_id}/credits",
    status_code=201,
    summary="Grant credits (superusers)",
    responses=responses(401, 403, 404, 422),
)
def grant_credits(
    workspace_id: str,
    body: GrantIn,
    db: DbSession,
    ctx: Ctx,
    me: SuperUser,
    idempotency_key: Annotated[str | None, Header(max_length=150)] = None,
) -> LedgerEntryOut:
    """Add credits to a workspace (or take them back with a negative number), with a reason; audited."""
    entry = billing.grant(
        db,
        ctx=ctx,
        workspace_id=workspace_id,
        credits=body.credits,
        reason=body.reason,
        actor=me.actor,
        idempotency_key=f"grant:{workspace_id}:{idempotency_key}" if idempotency_key else None,
    )
    return entry_out(entry)


@admin.put(
    "/workspaces/{workspace_id}/plan", summary="Set a plan (superusers)", responses=responses(401, 403, 404, 422)
)
def set_plan(workspace_id: str, body: PlanChangeIn, db: DbSession, ctx: Ctx, me: SuperUser) -> BillingOut:
    """Put a workspace on a plan without a payment provider (a self-hosted deployment, a deal made by hand)."""
    from voxhub.workspaces import service as workspaces

    workspaces.get_live(db, workspace_id=workspace_id)
    billing.set_plan(db, ctx=ctx, workspace_id=workspace_id, plan=body.plan, interval=body.interval, actor=me.actor)
    return BillingOut.model_validate(billing.summary(db, ctx=ctx, workspace_id=workspace_id))


@admin.post(
    "/billing/checkouts/{checkout_id}/paid",
    summary="Confirm a manual payment (superusers)",
    responses=responses(401, 403, 404),
)
def mark_paid(checkout_id: str, db: DbSession, ctx: Ctx, me: SuperUser) -> PaymentOut:
    """A checkout paid outside voxhub (the manual provider): its credits or plan are applied, once."""
    return payment_out(payments.mark_checkout_paid(db, ctx=ctx, checkout_id=checkout_id, actor=me.actor))
