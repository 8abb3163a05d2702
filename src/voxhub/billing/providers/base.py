"""What every payment provider adapter speaks: checkout requests, normalized webhook events, and their errors."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import httpx

from voxhub import __version__

EVENT_KINDS = (
    "order.paid",
    "order.refunded",
    "subscription.updated",
    "subscription.canceled",
    "payment.failed",
    "ignored",
)
VERIFICATION_REASONS = ("missing_signature", "bad_signature", "stale_timestamp", "malformed")
HTTP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class CheckoutRequest:
    workspace_id: str
    kind: Literal["package", "plan"]
    item: str  # package or plan name from the catalog, e.g. "basic" or "pro"
    interval: Literal["month", "year"] | None  # plans only
    amount_cents: int
    currency: str  # lower-case ISO, e.g. "usd"
    description: str  # e.g. "voxhub credits: basic (250 credits)"
    success_url: str
    cancel_url: str
    customer_email: str | None
    # The provider's product id for this item (Polar sells catalog products; Stripe takes inline price_data).
    product_id: str | None

    def metadata(self) -> dict[str, str]:
        """What every provider is asked to carry back on its events: the workspace and what it bought."""
        metadata = {"workspace_id": self.workspace_id, self.kind: self.item}
        if self.kind == "plan" and self.interval:
            metadata["interval"] = self.interval
        return metadata


@dataclass(frozen=True)
class Checkout:
    provider: str
    url: str | None  # where to send the customer; None for manual
    external_id: str  # the provider's checkout/session id (manual: a new random "man_..." id)
    instructions: str | None = None  # manual: how to pay outside voxhub


@dataclass(frozen=True)
class ProviderEvent:
    provider: str
    event_id: str  # the provider's unique event id (Stripe evt_..., Polar: the webhook-id header)
    type: str  # normalized, one of EVENT_KINDS
    raw_type: str  # the provider's own event type
    workspace_id: str | None  # from metadata.workspace_id
    package: str | None = None
    plan: str | None = None
    interval: str | None = None  # "month" | "year"
    # The payment this is about (Stripe: the payment_intent id; Polar: the order id). A refund carries the same id
    # as the paid event, so the two can be matched.
    payment_id: str | None = None
    amount_cents: int | None = None
    currency: str | None = None
    refunded_cents: int | None = None  # refunds: total refunded so far on that payment
    subscription_id: str | None = None
    subscription_status: str | None = None  # "active" | "past_due" | "canceled"
    period_start: datetime | None = None  # tz-aware UTC
    period_end: datetime | None = None
    cancel_at_period_end: bool = False
    customer_email: str | None = None
    # Refunds from a provider that reports each refund alone (Dodo, eWAY), not the running total: this one's amount.
    refund_cents: int | None = None


class WebhookVerificationError(Exception):
    """A webhook is not provably from the provider, or not readable; `reason` is one of VERIFICATION_REASONS."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class ProviderError(Exception):
    """The provider's API refused a request or could not be reached; `status` is its HTTP status (None: no answer)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ProviderNotConfigured(Exception):
    """The provider cannot be used: its keys are unset (or no provider has that name)."""

    def __init__(self, name: str, message: str | None = None) -> None:
        super().__init__(message or f"The {name} billing provider is not configured.")
        self.name = name


class Provider(Protocol):
    name: str

    def create_checkout(self, request: CheckoutRequest) -> Checkout:
        """Open a payment at the provider; the customer is sent to the returned URL."""
        ...

    def verify(self, *, headers: Mapping[str, str], body: bytes, now: datetime) -> dict[str, Any]:
        """Check the signature over the raw body and the timestamp's freshness; return the parsed JSON payload.
        Raises WebhookVerificationError."""
        ...

    def parse(self, *, headers: Mapping[str, str], payload: dict[str, Any]) -> ProviderEvent:
        """Map a verified payload to a ProviderEvent; event types voxhub does not act on come back as "ignored".
        An envelope without its event id or type raises WebhookVerificationError("malformed")."""
        ...

    def cancel_at_period_end(self, subscription_id: str) -> None:
        """Tell the provider to stop renewing the subscription once its current period ends. Raises ProviderError."""
        ...


# ---- what the adapters share ----


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value whatever the case of its name (frameworks hand them over lower-cased, tests may not)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def parse_timestamp(value: str) -> int:
    try:
        return int(value.strip())
    except ValueError as exc:
        raise WebhookVerificationError("malformed", f"The signature timestamp {value[:40]!r} is not a number.") from exc


def check_freshness(*, timestamp: int, now: datetime, tolerance_s: int) -> None:
    """Refuse a signed timestamp too far from now, in either direction: an old one is a replay, a future one a
    forgery or a broken clock."""
    skew = now.timestamp() - timestamp
    if abs(skew) > tolerance_s:
        direction = "old" if skew > 0 else "in the future"
        raise WebhookVerificationError(
            "stale_timestamp",
            f"The webhook was signed {abs(int(skew))} s {direction}; at most {tolerance_s} s is accepted.",
        )


def verify_standard_webhook(
    *, headers: Mapping[str, str], body: bytes, keys: list[bytes], now: datetime, tolerance_s: int
) -> dict[str, Any]:
    """A delivery signed the Standard Webhooks way (Polar, Dodo): HMAC-SHA256 over `id.timestamp.body`, base64, in
    `webhook-signature` as space-separated `v1,<sig>`; any one of `keys` may have signed it. The parsed payload."""
    msg_id, timestamp = header(headers, "webhook-id"), header(headers, "webhook-timestamp")
    signature_header = header(headers, "webhook-signature")
    if not (msg_id and timestamp and signature_header):
        raise WebhookVerificationError(
            "missing_signature", "The webhook-id, webhook-timestamp and webhook-signature headers are required."
        )
    signatures = [
        signature.encode(errors="replace")
        for version, _, signature in (part.partition(",") for part in signature_header.split())
        if version == "v1" and signature
    ]
    if not signatures:
        raise WebhookVerificationError("missing_signature", "The webhook-signature header has no v1 signature.")
    signed_at = parse_timestamp(timestamp)
    signed_content = f"{msg_id}.{timestamp}.".encode() + body
    expected = [base64.b64encode(hmac.new(key, signed_content, hashlib.sha256).digest()) for key in keys]
    if not any(hmac.compare_digest(mine, theirs) for mine in expected for theirs in signatures):
        raise WebhookVerificationError("bad_signature", "No v1 signature matches the webhook secret.")
    # Freshness is judged only once the signature holds, so "stale" always means a genuine but old delivery.
    check_freshness(timestamp=signed_at, now=now, tolerance_s=tolerance_s)
    return load_payload(body)


def load_payload(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookVerificationError("malformed", "The webhook body is not JSON.") from exc
    if not isinstance(payload, dict):
        raise WebhookVerificationError("malformed", "The webhook body is not a JSON object.")
    return payload


def request_json(*, provider: str, url: str, token: str, method: str = "POST", **kwargs: Any) -> dict[str, Any]:
    """Call a provider's API with a bearer token; its JSON answer, or ProviderError with the provider's message."""
    headers = {"Authorization": f"Bearer {token}", "User-Agent": f"voxhub/{__version__}", **kwargs.pop("headers", {})}
    try:
        response = httpx.request(method, url, headers=headers, timeout=HTTP_TIMEOUT_S, **kwargs)
    except httpx.HTTPError as exc:
        raise ProviderError(f"{provider} could not be reached: {type(exc).__name__}: {exc}") from exc
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.is_success and isinstance(body, dict):
        return body
    if response.is_success:
        raise ProviderError(
            f"{provider} answered {response.status_code} without a JSON object.", status=response.status_code
        )
    detail = _error_message(body) or response.text[:300] or response.reason_phrase
    raise ProviderError(f"{provider} answered {response.status_code}: {detail}", status=response.status_code)


def _error_message(body: Any) -> str | None:
    """The human message in an API error: Stripe's error.message, Polar's detail (a string or FastAPI's list of
    validation errors) or OAuth's error_description."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:300]
    detail = body.get("detail")
    if isinstance(detail, list):
        messages = [
            f"{'.'.join(map(str, item.get('loc', [])))}: {item.get('msg')}" for item in detail if isinstance(item, dict)
        ]
        return "; ".join(messages)[:300] or None
    if detail:
        return str(detail)[:300]
    if body.get("error_description"):
        return str(body["error_description"])[:300]
    return str(error)[:300] if error else None


# Both providers use Stripe's subscription statuses. "incomplete" (first payment not made yet) maps to None: there is
# nothing to grant or take away until it becomes active or expires.
_SUBSCRIPTION_STATUSES = {
    "active": "active",
    "trialing": "active",
    "past_due": "past_due",
    "unpaid": "past_due",
    "paused": "past_due",  # Stripe: a trial ended without a payment method; service stops until one is added
    "canceled": "canceled",
    "incomplete_expired": "canceled",
}


def subscription_status(status: Any) -> str | None:
    return _SUBSCRIPTION_STATUSES.get(str(status))


def text(value: Any) -> str | None:
    """A metadata or id value as a string; None and "" are absent. Expanded objects give their id."""
    if isinstance(value, dict):
        value = value.get("id")
    if value is None or value == "":
        return None
    return str(value)


def integer(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def from_unix(value: Any) -> datetime | None:
    seconds = integer(value)
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def from_iso(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def mapping(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one: provider payloads have nulls where objects may be."""
    return value if isinstance(value, dict) else {}
