"""eWAY's Rapid API v3 and Dodo Payments' API as real HTTP servers on local ports (the parts voxhub uses), Dodo's
webhook deliveries signed the Standard Webhooks way, and events shaped like Dodo's."""

from __future__ import annotations

import base64
import hmac
import itertools
import json
import secrets
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from standardwebhooks.webhooks import Webhook

from tests.billing.fakes import FakeProviderAPI
from tests.fake_http import RecordedRequest

# ---- eWAY ----


class AnswerLost(Exception):
    """Raised inside the fake's handler: the server closes the connection without an answer, as a network failure
    after eWAY took the charge would look to voxhub."""


_transaction_ids = itertools.count(11_000_000 + secrets.randbelow(1_000_000))


class FakeEway(FakeProviderAPI):
    """eWAY Rapid v3: `POST /AccessCodesShared` opens a responsive shared page, `GET /AccessCode/{code}` says what
    became of it, `POST /Transaction` charges a token customer, `POST /Transaction/{id}/Refund` refunds. HTTP Basic
    auth with the API key and password, amounts in cents, results as TransactionStatus, ResponseCode and
    ResponseMessage codes, validation errors as a comma-separated `Errors` string with status 200.

    The customer's visit to the shared page is `pay(access_code)`; `decline_next_charges` makes token charges fail
    as a card that is refused does (`05`, `D4405`)."""

    thread_name = "fake-eway"

    def __init__(self, *, api_key: str = "eway-key-fake", api_password: str = "eway-password-fake") -> None:
        super().__init__(token=api_key)
        self.api_password = api_password
        self.access_codes: dict[str, dict[str, Any]] = {}
        self.transactions: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.decline_next_charges = 0
        self.lose_next_charge_answer = False  # charge, then hang up without answering (a network failure)
        self._state = threading.Lock()

    def authorized(self, request: RecordedRequest) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.token}:{self.api_password}".encode()).decode()
        return hmac.compare_digest(request.headers.get("authorization", ""), expected)

    def answer(self, request: RecordedRequest) -> tuple[int, dict[str, Any]]:
        if not self.authorized(request):
            return 401, {"Errors": "V6000"}  # eWAY answers a wrong key or password with 401
        path = request.path.split("?")[0]
        with self._state:
            if (request.method, path) == ("POST", "/AccessCodesShared"):
                return self._shared_page(request.json())
            if request.method == "GET" and path.startswith("/AccessCode/"):
                return self._query(path.removeprefix("/AccessCode/"))
            if (request.method, path) == ("POST", "/Transaction"):
                return self._token_charge(request.json())
            if request.method == "GET" and path.startswith("/Transaction/InvoiceRef/"):
                reference = unquote(path.removeprefix("/Transaction/InvoiceRef/"))
                found = [dict(t["answer"]) for t in self.transactions.values() if t.get("reference") == reference]
                return 200, {"Transactions": found, "Errors": None}
            if request.method == "POST" and path.startswith("/Transaction/") and path.endswith("/Refund"):
                return self._refund(path.split("/")[2], request.json())
        return 404, {"Errors": "V6000"}

    def _shared_page(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        payment = body.get("Payment") or {}
        errors = []
        if not isinstance(payment.get("TotalAmount"), int) or payment["TotalAmount"] < 0:
            errors.append("V6011")  # Invalid Payment TotalAmount
        if not body.get("RedirectUrl"):
            errors.append("V6047")  # RedirectURL Required
        if body.get("Method") not in ("ProcessPayment", "TokenPayment", "CreateTokenCustomer"):
            errors.append("V6023")
        if errors:
            return 200, {"Errors": ",".join(errors)}
        code = "F9802" + secrets.token_urlsafe(40)
        self.access_codes[code] = {"request": body, "transaction_id": None}
        return 200, {
            "AccessCode": code,
            "SharedPaymentUrl": f"https://secure.ewaypayments.test/sharedpage/sharedpayment?AccessCode={code}",
            "FormActionURL": "https://secure.ewaypayments.test/AccessCode/" + code,
            "Payment": payment,
            "Customer": body.get("Customer") or {},
            "Errors": None,
        }

    def pay(self, access_code: str, *, approve: bool = True) -> str:
        """The customer pays on the shared page: a transaction is made (and, for TokenPayment, a token customer)."""
        with self._state:
            page = self.access_codes[access_code]
            request = page["request"]
            transaction_id = str(next(_transaction_ids))
            token = None
            if approve and request.get("Method") == "TokenPayment":
                token = str(900_000_000_000 + secrets.randbelow(99_999_999_999))
                self.tokens[token] = {"email": (request.get("Customer") or {}).get("Email")}
            amount = request["Payment"]["TotalAmount"]
            page.update(transaction_id=transaction_id, approved=approve, token=token)
            self.transactions[transaction_id] = {"amount": amount, "refunded": 0, "approved": approve}
            return transaction_id

    def _query(self, code: str) -> tuple[int, dict[str, Any]]:
        page = self.access_codes.get(code)
        if page is None:
            return 200, {"Errors": "V6021"}  # an access code eWAY does not know
        payment = page["request"]["Payment"]
        if page["transaction_id"] is None:  # the customer has not finished on the shared page
            return 200, {
                "AccessCode": code,
                "TransactionID": None,
                "TransactionStatus": None,
                "ResponseCode": None,
                "ResponseMessage": "S5099",
                "TotalAmount": payment["TotalAmount"],
                "Errors": None,
            }
        approved = page["approved"]
        return 200, {
            "AccessCode": code,
            "AuthorisationCode": "123456" if approved else None,
            "ResponseCode": "00" if approved else "05",
            "ResponseMessage": "A2000" if approved else "D4405",
            "InvoiceNumber": "",
            "InvoiceReference": payment.get("InvoiceReference", ""),
            "TotalAmount": payment["TotalAmount"],
            "TransactionID": int(page["transaction_id"]),
            "TransactionStatus": approved,
            "TokenCustomerID": int(page["token"]) if page["token"] else None,
            "BeagleScore": 0,
            "Options": [],
            "Errors": None,
        }

    def _token_charge(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        token = str((body.get("Customer") or {}).get("TokenCustomerID") or "")
        payment = body.get("Payment") or {}
        if token not in self.tokens:
            return 200, {"Errors": "V6040"}  # Invalid Token Customer ID
        if body.get("Method") != "TokenPayment" or body.get("TransactionType") != "Recurring":
            return 200, {"Errors": "V6010"}
        approve = self.decline_next_charges <= 0
        self.decline_next_charges -= 1
        transaction_id = str(next(_transaction_ids))
        answer = {
            "AuthorisationCode": "654321" if approve else None,
            "ResponseCode": "00" if approve else "05",
            "ResponseMessage": "A2000" if approve else "D4405",
            "TransactionID": int(transaction_id),
            "TransactionStatus": approve,
            "TransactionType": "Recurring",
            "Customer": {"TokenCustomerID": int(token)},
            "Payment": payment,
            "Errors": None,
        }
        self.transactions[transaction_id] = {
            "amount": payment["TotalAmount"],
            "refunded": 0,
            "approved": approve,
            "reference": payment.get("InvoiceReference"),
            "answer": {
                **answer,
                "InvoiceReference": payment.get("InvoiceReference"),
                "TotalAmount": payment["TotalAmount"],
            },
        }
        if self.lose_next_charge_answer:
            self.lose_next_charge_answer = False
            raise AnswerLost(transaction_id)
        return 200, answer

    def _refund(self, transaction_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        original = self.transactions.get(transaction_id)
        amount = (body.get("Refund") or {}).get("TotalAmount")
        if original is None or not original["approved"]:
            return 200, {"Errors": "V6115"}  # Invalid DirectRefundRequest, Transaction ID
        if not isinstance(amount, int) or amount <= 0 or amount > original["amount"] - original["refunded"]:
            return 200, {"Errors": "V6011"}
        original["refunded"] += amount
        refund_id = str(next(_transaction_ids))
        return 200, {
            "AuthorisationCode": "778899",
            "ResponseCode": None,
            "ResponseMessage": "A2000",
            "TransactionID": int(refund_id),
            "TransactionStatus": True,
            "Verification": None,
            "Customer": {},
            "Refund": {"TransactionID": transaction_id, "TotalAmount": amount},
            "Errors": None,
        }


# ---- Dodo Payments ----


class FakeDodo(FakeProviderAPI):
    """Dodo Payments: `POST /checkouts` (a checkout session for catalog products), `PATCH /subscriptions/{id}` and
    `POST /refunds`, with a bearer API key. A product id not in `products` is refused as Dodo refuses one (404)."""

    thread_name = "fake-dodo"

    def __init__(self, *, api_key: str = "dodo_test_key_fake", products: Sequence[str] = ()) -> None:
        super().__init__(token=api_key)
        self.products = set(products)
        self.sessions: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}

    def answer(self, request: RecordedRequest) -> tuple[int, dict[str, Any]]:
        if not self.authorized(request):
            return 401, {"code": "UNAUTHORIZED", "message": "Invalid API key"}
        if (request.method, request.path) == ("POST", "/checkouts"):
            body = request.json()
            cart = body.get("product_cart") or []
            if not cart:
                return 422, {"code": "INVALID_REQUEST_BODY", "message": "product_cart: missing field"}
            for item in cart:
                if item.get("product_id") not in self.products:
                    return 404, {"code": "PRODUCT_NOT_FOUND", "message": f"Product {item.get('product_id')} not found"}
            session_id = "cks_" + secrets.token_urlsafe(16)
            self.sessions[session_id] = body
            return 200, {"session_id": session_id, "checkout_url": f"https://checkout.dodopayments.test/{session_id}"}
        if request.method == "PATCH" and request.path.startswith("/subscriptions/"):
            subscription = self.subscriptions.setdefault(request.path.rsplit("/", 1)[1], {})
            subscription.update(request.json())
            return 200, subscription
        if (request.method, request.path) == ("POST", "/refunds"):
            body = request.json()
            refund_id = "ref_" + secrets.token_urlsafe(12)
            self.refunds[refund_id] = body
            return 200, {"refund_id": refund_id, "payment_id": body.get("payment_id"), "status": "pending"}
        return 404, {"code": "NOT_FOUND", "message": "Not found"}


def dodo_webhook_secret() -> str:
    """A secret as Dodo shows it: `whsec_` + base64 of random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def dodo_delivery(
    secret: str, payload: dict[str, Any], *, msg_id: str | None = None, timestamp: int | None = None
) -> tuple[dict[str, str], bytes]:
    """The headers and body of Dodo posting `payload`, signed with the Standard Webhooks library."""
    body = json.dumps(payload).encode()
    timestamp = int(time.time()) if timestamp is None else timestamp
    msg_id = msg_id or "msg_" + uuid.uuid4().hex
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(timestamp, UTC), body.decode())
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }, body


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def dodo_event(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"business_id": "bus_voxhub_test", "type": event_type, "timestamp": _iso(datetime.now(UTC)), "data": data}


def _customer(email: str) -> dict[str, Any]:
    return {"customer_id": "cus_" + uuid.uuid4().hex[:12], "email": email, "name": "Ana Test"}


def dodo_payment(
    event_type: str,
    metadata: dict[str, str],
    *,
    payment_id: str,
    amount_cents: int,
    subscription_id: str | None = None,
    email: str = "buyer@example.com",
) -> dict[str, Any]:
    return dodo_event(
        event_type,
        {
            "payload_type": "Payment",
            "payment_id": payment_id,
            "business_id": "bus_voxhub_test",
            "status": "succeeded" if event_type == "payment.succeeded" else "failed",
            "total_amount": amount_cents,
            "currency": "USD",
            "subscription_id": subscription_id,
            "metadata": metadata,
            "customer": _customer(email),
            "refunds": [],
            "created_at": _iso(datetime.now(UTC)),
        },
    )


def dodo_refund(payment_id: str, amount_cents: int, *, metadata: dict[str, str] | None = None) -> dict[str, Any]:
    return dodo_event(
        "refund.succeeded",
        {
            "payload_type": "Refund",
            "refund_id": "ref_" + uuid.uuid4().hex[:16],
            "payment_id": payment_id,
            "business_id": "bus_voxhub_test",
            "amount": amount_cents,
            "currency": "USD",
            "is_partial": True,
            "status": "succeeded",
            "metadata": metadata or {},
            "created_at": _iso(datetime.now(UTC)),
        },
    )


def dodo_subscription(
    event_type: str,
    metadata: dict[str, str],
    *,
    subscription_id: str,
    status: str,
    period: tuple[datetime, datetime],
    cancel_at_next_billing_date: bool = False,
    amount_cents: int = 4900,
) -> dict[str, Any]:
    return dodo_event(
        event_type,
        {
            "payload_type": "Subscription",
            "subscription_id": subscription_id,
            "status": status,
            "product_id": "pdt_pro_monthly",
            "quantity": 1,
            "recurring_pre_tax_amount": amount_cents,
            "currency": "USD",
            "payment_frequency_interval": "Month",
            "payment_frequency_count": 1,
            "previous_billing_date": _iso(period[0]),
            "next_billing_date": _iso(period[1]),
            "cancel_at_next_billing_date": cancel_at_next_billing_date,
            "metadata": metadata,
            "customer": _customer("buyer@example.com"),
            "created_at": _iso(period[0]),
        },
    )
