"""Polar: checkouts of catalog products over its REST API, and its Standard Webhooks-signed events."""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Mapping
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
    subscription_status,
    text,
    verify_standard_webhook,
)

SECRET_PREFIX = "whsec_"
SUBSCRIPTION_UPDATES = (
    "subscription.created",
    "subscription.updated",
    "subscription.active",
    "subscription.uncanceled",
    "subscription.past_due",
)


class PolarProvider:
    name = "polar"

    def __init__(
        self, *, access_token: str, webhook_secret: str, api_url: str = "https://api.polar.sh", tolerance_s: int = 300
    ) -> None:
        self.access_token = access_token
        self.webhook_secret = webhook_secret
        self.api_url = api_url.rstrip("/")
        self.tolerance_s = tolerance_s
        self._keys = signing_keys(webhook_secret)

    def create_checkout(self, request: CheckoutRequest) -> Checkout:
        """A checkout for the item's Polar product; Polar copies the metadata onto the order and subscription."""
        if not request.product_id:
            raise ProviderError(
                f"The billing catalog has no polar product id for the {request.kind} {request.item!r}: "
                f"add product_ids.polar to it."
            )
        body: dict[str, Any] = {
            "products": [request.product_id],
            "success_url": request.success_url,
            "return_url": request.cancel_url,  # Polar's back link: where a customer who gives up lands
            "metadata": request.metadata(),
        }
        if request.customer_email:
            body["customer_email"] = request.customer_email
        checkout = request_json(
            provider="Polar", url=f"{self.api_url}/v1/checkouts/", token=self.access_token, json=body
        )
        if not checkout.get("url") or not checkout.get("id"):
            raise ProviderError("Polar created a checkout without a url or id.")
        return Checkout(provider=self.name, url=str(checkout["url"]), external_id=str(checkout["id"]))

    def cancel_at_period_end(self, subscription_id: str) -> None:
        request_json(
            provider="Polar",
            url=f"{self.api_url}/v1/subscriptions/{subscription_id}",
            token=self.access_token,
            method="PATCH",
            json={"cancel_at_period_end": True},
        )

    def verify(self, *, headers: Mapping[str, str], body: bytes, now: datetime) -> dict[str, Any]:
        return verify_standard_webhook(
            headers=headers, body=body, keys=self._keys, now=now, tolerance_s=self.tolerance_s
        )

    def parse(self, *, headers: Mapping[str, str], payload: dict[str, Any]) -> ProviderEvent:
        # Polar's payloads carry no id of their own: the delivery's webhook-id is the event's, stable across retries.
        event_id, raw_type, data = header(headers, "webhook-id"), text(payload.get("type")), payload.get("data")
        if not event_id or raw_type is None or not isinstance(data, dict):
            raise WebhookVerificationError("malformed", "The Polar event has no webhook-id, type or data.")
        if raw_type in ("order.paid", "order.refunded"):
            return self._order(event_id, raw_type, data)
        if raw_type in SUBSCRIPTION_UPDATES or raw_type in ("subscription.canceled", "subscription.revoked"):
            return self._subscription(event_id, raw_type, data)
        return ProviderEvent(
            self.name, event_id, "ignored", raw_type, text(mapping(data.get("metadata")).get("workspace_id"))
        )

    def _order(self, event_id: str, raw_type: str, order: dict[str, Any]) -> ProviderEvent:
        subscription = mapping(order.get("subscription"))
        # A renewal order may not repeat the checkout's metadata; its subscription always does.
        metadata = mapping(order.get("metadata"))
        if not metadata.get("workspace_id"):
            metadata = {**mapping(subscription.get("metadata")), **metadata}
        renewal = bool(order.get("subscription_id")) and bool(metadata.get("plan"))
        refunded = raw_type == "order.refunded"
        return ProviderEvent(
            self.name,
            event_id,
            "order.refunded" if refunded else "order.paid",
            raw_type,
            text(metadata.get("workspace_id")),
            package=None if renewal else text(metadata.get("package")),
            plan=text(metadata.get("plan")) if renewal else None,
            interval=(text(metadata.get("interval")) or text(subscription.get("recurring_interval")))
            if renewal
            else None,
            payment_id=text(order.get("id")),
            amount_cents=integer(order.get("total_amount", order.get("amount"))),
            currency=text(order.get("currency")),
            # Polar keeps refunded tax apart; the order's total includes its tax, so a full refund is both.
            refunded_cents=(integer(order.get("refunded_amount")) or 0)
            + (integer(order.get("refunded_tax_amount")) or 0)
            if refunded
            else None,
            subscription_id=text(order.get("subscription_id")),
            period_start=from_iso(subscription.get("current_period_start")),
            period_end=from_iso(subscription.get("current_period_end")),
            customer_email=text(mapping(order.get("customer")).get("email")),
        )

    def _subscription(self, event_id: str, raw_type: str, subscription: dict[str, Any]) -> ProviderEvent:
        metadata = mapping(subscription.get("metadata"))
        revoked = raw_type == "subscription.revoked"
        status = "canceled" if revoked else subscription_status(subscription.get("status"))
        if status is None:  # incomplete: the first payment has not gone through yet
            return ProviderEvent(self.name, event_id, "ignored", raw_type, text(metadata.get("workspace_id")))
        return ProviderEvent(
            self.name,
            event_id,
            "subscription.canceled" if revoked else "subscription.updated",
            raw_type,
            text(metadata.get("workspace_id")),
            plan=text(metadata.get("plan")),
            interval=text(metadata.get("interval")) or text(subscription.get("recurring_interval")),
            amount_cents=integer(subscription.get("amount")),
            currency=text(subscription.get("currency")),
            subscription_id=text(subscription.get("id")),
            subscription_status=status,
            period_start=from_iso(subscription.get("current_period_start")),
            period_end=from_iso(subscription.get("current_period_end")),
            # subscription.canceled fires when a cancellation is scheduled; access ends with subscription.revoked.
            cancel_at_period_end=raw_type == "subscription.canceled" or bool(subscription.get("cancel_at_period_end")),
            customer_email=text(mapping(subscription.get("customer")).get("email")),
        )


def signing_keys(secret: str) -> list[bytes]:
    """The HMAC keys Polar may sign with for this secret. Polar's secrets all look like `whsec_…`, but endpoints
    created before 2026-09-08 are signed with the UTF-8 bytes of the whole string (what Polar's SDKs verify with),
    later ones the Standard Webhooks way, with the base64-decoded rest. The secret cannot tell which (a legacy
    token is often valid base64 too), so both are tried; each is as secret as the other."""
    keys = [secret.encode()]
    if secret.startswith(SECRET_PREFIX):
        encoded = secret.removeprefix(SECRET_PREFIX)
        with contextlib.suppress(binascii.Error, ValueError):  # not base64: a legacy token, the whole string is the key
            keys.append(base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True))
    return keys
