"""eWAY, the fourth provider: a credit package or a plan bought on eWAY's responsive shared page, confirmed by asking
eWAY about the access code when the customer comes back (never by the redirect alone), once per transaction; plans
renewed by charging the token customer at period end; refunds by a superuser through eWAY's API. Against a local
server speaking the Rapid API."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tests.billing.conftest import assert_books_balance, billing_of, ledger_entries
from tests.billing.fakes_au import FakeEway
from tests.conftest import Mailbox, People, Person
from tests.live_server import LiveServer
from voxhub.billing import eway
from voxhub.billing.models import EwayTokenCustomer, ProviderEventRecord
from voxhub.clock import utcnow
from voxhub.config import Settings

RETURN = "/api/v1/billing/eway/return"
RETURNS = 6  # browsers coming back with the same access code at once (a double click, a reload, a retry)


@pytest.fixture
def fake_eway() -> Iterator[FakeEway]:
    with FakeEway() as server:
        yield server


@pytest.fixture
def settings(settings: Settings, fake_eway: FakeEway) -> Settings:
    return settings.model_copy(
        update={
            "eway_api_key": fake_eway.token,
            "eway_api_password": fake_eway.api_password,
            "eway_endpoint": fake_eway.url,
        }
    )


def start(client: TestClient, owner: Person, **body: Any) -> dict[str, Any]:
    answer = client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/billing/checkout",
        headers=owner.headers,
        json={"provider": "eway", **body},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def come_back(client: TestClient, access_code: str) -> str:
    """The customer's browser returns from eWAY's page; where voxhub sends it next."""
    answer = client.get(RETURN, params={"AccessCode": access_code}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


def payments_of(client: TestClient, person: Person) -> list[dict[str, Any]]:
    answer = client.get(f"/api/v1/workspaces/{person.workspace_id}/billing/payments", headers=person.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]  # type: ignore[no-any-return]


def buy_basic(client: TestClient, fake_eway: FakeEway, owner: Person) -> dict[str, Any]:
    checkout = start(client, owner, package="basic")
    fake_eway.pay(checkout["external_id"])
    assert come_back(client, checkout["external_id"]) == "http://voxhub.test/billing/success"
    [payment] = payments_of(client, owner)
    return payment


def test_a_package_is_credited_once_eway_confirms_the_transaction(
    client: TestClient, app: Any, people: People, fake_eway: FakeEway
) -> None:
    owner = people.create()

    checkout = start(client, owner, package="basic")

    assert checkout["url"].startswith("https://secure.ewaypayments.test/sharedpage/")
    [opened] = fake_eway.requests
    assert (opened.method, opened.path) == ("POST", "/AccessCodesShared")
    basic = base64.b64encode(f"{fake_eway.token}:{fake_eway.api_password}".encode()).decode()
    assert opened.headers["authorization"] == f"Basic {basic}"
    body = opened.json()
    assert body["Payment"]["TotalAmount"] == 1000 and body["Payment"]["CurrencyCode"] == "USD"
    assert body["Method"] == "ProcessPayment" and body["TransactionType"] == "Purchase"
    assert body["RedirectUrl"] == "http://voxhub.test" + RETURN
    assert body["CancelUrl"] == "http://voxhub.test/billing/canceled"

    transaction_id = fake_eway.pay(checkout["external_id"])
    assert come_back(client, checkout["external_id"]) == "http://voxhub.test/billing/success"
    assert fake_eway.requests[-1].method == "GET"
    assert fake_eway.requests[-1].path == f"/AccessCode/{checkout['external_id']}"

    assert billing_of(client, owner)["balance"] == 250
    [payment] = payments_of(client, owner)
    assert (payment["provider"], payment["external_id"], payment["amount_cents"], payment["credits"]) == (
        "eway",
        transaction_id,
        1000,
        250,
    )
    # Coming back again (a reload, the confirm route) finds the transaction already applied.
    assert come_back(client, checkout["external_id"]) == "http://voxhub.test/billing/success"
    confirmed = client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/billing/checkouts/{checkout['id']}/confirm", headers=owner.headers
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "completed"
    assert [entry["kind"] for entry in ledger_entries(client, owner)] == ["purchase"]
    assert_books_balance(app, owner.workspace_id)


def test_simultaneous_returns_credit_the_package_once(
    client: TestClient, app: Any, people: People, fake_eway: FakeEway, live_server: LiveServer
) -> None:
    owner = people.create()
    checkout = start(client, owner, package="basic")
    fake_eway.pay(checkout["external_id"])
    together = threading.Barrier(RETURNS)

    def come_back_at_once(_: int) -> httpx.Response:
        with httpx.Client(timeout=60) as http:
            together.wait()
            return http.get(
                f"{live_server.url}{RETURN}", params={"AccessCode": checkout["external_id"]}, follow_redirects=False
            )

    with ThreadPoolExecutor(RETURNS) as pool:
        answers = list(pool.map(come_back_at_once, range(RETURNS)))

    assert [answer.status_code for answer in answers] == [303] * RETURNS, [answer.text for answer in answers]
    assert {answer.headers["location"] for answer in answers} == {"http://voxhub.test/billing/success"}
    assert billing_of(client, owner)["balance"] == 250
    assert len(payments_of(client, owner)) == 1
    assert_books_balance(app, owner.workspace_id)


def test_the_redirect_alone_credits_nothing(client: TestClient, people: People, fake_eway: FakeEway) -> None:
    owner = people.create()
    checkout = start(client, owner, package="basic")

    # Back at voxhub without having paid (or with a forged return): eWAY has no transaction for the code.
    assert come_back(client, checkout["external_id"]) == "http://voxhub.test/billing/canceled"
    unknown = client.get(RETURN, params={"AccessCode": "F9802-made-up"}, follow_redirects=False)

    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "checkout_not_found"
    assert billing_of(client, owner)["balance"] == 0
    assert payments_of(client, owner) == []
    state = client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/billing/checkouts/{checkout['id']}/confirm", headers=owner.headers
    )
    assert state.json()["status"] == "open"


def test_a_declined_card_fails_the_checkout_and_credits_nothing(
    client: TestClient, app: Any, people: People, fake_eway: FakeEway
) -> None:
    owner = people.create()
    checkout = start(client, owner, package="basic", cancel_url="https://shop.test/try-again")
    fake_eway.pay(checkout["external_id"], approve=False)

    assert come_back(client, checkout["external_id"]) == "https://shop.test/try-again"

    assert billing_of(client, owner)["balance"] == 0
    assert payments_of(client, owner) == []
    with app.state.db.session() as db:
        [record] = db.scalars(select(ProviderEventRecord).where(ProviderEventRecord.provider == "eway"))
        assert (record.raw_type, record.status) == ("transaction.declined", "ignored")
        assert record.payload["response_message"] == "D4405"


def test_another_workspaces_checkout_is_not_found(client: TestClient, people: People, fake_eway: FakeEway) -> None:
    owner, stranger = people.create(), people.create()
    checkout = start(client, owner, package="basic")

    answer = client.post(
        f"/api/v1/workspaces/{stranger.workspace_id}/billing/checkouts/{checkout['id']}/confirm",
        headers=stranger.headers,
    )

    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "checkout_not_found"


def test_eway_takes_no_webhooks(client: TestClient, fake_eway: FakeEway) -> None:
    answer = client.post("/api/v1/billing/webhooks/eway", content=b'{"TransactionID": 1}')

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_signature"


def test_the_catalog_offers_eway_when_its_keys_are_set(client: TestClient) -> None:
    providers = client.get("/api/v1/billing/plans").json()["providers"]

    assert "eway" in providers


# ---- plans: a token customer, charged at period end ----


def _subscribe(client: TestClient, fake_eway: FakeEway, owner: Person) -> str:
    checkout = start(client, owner, plan="pro")
    assert fake_eway.requests[-1].json()["Method"] == "TokenPayment"
    fake_eway.pay(checkout["external_id"])
    assert come_back(client, checkout["external_id"]) == "http://voxhub.test/billing/success"
    return checkout["external_id"]  # type: ignore[no-any-return]


def _period_over(app: Any, workspace_id: str) -> None:
    """Time passes: the paid period is over."""
    with app.state.db.session() as db:
        db.execute(
            update(EwayTokenCustomer)
            .where(EwayTokenCustomer.workspace_id == workspace_id)
            .values(paid_through=utcnow() - timedelta(minutes=1))
        )


def _renew(app: Any) -> int:
    with app.state.db.session() as db:
        return eway.charge_renewals(db, ctx=app.state.ctx)


def test_a_plan_is_renewed_by_charging_the_token_customer_once(
    client: TestClient, app: Any, people: People, fake_eway: FakeEway
) -> None:
    owner = people.create()
    _subscribe(client, fake_eway, owner)
    summary = billing_of(client, owner)
    assert (summary["plan"]["name"] if isinstance(summary["plan"], dict) else summary["plan"]) in ("pro", "Pro")
    [token] = fake_eway.tokens
    _period_over(app, owner.workspace_id)

    assert _renew(app) == 1
    assert _renew(app) == 0  # the next run finds the period paid

    [charge] = [request for request in fake_eway.requests if request.path == "/Transaction"]
    body = charge.json()
    assert body["Customer"]["TokenCustomerID"] == token
    assert (body["Method"], body["TransactionType"]) == ("TokenPayment", "Recurring")
    assert body["Payment"]["TotalAmount"] == payments_of(client, owner)[-1]["amount_cents"]
    kinds = sorted(payment["kind"] for payment in payments_of(client, owner))
    assert kinds == ["plan", "plan"]
    with app.state.db.session() as db:
        row = db.get(EwayTokenCustomer, owner.workspace_id)
        assert row is not None and row.paid_through > utcnow() and row.charging_since is None


def test_declined_renewals_make_the_plan_past_due_then_end_it(
    client: TestClient, app: Any, people: People, fake_eway: FakeEway, mailbox: Mailbox
) -> None:
    owner = people.create()
    _subscribe(client, fake_eway, owner)
    fake_eway.decline_next_charges = eway.MAX_RENEWAL_FAILURES
    _period_over(app, owner.workspace_id)

    assert _renew(app) == 1

    assert billing_of(client, owner)["status"] == "past_due"
    mailbox.wait_for(owner.email, "payment failed")
    for _ in range(eway.MAX_RENEWAL_FAILURES - 1):
        with app.state.db.session() as db:  # the retry falls due
            db.execute(update(EwayTokenCustomer).values(retry_at=utcnow() - timedelta(seconds=1)))
        assert _renew(app) == 1
    summary = billing_of(client, owner)
    assert (summary["plan"]["name"] if isinstance(summary["plan"], dict) else summary["plan"]).lower() == "free"
    with app.state.db.session() as db:
        assert db.get(EwayTokenCustomer, owner.workspace_id) is None
    assert len([request for request in fake_eway.requests if request.path == "/Transaction"]) == 3


def test_a_renewal_whose_answer_was_lost_is_looked_up_not_charged_again(
    client: TestClient, app: Any, people: People, fake_eway: FakeEway
) -> None:
    owner = people.create()
    _subscribe(client, fake_eway, owner)
    _period_over(app, owner.workspace_id)
    fake_eway.lose_next_charge_answer = True

    assert _renew(app) == 1  # eWAY charged the card, but its answer never arrived
    assert _renew(app) == 0  # the claim holds: no second charge while nobody knows
    with app.state.db.session() as db:  # a while later, the claim is stale
        db.execute(update(EwayTokenCustomer).values(charging_since=utcnow() - eway.STALE_CLAIM - timedelta(seconds=1)))
    assert _renew(app) == 1

    charges = [request for request in fake_eway.requests if request.path == "/Transaction"]
    lookups = [request for request in fake_eway.requests if request.path.startswith("/Transaction/InvoiceRef/")]
    assert len(charges) == 1 and len(lookups) == 1
    assert sorted(payment["kind"] for payment in payments_of(client, owner)) == ["plan", "plan"]
    with app.state.db.session() as db:
        row = db.get(EwayTokenCustomer, owner.workspace_id)
        assert row is not None and row.paid_through > utcnow() and row.charging_since is None


def test_an_unanswered_renewal_that_eway_never_made_is_charged_on_a_later_run(
    client: TestClient, app: Any, people: People, fake_eway: FakeEway
) -> None:
    owner = people.create()
    _subscribe(client, fake_eway, owner)
    _period_over(app, owner.workspace_id)
    with app.state.db.session() as db:  # a claim from a process that stopped before it charged
        db.execute(update(EwayTokenCustomer).values(charging_since=utcnow() - eway.STALE_CLAIM - timedelta(seconds=1)))

    assert _renew(app) == 1  # looked up: eWAY has no such transaction, so the claim is let go
    assert [r.path for r in fake_eway.requests if r.path.startswith("/Transaction")][-1].startswith("/Transaction/Inv")
    assert _renew(app) == 1  # and charged

    assert len([request for request in fake_eway.requests if request.path == "/Transaction"]) == 1
    assert sorted(payment["kind"] for payment in payments_of(client, owner)) == ["plan", "plan"]


# ---- refunds by a superuser ----


def _refund(client: TestClient, superuser: Person, workspace_id: str, payment_id: str, **body: Any) -> Any:
    return client.post(
        f"/api/v1/admin/workspaces/{workspace_id}/billing/payments/{payment_id}/refund",
        headers=superuser.headers,
        json=body,
    )


def test_a_refund_goes_through_eway_and_takes_the_credits_back(
    client: TestClient, app: Any, people: People, fake_eway: FakeEway, superuser: Person
) -> None:
    owner = people.create()
    payment = buy_basic(client, fake_eway, owner)

    half = _refund(client, superuser, owner.workspace_id, payment["id"], amount_cents=500, reason="half")
    assert half.status_code == 200, half.text
    assert (half.json()["status"], half.json()["refunded_cents"]) == ("partially_refunded", 500)
    assert billing_of(client, owner)["balance"] == 125
    too_much = _refund(client, superuser, owner.workspace_id, payment["id"], amount_cents=600)
    assert too_much.status_code == 409 and too_much.json()["error"]["code"] == "refund_too_large"
    rest = _refund(client, superuser, owner.workspace_id, payment["id"])
    assert rest.status_code == 200, rest.text
    assert (rest.json()["status"], rest.json()["refunded_cents"]) == ("refunded", 1000)
    assert billing_of(client, owner)["balance"] == 0
    again = _refund(client, superuser, owner.workspace_id, payment["id"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_refunded"

    refunds = [request for request in fake_eway.requests if request.path.endswith("/Refund")]
    assert [request.path for request in refunds] == [f"/Transaction/{payment['external_id']}/Refund"] * 2
    assert [request.json()["Refund"]["TotalAmount"] for request in refunds] == [500, 500]
    assert [entry["kind"] for entry in ledger_entries(client, owner)] == ["purchase", "refund", "refund"]
    assert_books_balance(app, owner.workspace_id)


def test_refunds_are_for_superusers_and_their_workspace_only(
    client: TestClient, people: People, fake_eway: FakeEway, superuser: Person
) -> None:
    owner, stranger = people.create(), people.create()
    payment = buy_basic(client, fake_eway, owner)

    by_owner = _refund(client, owner, owner.workspace_id, payment["id"])
    wrong_workspace = _refund(client, superuser, stranger.workspace_id, payment["id"])

    assert by_owner.status_code == 403
    assert wrong_workspace.status_code == 404
    assert wrong_workspace.json()["error"]["code"] == "payment_not_found"
    assert billing_of(client, owner)["balance"] == 250
