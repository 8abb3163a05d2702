"""The free plan does what it lists: a new workspace, with no credits, runs one job of every type out of the box
(issue 11: translation was listed as a free feature, and a new workspace got 402 `insufficient_credits` for it)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.billing.conftest import assert_books_balance, billing_of
from tests.conftest import People, Person
from tests.jobs_helpers import run_job

JOB_TIMEOUT_S = 180.0  # real models on a shared machine: slow is not broken

pytestmark = pytest.mark.usefixtures("nothing_left_running")


def run(client: TestClient, person: Person, body: dict[str, Any]) -> dict[str, Any]:
    """Create a job (it must be accepted, not refused for payment) and wait for it to end."""
    return run_job(client, person, body, timeout=JOB_TIMEOUT_S)


def test_a_new_workspace_runs_one_job_of_every_type_without_credits(
    client: TestClient, people: People, app: Any
) -> None:
    newcomer = people.create()
    assert billing_of(client, newcomer)["plan"] == "free"

    spoken = run(
        client,
        newcomer,
        {"type": "synthesize", "input": {"text": "Rivers shape the land."}, "params": {"format": "wav"}},
    )
    [speech] = spoken["outputs"]
    heard = run(client, newcomer, {"type": "transcribe", "input": {"file_id": speech}, "params": {}})
    translated = run(
        client,
        newcomer,
        {
            "type": "translate",
            "input": {"job_id": heard["id"]},
            "params": {"source_language": "en", "target_language": "pt"},
        },
    )
    converted = run(
        client, newcomer, {"type": "media.convert", "input": {"file_id": speech}, "params": {"format": "mp3"}}
    )

    jobs = {job["type"]: job for job in (spoken, heard, translated, converted)}
    assert {kind: job["status"] for kind, job in jobs.items()} == dict.fromkeys(jobs, "succeeded"), jobs
    for kind in ("synthesize", "transcribe", "translate"):  # paid from the plan's allowances
        assert (jobs[kind]["credits"]["state"], jobs[kind]["credits"]["charged"]) == ("captured", 0), kind
    assert jobs["media.convert"]["credits"] is None  # free in the shipped catalog
    account = billing_of(client, newcomer)
    assert (account["balance"], account["held"]) == (0, 0)
    assert account["allowances"]["translations"]["used"] == 1
    assert account["allowances"]["audio_minutes"]["used"] > 0
    assert account["allowances"]["tts_characters"]["used"] > 0
    assert_books_balance(app, newcomer.workspace_id)
