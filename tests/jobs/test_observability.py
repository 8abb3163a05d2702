"""What operators watch: /metrics (jobs by type and state, queue depth, durations) and the superusers' queue view."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import People
from tests.jobs_helpers import attempts_of, get_job, start, upload, wait_for_job, wait_until_converting


def scrape(client: TestClient) -> dict[str, list[tuple[dict[str, str], float]]]:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples: Mapping[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float | None:
    found = [v for sample_labels, v in samples.get(name, []) if sample_labels == labels]
    return found[0] if found else None


def test_metrics_and_the_queue_view_count_jobs_by_state_and_queue(
    client: TestClient, people: People, media: dict[str, Path], app: Any, executor_kind: str
) -> None:
    owner = people.create()
    short, long = upload(client, owner, media["tone.wav"]), upload(client, owner, media["long.flac"])
    assert wait_for_job(client, owner, start(client, owner, short)["id"])["status"] == "succeeded"
    running = start(client, owner, long, normalize=True)
    wait_until_converting(client, owner, running["id"])
    waiting = start(client, owner, short)
    assert get_job(client, owner, waiting["id"])["status"] == "queued"
    root = people.create("root@example.com", name="Root", superuser=True).headers

    samples = scrape(client)
    overview = client.get("/api/v1/admin/queue", headers=root)
    refused = client.get("/api/v1/admin/queue", headers=owner.headers)

    for state, count in (("succeeded", 1), ("running", 1), ("queued", 1)):
        assert value(samples, "voxhub_jobs", type="media.convert", state=state) == count, state
    assert value(samples, "voxhub_queue_depth", queue="media") == 1
    assert value(samples, "voxhub_queue_depth", queue="asr") == 0  # an idle queue reads 0, not "no data"
    assert (value(samples, "voxhub_queue_oldest_seconds", queue="media") or 0) >= 0
    if executor_kind == "local":  # durations are observed where jobs run: here, in this process
        assert (value(samples, "voxhub_job_duration_seconds_count", type="media.convert") or 0) >= 1
        assert (value(samples, "voxhub_job_wait_seconds_count", type="media.convert") or 0) >= 2
    assert overview.status_code == 200, overview.text
    body = overview.json()
    assert body["queues"]["media"] == {"succeeded": 1, "running": 1, "queued": 1}
    assert body["oldest_queued_age_s"] is not None and body["oldest_queued_age_s"] >= 0
    assert attempts_of(client, owner, running["id"])[0]["worker_id"] in body["workers_last_minute"]
    assert body["job_types"]["media.convert"] == "media"
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "superuser_required"
