"""Payment providers at the edge of the internet: real HTTP servers speaking the part of Stripe's and Polar's APIs
voxhub uses, webhook deliveries signed the way each provider signs them, and events shaped like theirs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from standardwebhooks.webhooks import Webhook

from tests.fake_http import LocalHTTPServer, RecordedRequest, Reply, json_reply

STRIPE_API_VERSION = "2025-03-31.basil"  # the first version with billing periods on subscription items
STRIPE_LEGACY_API_VERSION = "2024-06-20"  # periods on the subscription, subscription_details on the invoice


def _token(length: int = 24) -> str:
    return secrets.token_hex(length // 2)


# ---- fake APIs ----


class FakeProviderAPI(LocalHTTPServer):
    """A provider's API that answers JSON through `answer` (each fake's subset of its provider's API). Set
    `fail_with = (status, json_body)` to make every answer that error (an outage, a refusal)."""

    thread_name = "fake-provider"

    def __init__(self, *, token: str) -> None:
        super().__init__()
        self.token = token
        self.fail_with: tuple[int, dict[str, Any]] | None = None

    def respond(self, request: RecordedRequest) -> Reply:
        return json_reply(*(self.fail_with or self.answer(request)))

    def authorized(self, request: RecordedRequest) -> bool:
        return hmac.compare_digest(request.headers.get("authorization", ""), f"Bearer {self.token}")

    def answer(self, request: RecordedRequest) -> tuple[int, dict[str, Any]]:
        raise NotImplementedError


class FakeStripe(FakeProviderAPI):
    """Stripe's `POST /v1/checkout/sessions`, refusing what Stripe refuses (a wrong key, a missing param, a recurring
    price in payment mode). Created sessions are kept in `sessions` by id."""

    thread_name = "fake-stripe"

    def __init__(self, *, secret_key: str = "sk_test_voxhub_fake") -> None:
        super().__init__(token=secret_key)
        self.sessions: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}

    @staticmethod
    def error(status: int, message: str, *, param: str | None = None) -> tuple[int, dict[str, Any]]:
        error: dict[str, Any] = {"message": message, "type": "invalid_request_error"}
        if param:
            error |= {"code": "parameter_missing", "param": param}
        return status, {"error": error}

    def answer(self, request: RecordedRequest) -> tuple[int, dict[str, Any]]:
        if not self.authorized(request):
            shown = request.headers.get("authorization", "").removeprefix("Bearer ")
            return self.error(401, f"Invalid API Key provided: {shown[:8]}{'*' * max(len(shown) - 12, 0)}{shown[-4:]}")
        if request.method == "POST" and request.path.startswith("/v1/subscriptions/"):
            return self.update_subscription(request.path.rsplit("/", 1)[1], request.form)
        if (request.method, request.path) != ("POST", "/v1/checkout/sessions"):
            return self.error(404, f"Unrecognized request URL ({request.method}: {request.path}).")
        form = request.form
        for param in ("mode", "success_url"):
            if not form.get(param):
                return self.error(400, f"Missing required param: {param}.", param=param)
        items = form.get("line_items") or []
        if not items:
            return self.error(400, "Missing required param: line_items.", param="line_items")
        price = items[0].get("price_data") or {}
        for param in ("currency", "unit_amount"):
            if not price.get(param):
                return self.error(400, f"Missing required param: line_items[0][price_data][{param}].", param=param)
        recurring = price.get("recurring")
        if form["mode"] == "subscription" and not recurring:
            return self.error(400, "You must provide at least one recurring price in `subscription` mode.")
        if form["mode"] == "payment" and recurring:
            return self.error(400, "You specified `payment` mode but passed a recurring price.")
        session_id = "cs_test_" + secrets.token_urlsafe(40).replace("-", "").replace("_", "")[:58]
        now = int(time.time())
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_total": int(price["unit_amount"]) * int(items[0].get("quantity") or 1),
            "cancel_url": form.get("cancel_url"),
            "client_reference_id": form.get("client_reference_id"),
            "created": now,
            "currency": price["currency"],
            "customer_email": form.get("customer_email"),
            "expires_at": now + 86400,
            "livemode": False,
            "metadata": form.get("metadata") or {},
            "mode": form["mode"],
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "subscription": None,
            "success_url": form["success_url"],
            "url": f"https://checkout.stripe.test/c/pay/{session_id}",
        }
        self.sessions[session_id] = session
        return 200, session

    def update_subscription(self, subscription_id: str, form: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """`POST /v1/subscriptions/{id}`: subscriptions made with `subscriptions[id] = {...}` exist, others are 404."""
        if subscription_id not in self.subscriptions:
            return self.error(404, f"No such subscription: '{subscription_id}'")
        subscription = self.subscriptions[subscription_id]
        if "cancel_at_period_end" in form:
            subscription["cancel_at_period_end"] = form["cancel_at_period_end"] == "true"
        return 200, subscription


class FakePolar(FakeProviderAPI):
    """Polar's `POST /v1/checkouts/`. With `products` given, a product id not among them is refused as Polar refuses
    an unknown one (422). Created checkouts are kept in `checkouts` by id."""

    thread_name = "fake-polar"

    def __init__(self, *, access_token: str = "polar_oat_voxhub_fake", products: Sequence[str] | None = None) -> None:
        super().__init__(token=access_token)
        self.products = None if products is None else set(products)
        self.checkouts: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}

    def answer(self, request: RecordedRequest) -> tuple[int, dict[str, Any]]:
        if not self.authorized(request):
            return 401, {
                "error": "invalid_token",
                "error_description": "The access token provided is expired, revoked, malformed, or invalid for other "
                "reasons.",
            }
        if request.method == "PATCH" and request.path.startswith("/v1/subscriptions/"):
            subscription = self.subscriptions.get(request.path.rstrip("/").rsplit("/", 1)[1])
            if subscription is None:
                return 404, {"type": "ResourceNotFound", "detail": "Not found"}
            subscription.update({k: v for k, v in request.json().items() if k == "cancel_at_period_end"})
            return 200, subscription
        if (request.method, request.path) != ("POST", "/v1/checkouts/"):
            return 404, {"detail": "Not Found"}
        try:
            body = request.json()
        except ValueError:
            return 422, {"detail": [{"type": "json_invalid", "loc": ["body"], "msg": "JSON decode error"}]}
        products = body.get("products")
        if not products or not isinstance(products, list):
            return 422, {"detail": [{"type": "missing", "loc": ["body", "products"], "msg": "Field required"}]}
        for index, product in enumerate(products):
            if self.products is not None and product not in self.products:
                return 422, {
                    "detail": [
                        {"type": "value_error", "loc": ["body", "products", index], "msg": "Product does not exist."}
                    ]
                }
        now = datetime.now(UTC)
        client_secret = "polar_c_" + secrets.token_urlsafe(32)
        checkout = {
            "id": str(uuid.uuid4()),
            "created_at": _iso(now),
            "modified_at": None,
            "payment_processor": "stripe",
            "status": "open",
            "client_secret": client_secret,
            "url": f"https://buy.polar.test/{client_secret}",
            "expires_at": _iso(now + timedelta(hours=1)),
            "success_url": body.get("success_url"),
            "return_url": body.get("return_url"),
            "customer_email": body.get("customer_email"),
            "product_id": products[0],
            "products": [{"id": product} for product in products],
            "metadata": body.get("metadata") or {},
        }
        self.checkouts[checkout["id"]] = checkout
        return 201, checkout


# ---- signing, the way each provider signs ----


def stripe_signature(secret: str, body: bytes, timestamp: int, *, extra_secrets: Sequence[str] = ()) -> str:
    """The Stripe-Signature header: `t=…,v1=…`, one v1 per secret in use (several while a secret is being rolled)."""
    signatures = [
        hmac.new(key.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        for key in (secret, *extra_secrets)
    ]
    return ",".join([f"t={timestamp}", *(f"v1={signature}" for signature in signatures)])


def stripe_delivery(
    secret: str, event: dict[str, Any], *, timestamp: int | None = None
) -> tuple[dict[str, str], bytes]:
    """The headers and body of Stripe posting `event` (pretty-printed, as Stripe sends it)."""
    body = json.dumps(event, indent=2).encode()
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        "Stripe-Signature": stripe_signature(secret, body, timestamp),
    }
    return headers, body


def polar_webhook_secret(*, legacy: bool = False) -> str:
    """A secret as Polar issues it: since 2026-09-08 `whsec_` + base64 of 32 random bytes; before, `whsec_` + a
    43-character url-safe token."""
    if legacy:
        return "whsec_" + secrets.token_urlsafe(32)
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def polar_headers(secret: str, body: bytes, msg_id: str, timestamp: int, *, legacy: bool = False) -> dict[str, str]:
    """Polar's webhook headers, signed with the Standard Webhooks library the way Polar's server does: a current
    endpoint's secret is handed to the library as it is; a legacy endpoint's is base64-encoded first, so the key is
    the UTF-8 bytes of the whole secret."""
    key = base64.b64encode(secret.encode()).decode() if legacy else secret
    signature = Webhook(key).sign(msg_id, datetime.fromtimestamp(timestamp, UTC), body.decode())
    return {
        "user-agent": "polar.sh webhooks",
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def polar_delivery(
    secret: str,
    payload: dict[str, Any],
    *,
    timestamp: int | None = None,
    msg_id: str | None = None,
    legacy: bool = False,
) -> tuple[dict[str, str], bytes]:
    """The headers and body of Polar posting `payload`; a fresh webhook-id (Polar's event id) unless given."""
    body = json.dumps(payload).encode()
    timestamp = int(time.time()) if timestamp is None else timestamp
    return polar_headers(secret, body, msg_id or str(uuid.uuid4()), timestamp, legacy=legacy), body


# ---- Stripe events ----


def stripe_event(event_type: str, obj: dict[str, Any], *, api_version: str = STRIPE_API_VERSION) -> dict[str, Any]:
    """Stripe's event envelope around `obj`, with a fresh evt_ id."""
    return {
        "id": "evt_" + _token(),
        "object": "event",
        "api_version": api_version,
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": "req_" + _token(14), "idempotency_key": str(uuid.uuid4())},
        "type": event_type,
    }


def _metadata(workspace_id: str | None, **items: str | None) -> dict[str, str]:
    metadata = {"workspace_id": workspace_id} if workspace_id else {}
    return metadata | {key: value for key, value in items.items() if value}


def stripe_checkout_completed(
    workspace_id: str,
    *,
    package: str | None = None,
    plan: str | None = None,
    interval: str | None = None,
    amount_cents: int = 1000,
    currency: str = "usd",
    payment_intent: str | None = None,
    subscription_id: str | None = None,
    email: str = "buyer@example.com",
    payment_status: str = "paid",
    event_type: str = "checkout.session.completed",
) -> dict[str, Any]:
    """A completed Checkout Session: payment mode for a package (with a fresh payment intent unless given),
    subscription mode for a plan (with a fresh subscription)."""
    subscription = plan is not None
    return stripe_event(
        event_type,
        {
            "id": "cs_test_" + _token(40),
            "object": "checkout.session",
            "amount_subtotal": amount_cents,
            "amount_total": amount_cents,
            "client_reference_id": workspace_id,
            "currency": currency,
            "customer": "cus_" + _token(14),
            "customer_details": {"email": email, "name": "Ada Buyer", "address": None, "tax_exempt": "none"},
            "customer_email": None,
            "invoice": ("in_" + _token()) if subscription else None,
            "livemode": False,
            "metadata": _metadata(workspace_id, package=package, plan=plan, interval=interval),
            "mode": "subscription" if subscription else "payment",
            "payment_intent": None if subscription else (payment_intent or "pi_" + _token()),
            "payment_status": payment_status,
            "status": "complete",
            "subscription": (subscription_id or "sub_" + _token()) if subscription else None,
            "success_url": "https://voxhub.test/billing/success",
            "url": None,
        },
    )


def stripe_charge_refunded(
    payment_intent: str,
    amount_refunded: int,
    *,
    workspace_id: str | None = None,
    package: str | None = None,
    amount_cents: int | None = None,
    currency: str = "usd",
) -> dict[str, Any]:
    """A refund on the charge of `payment_intent`; its metadata is the payment intent's, copied on (workspace)."""
    amount = amount_refunded if amount_cents is None else amount_cents
    return stripe_event(
        "charge.refunded",
        {
            "id": "ch_" + _token(),
            "object": "charge",
            "amount": amount,
            "amount_captured": amount,
            "amount_refunded": amount_refunded,
            "billing_details": {"email": "buyer@example.com", "name": "Ada Buyer"},
            "captured": True,
            "currency": currency,
            "customer": "cus_" + _token(14),
            "metadata": _metadata(workspace_id, package=package),
            "paid": True,
            "payment_intent": payment_intent,
            "receipt_email": None,
            "refunded": amount_refunded >= amount,
            "status": "succeeded",
        },
    )


def stripe_subscription(
    event_type: str,
    workspace_id: str | None,
    plan: str | None,
    interval: str,
    status: str,
    period_start: datetime,
    period_end: datetime,
    *,
    cancel_at_period_end: bool = False,
    subscription_id: str | None = None,
    amount_cents: int = 1500,
    currency: str = "usd",
    api_version: str = STRIPE_API_VERSION,
) -> dict[str, Any]:
    """A customer.subscription.* event; the billing period sits on the item from API version 2025-03-31, on the
    subscription before."""
    period = {"current_period_start": int(period_start.timestamp()), "current_period_end": int(period_end.timestamp())}
    periods_on_items = api_version >= "2025-03-31"
    subscription_id = subscription_id or "sub_" + _token()
    item = {
        "id": "si_" + _token(14),
        "object": "subscription_item",
        "price": {
            "id": "price_" + _token(),
            "object": "price",
            "currency": currency,
            "recurring": {"interval": interval, "interval_count": 1, "usage_type": "licensed"},
            "type": "recurring",
            "unit_amount": amount_cents,
        },
        "quantity": 1,
        "subscription": subscription_id,
        **(period if periods_on_items else {}),
    }
    return stripe_event(
        event_type,
        {
            "id": subscription_id,
            "object": "subscription",
            "cancel_at": int(period_end.timestamp()) if cancel_at_period_end else None,
            "cancel_at_period_end": cancel_at_period_end,
            "canceled_at": int(time.time()) if cancel_at_period_end or status == "canceled" else None,
            "currency": currency,
            "customer": "cus_" + _token(14),
            "items": {"object": "list", "data": [item], "has_more": False},
            "latest_invoice": "in_" + _token(),
            "livemode": False,
            "metadata": _metadata(workspace_id, plan=plan, interval=interval),
            "start_date": int(period_start.timestamp()),
            "status": status,
            **({} if periods_on_items else period),
        },
        api_version=api_version,
    )


def stripe_invoice_payment_failed(
    workspace_id: str | None,
    email: str | None,
    *,
    plan: str | None = None,
    interval: str | None = None,
    subscription_id: str | None = None,
    amount_cents: int = 1500,
    currency: str = "usd",
    api_version: str = STRIPE_API_VERSION,
) -> dict[str, Any]:
    """A renewal invoice whose payment failed; the subscription's metadata is under `parent` from API version
    2025-03-31, in `subscription_details` before."""
    subscription_id = subscription_id or "sub_" + _token()
    details = {"metadata": _metadata(workspace_id, plan=plan, interval=interval)}
    invoice: dict[str, Any] = {
        "id": "in_" + _token(),
        "object": "invoice",
        "amount_due": amount_cents,
        "amount_paid": 0,
        "amount_remaining": amount_cents,
        "attempt_count": 1,
        "billing_reason": "subscription_cycle",
        "currency": currency,
        "customer": "cus_" + _token(14),
        "customer_email": email,
        "metadata": {},
        "status": "open",
    }
    if api_version >= "2025-03-31":
        invoice["parent"] = {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {**details, "subscription": subscription_id},
        }
    else:
        invoice |= {
            "subscription": subscription_id,
            "subscription_details": details,
            "payment_intent": "pi_" + _token(),
        }
    return stripe_event("invoice.payment_failed", invoice, api_version=api_version)


# ---- Polar events ----


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _polar_customer(email: str) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "email": email, "name": "Ada Buyer", "external_id": None, "metadata": {}}


