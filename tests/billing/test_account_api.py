"""The billing API as a customer and a superuser use it: the catalog, the account, the ledger, usage, grants, plan
changes, and the plan's limits on request rates and file sizes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.billing.conftest import assert_books_balance, billing_of
from tests.catalogs import edited_catalog
from tests.conftest import People, Person, within_one_rate_minute
from tests.fixtures.workers import parked_queue_url
from tests.live_server import LiveServer, free_port
from voxhub.app import create_app
from voxhub.audit.models import AuditEvent
from voxhub.config import Settings


def test_the_catalog_is_public(client: TestClient) -> None:
    plans = client.get("/api/v1/billing/plans")
    packages = client.get("/api/v1/billing/packages")

    assert plans.status_code == 200 and packages.status_code == 200
    by_id = {plan["id"]: plan for plan in plans.json()["items"]}
    assert list(by_id) == ["free", "starter", "pro", "business"]
    assert by_id["free"]["allowances"] == {
        "audio_minutes": 25,
        "tts_characters": 20000,
        "podcasts": 5,
        "translations": 10,  # the free plan lists translation: it includes some
        "text_tokens": 100000,
    }
    assert by_id["business"]["allowances"]["audio_minutes"] is None  # unlimited
    assert by_id["pro"]["yearly_price_cents"] < 12 * by_id["pro"]["monthly_price_cents"]
    prices = {price["job_type"]: price for price in plans.json()["prices"]}
    assert (prices["transcribe"]["credits"], prices["transcribe"]["per"]) == (10, "minute")
    assert (prices["translate"]["credits"], prices["translate"]["per"]) == (5, "job")
    assert (plans.json()["next_cursor"], packages.json()["next_cursor"]) == (None, None)  # lists answer as lists do
    assert plans.json()["providers"] == ["stripe", "polar", "manual"]  # the tests' servers set every key

    assert [(p["id"], p["credits"], p["price_cents"]) for p in packages.json()["items"]] == [
        ("credits-100", 100, 500),
        ("basic", 250, 1000),
        ("professional", 500, 1800),
        ("enterprise", 1000, 3000),
    ]


def test_the_catalog_names_only_the_providers_whose_keys_are_set(settings: Settings) -> None:
    unset = {"stripe_secret_key": None, "stripe_webhook_secret": None, "polar_access_token": None}
    stripe_only = settings.model_copy(update={"polar_access_token": None})
    with TestClient(create_app(settings.model_copy(update=unset))) as bare:
        assert bare.get("/api/v1/billing/plans").json()["providers"] == ["manual"]  # a manual order needs no key
    with TestClient(create_app(stripe_only)) as keyed:
        assert keyed.get("/api/v1/billing/plans").json()["providers"] == ["stripe", "manual"]


def test_a_new_workspace_is_on_the_free_plan_with_no_credits(client: TestClient, people: People) -> None:
    owner = people.create()

    summary = billing_of(client, owner)

    assert (summary["plan"], summary["status"], summary["interval"]) == ("free", "active", "month")
    assert (summary["balance"], summary["held"], summary["available"]) == (0, 0, 0)
    assert summary["allowances"]["audio_minutes"] == {"included": 25, "used": 0, "held": 0, "left": 25}
    assert summary["period_start"] < summary["period_end"]


def test_other_workspaces_accounts_are_not_found(client: TestClient, people: People) -> None:
    owner, stranger = people.create(), people.create()

    answer = client.get(f"/api/v1/workspaces/{owner.workspace_id}/billing", headers=stranger.headers)

    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "workspace_not_found"


def test_a_superuser_grants_credits_once_per_idempotency_key_and_it_is_audited(
    client: TestClient, people: People, superuser: Person, app: Any
) -> None:
    owner = people.create()
    url = f"/api/v1/admin/workspaces/{owner.workspace_id}/credits"
    body = {"credits": 300, "reason": "launch partner"}

    first = client.post(url, headers={**superuser.headers, "Idempotency-Key": "deal-1"}, json=body)
    again = client.post(url, headers={**superuser.headers, "Idempotency-Key": "deal-1"}, json=body)
    by_owner = client.post(url, headers=owner.headers, json=body)
    no_reason = client.post(url, headers=superuser.headers, json={"credits": 5, "reason": ""})

    assert first.status_code == 201, first.text
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    assert (first.json()["kind"], first.json()["amount"], first.json()["balance_after"]) == ("grant", 300, 300)
    assert by_owner.status_code == 403 and by_owner.json()["error"]["code"] == "superuser_required"
    assert no_reason.status_code == 422
    assert billing_of(client, owner)["balance"] == 300
    assert_books_balance(app, owner.workspace_id)
    with app.state.db.session() as db:
        audit = db.scalars(
            select(AuditEvent).where(
                AuditEvent.workspace_id == owner.workspace_id, AuditEvent.action == "billing.credits_granted"
            )
        ).all()
    assert len(audit) == 1
    assert audit[0].actor_user_id == superuser.id
    assert audit[0].summary["reason"] == "launch partner"


def test_a_grant_past_what_the_ledger_takes_is_refused_not_a_server_error(
    client: TestClient, people: People, superuser: Person
) -> None:
    owner = people.create()
    url = f"/api/v1/admin/workspaces/{owner.workspace_id}/credits"

    refused = [
        client.post(url, headers=superuser.headers, json={"credits": credits, "reason": "overflow"})
        for credits in (2**63, -(2**63), 1_000_000_001)
    ]
    largest = client.post(url, headers=superuser.headers, json={"credits": 1_000_000_000, "reason": "largest"})

    for answer in refused:
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["details"]["fields"][0]["field"] == "body.credits"
    assert largest.status_code == 201, largest.text
    assert billing_of(client, owner)["balance"] == 1_000_000_000


def test_the_ledger_pages_newest_first(client: TestClient, people: People) -> None:
    owner = people.create()
    for credits in (10, 20, 30):
        people.grant(owner.workspace_id, credits)
    url = f"/api/v1/workspaces/{owner.workspace_id}/billing/ledger"

    first = client.get(url, headers=owner.headers, params={"limit": 2}).json()
    second = client.get(url, headers=owner.headers, params={"limit": 2, "cursor": first["next_cursor"]}).json()

    assert [entry["balance_after"] for entry in first["items"]] == [60, 30]
    assert [entry["balance_after"] for entry in second["items"]] == [10]
    assert second["next_cursor"] is None


def test_usage_refuses_an_unknown_meter_and_a_backwards_range(client: TestClient, people: People) -> None:
    owner = people.create()
    url = f"/api/v1/workspaces/{owner.workspace_id}/billing/usage"

    unknown = client.get(url, headers=owner.headers, params={"meter": "gigawatts"})
    backwards = client.get(
        url, headers=owner.headers, params={"from": "2027-02-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"}
    )
    empty = client.get(url, headers=owner.headers, params={"granularity": "month"})

    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "validation_error"
    assert backwards.status_code == 422
    assert empty.status_code == 200 and empty.json()["items"] == []


def test_a_superuser_puts_a_workspace_on_a_plan_and_the_owner_cancels_it_at_period_end(
    client: TestClient, people: People, superuser: Person, app: Any
) -> None:
    owner = people.create()

    changed = client.put(
        f"/api/v1/admin/workspaces/{owner.workspace_id}/plan",
        headers=superuser.headers,
        json={"plan": "business", "interval": "year"},
    )
    unknown = client.put(
        f"/api/v1/admin/workspaces/{owner.workspace_id}/plan", headers=superuser.headers, json={"plan": "gold"}
    )
    canceled = client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/billing/subscription/cancel", headers=owner.headers
    )

    assert changed.status_code == 200, changed.text
    assert (changed.json()["plan"], changed.json()["interval"]) == ("business", "year")
    assert changed.json()["allowances"]["audio_minutes"]["left"] is None  # unlimited
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_plan"
    assert canceled.status_code == 200
    assert canceled.json()["plan"] == "business" and canceled.json()["cancel_at_period_end"] is True
    with app.state.db.session() as db:
        actions = set(db.scalars(select(AuditEvent.action).where(AuditEvent.workspace_id == owner.workspace_id)).all())
    assert {"billing.plan_changed", "billing.subscription_canceled"} <= actions


class TestPlanLimits:
    """A free plan of 3 requests a minute and 1 MB files."""

    @pytest.fixture
    def settings(self, settings: Settings, tmp_path: Path) -> Settings:
        assert settings.billing_catalog is not None
        changes = {"plans.free.requests_per_minute": 3, "plans.free.max_file_size_mb": 1}
        catalog = edited_catalog(settings.billing_catalog, tmp_path / "tight.toml", changes)
        return settings.model_copy(update={"billing_catalog": catalog})

    def test_requests_past_the_plans_rate_are_refused_with_when_to_come_back(
        self, client: TestClient, people: People
    ) -> None:
        owner = people.create()
        url = f"/api/v1/workspaces/{owner.workspace_id}/jobs"
        within_one_rate_minute()

        answers = [client.get(url, headers=owner.headers) for _ in range(4)]

        assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
        assert [answer.headers["RateLimit-Remaining"] for answer in answers[:3]] == ["2", "1", "0"]
        assert all(answer.headers["RateLimit-Limit"] == "3" for answer in answers)
        refused = answers[3]
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert int(refused.headers["RateLimit-Reset"]) >= 1

    def test_tus_announces_the_plans_file_limit_not_the_servers(self, client: TestClient, people: People) -> None:
        owner = people.create()

        answer = client.options(f"/api/v1/workspaces/{owner.workspace_id}/uploads/tus/", headers=owner.headers)

        assert answer.status_code == 204
        assert int(answer.headers["Tus-Max-Size"]) == 1024 * 1024

    def test_each_api_key_has_its_own_count(self, client: TestClient, people: People) -> None:
        owner = people.create()
        url = f"/api/v1/workspaces/{owner.workspace_id}/api-keys"
        created = client.post(url, headers=owner.headers, json={"name": "ci", "scopes": ["read"]})
        key = {"Authorization": f"Bearer {created.json()['secret']}"}

        with_key = [client.get(f"/api/v1/workspaces/{owner.workspace_id}/files", headers=key) for _ in range(3)]

        assert created.status_code == 201, created.text
        assert [answer.status_code for answer in with_key] == [200, 200, 200]

    def test_a_file_over_the_plans_size_is_refused_before_it_is_stored(
        self, client: TestClient, people: People
    ) -> None:
        owner = people.create()

        answer = client.post(
            f"/api/v1/workspaces/{owner.workspace_id}/uploads/multipart",
            headers=owner.headers,
            json={"filename": "big.wav", "size": 2 * 1024 * 1024, "content_type": "audio/wav"},
        )

        assert answer.status_code == 413, answer.text
        assert answer.json()["error"]["code"] == "file_too_large"
        assert answer.json()["error"]["details"]["max_bytes"] == 1024 * 1024


def test_storage_is_read_once_a_day_onto_its_meter(client: TestClient, people: People, app: Any) -> None:
    from datetime import UTC, datetime

    from voxhub.files.models import File
    from voxhub.files.tasks import record_storage_usage

    owner = people.create()
    with app.state.db.session() as db:
        for size in (1000, 2500):
            db.add(
                File(
                    workspace_id=owner.workspace_id, filename="a.wav", size_bytes=size, status="ready",
                    storage_key=f"ws/{owner.workspace_id}/files/{size}",
                )
            )  # fmt: skip
    today = datetime.now(UTC)
    with app.state.db.session() as db:
        first = record_storage_usage(db, app.state.ctx, now=today)
    with app.state.db.session() as db:
        again = record_storage_usage(db, app.state.ctx, now=today)

    usage = client.get(
        f"/api/v1/workspaces/{owner.workspace_id}/billing/usage",
        headers=owner.headers,
        params={"meter": "storage_bytes"},
    ).json()
    assert first >= 1 and again == 0
    assert [(point["period"], point["quantity"]) for point in usage["items"]] == [(today.strftime("%Y-%m-%d"), 3500)]


class TestSharedRateLimits:
    """With jobs on Redis, every API process counts requests in Redis: the limit holds across processes."""

    @pytest.fixture
    def settings(self, settings: Settings, tmp_path: Path, redis_url: str) -> Settings:
        assert settings.billing_catalog is not None
        catalog = edited_catalog(
            settings.billing_catalog, tmp_path / "tight.toml", {"plans.free.requests_per_minute": 4}
        )
        return settings.model_copy(update={"billing_catalog": catalog, "queue_url": parked_queue_url(redis_url)})

    def test_two_processes_share_one_count(self, client: TestClient, people: People, settings: Settings) -> None:
        import httpx

        owner = people.create()
        url = f"/api/v1/workspaces/{owner.workspace_id}/files"
        other = LiveServer(settings, free_port())
        other.start()
        within_one_rate_minute()
        try:
            here = [client.get(url, headers=owner.headers).status_code for _ in range(2)]
            with httpx.Client(base_url=other.url, timeout=60) as http:
                there = [http.get(url, headers=owner.headers).status_code for _ in range(3)]
        finally:
            other.stop()

        assert here == [200, 200]
        assert there == [200, 200, 429]
