"""Dodo Payments, the fifth provider: checkout sessions for the catalog's Dodo products, its Standard Webhooks-signed
events verified, stored and acted on once, subscriptions and refunds mapped as Polar's are, and refunds a superuser
asks Dodo for. Against a local server speaking Dodo's API."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.billing.conftest import assert_books_balance, billing_of, ledger_entries
from tests.billing.fakes_au import (
    FakeDodo,
    dodo_delivery,
    dodo_payment,
    dodo_refund,
    dodo_subscription,
    dodo_webhook_secret,
)
from tests.billing.test_webhooks import settled
from tests.catalogs import edited_catalog
from tests.conftest import Mailbox, People, Person
from voxhub.billing.catalog import DEFAULT_CATALOG
from voxhub.config import Settings

WEBHOOK = "/api/v1/billing/webhooks/dodo"
SECRET = dodo_webhook_secret()


@pytest.fixture
def fake_dodo() -> Iterator[FakeDodo]:
    with FakeDodo(products=["pdt_basic", "pdt_pro_monthly"]) as server:
        yield server


@pytest.fixture
def settings(settings: Settings, fake_dodo: FakeDodo, tmp_path: Path) -> Settings:
    changes = {
        "packages.basic.product_ids": {"dodo": "pdt_basic"},
        "plans.pro.product_ids": {"dodo:month": "pdt_pro_monthly"},
    }
    catalog = edited_catalog(settings.billing_catalog or DEFAULT_CATALOG, tmp_path / "billing.toml", changes)
    return settings.model_copy(
        update={
            "billing_catalog": catalog,
            "dodo_api_key": fake_dodo.token,
            "dodo_webhook_secret": SECRET,
            "dodo_api_url": fake_dodo.url,
        }
    )


def deliver(client: TestClient, app: Any, payload: dict[str, Any], *, msg_id: str | None = None) -> Any:
    headers, body = dodo_delivery(SECRET, payload, msg_id=msg_id)
    answer = client.post(WEBHOOK, headers=headers, content=body)
    assert answer.status_code == 200, answer.text
    return settled(app, answer.json()["event"])


def meta(owner: Person, **items: str) -> dict[str, str]:
    return {"workspace_id": owner.workspace_id, **items}


def payments_of(client: TestClient, person: Person) -> list[dict[str, Any]]:
    answer = client.get(f"/api/v1/workspaces/{person.workspace_id}/billing/payments", headers=person.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]  # type: ignore[no-any-return]


def plan_name(summary: dict[str, Any]) -> str:
    plan = summary["plan"]
    return str(plan["name"] if isinstance(plan, dict) else plan).lower()


def test_a_package_checkout_is_a_dodo_checkout_session_for_its_product(
    client: TestClient, people: People, fake_dodo: FakeDodo
) -> None:
    owner = people.create()

    answer = client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/billing/checkout",
        headers=owner.headers,
        json={"provider": "dodo", "package": "basic", "success_url": "https://shop.test/thanks"},
    )

    assert answer.status_code == 201, answer.text
    assert answer.json()["url"].startswith("https://checkout.dodopayments.test/cks_")
    [request] = fake_dodo.requests
    assert (request.method, request.path) == ("POST", "/checkouts")
    assert request.headers["authorization"] == f"Bearer {fake_dodo.token}"
    body = request.json()
    assert body["product_cart"] == [{"product_id": "pdt_basic", "quantity": 1}]
    assert body["return_url"] == "https://shop.test/thanks"
    assert body["metadata"] == {"workspace_id": owner.workspace_id, "package": "basic"}
    assert body["customer"] == {"email": owner.email}


def test_a_plan_checkout_sells_the_dodo_product_of_its_interval(
    client: TestClient, people: People, fake_dodo: FakeDodo
) -> None:
    owner = people.create()
    url = f"/api/v1/workspaces/{owner.workspace_id}/billing/checkout"

    monthly = client.post(url, headers=owner.headers, json={"provider": "dodo", "plan": "pro", "interval": "month"})
    yearly = client.post(url, headers=owner.headers, json={"provider": "dodo", "plan": "pro", "interval": "year"})

    assert monthly.status_code == 201, monthly.text
    [request] = fake_dodo.requests  # the yearly plan names no Dodo product: Dodo is not asked
    assert request.json()["product_cart"] == [{"product_id": "pdt_pro_monthly", "quantity": 1}]
    assert request.json()["metadata"] == {"workspace_id": owner.workspace_id, "plan": "pro", "interval": "month"}
    assert yearly.status_code == 422 and yearly.json()["error"]["code"] == "not_sold_through_provider"
    # Dodo's webhooks complete its checkouts; asking voxhub to confirm one is eWAY's way, not Dodo's.
    confirm = client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/billing/checkouts/{monthly.json()['id']}/confirm",
        headers=owner.headers,
    )
    assert confirm.status_code == 409 and confirm.json()["error"]["code"] == "checkout_not_eway"


def test_a_paid_package_is_credited_once_however_often_dodo_delivers_it(
    client: TestClient, app: Any, people: People
) -> None:
    owner = people.create()
    payment_id = "pay_" + uuid.uuid4().hex
    event = dodo_payment("payment.succeeded", meta(owner, package="basic"), payment_id=payment_id, amount_cents=1000)
    msg_id = "msg_" + uuid.uuid4().hex

    assert deliver(client, app, event, msg_id=msg_id).status == "processed"
    headers, body = dodo_delivery(SECRET, event, msg_id=msg_id, timestamp=int(time.time()) - 30)
    replay = client.post(WEBHOOK, headers=headers, content=body)

    assert replay.status_code == 200 and replay.json()["duplicate"] is True
    assert billing_of(client, owner)["balance"] == 250
    [payment] = payments_of(client, owner)
    assert (payment["provider"], payment["external_id"], payment["currency"]) == ("dodo", payment_id, "usd")


def test_refunds_take_the_credits_back_one_refund_at_a_time(client: TestClient, app: Any, people: People) -> None:
    owner = people.create()
    payment_id = "pay_" + uuid.uuid4().hex
    deliver(client, app, dodo_payment("payment.succeeded", meta(owner, package="basic"), payment_id=payment_id,
                                      amount_cents=1000))  # fmt: skip

    assert deliver(client, app, dodo_refund(payment_id, 400)).status == "processed"
    assert billing_of(client, owner)["balance"] == 150
    assert deliver(client, app, dodo_refund(payment_id, 600)).status == "processed"

    assert billing_of(client, owner)["balance"] == 0
    [payment] = payments_of(client, owner)
    assert (payment["status"], payment["refunded_cents"]) == ("refunded", 1000)
    assert [entry["kind"] for entry in ledger_entries(client, owner)] == ["purchase", "refund", "refund"]
    assert_books_balance(app, owner.workspace_id)


@pytest.mark.parametrize(
    "change",
    [
        {"webhook-signature": "v1,AAAA"},
        {"webhook-timestamp": str(int(time.time()) - 3600)},
        {"webhook-id": None},
    ],
    ids=["bad_signature", "stale", "unsigned"],
)
def test_a_delivery_not_provably_from_dodo_is_refused(
    client: TestClient, people: People, change: dict[str, str | None]
) -> None:
    owner = people.create()
    event = dodo_payment("payment.succeeded", meta(owner, package="basic"), payment_id="pay_x", amount_cents=1000)
    headers, body = dodo_delivery(SECRET, event)
    for name, value in change.items():
        headers.pop(name)
        if value is not None:
            headers[name] = value

    answer = client.post(WEBHOOK, headers=headers, content=body)

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_signature"
    assert billing_of(client, owner)["balance"] == 0


def test_a_subscription_follows_dodo_from_active_to_on_hold_to_cancelled(
    client: TestClient, app: Any, people: People, fake_dodo: FakeDodo, mailbox: Mailbox
) -> None:
    owner = people.create()
    subscription_id = "sub_" + uuid.uuid4().hex
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    period = (start, start + timedelta(days=30))
    plan = meta(owner, plan="pro", interval="month")

    deliver(client, app, dodo_subscription("subscription.active", plan, subscription_id=subscription_id,
                                           status="active", period=period))  # fmt: skip
    first = dodo_payment(
        "payment.succeeded", plan, payment_id="pay_" + uuid.uuid4().hex, amount_cents=4900,
        subscription_id=subscription_id,
    )  # fmt: skip
    deliver(client, app, first)
    summary = billing_of(client, owner)
    assert plan_name(summary) == "pro" and summary["status"] == "active"
    assert [payment["kind"] for payment in payments_of(client, owner)] == ["plan"]

    deliver(client, app, dodo_subscription("subscription.on_hold", plan, subscription_id=subscription_id,
                                           status="on_hold", period=period))  # fmt: skip
    assert billing_of(client, owner)["status"] == "past_due"
    mailbox.wait_for(owner.email, "payment failed")

    cancel = client.post(f"/api/v1/workspaces/{owner.workspace_id}/billing/subscription/cancel", headers=owner.headers)
    assert cancel.status_code == 200, cancel.text
    assert fake_dodo.subscriptions[subscription_id] == {"cancel_at_next_billing_date": True}

    deliver(client, app, dodo_subscription("subscription.cancelled", plan, subscription_id=subscription_id,
                                           status="cancelled", period=period))  # fmt: skip
    assert plan_name(billing_of(client, owner)) == "free"


def test_a_superuser_refund_is_asked_of_dodo_and_its_webhook_takes_the_credits(
    client: TestClient, app: Any, people: People, fake_dodo: FakeDodo, superuser: Person
) -> None:
    owner, stranger = people.create(), people.create()
    payment_id = "pay_" + uuid.uuid4().hex
    deliver(client, app, dodo_payment("payment.succeeded", meta(owner, package="basic"), payment_id=payment_id,
                                      amount_cents=1000))  # fmt: skip
    [payment] = payments_of(client, owner)
    url = f"/api/v1/admin/workspaces/{{}}/billing/payments/{payment['id']}/refund"

    elsewhere = client.post(url.format(stranger.workspace_id), headers=superuser.headers, json={})
    partial = client.post(url.format(owner.workspace_id), headers=superuser.headers, json={"amount_cents": 100})
    whole = client.post(url.format(owner.workspace_id), headers=superuser.headers, json={"reason": "asked"})

    assert elsewhere.status_code == 404
    assert partial.status_code == 409 and partial.json()["error"]["code"] == "partial_refund_unsupported"
    assert whole.status_code == 200, whole.text
    [refund] = fake_dodo.refunds.values()
    assert refund == {"payment_id": payment_id, "reason": "asked"}
    assert billing_of(client, owner)["balance"] == 250  # not yet: Dodo's webhook says when the refund succeeded
    deliver(client, app, dodo_refund(payment_id, 1000))
    assert billing_of(client, owner)["balance"] == 0