def _polar_event(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    # Polar's payloads carry no id: the delivery's webhook-id header is the event's (see polar_delivery).
    return {"type": event_type, "timestamp": _iso(datetime.now(UTC)), "data": data}


def _polar_order(
    *,
    order_id: str | None,
    workspace_id: str | None,
    package: str | None,
    plan: str | None,
    interval: str | None,
    amount_cents: int,
    refunded_cents: int,
    currency: str,
    subscription_id: str | None,
    product_id: str | None,
    email: str,
    billing_reason: str | None,
) -> dict[str, Any]:
    metadata = _metadata(workspace_id, package=package, plan=plan, interval=interval)
    now = datetime.now(UTC)
    subscription = None
    if plan is not None:
        subscription_id = subscription_id or str(uuid.uuid4())
        length = timedelta(days=365 if interval == "year" else 30)
        subscription = {
            "id": subscription_id,
            "status": "active",
            "amount": amount_cents,
            "currency": currency,
            "recurring_interval": interval or "month",
            "current_period_start": _iso(now),
            "current_period_end": _iso(now + length),
            "cancel_at_period_end": False,
            "metadata": metadata,
        }
    status = "paid" if refunded_cents == 0 else "refunded" if refunded_cents >= amount_cents else "partially_refunded"
    return {
        "id": order_id or str(uuid.uuid4()),
        "created_at": _iso(now),
        "modified_at": _iso(now),
        "status": status,
        "paid": True,
        "subtotal_amount": amount_cents,
        "discount_amount": 0,
        "net_amount": amount_cents,
        "tax_amount": 0,
        "total_amount": amount_cents,
        "refunded_amount": refunded_cents,
        "refunded_tax_amount": 0,
        "currency": currency,
        "billing_reason": billing_reason or ("subscription_cycle" if plan else "purchase"),
        "customer_id": str(uuid.uuid4()),
        "product_id": product_id or str(uuid.uuid4()),
        "discount_id": None,
        "subscription_id": subscription_id,
        "checkout_id": str(uuid.uuid4()),
        "metadata": metadata,
        "custom_field_data": {},
        "customer": _polar_customer(email),
        "subscription": subscription,
        "items": [{"label": plan or package or "", "amount": amount_cents, "tax_amount": 0, "proration": False}],
    }


def polar_order_paid(
    workspace_id: str | None,
    *,
    package: str | None = None,
    plan: str | None = None,
    interval: str | None = None,
    amount_cents: int = 1000,
    currency: str = "usd",
    order_id: str | None = None,
    subscription_id: str | None = None,
    product_id: str | None = None,
    email: str = "buyer@example.com",
    billing_reason: str | None = None,
) -> dict[str, Any]:
    """order.paid: a package bought once, or (with `plan`) a subscription's order, embedding its subscription."""
    return _polar_event(
        "order.paid",
        _polar_order(
            order_id=order_id,
            workspace_id=workspace_id,
            package=package,
            plan=plan,
            interval=interval,
            amount_cents=amount_cents,
            refunded_cents=0,
            currency=currency,
            subscription_id=subscription_id,
            product_id=product_id,
            email=email,
            billing_reason=billing_reason,
        ),
    )


def polar_order_refunded(
    order_id: str,
    refunded_cents: int,
    *,
    workspace_id: str | None = None,
    package: str | None = None,
    amount_cents: int | None = None,
    currency: str = "usd",
    email: str = "buyer@example.com",
) -> dict[str, Any]:
    """order.refunded: the same order (same id and metadata) with `refunded_cents` refunded so far."""
    return _polar_event(
        "order.refunded",
        _polar_order(
            order_id=order_id,
            workspace_id=workspace_id,
            package=package,
            plan=None,
            interval=None,
            amount_cents=refunded_cents if amount_cents is None else amount_cents,
            refunded_cents=refunded_cents,
            currency=currency,
            subscription_id=None,
            product_id=None,
            email=email,
            billing_reason=None,
        ),
    )


def polar_subscription(
    event_type: str,
    workspace_id: str | None,
    plan: str | None,
    interval: str,
    status: str,
    period_start: datetime,
    period_end: datetime,
    *,
    cancel_at_period_end: bool = False,
    subscription_id: str | None = None,
    amount_cents: int = 1500,
    currency: str = "usd",
    email: str = "buyer@example.com",
) -> dict[str, Any]:
    """A subscription.* event (created, updated, active, canceled, uncanceled, past_due, revoked)."""
    now = datetime.now(UTC)
    canceled = cancel_at_period_end or event_type in ("subscription.canceled", "subscription.revoked")
    return _polar_event(
        event_type,
        {
            "id": subscription_id or str(uuid.uuid4()),
            "created_at": _iso(period_start),
            "modified_at": _iso(now),
            "amount": amount_cents,
            "currency": currency,
            "recurring_interval": interval,
            "recurring_interval_count": 1,
            "status": status,
            "current_period_start": _iso(period_start),
            "current_period_end": _iso(period_end),
            "trial_start": None,
            "trial_end": None,
            "cancel_at_period_end": cancel_at_period_end,
            "canceled_at": _iso(now) if canceled else None,
            "started_at": _iso(period_start),
            "ends_at": _iso(period_end) if canceled else None,
            "ended_at": _iso(now) if event_type == "subscription.revoked" else None,
            "customer_id": str(uuid.uuid4()),
            "product_id": str(uuid.uuid4()),
            "discount_id": None,
            "checkout_id": str(uuid.uuid4()),
            "customer_cancellation_reason": None,
            "customer_cancellation_comment": None,
            "metadata": _metadata(workspace_id, plan=plan, interval=interval),
            "custom_field_data": {},
            "customer": _polar_customer(email),
        },
    )
