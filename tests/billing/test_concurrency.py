"""Credits are exact under load: many requests racing for the last credits get exactly what was paid for."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.billing.conftest import assert_books_balance
from tests.conftest import People, Person
from tests.fixtures.workers import parked_queue_url
from tests.live_server import LiveServer
from voxhub.billing.catalog import load_catalog
from voxhub.config import Settings

CLIENTS = 50
AFFORDABLE = 20
# The free plan includes some translations a month (it lists translation as a feature); they go first.
INCLUDED = load_catalog(None).plans["free"].allowances["translations"] or 0
TRANSLATE = {
    "type": "translate",
    "input": {"text": "The tide came in while we slept."},
    "params": {"source_language": "en", "target_language": "pt"},
}


@pytest.fixture
def settings(settings: Settings, redis_url: str) -> Settings:
    # Jobs go to a Redis queue no worker reads: they stay queued, holding their credits, until canceled.
    return settings.model_copy(update={"queue_url": parked_queue_url(redis_url)})


def test_fifty_concurrent_jobs_against_credits_for_twenty_accept_exactly_twenty_past_the_allowance(
    people: People, live_server: LiveServer, app: Any
) -> None:
    assert 0 < INCLUDED < CLIENTS - AFFORDABLE
    owner = people.create()
    people.grant(owner.workspace_id, AFFORDABLE * 5)  # a translation costs 5 credits
    url = f"{live_server.url}/api/v1/workspaces/{owner.workspace_id}/jobs"
    start = threading.Barrier(CLIENTS)

    def create_job(_: int) -> httpx.Response:
        with httpx.Client(timeout=60) as http:
            start.wait()
            return http.post(url, headers=owner.headers, json=TRANSLATE)

    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(create_job, range(CLIENTS)))

    statuses = Counter(answer.status_code for answer in answers)
    accepted_count = INCLUDED + AFFORDABLE
    assert statuses == {202: accepted_count, 402: CLIENTS - accepted_count}, [
        a.text for a in answers if a.status_code >= 500
    ]
    refusals = {answer.json()["error"]["code"] for answer in answers if answer.status_code == 402}
    assert refusals == {"quota_exceeded"}  # the allowance is used up and so are the credits
    account = assert_books_balance(app, owner.workspace_id)
    assert (account.balance, account.held) == (AFFORDABLE * 5, AFFORDABLE * 5)
    assert translations_allowance(live_server, owner) == {"included": INCLUDED, "used": 0, "held": INCLUDED, "left": 0}

    accepted = [answer.json()["id"] for answer in answers if answer.status_code == 202]
    with httpx.Client(timeout=60) as http:
        for job_id in accepted:
            canceled = http.post(f"{url}/{job_id}/cancel", headers=owner.headers)
            assert canceled.status_code == 200, canceled.text
        ledger = http.get(
            f"{live_server.url}/api/v1/workspaces/{owner.workspace_id}/billing/ledger",
            headers=owner.headers,
            params={"limit": 200},
        ).json()["items"]

    account = assert_books_balance(app, owner.workspace_id)
    assert (account.balance, account.held) == (AFFORDABLE * 5, 0)
    assert Counter(entry["kind"] for entry in ledger) == {"grant": 1, "hold": AFFORDABLE, "release": AFFORDABLE}
    assert translations_allowance(live_server, owner)["left"] == INCLUDED


def translations_allowance(live_server: LiveServer, owner: Person) -> dict[str, Any]:
    with httpx.Client(timeout=60) as http:
        answer = http.get(f"{live_server.url}/api/v1/workspaces/{owner.workspace_id}/billing", headers=owner.headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["allowances"]["translations"])


def test_concurrent_jobs_of_one_workspace_never_use_more_allowance_than_the_plan_includes(
    people: People, live_server: LiveServer, app: Any
) -> None:
    # Synthesis draws on the free plan's 20,000 characters a month: 25 requests of 1,000 characters race for it,
    # with no credits to fall back on.
    owner = people.create()
    url = f"{live_server.url}/api/v1/workspaces/{owner.workspace_id}/jobs"
    body = {"type": "synthesize", "input": {"text": ("Waves. " * 143)[:1000]}, "params": {"format": "wav"}}
    start = threading.Barrier(25)

    def create_job(_: int) -> httpx.Response:
        with httpx.Client(timeout=60) as http:
            start.wait()
            return http.post(url, headers=owner.headers, json=body)

    with ThreadPoolExecutor(25) as pool:
        answers = list(pool.map(create_job, range(25)))

    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {202: 20, 402: 5}, [a.text for a in answers if a.status_code not in (202, 402)]
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 402} == {"quota_exceeded"}
    with httpx.Client(timeout=60) as http:
        summary = http.get(
            f"{live_server.url}/api/v1/workspaces/{owner.workspace_id}/billing", headers=owner.headers
        ).json()
    assert summary["allowances"]["tts_characters"]["held"] == 20_000
    assert summary["allowances"]["tts_characters"]["left"] == 0
    assert (summary["balance"], summary["held"]) == (0, 0)
