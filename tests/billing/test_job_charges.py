"""Jobs pay for themselves: what a job costs is held when it is accepted, captured as measured when it succeeds,
released when it fails or is canceled, held again when it is retried, and charged once even when a worker dies."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tests.billing.conftest import assert_books_balance, billing_of, ledger_entries
from tests.catalogs import edited_catalog
from tests.conftest import People, Person
from tests.fixtures.workers import on_executor
from tests.jobs_helpers import attempts_of, convert_body, job_url, jobs_url, upload, wait_for_job
from voxhub.billing.catalog import load_catalog
from voxhub.clock import utcnow
from voxhub.config import Settings
from voxhub.jobs import service as jobs
from voxhub.jobs.models import Job

# media.convert is free in the shipped catalog; here it costs 10 credits a started minute of its input, on the
# audio_minutes meter, and the free plan includes one minute of audio.
PRICED_CONVERT = {"credits": 10, "per": "minute", "of": "input", "meter": "audio_minutes"}

pytestmark = pytest.mark.usefixtures("nothing_left_running")


@pytest.fixture
def executor_kind() -> str:
    return "local"


@pytest.fixture
def settings(settings: Settings, executor_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    # The free plan here: one minute of audio a month, and one job running at a time (of two worker threads).
    assert settings.billing_catalog is not None
    changes = {
        "plans.free.allowances.audio_minutes": 1,
        "plans.free.concurrent_jobs": 1,
        'prices."media.convert"': PRICED_CONVERT,
    }
    catalog = edited_catalog(settings.billing_catalog, tmp_path / "billing.toml", changes)
    free = load_catalog(catalog).plans["free"]
    assert (free.allowance_units("audio_minutes"), free.concurrent_jobs) == (60, 1)  # the edits took
    return on_executor(settings, executor_kind, request, billing_catalog=catalog, workers=2)


def create(client: TestClient, person: Person, file_id: str, **params: Any) -> Any:
    return client.post(jobs_url(person), headers=person.headers, json=convert_body(file_id, **params))


def kinds(entries: list[dict[str, Any]], job_id: str) -> list[tuple[str, int]]:
    return [(e["kind"], e["amount"]) for e in entries if e["job_id"] == job_id]


def test_a_succeeded_job_captures_its_measured_cost_and_releases_the_rest(
    client: TestClient,
    people: People,
    job_media: dict[str, Path],
    app: Any,
) -> None:
    owner = paying_owner(people, app, credits=100)
    medium = upload(client, owner, job_media["medium.flac"])  # 90 s: two started minutes held

    accepted = create(client, owner, medium, end_s=30)
    held = billing_of(client, owner)
    done = wait_for_job(client, owner, accepted.json()["id"])

    assert accepted.status_code == 202
    assert accepted.json()["credits"]["held"] == 20
    assert (held["balance"], held["held"], held["available"]) == (100, 20, 80)
    assert done["status"] == "succeeded"
    assert done["credits"]["state"] == "captured"
    assert done["credits"]["charged"] == 10  # it made 30 s: one started minute
    after = billing_of(client, owner)
    assert (after["balance"], after["held"], after["available"]) == (90, 0, 90)
    assert kinds(ledger_entries(client, owner), done["id"]) == [("hold", 20), ("capture", -10), ("release", -10)]
    assert_books_balance(app, owner.workspace_id)


def test_the_plans_allowance_is_used_before_credits(
    client: TestClient,
    people: People,
    job_media: dict[str, Path],
) -> None:
    owner = people.create()
    tone = upload(client, owner, job_media["tone.wav"])  # 5 s

    done = wait_for_job(client, owner, create(client, owner, tone).json()["id"])
    summary = billing_of(client, owner)

    assert done["status"] == "succeeded"
    assert done["credits"]["held"] == 0 and done["credits"]["charged"] == 0
    assert done["credits"]["allowance"]["meter"] == "audio_minutes"
    assert done["credits"]["allowance"]["used"] == pytest.approx(5 / 60, abs=0.02)
    assert summary["allowances"]["audio_minutes"]["used"] == pytest.approx(5 / 60, abs=0.02)
    assert summary["allowances"]["audio_minutes"]["left"] == pytest.approx(55 / 60, abs=0.02)
    assert summary["balance"] == 0
    usage = client.get(
        f"/api/v1/workspaces/{owner.workspace_id}/billing/usage",
        headers=owner.headers,
        params={"meter": "audio_minutes"},
    ).json()
    assert sum(point["quantity"] for point in usage["items"]) == pytest.approx(5 / 60, abs=0.02)


def test_a_job_past_the_allowance_pays_the_rest_in_credits_or_is_refused_with_what_is_missing(
    client: TestClient,
    people: People,
    job_media: dict[str, Path],
    app: Any,
) -> None:
    owner = people.create()
    medium = upload(client, owner, job_media["medium.flac"])  # 90 s: 60 s from the allowance, 30 s paid

    refused = create(client, owner, medium)
    people.grant(owner.workspace_id, 15)
    accepted = create(client, owner, medium)

    assert refused.status_code == 402
    error = refused.json()["error"]
    assert error["code"] == "insufficient_credits"
    assert error["details"]["needed"] == 10 and error["details"]["available"] == 0
    assert error["details"]["allowance_left"] == 1
    assert error["details"]["resets_at"]
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["credits"]["held"] == 10
    assert accepted.json()["credits"]["allowance"]["held"] == 1
    with app.state.db.session() as db:  # the refused request left no job behind
        assert len(db.scalars(select(Job).where(Job.workspace_id == owner.workspace_id)).all()) == 1


def test_with_the_allowance_spent_and_no_credits_a_job_is_refused_as_quota_exceeded(
    client: TestClient,
    people: People,
    job_media: dict[str, Path],
    app: Any,
) -> None:
    owner = people.create()
    use_up_allowance_directly(app, owner)
    tone = upload(client, owner, job_media["tone.wav"])
    before = ledger_entries(client, owner)

    refused = create(client, owner, tone)

    assert refused.status_code == 402
    error = refused.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert error["details"]["allowance_left"] == 0
    assert error["details"]["needed"] == 10
    assert ledger_entries(client, owner) == before
    assert billing_of(client, owner)["allowances"]["audio_minutes"]["left"] == 0


def test_a_failed_job_releases_everything_it_held(
    client: TestClient,
    people: People,
    job_media: dict[str, Path],
    app: Any,
) -> None:
    owner = paying_owner(people, app, credits=50)
    tone = upload(client, owner, job_media["tone.wav"])

    failed = wait_for_job(client, owner, create(client, owner, tone, start_s=30).json()["id"])

    assert failed["status"] == "failed"
    assert failed["credits"]["state"] == "released" and failed["credits"]["charged"] == 0
    assert kinds(ledger_entries(client, owner), failed["id"]) == [("hold", 10), ("release", -10)]
    assert billing_of(client, owner)["available"] == 50
    assert_books_balance(app, owner.workspace_id)


def test_a_retried_job_holds_again_and_is_refused_when_the_credits_are_gone(
    client: TestClient,
    people: People,
    job_media: dict[str, Path],
    superuser: Person,
    app: Any,
) -> None:
    owner = paying_owner(people, app, credits=15)
    tone = upload(client, owner, job_media["tone.wav"])
    job = wait_for_job(client, owner, create(client, owner, tone, start_s=30).json()["id"])

    retried = client.post(f"{job_url(owner, job['id'])}/retry", headers=owner.headers)
    again = wait_for_job(client, owner, job["id"])
    taken = client.post(
        f"/api/v1/admin/workspaces/{owner.workspace_id}/credits",
        headers=superuser.headers,
        json={"credits": -10, "reason": "test: spend the credits"},
    )
    refused = client.post(f"{job_url(owner, job['id'])}/retry", headers=owner.headers)

    assert retried.status_code == 202 and retried.json()["credits"]["holds"] == 2
    assert again["status"] == "failed" and again["credits"]["state"] == "released"
    assert taken.status_code == 201, taken.text
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "insufficient_credits"
    assert client.get(job_url(owner, job["id"]), headers=owner.headers).json()["status"] == "failed"
    assert kinds(ledger_entries(client, owner), job["id"]) == [
        ("hold", 10),
        ("release", -10),
        ("hold", 10),
        ("release", -10),
    ]
    assert assert_books_balance(app, owner.workspace_id).balance == 5


@pytest.mark.parametrize("executor_kind", ["parked"])
def test_a_canceled_queued_job_releases_what_it_held(
    client: TestClient,
    people: People,
    job_media: dict[str, Path],
    app: Any,
) -> None:
    owner = paying_owner(people, app, credits=30)
    job = create(client, owner, upload(client, owner, job_media["tone.wav"])).json()

    canceled = client.post(f"{job_url(owner, job['id'])}/cancel", headers=owner.headers)
    final = client.get(job_url(owner, job["id"]), headers=owner.headers).json()

    assert canceled.status_code == 200, canceled.text
    assert final["status"] == "canceled"
    assert final["credits"]["state"] == "released"
    assert kinds(ledger_entries(client, owner), job["id"]) == [("hold", 10), ("release", -10)]
    assert billing_of(client, owner)["held"] == 0
    assert_books_balance(app, owner.workspace_id)


def paying_owner(people: People, app: Any, *, credits: int) -> Person:
    """Someone whose free minute is used up and who has `credits`: what follows is paid in credits."""
    owner = people.create()
    use_up_allowance_directly(app, owner)
    people.grant(owner.workspace_id, credits)
    return owner


def use_up_allowance_directly(app: Any, person: Person) -> None:
    """The month's free minute, recorded as used (for tests whose jobs never run)."""
    from voxhub.billing.models import AllowanceUse, Subscription
    from voxhub.billing.service import subscription

    with app.state.db.session() as db:
        sub: Subscription = subscription(db, workspace_id=person.workspace_id)
        db.add(
            AllowanceUse(
                workspace_id=person.workspace_id, period_start=sub.allowance_period_start, meter="audio_minutes",
                used=60, held=0,
            )
        )  # fmt: skip


