"""Billing tests: fake payment-provider APIs on local ports, settings that point voxhub at them, a superuser,
and helpers to read a workspace's account the way a user would (over HTTP) and the way the books add up."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from tests.billing.fakes import FakePolar, FakeStripe, polar_webhook_secret
from tests.conftest import People, Person
from voxhub.accounts.models import User
from voxhub.billing import ledger
from voxhub.billing.models import CreditAccount
from voxhub.config import Settings

STRIPE_WEBHOOK_SECRET = "whsec_voxhub_test_secret"
POLAR_WEBHOOK_SECRET = polar_webhook_secret()


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


@pytest.fixture
def fake_polar() -> Iterator[FakePolar]:
    with FakePolar(products=["prod_polar_basic", "prod_polar_pro"]) as server:
        yield server


@pytest.fixture
def settings(settings: Settings, fake_stripe: FakeStripe, fake_polar: FakePolar) -> Settings:
    return settings.model_copy(
        update={
            "stripe_secret_key": fake_stripe.token,
            "stripe_webhook_secret": STRIPE_WEBHOOK_SECRET,
            "stripe_api_url": fake_stripe.url,
            "polar_access_token": fake_polar.token,
            "polar_webhook_secret": POLAR_WEBHOOK_SECRET,
            "polar_api_url": fake_polar.url,
            "webhooks_allow_private": True,
        }
    )


@pytest.fixture
def superuser(people: People, app: Any) -> Person:
    person = people.create()
    with app.state.db.session() as db:
        db.execute(update(User).where(User.id == person.id).values(is_superuser=True))
    return person


def billing_of(client: TestClient, person: Person, workspace_id: str | None = None) -> dict[str, Any]:
    answer = client.get(f"/api/v1/workspaces/{workspace_id or person.workspace_id}/billing", headers=person.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def ledger_entries(client: TestClient, person: Person, workspace_id: str | None = None) -> list[dict[str, Any]]:
    """Every ledger entry of the workspace, oldest first, read page by page over HTTP."""
    entries: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 200}
        if cursor:
            params["cursor"] = cursor
        answer = client.get(
            f"/api/v1/workspaces/{workspace_id or person.workspace_id}/billing/ledger",
            headers=person.headers,
            params=params,
        )
        assert answer.status_code == 200, answer.text
        page = answer.json()
        entries += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return list(reversed(entries))


def assert_books_balance(app: Any, workspace_id: str) -> CreditAccount:
    """The account row equals what its ledger adds up to, and is within its invariants."""
    with app.state.db.session() as db:
        account = db.get(CreditAccount, workspace_id)
        assert account is not None
        balance, held = ledger.totals(db, workspace_id)
        assert (account.balance, account.held) == (balance, held)
        assert 0 <= account.held <= account.balance
        db.expunge(account)
        return account
