"""eWAY (Australia): the Rapid API v3's responsive shared page to pay, the transaction queried by access code on the
customer's return, token customers charged for renewals, and refunds. eWAY sends no webhooks: the events this adapter
parses are the ones voxhub writes itself from eWAY's answers (see voxhub.billing.eway)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from voxhub import __version__
from voxhub.billing.providers.base import (
    HTTP_TIMEOUT_S,
    Checkout,
    CheckoutRequest,
    ProviderError,
    ProviderEvent,
    WebhookVerificationError,
    from_iso,
    integer,
    mapping,
    text,
)

SANDBOX_ENDPOINT = "https://api.sandbox.ewaypayments.com"
# The events voxhub records from eWAY's answers, and what each one is.
EVENT_TYPES = {
    "transaction.approved": "order.paid",  # a package or a plan's payment
    "transaction.declined": "payment.failed",  # a renewal's charge declined (a declined checkout is only noted)
    "subscription.started": "subscription.updated",  # a plan paid for, with its token customer and period
    "subscription.ended": "subscription.canceled",  # renewals kept failing: back to free
    "refund.approved": "order.refunded",
}


@dataclass(frozen=True)
class TransactionResult:
    """What eWAY says of one transaction (a shared-page payment, a token charge or a refund)."""

    transaction_id: str | None  # None: the customer has not finished paying yet
    approved: bool  # TransactionStatus
    response_code: str | None  # "00" approved, "05" do not honour, ...
    response_message: str | None  # eWAY's message codes, e.g. "A2000" or "D4405"
    amount_cents: int | None
    token_customer_id: str | None
    raw: dict[str, Any]


class EwayProvider:
    name = "eway"

    def __init__(self, *, api_key: str, api_password: str, endpoint: str, return_url: str) -> None:
        self.api_key = api_key
        self.api_password = api_password
        self.endpoint = endpoint.rstrip("/")
        # Where eWAY sends the customer back, with ?AccessCode=…: voxhub's own route, which asks eWAY what happened.
        self.return_url = return_url

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One Rapid API call with HTTP Basic auth (key:password); its JSON answer, or ProviderError with eWAY's
        error codes."""
        try:
            response = httpx.request(
                method,
                f"{self.endpoint}{path}",
                json=body,
                auth=(self.api_key, self.api_password),
                headers={"User-Agent": f"voxhub/{__version__}", "Accept": "application/json"},
                timeout=HTTP_TIMEOUT_S,
            )
        except httpx.HTTPError as exc:
            raise ProviderError(f"eWAY could not be reached: {type(exc).__name__}: {exc}") from exc
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not response.is_success or not isinstance(answer, dict):
            detail = text(mapping(answer).get("Errors")) or response.text[:300] or response.reason_phrase
            raise ProviderError(f"eWAY answered {response.status_code}: {detail}", status=response.status_code)
        # Rapid answers validation errors with 200 and a comma-separated list of codes (V6021, S5010, ...).
        errors = text(answer.get("Errors"))
        if errors:
            raise ProviderError(f"eWAY refused the request: {errors}", status=response.status_code)
        return answer

    def create_checkout(self, request: CheckoutRequest) -> Checkout:
        """A responsive shared page for the amount; a plan's payment also makes a token customer, charged later for
        renewals."""
        body: dict[str, Any] = {
            "Payment": {
                "TotalAmount": request.amount_cents,
                "CurrencyCode": request.currency.upper(),
                "InvoiceDescription": request.description[:64],
                "InvoiceReference": request.workspace_id[:50],
            },
            "RedirectUrl": self.return_url,
            "CancelUrl": request.cancel_url,
            "Method": "TokenPayment" if request.kind == "plan" else "ProcessPayment",
            "TransactionType": "Purchase",
        }
        if request.customer_email:
            body["Customer"] = {"Email": request.customer_email}
        answer = self._call("POST", "/AccessCodesShared", body)
        url, access_code = text(answer.get("SharedPaymentUrl")), text(answer.get("AccessCode"))
        if not url or not access_code:
            raise ProviderError("eWAY created a shared page without a SharedPaymentUrl or AccessCode.")
        return Checkout(provider=self.name, url=url, external_id=access_code)

    def transaction_result(self, access_code: str) -> TransactionResult:
        """What became of a shared-page payment: eWAY's own answer, never the redirect's word."""
        return _result(self._call("GET", f"/AccessCode/{access_code}"))

    def charge_token(
        self, *, token_customer_id: str, amount_cents: int, currency: str, reference: str, description: str
    ) -> TransactionResult:
        """Charge a token customer (a renewal): a recurring transaction, no card details sent."""
        answer = self._call(
            "POST",
            "/Transaction",
            {
                "Customer": {"TokenCustomerID": token_customer_id},
                "Payment": {
                    "TotalAmount": amount_cents,
                    "CurrencyCode": currency.upper(),
                    "InvoiceReference": reference[:50],
                    "InvoiceDescription": description[:64],
                },
                "Method": "TokenPayment",
                "TransactionType": "Recurring",
            },
        )
        return _result(answer)

    def transactions_by_reference(self, reference: str) -> list[TransactionResult]:
        """Every transaction eWAY has with this invoice reference (a charge whose answer was lost is found so)."""
        answer = self._call("GET", f"/Transaction/InvoiceRef/{quote(reference, safe='')}")
        return [_result(item) for item in answer.get("Transactions") or [] if isinstance(item, dict)]

    def refund(self, *, transaction_id: str, amount_cents: int) -> TransactionResult:
        """Refund `amount_cents` of a transaction; the result's id is the refund's own transaction."""
        answer = self._call("POST", f"/Transaction/{transaction_id}/Refund", {"Refund": {"TotalAmount": amount_cents}})
        return _result(answer)

    def cancel_at_period_end(self, subscription_id: str) -> None:
        """Nothing to tell eWAY: voxhub charges the token customer itself and stops at the period's end."""

    def verify(self, *, headers: Mapping[str, str], body: bytes, now: datetime) -> dict[str, Any]:
        # eWAY sends no webhooks; a delivery claiming to be one is refused (payments are confirmed by querying eWAY).
        raise WebhookVerificationError("bad_signature", "eWAY sends no webhooks; voxhub asks eWAY instead.")

    def parse(self, *, headers: Mapping[str, str], payload: dict[str, Any]) -> ProviderEvent:
        """An event voxhub recorded from one of eWAY's answers."""
        event_id, raw_type = text(payload.get("id")), text(payload.get("type"))
        if event_id is None or raw_type is None:
            raise WebhookVerificationError("malformed", "The eWAY record has no id or type.")
        kind = EVENT_TYPES.get(raw_type, "ignored")
        if raw_type == "transaction.declined" and payload.get("kind") != "renewal":
            kind = "ignored"  # a declined checkout changes nothing: the customer may try again
        item, purchase = text(payload.get("item")), text(payload.get("purchase"))
        return ProviderEvent(
            self.name,
            event_id,
            kind,
            raw_type,
            text(payload.get("workspace_id")),
            package=item if purchase == "package" else None,
            plan=item if purchase == "plan" else None,
            interval=text(payload.get("interval")),
            payment_id=text(payload.get("payment_id")),
            amount_cents=integer(payload.get("amount_cents")),
            currency=text(payload.get("currency")),
            refund_cents=integer(payload.get("refund_cents")),
            subscription_id=text(payload.get("token_customer_id")),
            subscription_status="active" if kind == "subscription.updated" else None,
            period_start=from_iso(payload.get("period_start")),
            period_end=from_iso(payload.get("period_end")),
            customer_email=text(payload.get("customer_email")),
        )


def _result(answer: dict[str, Any]) -> TransactionResult:
    # A refund's answer carries its amount under Refund; a payment's under TotalAmount or Payment.
    amount = integer(answer.get("TotalAmount"))
    if amount is None:
        amount = integer(mapping(answer.get("Payment")).get("TotalAmount"))
    if amount is None:
        amount = integer(mapping(answer.get("Refund")).get("TotalAmount"))
    token = text(answer.get("TokenCustomerID")) or text(mapping(answer.get("Customer")).get("TokenCustomerID"))
    return TransactionResult(
        transaction_id=text(answer.get("TransactionID")),
        approved=answer.get("TransactionStatus") is True,
        response_code=text(answer.get("ResponseCode")),
        response_message=text(answer.get("ResponseMessage")),
        amount_cents=amount,
        token_customer_id=token if token and token != "0" else None,
        raw=answer,
    )
