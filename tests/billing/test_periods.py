"""Periods: allowances reset each month (yearly plans too), a canceled plan ends with its period, and alerts go out
at each threshold once per period. Time is moved by passing `now`, not by waiting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import Mailbox, People, Person
from voxhub.audit.service import Actor
from voxhub.billing import ledger
from voxhub.billing import service as billing
from voxhub.billing.models import AllowanceUse, Subscription
from voxhub.notify.models import WebhookDelivery

START = datetime(2027, 1, 31, 9, 30, tzinfo=UTC)


def test_months_keep_their_day_where_the_month_has_it() -> None:
    assert billing.add_months(START, 1) == datetime(2027, 2, 28, 9, 30, tzinfo=UTC)
    assert billing.add_months(START, 2) == datetime(2027, 3, 31, 9, 30, tzinfo=UTC)
    assert billing.add_months(START, 13) == datetime(2028, 2, 29, 9, 30, tzinfo=UTC)
    assert billing.allowance_window(START, START + timedelta(days=40)) == (
        datetime(2027, 2, 28, 9, 30, tzinfo=UTC),
        datetime(2027, 3, 31, 9, 30, tzinfo=UTC),
    )


def _start_plan(app: Any, person: Person, plan: str, interval: str) -> None:
    with app.state.db.session() as db:
        billing.set_plan(
            db,
            ctx=app.state.ctx,
            workspace_id=person.workspace_id,
            plan=plan,
            interval=interval,
            actor=Actor.system(),
            period_start=START,
        )


def _use(app: Any, person: Person, meter: str, units: int, period_start: datetime) -> None:
    with app.state.db.session() as db:
        db.add(AllowanceUse(workspace_id=person.workspace_id, period_start=period_start, meter=meter, used=units))


def _summary(app: Any, person: Person, now: datetime) -> dict[str, Any]:
    with app.state.db.session() as db:
        return billing.summary(db, ctx=app.state.ctx, workspace_id=person.workspace_id, now=now)


def _roll(app: Any, now: datetime) -> int:
    with app.state.db.session() as db:
        return billing.roll_periods(db, ctx=app.state.ctx, now=now)


def test_a_monthly_plans_allowances_reset_when_its_period_renews(people: People, app: Any) -> None:
    owner = people.create()
    _start_plan(app, owner, "starter", "month")
    _use(app, owner, "audio_minutes", 200 * 60, START)

    during = _summary(app, owner, START + timedelta(days=10))
    assert _roll(app, START + timedelta(days=29)) >= 1
    after = _summary(app, owner, START + timedelta(days=29))

    assert during["allowances"]["audio_minutes"] == {"included": 250, "used": 200, "held": 0, "left": 50}
    assert after["period_start"] == datetime(2027, 2, 28, 9, 30, tzinfo=UTC)
    assert after["period_end"] == datetime(2027, 3, 31, 9, 30, tzinfo=UTC)
    assert after["allowances"]["audio_minutes"]["used"] == 0
    assert after["allowances"]["audio_minutes"]["left"] == 250


def test_a_yearly_plan_gets_its_allowances_monthly(people: People, app: Any) -> None:
    owner = people.create()
    _start_plan(app, owner, "pro", "year")
    _use(app, owner, "tts_characters", 900_000, START)

    second_month = _summary(app, owner, START + timedelta(days=45))

    assert second_month["period_end"] == datetime(2028, 1, 31, 9, 30, tzinfo=UTC)
    assert second_month["allowance_period_start"] == datetime(2027, 2, 28, 9, 30, tzinfo=UTC)
    assert second_month["allowances"]["tts_characters"]["used"] == 0
    assert second_month["allowances"]["tts_characters"]["included"] == 1_000_000


def test_a_plan_canceled_at_period_end_stays_until_then_and_then_is_free(
    client: TestClient, people: People, app: Any
) -> None:
    owner = people.create()
    _start_plan(app, owner, "pro", "month")

    canceled = client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/billing/subscription/cancel", headers=owner.headers
    )
    before_end = _summary(app, owner, START + timedelta(days=20))
    _roll(app, START + timedelta(days=29))
    after_end = _summary(app, owner, START + timedelta(days=29))

    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["cancel_at_period_end"] is True
    assert before_end["plan"] == "pro"
    assert after_end["plan"] == "free" and after_end["cancel_at_period_end"] is False
    assert after_end["allowances"]["audio_minutes"]["included"] == 25


def _subscribe_to_alerts(client: TestClient, person: Person) -> None:
    answer = client.post(
        f"/api/v1/workspaces/{person.workspace_id}/webhooks",
        headers=person.headers,
        json={"url": "http://127.0.0.1:9/alerts", "events": ["billing.usage_alert"]},
    )
    assert answer.status_code == 201, answer.text


def _alerts(app: Any, now: datetime, person: Person) -> list[str]:
    with app.state.db.session() as db:
        account = ledger.lock_account(db, person.workspace_id)
        return billing.check_alerts(db, ctx=app.state.ctx, workspace_id=person.workspace_id, account=account, now=now)


@pytest.fixture
def settings(settings: Any) -> Any:
    return settings.model_copy(update={"webhooks_allow_private": True})


def test_allowance_alerts_go_out_at_80_and_100_percent_once_per_period(
    client: TestClient, people: People, app: Any, mailbox: Mailbox
) -> None:
    owner = people.create()
    _subscribe_to_alerts(client, owner)
    _start_plan(app, owner, "starter", "month")
    now = START + timedelta(days=3)

    _use(app, owner, "audio_minutes", 210 * 60, START)  # 84%
    first = _alerts(app, now, owner)
    again = _alerts(app, now, owner)
    with app.state.db.session() as db:
        db.execute(
            AllowanceUse.__table__.update().where(AllowanceUse.workspace_id == owner.workspace_id).values(used=250 * 60)
        )
    full = _alerts(app, now, owner)
    next_month = START + timedelta(days=30)
    _use(app, owner, "audio_minutes", 240 * 60, datetime(2027, 2, 28, 9, 30, tzinfo=UTC))
    renewed = _alerts(app, next_month, owner)

    assert first == ["audio_minutes:80"]
    assert again == []
    assert full == ["audio_minutes:100"]
    assert renewed == ["audio_minutes:80"]
    mail = mailbox.wait_for(owner.email, "usage alert", count=3)
    assert "audio minutes" in str(mail.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
    with app.state.db.session() as db:
        payloads = [
            d.payload["data"]
            for d in db.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.workspace_id == owner.workspace_id)
                .order_by(WebhookDelivery.created_at)
            )
        ]
    assert [(p["meter"], p["threshold"]) for p in payloads] == [
        ("audio_minutes", 80),
        ("audio_minutes", 100),
        ("audio_minutes", 80),
    ]


def test_a_low_balance_alert_goes_out_once_when_credits_fall_below_the_threshold(
    people: People, app: Any, mailbox: Mailbox
) -> None:
    owner = people.create()
    people.grant(owner.workspace_id, 60)
    now = datetime.now(UTC)

    above = _alerts(app, now, owner)
    with app.state.db.session() as db:
        billing.grant(
            db, ctx=app.state.ctx, workspace_id=owner.workspace_id, credits=-20, reason="spent", actor=Actor.system()
        )
    below = _alerts(app, now, owner)
    still_below = _alerts(app, now, owner)

    assert above == []
    assert below == ["low_balance"]
    assert still_below == []
    mail = mailbox.wait_for(owner.email, "usage alert")
    text = str(mail.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
    assert "40 credits left" in text
    # The link opens the console's billing page of that workspace.
    assert f"{app.state.settings.public_url}/w/{owner.workspace_id}/billing" in text


def test_a_workspace_made_before_billing_starts_on_the_free_plan(people: People, app: Any) -> None:
    owner = people.create()
    with app.state.db.session() as db:  # as if the workspace predates billing
        db.execute(Subscription.__table__.delete().where(Subscription.workspace_id == owner.workspace_id))

    summary = _summary(app, owner, datetime.now(UTC))

    assert summary["plan"] == "free"
    assert summary["allowances"]["podcasts"]["left"] == 5
