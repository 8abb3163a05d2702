"""Prices per 1,000 tokens of text generation: the catalog takes them, a plan's token allowance is drawn first, and
what is past it is paid in whole credits, rounded up, for the tokens actually used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.billing.conftest import billing_of
from tests.catalogs import edited_catalog
from tests.conftest import People
from voxhub.audit.service import Actor
from voxhub.billing import service as billing
from voxhub.billing.catalog import DEFAULT_CATALOG, CatalogError, credits_for_tokens, load_catalog
from voxhub.billing.models import AllowanceUse


def test_the_shipped_catalog_prices_chat_per_1k_tokens_with_an_allowance_in_every_plan() -> None:
    catalog = load_catalog(None)
    chat = catalog.prices["chat"]

    assert (chat.per, chat.meter, chat.credits) == ("1k_tokens", "text_tokens", 1)
    assert catalog.plans["free"].allowance_units("text_tokens") == 100_000
    assert catalog.plans["business"].allowance_units("text_tokens") is None  # unlimited
    assert [credits_for_tokens(chat, tokens) for tokens in (0, 1, 1000, 1001, 2500)] == [0, 1, 1, 2, 3]


def test_an_unknown_unit_is_refused_saying_where(tmp_path: Path) -> None:
    path = edited_catalog(DEFAULT_CATALOG, tmp_path / "billing.toml", {"prices.chat.per": "token"})
    with pytest.raises(CatalogError) as refused:
        load_catalog(path)
    assert "prices.chat.per" in str(refused.value)


def test_tokens_past_the_allowance_are_paid_in_credits_for_what_was_used(
    client: TestClient, people: People, app: Any
) -> None:
    owner = people.create()
    people.grant(owner.workspace_id, 10)
    ctx, database = app.state.ctx, app.state.db
    with database.session() as db:  # 500 tokens of the free plan's 100,000 left this month
        period = billing.subscription(db, workspace_id=owner.workspace_id).allowance_period_start
        db.add(AllowanceUse(workspace_id=owner.workspace_id, period_start=period, meter="text_tokens", used=99_500))

    charge_id = billing.begin_sync_charge(
        database, ctx=ctx, workspace_id=owner.workspace_id, job_type="chat", measure=billing.Measure(tokens=3000),
        actor=Actor.system(),
    )  # fmt: skip
    held = billing_of(client, owner)
    with database.session() as db:
        billing.end_sync_charge(db, ctx=ctx, charge_id=charge_id, result={"tokens": 1800})
    settled = billing_of(client, owner)

    assert held["held"] == 3 and held["allowances"]["text_tokens"]["held"] == 500  # 2,500 tokens held in credits
    assert settled["balance"] == 10 - 2 and settled["held"] == 0  # 1,300 tokens past the allowance: 2 credits
    assert settled["allowances"]["text_tokens"] == {"included": 100_000, "used": 100_000, "held": 0, "left": 0}
