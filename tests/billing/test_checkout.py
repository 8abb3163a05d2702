"""Buying credits or a plan: checkouts opened at Stripe and Polar (fake APIs on real ports), who may open them, what
the provider is asked for, and the manual provider whose payments a superuser confirms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from tests.billing.conftest import assert_books_balance, billing_of, ledger_entries
from tests.billing.fakes import FakePolar, FakeStripe, stripe_checkout_completed
from tests.billing.test_webhooks import STRIPE, Event, deliver
from tests.catalogs import edited_catalog
from tests.conftest import People, Person
from voxhub.billing.catalog import DEFAULT_CATALOG
from voxhub.config import Settings


def checkout(client: TestClient, person: Person, **body: Any) -> httpx2.Response:
    return client.post(f"/api/v1/workspaces/{person.workspace_id}/billing/checkout", headers=person.headers, json=body)


def mark_paid(client: TestClient, person: Person, checkout_id: str) -> httpx2.Response:
    return client.post(f"/api/v1/admin/billing/checkouts/{checkout_id}/paid", headers=person.headers)


# ---- Stripe ----


def test_an_owner_buying_a_package_is_sent_to_a_stripe_payment_for_its_price(
    client: TestClient, people: People, fake_stripe: FakeStripe
) -> None:
    owner = people.create()

    answer = checkout(client, owner, provider="stripe", package="basic")

    assert answer.status_code == 201, answer.text
    opened = answer.json()
    [request] = fake_stripe.requests
    session = fake_stripe.sessions[opened["external_id"]]
    assert opened == {
        "id": opened["id"],
        "provider": "stripe",
        "url": session["url"],
        "external_id": session["id"],
        "kind": "package",
        "item": "basic",
        "amount_cents": 1000,
        "currency": "usd",
        "instructions": None,
    }
    form = request.form
    [line] = form["line_items"]
    assert form["mode"] == "payment"
    assert (line["price_data"]["unit_amount"], line["price_data"]["currency"], line["quantity"]) == ("1000", "usd", "1")
    assert "recurring" not in line["price_data"]
    assert form["metadata"] == {"workspace_id": owner.workspace_id, "package": "basic"}
    # Copied onto the charge, so that a refund names the workspace too.
    assert form["payment_intent_data"]["metadata"] == form["metadata"]
    assert form["customer_email"] == owner.email
    assert form["success_url"] == "http://voxhub.test/billing/success"


def test_a_yearly_plan_is_a_stripe_subscription_at_the_yearly_price(
    client: TestClient, people: People, fake_stripe: FakeStripe
) -> None:
    owner = people.create()

    answer = checkout(client, owner, provider="stripe", plan="pro", interval="year")

    assert answer.status_code == 201, answer.text
    assert (answer.json()["kind"], answer.json()["item"], answer.json()["amount_cents"]) == ("plan", "pro", 49000)
    form = fake_stripe.requests[0].form
    price = form["line_items"][0]["price_data"]
    assert form["mode"] == "subscription"
    assert (price["unit_amount"], price["recurring"]) == ("49000", {"interval": "year"})
    expected_metadata = {"workspace_id": owner.workspace_id, "plan": "pro", "interval": "year"}
    assert form["metadata"] == expected_metadata
    # Subscription events carry the subscription's metadata, not the session's.
    assert form["subscription_data"]["metadata"] == expected_metadata


def test_stripe_failing_answers_502_in_the_one_error_shape(
    client: TestClient, people: People, fake_stripe: FakeStripe
) -> None:
    owner = people.create()
    fake_stripe.fail_with = (500, {"error": {"message": "An unknown error occurred", "type": "api_error"}})

    answer = checkout(client, owner, provider="stripe", package="basic")

    assert answer.status_code == 502, answer.text
    assert answer.json() == {
        "error": {
            "code": "payment_provider_error",
            "message": "Stripe answered 500: An unknown error occurred",
            "details": {"provider": "stripe", "status": 500},
        }
    }


# ---- Polar ----


def test_polar_cannot_sell_an_item_the_catalog_has_no_polar_product_for(
    client: TestClient, people: People, fake_polar: FakePolar
) -> None:
    owner = people.create()

    answer = checkout(client, owner, provider="polar", package="basic")

    # The shipped catalog names no Polar products, so no checkout is ever asked of Polar.
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "not_sold_through_provider"
    assert "cannot be bought through polar" in error["message"]
    assert error["details"] == {"provider": "polar", "package": "basic"}
    assert fake_polar.requests == []


class TestWithPolarProducts:
    """A catalog that names the Polar product of the basic package and of the yearly pro plan."""

    @pytest.fixture
    def settings(self, settings: Settings, tmp_path: Path) -> Settings:
        changes = {
            "packages.basic.product_ids": {"polar": "prod_polar_basic"},
            "plans.pro.product_ids": {"polar:year": "prod_polar_pro"},
        }
        path = edited_catalog(DEFAULT_CATALOG, tmp_path / "billing.toml", changes)
        return settings.model_copy(update={"billing_catalog": path})

    def test_a_package_is_sold_as_its_polar_product(
        self, client: TestClient, people: People, fake_polar: FakePolar
    ) -> None:
        owner = people.create()

        answer = checkout(client, owner, provider="polar", package="basic")

        assert answer.status_code == 201, answer.text
        created = fake_polar.checkouts[answer.json()["external_id"]]
        assert answer.json()["url"] == created["url"]
        body = fake_polar.requests[0].json()
        assert body["products"] == ["prod_polar_basic"]
        assert body["metadata"] == {"workspace_id": owner.workspace_id, "package": "basic"}
        assert body["customer_email"] == owner.email

    def test_a_yearly_plan_is_sold_as_its_yearly_polar_product(
        self, client: TestClient, people: People, fake_polar: FakePolar
    ) -> None:
        owner = people.create()

        answer = checkout(client, owner, provider="polar", plan="pro", interval="year")

        assert answer.status_code == 201, answer.text
        body = fake_polar.requests[0].json()
        assert body["products"] == ["prod_polar_pro"]
        assert body["metadata"] == {"workspace_id": owner.workspace_id, "plan": "pro", "interval": "year"}


# ---- who may buy, and what ----


def test_a_member_who_is_not_an_admin_cannot_open_a_checkout(
    client: TestClient, people: People, fake_stripe: FakeStripe
) -> None:
    owner = people.create()
    member = people.add_to(owner, owner.workspace_id, "member")

    answer = client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/billing/checkout",
        headers=member.headers,
        json={"provider": "stripe", "package": "basic"},
    )

    assert answer.status_code == 403, answer.text
    assert fake_stripe.requests == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"package": "platinum"}, "unknown_package"),
        ({"package": "basic", "plan": "pro"}, "validation_error"),
        ({}, "validation_error"),
        ({"plan": "free"}, "unknown_plan"),
        ({"plan": "diamond"}, "unknown_plan"),
    ],
    ids=["unknown_package", "package_and_plan", "neither", "free_plan", "unknown_plan"],
)
def test_a_checkout_for_nothing_one_can_buy_is_refused(
    client: TestClient, people: People, fake_stripe: FakeStripe, body: dict[str, str], code: str
) -> None:
    owner = people.create()

    answer = checkout(client, owner, provider="stripe", **body)

    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == code
    assert fake_stripe.requests == []


class TestWithoutStripeKeys:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(update={"stripe_secret_key": None, "stripe_webhook_secret": None})

    def test_a_stripe_checkout_is_not_found_while_stripe_is_not_configured(
        self, client: TestClient, people: People, fake_stripe: FakeStripe
    ) -> None:
        owner = people.create()

        answer = checkout(client, owner, provider="stripe", package="basic")

        assert answer.status_code == 404, answer.text
        error = answer.json()["error"]
        assert (error["code"], error["details"]) == ("provider_not_configured", {"provider": "stripe"})
        assert "VOXHUB_STRIPE_SECRET_KEY" in error["message"]
        assert fake_stripe.requests == []


# ---- the manual provider ----


def test_a_manual_checkout_has_no_payment_page_but_says_how_to_pay(client: TestClient, people: People) -> None:
    owner = people.create()

    answer = checkout(client, owner, provider="manual", package="basic")

    assert answer.status_code == 201, answer.text
    opened = answer.json()
    assert (opened["provider"], opened["url"], opened["amount_cents"]) == ("manual", None, 1000)
    assert opened["external_id"].startswith("man_")
    assert opened["external_id"] in opened["instructions"]
    assert "10.00 USD" in opened["instructions"]
    assert billing_of(client, owner)["balance"] == 0


def test_a_superuser_confirming_a_manual_payment_credits_the_workspace_once(
    client: TestClient, app: Any, people: People, superuser: Person
) -> None:
    owner = people.create()
    opened = checkout(client, owner, provider="manual", package="basic").json()

    first = mark_paid(client, superuser, opened["id"])
    again = mark_paid(client, superuser, opened["id"])

    assert first.status_code == again.status_code == 200, (first.text, again.text)
    assert first.json()["id"] == again.json()["id"]
    assert (first.json()["provider"], first.json()["external_id"], first.json()["credits"]) == (
        "manual",
        opened["external_id"],
        250,
    )
    assert billing_of(client, owner)["balance"] == 250
    assert [(entry["kind"], entry["amount"]) for entry in ledger_entries(client, owner)] == [("purchase", 250)]
    assert_books_balance(app, owner.workspace_id)


def test_a_superuser_confirming_a_manual_plan_payment_puts_the_workspace_on_the_plan(
    client: TestClient, people: People, superuser: Person
) -> None:
    owner = people.create()
    opened = checkout(client, owner, provider="manual", plan="pro", interval="year").json()
    assert opened["amount_cents"] == 49000

    answer = mark_paid(client, superuser, opened["id"])

    assert answer.status_code == 200, answer.text
    account = billing_of(client, owner)
    assert (account["plan"], account["interval"], account["balance"]) == ("pro", "year", 0)


def test_only_a_superuser_can_confirm_a_manual_payment(client: TestClient, people: People) -> None:
    owner = people.create()
    opened = checkout(client, owner, provider="manual", package="basic").json()

    answer = mark_paid(client, owner, opened["id"])

    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "superuser_required"
    assert billing_of(client, owner)["balance"] == 0


def test_confirming_a_checkout_that_does_not_exist_is_not_found(client: TestClient, superuser: Person) -> None:
    answer = mark_paid(client, superuser, "0193a0c4-0000-7000-8000-000000000000")

    assert answer.status_code == 404, answer.text
    assert answer.json()["error"]["code"] == "checkout_not_found"


def test_a_stripe_checkout_confirmed_by_hand_and_then_by_its_webhook_credits_once(
    client: TestClient, app: Any, people: People, superuser: Person
) -> None:
    owner = people.create()
    opened = checkout(client, owner, provider="stripe", package="basic").json()
    by_hand = mark_paid(client, superuser, opened["id"])  # e.g. support, while the webhook was late

    event = stripe_checkout_completed(owner.workspace_id, package="basic", amount_cents=1000)
    event["data"]["object"]["id"] = opened["external_id"]
    deliver(client, app, STRIPE, Event(event["id"], event))

    assert by_hand.status_code == 409
    assert by_hand.json()["error"]["code"] == "checkout_not_manual"
    assert billing_of(client, owner)["balance"] == 250
    assert_books_balance(app, owner.workspace_id)


# ---- canceling a plan the provider bills ----


@pytest.mark.parametrize("provider_name", ["stripe", "polar"])
def test_canceling_a_provider_billed_plan_tells_the_provider_to_stop_renewing_it(
    client: TestClient,
    app: Any,
    people: People,
    fake_stripe: FakeStripe,
    fake_polar: FakePolar,
    provider_name: str,
) -> None:
    from tests.billing.test_webhooks import POLAR

    provider, fake = (STRIPE, fake_stripe) if provider_name == "stripe" else (POLAR, fake_polar)
    owner = people.create()
    subscription_id = provider.new_subscription_id()
    fake.subscriptions[subscription_id] = {"id": subscription_id, "cancel_at_period_end": False}
    deliver(
        client, app, provider, provider.subscription("started", owner.workspace_id, subscription_id=subscription_id)
    )

    canceled = client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/billing/subscription/cancel", headers=owner.headers
    )

    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["plan"] == "pro" and canceled.json()["cancel_at_period_end"] is True
    assert fake.subscriptions[subscription_id]["cancel_at_period_end"] is True


def test_when_the_provider_refuses_the_cancellation_nothing_changes_here(
    client: TestClient, app: Any, people: People, fake_stripe: FakeStripe
) -> None:
    owner = people.create()
    subscription_id = STRIPE.new_subscription_id()  # unknown to the fake: Stripe answers 404
    deliver(client, app, STRIPE, STRIPE.subscription("started", owner.workspace_id, subscription_id=subscription_id))

    refused = client.post(f"/api/v1/workspaces/{owner.workspace_id}/billing/subscription/cancel", headers=owner.headers)

    assert refused.status_code == 502
    assert refused.json()["error"]["code"] == "payment_provider_error"
    assert billing_of(client, owner)["cancel_at_period_end"] is False