@pytest.mark.parametrize("executor_kind", ["parked"])
def test_a_job_whose_worker_died_is_charged_once_when_another_worker_finishes_it(
    client: TestClient,
    people: People,
    job_media: dict[str, Path],
    app: Any,
) -> None:
    owner = paying_owner(people, app, credits=30)
    job = create(client, owner, upload(client, owner, job_media["tone.wav"])).json()
    database, ctx = app.state.db, app.state.ctx

    with database.session() as db:
        assert jobs.claim(db, ctx=ctx, job_id=job["id"], worker_id="doomed")
    later = utcnow() + timedelta(hours=1)
    with database.session() as db:  # the doomed worker went silent; the reaper gives its job to the queue again
        assert jobs.reap_stale(db, ctx=ctx, now=later) == 1
        db.execute(update(Job).where(Job.id == job["id"]).values(run_after=utcnow()))  # as if that hour passed
    with database.session() as db:
        assert jobs.claim(db, ctx=ctx, job_id=job["id"], worker_id="second")
    with database.session() as db:
        assert jobs.succeed(db, ctx=ctx, job_id=job["id"], worker_id="second", result={"duration_s": 5.0})
    with database.session() as db:  # the first worker wakes up and reports too: it no longer owns the job
        assert jobs.succeed(db, ctx=ctx, job_id=job["id"], worker_id="doomed", result={"duration_s": 5.0}) is None

    final = client.get(job_url(owner, job["id"]), headers=owner.headers).json()
    assert final["status"] == "succeeded" and final["attempts"] == 2
    assert final["credits"]["charged"] == 10
    assert kinds(ledger_entries(client, owner), job["id"]) == [("hold", 10), ("capture", -10)]
    summary = billing_of(client, owner)
    assert (summary["balance"], summary["held"]) == (20, 0)
    assert_books_balance(app, owner.workspace_id)


