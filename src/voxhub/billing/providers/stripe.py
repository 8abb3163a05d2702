"""Stripe: Checkout Sessions over the REST API (form-encoded, no SDK) and the webhook events that follow them."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from voxhub.billing.providers.base import (
    Checkout,
    CheckoutRequest,
    ProviderError,
    ProviderEvent,
    WebhookVerificationError,
    check_freshness,
    from_unix,
    header,
    integer,
    load_payload,
    mapping,
    parse_timestamp,
    request_json,
    subscription_status,
    text,
)

SIGNATURE_HEADER = "Stripe-Signature"


class StripeProvider:
    name = "stripe"

    def __init__(
        self, *, secret_key: str, webhook_secret: str, api_url: str = "https://api.stripe.com", tolerance_s: int = 300
    ) -> None:
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.api_url = api_url.rstrip("/")
        self.tolerance_s = tolerance_s

    def create_checkout(self, request: CheckoutRequest) -> Checkout:
        """A Checkout Session with the price inline: one-off payment for a package, a subscription for a plan."""
        if request.kind == "plan" and request.interval is None:
            raise ValueError("A plan checkout needs an interval (month or year).")
        metadata = request.metadata()
        price_data: dict[str, Any] = {
            "currency": request.currency,
            "unit_amount": request.amount_cents,
            "product_data": {"name": request.description},
        }
        params: dict[str, Any] = {
            "mode": "subscription" if request.kind == "plan" else "payment",
            "line_items": [{"price_data": price_data, "quantity": 1}],
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "client_reference_id": request.workspace_id,
            "metadata": metadata,
        }
        if request.kind == "plan":
            price_data["recurring"] = {"interval": request.interval}
            # Subscription events carry the subscription's metadata, not the session's.
            params["subscription_data"] = {"metadata": metadata}
        else:
            # The payment intent's metadata is copied onto its charge, so charge.refunded names the workspace.
            params["payment_intent_data"] = {"metadata": metadata}
        if request.customer_email:
            params["customer_email"] = request.customer_email
        session = request_json(
            provider="Stripe",
            url=f"{self.api_url}/v1/checkout/sessions",
            token=self.secret_key,
            data=encode_form(params),
            # A retried request (by us or a proxy) must not open a second session.
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        if not session.get("url") or not session.get("id"):
            raise ProviderError("Stripe created a checkout session without a url or id.")
        return Checkout(provider=self.name, url=str(session["url"]), external_id=str(session["id"]))

    def cancel_at_period_end(self, subscription_id: str) -> None:
        request_json(
            provider="Stripe",
            url=f"{self.api_url}/v1/subscriptions/{subscription_id}",
            token=self.secret_key,
            data={"cancel_at_period_end": "true"},
        )

    def verify(self, *, headers: Mapping[str, str], body: bytes, now: datetime) -> dict[str, Any]:
        value = header(headers, SIGNATURE_HEADER)
        if not value:
            raise WebhookVerificationError("missing_signature", f"The {SIGNATURE_HEADER} header is missing.")
        timestamp, signatures = _signature_parts(value)
        if not signatures:
            raise WebhookVerificationError("missing_signature", f"The {SIGNATURE_HEADER} header has no v1 signature.")
        if timestamp is None:
            raise WebhookVerificationError("malformed", f"The {SIGNATURE_HEADER} header has no timestamp.")
        signed_at = parse_timestamp(timestamp)
        expected = hmac.new(self.webhook_secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
        expected_hex = expected.hexdigest().encode()
        # Several v1 signatures arrive while a secret is being rolled: any one of them may be ours.
        if not any(hmac.compare_digest(expected_hex, signature.encode(errors="replace")) for signature in signatures):
            raise WebhookVerificationError("bad_signature", "No v1 signature matches the webhook secret.")
        # Freshness is judged only once the signature holds, so "stale" always means a genuine but old delivery.
        check_freshness(timestamp=signed_at, now=now, tolerance_s=self.tolerance_s)
        return load_payload(body)

    def parse(self, *, headers: Mapping[str, str], payload: dict[str, Any]) -> ProviderEvent:
        event_id, raw_type, obj = text(payload.get("id")), text(payload.get("type")), payload.get("data")
        obj = mapping(obj).get("object")
        if event_id is None or raw_type is None or not isinstance(obj, dict):
            raise WebhookVerificationError("malformed", "The Stripe event has no id, type or data.object.")
        if raw_type in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
            return self._checkout_completed(event_id, raw_type, obj)
        if raw_type == "charge.refunded":
            return self._charge_refunded(event_id, raw_type, obj)
        if raw_type in (
            "customer.subscription.created",
            "customer.subscription.updated",
            "customer.subscription.deleted",
        ):
            return self._subscription(event_id, raw_type, obj)
        if raw_type == "invoice.payment_failed":
            return self._invoice_payment_failed(event_id, raw_type, obj)
        if raw_type == "invoice.paid":
            return self._invoice_paid(event_id, raw_type, obj)
        return self._ignored(event_id, raw_type, obj)

    def _ignored(self, event_id: str, raw_type: str, obj: dict[str, Any]) -> ProviderEvent:
        workspace_id = text(mapping(obj.get("metadata")).get("workspace_id"))
        return ProviderEvent(self.name, event_id, "ignored", raw_type, workspace_id)

    def _checkout_completed(self, event_id: str, raw_type: str, session: dict[str, Any]) -> ProviderEvent:
        metadata = mapping(session.get("metadata"))
        mode, paid = session.get("mode"), session.get("payment_status")
        common: dict[str, Any] = {
            "provider": self.name,
            "event_id": event_id,
            "raw_type": raw_type,
            "workspace_id": text(metadata.get("workspace_id")),
            "amount_cents": integer(session.get("amount_total")),
            "currency": text(session.get("currency")),
            "customer_email": text(mapping(session.get("customer_details")).get("email"))
            or text(session.get("customer_email")),
        }
        # An unpaid session is a delayed payment method (a bank debit): async_payment_succeeded follows when it
        # clears, and async_payment_failed if it does not. Nothing is granted before.
        if mode == "payment" and paid == "paid":
            return ProviderEvent(
                type="order.paid",
                package=text(metadata.get("package")),
                payment_id=text(session.get("payment_intent")),
                **common,
            )
        if mode == "subscription" and paid in ("paid", "no_payment_required"):
            return ProviderEvent(
                type="subscription.updated",
                plan=text(metadata.get("plan")),
                interval=text(metadata.get("interval")),
                subscription_id=text(session.get("subscription")),
                subscription_status="active",
                **common,
            )
        return self._ignored(event_id, raw_type, session)

    def _charge_refunded(self, event_id: str, raw_type: str, charge: dict[str, Any]) -> ProviderEvent:
        metadata = mapping(charge.get("metadata"))
        return ProviderEvent(
            self.name,
            event_id,
            "order.refunded",
            raw_type,
            text(metadata.get("workspace_id")),
            package=text(metadata.get("package")),
            # The paid event named the payment intent; a charge made without one can match nothing of ours.
            payment_id=text(charge.get("payment_intent")) or text(charge.get("id")),
            amount_cents=integer(charge.get("amount")),
            currency=text(charge.get("currency")),
            refunded_cents=integer(charge.get("amount_refunded")),
            customer_email=text(mapping(charge.get("billing_details")).get("email"))
            or text(charge.get("receipt_email")),
        )

    def _subscription(self, event_id: str, raw_type: str, subscription: dict[str, Any]) -> ProviderEvent:
        metadata = mapping(subscription.get("metadata"))
        items = mapping(subscription.get("items")).get("data") or [{}]
        item = mapping(items[0])
        price = mapping(item.get("price"))
        deleted = raw_type == "customer.subscription.deleted"
        status = "canceled" if deleted else subscription_status(subscription.get("status"))
        if status is None:  # incomplete: the first payment has not gone through yet
            return self._ignored(event_id, raw_type, subscription)
        # API versions from 2025-03-31 moved the billing period from the subscription onto each item.
        period_start = subscription.get("current_period_start") or item.get("current_period_start")
        period_end = subscription.get("current_period_end") or item.get("current_period_end")
        quantity = integer(item.get("quantity")) or 1
        unit_amount = integer(price.get("unit_amount"))
        return ProviderEvent(
            self.name,
            event_id,
            "subscription.canceled" if deleted else "subscription.updated",
            raw_type,
            text(metadata.get("workspace_id")),
            plan=text(metadata.get("plan")),
            interval=text(metadata.get("interval")) or text(mapping(price.get("recurring")).get("interval")),
            amount_cents=None if unit_amount is None else unit_amount * quantity,
            currency=text(subscription.get("currency")) or text(price.get("currency")),
            subscription_id=text(subscription.get("id")),
            subscription_status=status,
            period_start=from_unix(period_start),
            period_end=from_unix(period_end),
            # Newer dashboards schedule a cancellation as `cancel_at` with cancel_at_period_end left false.
            cancel_at_period_end=bool(subscription.get("cancel_at_period_end") or subscription.get("cancel_at")),
        )

    def _invoice_paid(self, event_id: str, raw_type: str, invoice: dict[str, Any]) -> ProviderEvent:
        """A subscription's invoice was paid (its first one, or a renewal): a plan payment, with its receipt."""
        details, metadata = self._invoice_subscription(invoice)
        if not metadata.get("plan"):
            return ProviderEvent(self.name, event_id, "ignored", raw_type, text(metadata.get("workspace_id")))
        return ProviderEvent(
            self.name,
            event_id,
            "order.paid",
            raw_type,
            text(metadata.get("workspace_id")),
            plan=text(metadata.get("plan")),
            interval=text(metadata.get("interval")),
            payment_id=text(invoice.get("id")),
            amount_cents=integer(invoice.get("amount_paid")),
            currency=text(invoice.get("currency")),
            subscription_id=text(invoice.get("subscription")) or text(details.get("subscription")),
            customer_email=text(invoice.get("customer_email")),
        )

    @staticmethod
    def _invoice_subscription(invoice: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        # The subscription's metadata sits in subscription_details, under `parent` since API version 2025-03-31.
        details = mapping(invoice.get("subscription_details")) or mapping(
            mapping(invoice.get("parent")).get("subscription_details")
        )
        return details, mapping(details.get("metadata")) or mapping(invoice.get("metadata"))

    def _invoice_payment_failed(self, event_id: str, raw_type: str, invoice: dict[str, Any]) -> ProviderEvent:
        details, metadata = self._invoice_subscription(invoice)
        return ProviderEvent(
            self.name,
            event_id,
            "payment.failed",
            raw_type,
            text(metadata.get("workspace_id")),
            plan=text(metadata.get("plan")),
            interval=text(metadata.get("interval")),
            payment_id=text(invoice.get("payment_intent")),
            amount_cents=integer(invoice.get("amount_due")),
            currency=text(invoice.get("currency")),
            subscription_id=text(invoice.get("subscription")) or text(details.get("subscription")),
            customer_email=text(invoice.get("customer_email")),
        )


def encode_form(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested params in Stripe's bracket notation: {"metadata": {"a": 1}} -> {"metadata[a]": "1"}, lists by index."""
    fields: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, Mapping):
            fields.update(encode_form(value, name))
        elif isinstance(value, list | tuple):
            fields.update(encode_form({str(index): item for index, item in enumerate(value)}, name))
        elif isinstance(value, bool):
            fields[name] = "true" if value else "false"
        elif value is not None:
            fields[name] = str(value)
    return fields


def _signature_parts(value: str) -> tuple[str | None, list[str]]:
    """`t=…,v1=…[,v1=…][,v0=…]` -> the timestamp as sent and every v1 signature (v0 is a test-mode decoy)."""
    timestamp, signatures = None, []
    for part in value.split(","):
        key, _, item = part.strip().partition("=")
        if key == "t":
            timestamp = item
        elif key == "v1" and item:
            signatures.append(item)
    return timestamp, signatures
