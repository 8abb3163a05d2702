"""The payment provider adapters: webhook signatures checked as Stripe and Polar sign them, their events mapped to
ProviderEvents, and checkouts opened against fake provider APIs over real HTTP."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest

from tests.billing.fakes import (
    STRIPE_LEGACY_API_VERSION,
    FakePolar,
    FakeStripe,
    polar_delivery,
    polar_order_paid,
    polar_order_refunded,
    polar_subscription,
    polar_webhook_secret,
    stripe_charge_refunded,
    stripe_checkout_completed,
    stripe_delivery,
    stripe_event,
    stripe_invoice_payment_failed,
    stripe_signature,
    stripe_subscription,
)
from voxhub.billing.providers import (
    EVENT_KINDS,
    PROVIDERS,
    CheckoutRequest,
    ManualProvider,
    PolarProvider,
    ProviderError,
    ProviderNotConfigured,
    StripeProvider,
    WebhookVerificationError,
    get_provider,
)
from voxhub.config import Settings

STRIPE_SECRET = "whsec_stripe_test_secret_0123456789"
WORKSPACE = "0193a0c4-1111-7000-8000-000000000001"
PERIOD_START = datetime(2026, 11, 1, tzinfo=UTC)
PERIOD_END = datetime(2026, 12, 1, tzinfo=UTC)


def settings(**overrides: Any) -> Settings:
    """A stand-in for voxhub.config.Settings carrying only the billing fields the adapters read."""
    values: dict[str, Any] = {
        "stripe_secret_key": None,
        "stripe_webhook_secret": None,
        "stripe_api_url": "https://api.stripe.com",
        "polar_access_token": None,
        "polar_webhook_secret": None,
        "polar_api_url": "https://api.polar.sh",
        "eway_api_key": None,
        "eway_api_password": None,
        "eway_endpoint": "https://api.sandbox.ewaypayments.com",
        "dodo_api_key": None,
        "dodo_webhook_secret": None,
        "dodo_api_url": "https://test.dodopayments.com",
        "public_url": "http://voxhub.test",
        "billing_webhook_tolerance_s": 300,
    }
    return cast(Settings, SimpleNamespace(**(values | overrides)))


def now() -> datetime:
    return datetime.now(UTC)


def stripe(api_url: str = "https://api.stripe.com", *, secret_key: str = "sk_test_voxhub_fake") -> StripeProvider:
    return StripeProvider(secret_key=secret_key, webhook_secret=STRIPE_SECRET, api_url=api_url)


def polar(secret: str, api_url: str = "https://api.polar.sh", *, token: str = "polar_oat_voxhub_fake") -> PolarProvider:
    return PolarProvider(access_token=token, webhook_secret=secret, api_url=api_url)


def checkout_request(**overrides: Any) -> CheckoutRequest:
    values: dict[str, Any] = {
        "workspace_id": WORKSPACE,
        "kind": "package",
        "item": "basic",
        "interval": None,
        "amount_cents": 1000,
        "currency": "usd",
        "description": "voxhub credits: basic (250 credits)",
        "success_url": "https://voxhub.test/billing/success",
        "cancel_url": "https://voxhub.test/billing/cancel",
        "customer_email": "owner@example.com",
        "product_id": None,
    }
    return CheckoutRequest(**(values | overrides))


@contextmanager
def refused(reason: str) -> Iterator[None]:
    """The block raises WebhookVerificationError for `reason`."""
    with pytest.raises(WebhookVerificationError) as raised:
        yield
    assert raised.value.reason == reason, raised.value.message


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


@pytest.fixture
def fake_polar() -> Iterator[FakePolar]:
    with FakePolar(products=["prod_basic", "prod_pro_year"]) as fake:
        yield fake


# ---- Stripe: verifying webhooks ----


def test_stripe_accepts_an_event_signed_with_the_webhook_secret() -> None:
    event = stripe_checkout_completed(WORKSPACE, package="basic")
    headers, body = stripe_delivery(STRIPE_SECRET, event)
    assert stripe().verify(headers=headers, body=body, now=now()) == event


def test_stripe_finds_the_signature_header_whatever_its_case() -> None:
    headers, body = stripe_delivery(STRIPE_SECRET, stripe_checkout_completed(WORKSPACE, package="basic"))
    for name in ("stripe-signature", "STRIPE-SIGNATURE"):
        assert stripe().verify(headers={name: headers["Stripe-Signature"]}, body=body, now=now())["object"] == "event"


def test_stripe_refuses_a_tampered_body() -> None:
    headers, body = stripe_delivery(
        STRIPE_SECRET, stripe_checkout_completed(WORKSPACE, package="basic", amount_cents=1000)
    )
    tampered = body.replace(b'"amount_total": 1000', b'"amount_total": 100000')
    assert tampered != body
    with refused("bad_signature"):
        stripe().verify(headers=headers, body=tampered, now=now())


def test_stripe_refuses_an_event_signed_with_another_secret() -> None:
    headers, body = stripe_delivery("whsec_someone_else", stripe_checkout_completed(WORKSPACE, package="basic"))
    with refused("bad_signature"):
        stripe().verify(headers=headers, body=body, now=now())


@pytest.mark.parametrize("age_s", [301, -301, 86400])
def test_stripe_refuses_old_and_future_timestamps(age_s: int) -> None:
    signed_at = int(now().timestamp()) - age_s
    headers, body = stripe_delivery(
        STRIPE_SECRET, stripe_checkout_completed(WORKSPACE, package="basic"), timestamp=signed_at
    )
    with refused("stale_timestamp"):
        stripe().verify(headers=headers, body=body, now=now())


def test_stripe_accepts_a_timestamp_just_inside_the_tolerance() -> None:
    moment = now()
    for age_s in (299, -299):
        headers, body = stripe_delivery(
            STRIPE_SECRET, stripe_event("ping", {}), timestamp=int(moment.timestamp()) - age_s
        )
        assert stripe().verify(headers=headers, body=body, now=moment)["type"] == "ping"


def test_stripe_refuses_a_missing_header_or_one_without_v1() -> None:
    body = json.dumps(stripe_event("ping", {})).encode()
    timestamp = int(now().timestamp())
    with refused("missing_signature"):
        stripe().verify(headers={"Content-Type": "application/json"}, body=body, now=now())
    # v0 is Stripe's test-mode signature under a decoy secret, never one to trust.
    v0_only = stripe_signature(STRIPE_SECRET, body, timestamp).replace("v1=", "v0=")
    with refused("missing_signature"):
        stripe().verify(headers={"Stripe-Signature": v0_only}, body=body, now=now())


def test_stripe_accepts_any_v1_while_the_secret_is_rolled() -> None:
    body = json.dumps(stripe_event("ping", {})).encode()
    timestamp = int(now().timestamp())
    ours = stripe_signature(STRIPE_SECRET, body, timestamp).split(",")[1]
    # Signed with the old secret first and ours second, plus a v0 decoy, as Stripe sends during a roll.
    header = stripe_signature("whsec_the_old_secret", body, timestamp, extra_secrets=[STRIPE_SECRET]) + ",v0=00ff"
    assert header.split(",")[1:3] == [header.split(",")[1], ours] and header.split(",")[1] != ours
    assert stripe().verify(headers={"Stripe-Signature": header}, body=body, now=now())["type"] == "ping"


def test_stripe_refuses_a_signed_body_that_is_not_a_json_object() -> None:
    body = b"[1, 2, 3]"
    header = stripe_signature(STRIPE_SECRET, body, int(now().timestamp()))
    with refused("malformed"):
        stripe().verify(headers={"Stripe-Signature": header}, body=body, now=now())
    with refused("malformed"):
        stripe().verify(headers={"Stripe-Signature": "t=yesterday,v1=abc"}, body=body, now=now())


# ---- Stripe: events ----


def parse_stripe(event: dict[str, Any]) -> Any:
    return stripe().parse(headers={}, payload=event)


def test_stripe_paid_checkout_is_an_order_paid_for_the_package() -> None:
    event = stripe_checkout_completed(WORKSPACE, package="basic", amount_cents=1900, payment_intent="pi_paid_1")
    parsed = parse_stripe(event)
    assert (parsed.provider, parsed.event_id, parsed.type, parsed.raw_type) == (
        "stripe",
        event["id"],
        "order.paid",
        "checkout.session.completed",
    )
    assert (parsed.workspace_id, parsed.package, parsed.plan) == (WORKSPACE, "basic", None)
    assert (parsed.payment_id, parsed.amount_cents, parsed.currency) == ("pi_paid_1", 1900, "usd")
    assert parsed.customer_email == "buyer@example.com"


def test_stripe_unpaid_checkout_waits_for_the_async_payment() -> None:
    pending = stripe_checkout_completed(WORKSPACE, package="basic", payment_status="unpaid", payment_intent="pi_sepa")
    assert parse_stripe(pending).type == "ignored"
    cleared = stripe_checkout_completed(
        WORKSPACE, package="basic", payment_intent="pi_sepa", event_type="checkout.session.async_payment_succeeded"
    )
    parsed = parse_stripe(cleared)
    assert (parsed.type, parsed.raw_type, parsed.payment_id) == (
        "order.paid",
        "checkout.session.async_payment_succeeded",
        "pi_sepa",
    )


def test_stripe_subscription_checkout_activates_the_plan() -> None:
    event = stripe_checkout_completed(
        WORKSPACE, plan="pro", interval="year", amount_cents=49000, subscription_id="sub_1"
    )
    parsed = parse_stripe(event)
    assert (parsed.type, parsed.plan, parsed.interval, parsed.package) == ("subscription.updated", "pro", "year", None)
    assert (parsed.subscription_id, parsed.subscription_status, parsed.workspace_id) == ("sub_1", "active", WORKSPACE)
    assert (parsed.period_start, parsed.period_end) == (None, None)


def test_stripe_refund_names_the_same_payment_as_the_paid_event() -> None:
    paid = parse_stripe(stripe_checkout_completed(WORKSPACE, package="basic", amount_cents=1000))
    refund = parse_stripe(stripe_charge_refunded(paid.payment_id, 400, amount_cents=1000, workspace_id=WORKSPACE))
    assert (refund.type, refund.payment_id, refund.refunded_cents, refund.amount_cents) == (
        "order.refunded",
        paid.payment_id,
        400,
        1000,
    )
    assert refund.workspace_id == WORKSPACE
    anonymous = parse_stripe(stripe_charge_refunded("pi_elsewhere", 1000))
    assert (anonymous.type, anonymous.workspace_id, anonymous.refunded_cents) == ("order.refunded", None, 1000)


@pytest.mark.parametrize("api_version", [STRIPE_LEGACY_API_VERSION, "2025-03-31.basil"])
def test_stripe_subscription_update_carries_the_period_in_either_api_version(api_version: str) -> None:
    event = stripe_subscription(
        "customer.subscription.updated",
        WORKSPACE,
        "pro",
        "month",
        "active",
        PERIOD_START,
        PERIOD_END,
        subscription_id="sub_42",
        api_version=api_version,
    )
    parsed = parse_stripe(event)
    assert (parsed.type, parsed.subscription_id, parsed.subscription_status) == (
        "subscription.updated",
        "sub_42",
        "active",
    )
    assert (parsed.plan, parsed.interval, parsed.workspace_id) == ("pro", "month", WORKSPACE)
    assert (parsed.period_start, parsed.period_end) == (PERIOD_START, PERIOD_END)
    assert parsed.period_start is not None and parsed.period_start.tzinfo is not None
    assert parsed.cancel_at_period_end is False and parsed.amount_cents == 1500


@pytest.mark.parametrize(
    ("stripe_status", "normalized"),
    [
        ("trialing", "active"),
        ("past_due", "past_due"),
        ("unpaid", "past_due"),
        ("canceled", "canceled"),
        ("incomplete_expired", "canceled"),
    ],
)
def test_stripe_subscription_statuses_are_normalized(stripe_status: str, normalized: str) -> None:
    event = stripe_subscription(
        "customer.subscription.updated", WORKSPACE, "pro", "month", stripe_status, PERIOD_START, PERIOD_END
    )
    assert parse_stripe(event).subscription_status == normalized


def test_stripe_incomplete_subscription_is_ignored_until_paid() -> None:
    event = stripe_subscription(
        "customer.subscription.created", WORKSPACE, "pro", "month", "incomplete", PERIOD_START, PERIOD_END
    )
    assert parse_stripe(event).type == "ignored"


def test_stripe_scheduled_cancellation_and_deletion() -> None:
    scheduled = stripe_subscription(
        "customer.subscription.updated",
        WORKSPACE,
        "pro",
        "month",
        "active",
        PERIOD_START,
        PERIOD_END,
        cancel_at_period_end=True,
    )
    parsed = parse_stripe(scheduled)
    assert (parsed.type, parsed.subscription_status, parsed.cancel_at_period_end) == (
        "subscription.updated",
        "active",
        True,
    )
    deleted = stripe_subscription(
        "customer.subscription.deleted", WORKSPACE, "pro", "month", "canceled", PERIOD_START, PERIOD_END
    )
    parsed = parse_stripe(deleted)
    assert (parsed.type, parsed.subscription_status, parsed.workspace_id) == (
        "subscription.canceled",
        "canceled",
        WORKSPACE,
    )


@pytest.mark.parametrize("api_version", [STRIPE_LEGACY_API_VERSION, "2025-03-31.basil"])
def test_stripe_failed_renewal_names_the_workspace_in_either_api_version(api_version: str) -> None:
    event = stripe_invoice_payment_failed(
        WORKSPACE, "owner@example.com", plan="pro", interval="month", subscription_id="sub_7", api_version=api_version
    )
    parsed = parse_stripe(event)
    assert (parsed.type, parsed.workspace_id, parsed.customer_email) == (
        "payment.failed",
        WORKSPACE,
        "owner@example.com",
    )
    assert (parsed.subscription_id, parsed.plan, parsed.amount_cents) == ("sub_7", "pro", 1500)


def test_stripe_unknown_event_is_ignored() -> None:
    parsed = parse_stripe(stripe_event("customer.created", {"id": "cus_1", "object": "customer", "metadata": {}}))
    assert (parsed.type, parsed.raw_type, parsed.workspace_id) == ("ignored", "customer.created", None)
    assert parsed.type in EVENT_KINDS


def test_stripe_event_without_an_id_is_malformed() -> None:
    event = stripe_checkout_completed(WORKSPACE, package="basic")
    del event["id"]
    with refused("malformed"):
        parse_stripe(event)


# ---- Stripe: checkout ----


def test_stripe_package_checkout_sends_a_one_off_payment(fake_stripe: FakeStripe) -> None:
    checkout = stripe(fake_stripe.url).create_checkout(checkout_request())
    [request] = fake_stripe.requests
    assert (request.method, request.path) == ("POST", "/v1/checkout/sessions")
    assert request.headers["authorization"] == "Bearer sk_test_voxhub_fake"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    uuid.UUID(request.headers["idempotency-key"])
    form = request.form
    assert form["mode"] == "payment"
    assert form["line_items"] == [
        {
            "price_data": {
                "currency": "usd",
                "unit_amount": "1000",
                "product_data": {"name": "voxhub credits: basic (250 credits)"},
            },
            "quantity": "1",
        }
    ]
    assert form["metadata"] == {"workspace_id": WORKSPACE, "package": "basic"}
    assert form["payment_intent_data"] == {"metadata": {"workspace_id": WORKSPACE, "package": "basic"}}
    assert "subscription_data" not in form
    assert (form["success_url"], form["cancel_url"]) == (
        "https://voxhub.test/billing/success",
        "https://voxhub.test/billing/cancel",
    )
    assert form["customer_email"] == "owner@example.com"
    session = fake_stripe.sessions[checkout.external_id]
    assert (checkout.provider, checkout.url, checkout.instructions) == ("stripe", session["url"], None)
    assert checkout.url is not None and checkout.url.startswith("https://checkout.stripe.test/c/pay/cs_test_")


def test_stripe_plan_checkout_sends_a_recurring_subscription(fake_stripe: FakeStripe) -> None:
    request = checkout_request(
        kind="plan",
        item="pro",
        interval="year",
        amount_cents=49000,
        description="voxhub Pro, yearly",
        customer_email=None,
    )
    checkout = stripe(fake_stripe.url).create_checkout(request)
    form = fake_stripe.requests[0].form
    assert form["mode"] == "subscription"
    price = form["line_items"][0]["price_data"]
    assert (price["recurring"], price["unit_amount"]) == ({"interval": "year"}, "49000")
    expected = {"workspace_id": WORKSPACE, "plan": "pro", "interval": "year"}
    assert form["metadata"] == expected and form["subscription_data"] == {"metadata": expected}
    assert "customer_email" not in form and "payment_intent_data" not in form
    assert fake_stripe.sessions[checkout.external_id]["mode"] == "subscription"


def test_stripe_checkouts_each_carry_their_own_idempotency_key(fake_stripe: FakeStripe) -> None:
    provider = stripe(fake_stripe.url)
    first, second = provider.create_checkout(checkout_request()), provider.create_checkout(checkout_request())
    assert first.external_id != second.external_id
    keys = {request.headers["idempotency-key"] for request in fake_stripe.requests}
    assert len(keys) == 2


def test_stripe_refusing_the_key_is_a_provider_error(fake_stripe: FakeStripe) -> None:
    with pytest.raises(ProviderError) as raised:
        stripe(fake_stripe.url, secret_key="sk_test_revoked_key_0000").create_checkout(checkout_request())
    assert raised.value.status == 401
    assert "Invalid API Key provided" in raised.value.message
    assert fake_stripe.sessions == {}


def test_stripe_outage_and_unreachable_api_are_provider_errors(fake_stripe: FakeStripe) -> None:
    fake_stripe.fail_with = (500, {"error": {"type": "api_error", "message": "Something went wrong on Stripe's end."}})
    with pytest.raises(ProviderError) as raised:
        stripe(fake_stripe.url).create_checkout(checkout_request())
    assert raised.value.status == 500 and "Something went wrong on Stripe's end." in raised.value.message
    url = fake_stripe.url
    fake_stripe.stop()
    with pytest.raises(ProviderError) as raised:
        stripe(url).create_checkout(checkout_request())
    assert raised.value.status is None and "could not be reached" in raised.value.message


def test_stripe_plan_checkout_without_an_interval_is_a_bug() -> None:
    with pytest.raises(ValueError, match="interval"):
        stripe().create_checkout(checkout_request(kind="plan", item="pro"))


# ---- Polar: verifying webhooks ----


@pytest.mark.parametrize("legacy", [False, True], ids=["standard-secret", "legacy-secret"])
def test_polar_accepts_events_signed_as_polar_signs_them(legacy: bool) -> None:
    secret = polar_webhook_secret(legacy=legacy)
    event = polar_order_paid(WORKSPACE, package="basic")
    headers, body = polar_delivery(secret, event, legacy=legacy)
    assert polar(secret).verify(headers=headers, body=body, now=now()) == event


def test_polar_legacy_secret_that_looks_like_base64_still_verifies() -> None:
    # A legacy token made only of base64 letters decodes fine, yet Polar signs with its UTF-8 bytes.
    secret = "whsec_" + "Ab" * 21 + "c"
    headers, body = polar_delivery(secret, polar_order_paid(WORKSPACE, package="basic"), legacy=True)
    assert polar(secret).verify(headers=headers, body=body, now=now())["type"] == "order.paid"


def test_polar_secret_without_prefix_is_used_as_utf8_bytes() -> None:
    secret = "a secret typed into Polar's dashboard"
    headers, body = polar_delivery(secret, polar_order_paid(WORKSPACE, package="basic"), legacy=True)
    assert polar(secret).verify(headers=headers, body=body, now=now())["type"] == "order.paid"


def test_polar_refuses_tampering_with_the_body_or_the_id() -> None:
    secret = polar_webhook_secret()
    headers, body = polar_delivery(secret, polar_order_paid(WORKSPACE, package="basic", amount_cents=1000))
    with refused("bad_signature"):
        polar(secret).verify(
            headers=headers, body=body.replace(b'"total_amount": 1000', b'"total_amount": 9000'), now=now()
        )
    # The id is signed too: a replay under a new id (to dodge deduplication) fails.
    with refused("bad_signature"):
        polar(secret).verify(headers=headers | {"webhook-id": str(uuid.uuid4())}, body=body, now=now())


def test_polar_refuses_another_secret() -> None:
    headers, body = polar_delivery(polar_webhook_secret(), polar_order_paid(WORKSPACE, package="basic"))
    with refused("bad_signature"):
        polar(polar_webhook_secret()).verify(headers=headers, body=body, now=now())


@pytest.mark.parametrize("age_s", [301, -301])
def test_polar_refuses_old_and_future_timestamps(age_s: int) -> None:
    secret = polar_webhook_secret()
    signed_at = int(now().timestamp()) - age_s
    headers, body = polar_delivery(secret, polar_order_paid(WORKSPACE, package="basic"), timestamp=signed_at)
    with refused("stale_timestamp"):
        polar(secret).verify(headers=headers, body=body, now=now())


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_polar_refuses_a_delivery_missing_a_header(missing: str) -> None:
    secret = polar_webhook_secret()
    headers, body = polar_delivery(secret, polar_order_paid(WORKSPACE, package="basic"))
    del headers[missing]
    with refused("missing_signature"):
        polar(secret).verify(headers=headers, body=body, now=now())


def test_polar_accepts_any_v1_while_the_secret_is_rotated() -> None:
    secret = polar_webhook_secret()
    headers, body = polar_delivery(secret, polar_order_paid(WORKSPACE, package="basic"))
    old_headers = polar_delivery(
        polar_webhook_secret(), {}, msg_id=headers["webhook-id"], timestamp=int(headers["webhook-timestamp"])
    )[0]
    rotated = {key.upper(): value for key, value in headers.items()}  # names in any case
    rotated["WEBHOOK-SIGNATURE"] = f"v1a,ignored {old_headers['webhook-signature']} {headers['webhook-signature']}"
    assert polar(secret).verify(headers=rotated, body=body, now=now())["type"] == "order.paid"


# ---- Polar: events ----


def parse_polar(payload: dict[str, Any], msg_id: str = "msg_2Yz") -> Any:
    return polar(polar_webhook_secret()).parse(headers={"Webhook-Id": msg_id}, payload=payload)


def test_polar_paid_order_is_an_order_paid_for_the_package() -> None:
    event = polar_order_paid(WORKSPACE, package="basic", amount_cents=1900, order_id="ord-1", email="a@example.com")
    parsed = parse_polar(event, msg_id="evt-uuid-1")
    assert (parsed.provider, parsed.event_id, parsed.type, parsed.raw_type) == (
        "polar",
        "evt-uuid-1",
        "order.paid",
        "order.paid",
    )
    assert (parsed.workspace_id, parsed.package, parsed.plan) == (WORKSPACE, "basic", None)
    assert (parsed.payment_id, parsed.amount_cents, parsed.currency) == ("ord-1", 1900, "usd")
    assert parsed.customer_email == "a@example.com"


def test_polar_subscription_order_is_a_paid_plan() -> None:
    event = polar_order_paid(WORKSPACE, plan="pro", interval="year", amount_cents=49000, subscription_id="sub-1")
    parsed = parse_polar(event)
    assert (parsed.type, parsed.plan, parsed.interval, parsed.package) == ("order.paid", "pro", "year", None)
    assert (parsed.subscription_id, parsed.amount_cents, parsed.workspace_id) == ("sub-1", 49000, WORKSPACE)


def test_polar_renewal_order_without_metadata_takes_the_subscriptions() -> None:
    event = polar_order_paid(WORKSPACE, plan="pro", interval="month")
    event["data"]["metadata"] = {}
    parsed = parse_polar(event)
    assert (parsed.type, parsed.workspace_id, parsed.plan, parsed.interval) == ("order.paid", WORKSPACE, "pro", "month")


def test_polar_refund_names_the_same_order_as_the_paid_event() -> None:
    paid = parse_polar(polar_order_paid(WORKSPACE, package="basic", amount_cents=1000))
    refund = parse_polar(
        polar_order_refunded(paid.payment_id, 250, workspace_id=WORKSPACE, package="basic", amount_cents=1000)
    )
    assert (refund.type, refund.payment_id, refund.refunded_cents, refund.workspace_id) == (
        "order.refunded",
        paid.payment_id,
        250,
        WORKSPACE,
    )


@pytest.mark.parametrize("event_type", ["subscription.created", "subscription.updated", "subscription.active"])
def test_polar_subscription_changes_are_updates(event_type: str) -> None:
    event = polar_subscription(
        event_type, WORKSPACE, "pro", "month", "active", PERIOD_START, PERIOD_END, subscription_id="s-1"
    )
    parsed = parse_polar(event)
    assert (parsed.type, parsed.raw_type, parsed.subscription_status) == ("subscription.updated", event_type, "active")
    assert (parsed.subscription_id, parsed.plan, parsed.interval) == ("s-1", "pro", "month")
    assert (parsed.period_start, parsed.period_end) == (PERIOD_START, PERIOD_END)
    assert parsed.period_end is not None and parsed.period_end.utcoffset() == timedelta(0)
    assert parsed.cancel_at_period_end is False


@pytest.mark.parametrize(
    ("polar_status", "normalized"), [("trialing", "active"), ("past_due", "past_due"), ("unpaid", "past_due")]
)
def test_polar_subscription_statuses_are_normalized(polar_status: str, normalized: str) -> None:
    event = polar_subscription(
        "subscription.updated", WORKSPACE, "pro", "month", polar_status, PERIOD_START, PERIOD_END
    )
    assert parse_polar(event).subscription_status == normalized


def test_polar_canceled_subscription_runs_to_the_end_of_its_period() -> None:
    event = polar_subscription("subscription.canceled", WORKSPACE, "pro", "month", "active", PERIOD_START, PERIOD_END)
    parsed = parse_polar(event)
    assert (parsed.type, parsed.subscription_status, parsed.cancel_at_period_end) == (
        "subscription.updated",
        "active",
        True,
    )
    assert parsed.period_end == PERIOD_END


def test_polar_revoked_subscription_is_canceled() -> None:
    event = polar_subscription("subscription.revoked", WORKSPACE, "pro", "month", "canceled", PERIOD_START, PERIOD_END)
    parsed = parse_polar(event)
    assert (parsed.type, parsed.subscription_status, parsed.workspace_id) == (
        "subscription.canceled",
        "canceled",
        WORKSPACE,
    )


def test_polar_unknown_event_is_ignored() -> None:
    parsed = parse_polar({"type": "checkout.created", "timestamp": "2026-11-22T00:00:00Z", "data": {"id": "c-1"}})
    assert (parsed.type, parsed.raw_type, parsed.event_id) == ("ignored", "checkout.created", "msg_2Yz")


def test_polar_event_without_its_webhook_id_is_malformed() -> None:
    with refused("malformed"):
        polar(polar_webhook_secret()).parse(headers={}, payload=polar_order_paid(WORKSPACE, package="basic"))


# ---- Polar: checkout ----


def test_polar_checkout_sends_the_catalog_product_and_metadata(fake_polar: FakePolar) -> None:
    request = checkout_request(kind="plan", item="pro", interval="year", amount_cents=49000, product_id="prod_pro_year")
    checkout = polar(polar_webhook_secret(), fake_polar.url).create_checkout(request)
    [sent] = fake_polar.requests
    assert (sent.method, sent.path) == ("POST", "/v1/checkouts/")
    assert sent.headers["authorization"] == "Bearer polar_oat_voxhub_fake"
    assert sent.json() == {
        "products": ["prod_pro_year"],
        "success_url": "https://voxhub.test/billing/success",
        "return_url": "https://voxhub.test/billing/cancel",
        "customer_email": "owner@example.com",
        "metadata": {"workspace_id": WORKSPACE, "plan": "pro", "interval": "year"},
    }
    created = fake_polar.checkouts[checkout.external_id]
    assert (checkout.provider, checkout.url) == ("polar", created["url"])
    assert checkout.url is not None and checkout.url.startswith("https://buy.polar.test/polar_c_")


def test_polar_checkout_needs_the_items_product_id(fake_polar: FakePolar) -> None:
    with pytest.raises(ProviderError, match="no polar product id") as raised:
        polar(polar_webhook_secret(), fake_polar.url).create_checkout(checkout_request(product_id=None))
    assert raised.value.status is None and fake_polar.requests == []


def test_polar_api_refusals_are_provider_errors(fake_polar: FakePolar) -> None:
    with pytest.raises(ProviderError) as raised:
        polar(polar_webhook_secret(), fake_polar.url, token="polar_oat_revoked").create_checkout(
            checkout_request(product_id="prod_basic")
        )
    assert raised.value.status == 401 and "access token provided is expired" in raised.value.message
    with pytest.raises(ProviderError) as raised:
        polar(polar_webhook_secret(), fake_polar.url).create_checkout(checkout_request(product_id="prod_deleted"))
    assert raised.value.status == 422 and "body.products.0: Product does not exist." in raised.value.message
    assert fake_polar.checkouts == {}


# ---- manual ----


def test_manual_checkout_is_a_reference_to_pay_by_invoice() -> None:
    first = ManualProvider().create_checkout(checkout_request(amount_cents=4900, currency="eur"))
    second = ManualProvider().create_checkout(checkout_request())
    assert (first.provider, first.url) == ("manual", None)
    assert first.external_id.startswith("man_") and first.external_id != second.external_id
    assert first.instructions is not None
    assert "49.00 EUR" in first.instructions and first.external_id in first.instructions
    assert "administrator" in first.instructions


def test_manual_provider_takes_no_webhooks() -> None:
    body = json.dumps(stripe_event("checkout.session.completed", {})).encode()
    with refused("bad_signature"):
        ManualProvider().verify(headers={"Stripe-Signature": "t=1,v1=00"}, body=body, now=now())
    parsed = ManualProvider().parse(headers={}, payload={"id": "x", "type": "order.paid"})
    assert (parsed.provider, parsed.type, parsed.workspace_id) == ("manual", "ignored", None)


# ---- choosing a provider ----


@pytest.mark.parametrize(
    ("name", "configured", "unset"),
    [
        ("stripe", {}, "VOXHUB_STRIPE_SECRET_KEY and VOXHUB_STRIPE_WEBHOOK_SECRET"),
        ("stripe", {"stripe_secret_key": "sk_test_1"}, "VOXHUB_STRIPE_WEBHOOK_SECRET"),
        ("stripe", {"stripe_secret_key": "", "stripe_webhook_secret": STRIPE_SECRET}, "VOXHUB_STRIPE_SECRET_KEY"),
        ("polar", {}, "VOXHUB_POLAR_ACCESS_TOKEN and VOXHUB_POLAR_WEBHOOK_SECRET"),
        ("polar", {"polar_access_token": "polar_oat_1"}, "VOXHUB_POLAR_WEBHOOK_SECRET"),
    ],
)
def test_provider_without_its_keys_is_not_configured(name: str, configured: dict[str, str], unset: str) -> None:
    with pytest.raises(ProviderNotConfigured, match=f"set {unset}\\.$") as raised:
        get_provider(settings(**configured), name)
    assert raised.value.name == name


def test_manual_provider_needs_no_keys_and_unknown_names_are_refused() -> None:
    assert get_provider(settings(), "manual").name == "manual"
    with pytest.raises(ProviderNotConfigured, match="no billing provider called 'paypal'"):
        get_provider(settings(), "paypal")


def test_configured_providers_use_the_settings(fake_stripe: FakeStripe, fake_polar: FakePolar) -> None:
    polar_secret = polar_webhook_secret()
    configured = settings(
        stripe_secret_key="sk_test_voxhub_fake",
        stripe_webhook_secret=STRIPE_SECRET,
        stripe_api_url=fake_stripe.url,
        polar_access_token="polar_oat_voxhub_fake",
        polar_webhook_secret=polar_secret,
        polar_api_url=fake_polar.url + "/",
        eway_api_key="eway-key",
        eway_api_password="eway-password",
        dodo_api_key="dodo-key",
        dodo_webhook_secret="whsec_" + "A" * 32,
        billing_webhook_tolerance_s=30,
    )
    providers = {name: get_provider(configured, name) for name in PROVIDERS}
    assert {name: provider.name for name, provider in providers.items()} == {name: name for name in PROVIDERS}
    assert providers["stripe"].create_checkout(checkout_request()).url in {
        s["url"] for s in fake_stripe.sessions.values()
    }
    polar_checkout = providers["polar"].create_checkout(checkout_request(product_id="prod_basic"))
    assert polar_checkout.external_id in fake_polar.checkouts
    # The tolerance comes from settings too: 31 s is too old at 30 s.
    headers, body = stripe_delivery(STRIPE_SECRET, stripe_event("ping", {}), timestamp=int(now().timestamp()) - 31)
    with refused("stale_timestamp"):
        providers["stripe"].verify(headers=headers, body=body, now=now())
    headers, body = polar_delivery(polar_secret, {"type": "ping", "data": {}}, timestamp=int(now().timestamp()) - 31)
    with refused("stale_timestamp"):
        providers["polar"].verify(headers=headers, body=body, now=now())