@pytest.mark.parametrize("executor_kind", ["celery"])
def test_on_celery_workers_a_job_is_charged_by_the_price_it_was_accepted_at(
    client: TestClient,
    people: People,
    job_media: dict[str, Path],
    app: Any,
) -> None:
    # The Celery worker reads the shipped catalog, in which media.convert is free: the price is the one held.
    owner = paying_owner(people, app, credits=30)

    done = wait_for_job(client, owner, create(client, owner, upload(client, owner, job_media["tone.wav"])).json()["id"])

    assert done["status"] == "succeeded"
    assert done["credits"]["charged"] == 10
    assert billing_of(client, owner)["balance"] == 20
    assert_books_balance(app, owner.workspace_id)


def test_a_plans_concurrency_limit_makes_extra_jobs_wait_their_turn(
    client: TestClient,
    people: People,
    job_media: dict[str, Path],
) -> None:
    owner = people.create()
    people.grant(owner.workspace_id, 1000)
    medium = upload(client, owner, job_media["medium.flac"])

    first = create(client, owner, medium, normalize=True).json()
    second = create(client, owner, medium, normalize=True).json()
    done = [wait_for_job(client, owner, job["id"], timeout=120) for job in (first, second)]

    assert [job["status"] for job in done] == ["succeeded", "succeeded"]
    [first_run] = attempts_of(client, owner, first["id"])
    [second_run] = attempts_of(client, owner, second["id"])
    # One at a time: the second started only after the first had finished.
    assert second_run["started_at"] >= first_run["finished_at"]
