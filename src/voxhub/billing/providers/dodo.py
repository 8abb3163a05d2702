"""Dodo Payments: checkout sessions for catalog products over its REST API, its Standard Webhooks-signed events, and
refunds it is asked for."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from voxhub.billing.providers.base import (
    Checkout,
    CheckoutRequest,
    ProviderError,
    ProviderEvent,
    WebhookVerificationError,
    from_iso,
    header,
    integer,
    mapping,
    request_json,
    text,
    verify_standard_webhook,
)

SECRET_PREFIX = "whsec_"
SUBSCRIPTION_UPDATES = (
    "subscription.active",
    "subscription.renewed",
    "subscription.updated",
    "subscription.plan_changed",
    "subscription.on_hold",
)
SUBSCRIPTION_ENDS = ("subscription.cancelled", "subscription.expired")
# Dodo's subscription statuses; "pending" (first payment not made) and "failed" (the mandate was never set up) grant
# nothing and take nothing away.
_STATUSES = {"active": "active", "on_hold": "past_due", "cancelled": "canceled", "expired": "canceled"}


@dataclass(frozen=True)
class RefundStarted:
    refund_id: str
    status: str  # Dodo's: pending | succeeded | failed | review


class DodoProvider:
    name = "dodo"

    def __init__(
        self,
        *,
        api_key: str,
        webhook_secret: str,
        api_url: str = "https://live.dodopayments.com",
        tolerance_s: int = 300,
    ) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.api_url = api_url.rstrip("/")
        self.tolerance_s = tolerance_s
        self._key = signing_key(webhook_secret)

    def create_checkout(self, request: CheckoutRequest) -> Checkout:
        """A checkout session for the item's Dodo product; Dodo copies the metadata onto the payment and the
        subscription it makes."""
        if not request.product_id:
            raise ProviderError(
                f"The billing catalog has no dodo product id for the {request.kind} {request.item!r}: "
                f"add product_ids.dodo to it."
            )
        body: dict[str, Any] = {
            "product_cart": [{"product_id": request.product_id, "quantity": 1}],
            "return_url": request.success_url,
            "metadata": request.metadata(),
        }
        if request.customer_email:
            body["customer"] = {"email": request.customer_email}
        session = request_json(provider="Dodo", url=f"{self.api_url}/checkouts", token=self.api_key, json=body)
        if not session.get("checkout_url") or not session.get("session_id"):
            raise ProviderError("Dodo created a checkout session without a checkout_url or session_id.")
        return Checkout(provider=self.name, url=str(session["checkout_url"]), external_id=str(session["session_id"]))

    def cancel_at_period_end(self, subscription_id: str) -> None:
        request_json(
            provider="Dodo",
            url=f"{self.api_url}/subscriptions/{subscription_id}",
            token=self.api_key,
            method="PATCH",
            json={"cancel_at_next_billing_date": True},
        )

    def start_refund(self, *, payment_id: str, reason: str | None) -> RefundStarted:
        """Ask Dodo to refund a whole payment; its refund.succeeded webhook takes the credits back."""
        body: dict[str, Any] = {"payment_id": payment_id}
        if reason:
            body["reason"] = reason[:500]
        refund = request_json(provider="Dodo", url=f"{self.api_url}/refunds", token=self.api_key, json=body)
        refund_id = text(refund.get("refund_id"))
        if refund_id is None:
            raise ProviderError("Dodo answered a refund without a refund_id.")
        return RefundStarted(refund_id=refund_id, status=text(refund.get("status")) or "pending")

    def verify(self, *, headers: Mapping[str, str], body: bytes, now: datetime) -> dict[str, Any]:
        return verify_standard_webhook(
            headers=headers, body=body, keys=[self._key], now=now, tolerance_s=self.tolerance_s
        )

    def parse(self, *, headers: Mapping[str, str], payload: dict[str, Any]) -> ProviderEvent:
        # The delivery's webhook-id is the event's id, the same on every retry (Standard Webhooks).
        event_id, raw_type, data = header(headers, "webhook-id"), text(payload.get("type")), payload.get("data")
        if not event_id or raw_type is None or not isinstance(data, dict):
            raise WebhookVerificationError("malformed", "The Dodo event has no webhook-id, type or data.")
        metadata = mapping(data.get("metadata"))
        if raw_type in ("payment.succeeded", "payment.failed"):
            return self._payment(event_id, raw_type, data, metadata)
        if raw_type == "refund.succeeded":
            return ProviderEvent(
                self.name,
                event_id,
                "order.refunded",
                raw_type,
                text(metadata.get("workspace_id")),
                payment_id=text(data.get("payment_id")),
                currency=_currency(data.get("currency")),
                # Each refund event carries that refund's amount; voxhub adds them up per payment.
                refund_cents=integer(data.get("amount")),
                customer_email=text(mapping(data.get("customer")).get("email")),
            )
        if raw_type in SUBSCRIPTION_UPDATES or raw_type in SUBSCRIPTION_ENDS:
            return self._subscription(event_id, raw_type, data, metadata)
        return ProviderEvent(self.name, event_id, "ignored", raw_type, text(metadata.get("workspace_id")))

    def _payment(
        self, event_id: str, raw_type: str, payment: dict[str, Any], metadata: dict[str, Any]
    ) -> ProviderEvent:
        subscription_id = text(payment.get("subscription_id"))
        plan = text(metadata.get("plan")) if subscription_id else None
        failed = raw_type == "payment.failed"
        if failed and not subscription_id:
            # A one-off payment that failed: nothing was bought, the customer may try again.
            return ProviderEvent(self.name, event_id, "ignored", raw_type, text(metadata.get("workspace_id")))
        return ProviderEvent(
            self.name,
            event_id,
            "payment.failed" if failed else "order.paid",
            raw_type,
            text(metadata.get("workspace_id")),
            package=None if subscription_id else text(metadata.get("package")),
            plan=plan,
            interval=text(metadata.get("interval")) if plan else None,
            payment_id=text(payment.get("payment_id")),
            amount_cents=integer(payment.get("total_amount")),
            currency=_currency(payment.get("currency")),
            subscription_id=subscription_id,
            customer_email=text(mapping(payment.get("customer")).get("email")),
        )

    def _subscription(
        self, event_id: str, raw_type: str, subscription: dict[str, Any], metadata: dict[str, Any]
    ) -> ProviderEvent:
        ended = raw_type in SUBSCRIPTION_ENDS
        status = "canceled" if ended else _STATUSES.get(str(subscription.get("status")))
        if status is None or (status == "canceled" and not ended):
            return ProviderEvent(self.name, event_id, "ignored", raw_type, text(metadata.get("workspace_id")))
        interval = text(subscription.get("payment_frequency_interval"))
        return ProviderEvent(
            self.name,
            event_id,
            "subscription.canceled" if ended else "subscription.updated",
            raw_type,
            text(metadata.get("workspace_id")),
            plan=text(metadata.get("plan")),
            interval=text(metadata.get("interval")) or (interval.lower() if interval else None),
            amount_cents=integer(subscription.get("recurring_pre_tax_amount")),
            currency=_currency(subscription.get("currency")),
            subscription_id=text(subscription.get("subscription_id")),
            subscription_status=status,
            period_start=from_iso(subscription.get("previous_billing_date")),
            period_end=from_iso(subscription.get("next_billing_date")),
            cancel_at_period_end=bool(subscription.get("cancel_at_next_billing_date")),
            customer_email=text(mapping(subscription.get("customer")).get("email")),
        )


def _currency(value: Any) -> str | None:
    """Dodo writes currencies upper-case (USD); voxhub's are lower-case."""
    currency = text(value)
    return currency.lower() if currency else None


def signing_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: the base64 after `whsec_` decoded (a secret that is not base64
    is used as it is, as the Standard Webhooks libraries do not, so it simply fails to verify anything real)."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        return secret.encode()
