"""The manual provider: for self-hosters who bill outside voxhub; an administrator credits a workspace once paid."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from voxhub.billing.providers.base import Checkout, CheckoutRequest, ProviderEvent, WebhookVerificationError, text


class ManualProvider:
    name = "manual"

    def create_checkout(self, request: CheckoutRequest) -> Checkout:
        """No payment page: a reference to quote on the invoice, and what happens next."""
        reference = "man_" + secrets.token_hex(12)
        amount = f"{request.amount_cents / 100:.2f} {request.currency.upper()}"
        return Checkout(
            provider=self.name,
            url=None,
            external_id=reference,
            instructions=(
                f"Pay {amount} for {request.description} by invoice or bank transfer, quoting reference {reference}; "
                "an administrator credits the workspace once paid."
            ),
        )

    def cancel_at_period_end(self, subscription_id: str) -> None:
        """Nothing to tell: whoever bills outside voxhub stops billing."""

    def verify(self, *, headers: Mapping[str, str], body: bytes, now: datetime) -> dict[str, Any]:
        # Nobody can sign for manual payments: accepting any webhook here would let anyone credit a workspace.
        raise WebhookVerificationError("bad_signature", "The manual provider takes no webhooks.")

    def parse(self, *, headers: Mapping[str, str], payload: dict[str, Any]) -> ProviderEvent:
        return ProviderEvent(
            self.name, text(payload.get("id")) or "", "ignored", text(payload.get("type")) or "", workspace_id=None
        )
