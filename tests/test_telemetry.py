"""OpenTelemetry: with VOXHUB_OTEL_ENDPOINT set, a real OTLP/HTTP collector receives a span per request, per job run
and stage and per engine call (a hosted voice's too), linked as parent and child and carrying the job and workspace
ids, and the request and job metrics; unset, nothing of OpenTelemetry is loaded or added."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import People
from tests.jobs_helpers import wait_for_job
from tests.otlp_collector import FakeCollector, ReceivedSpan
from tests.voices.fakes import FakeElevenLabs
from tests.voices.test_hosted_voices import RACHEL, store_key, synthesize
from voxhub import __version__, telemetry, worker
from voxhub.config import Settings

SERVER = 2  # Span.SpanKind.SPAN_KIND_SERVER in OTLP
CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"


@pytest.fixture
def collector() -> Iterator[FakeCollector]:
    server = FakeCollector().start()
    yield server
    server.stop()


@pytest.fixture
def settings(settings: Settings, collector: FakeCollector) -> Iterator[Settings]:
    yield settings.model_copy(update={"otel_endpoint": collector.url})
    telemetry.shutdown()  # the next test's app starts with telemetry off


def one(spans: list[ReceivedSpan], what: str) -> ReceivedSpan:
    assert len(spans) == 1, f"{what}: {spans}"
    return spans[0]


def test_a_request_is_a_server_span_named_by_its_route_and_child_of_the_callers_trace(
    client: TestClient, people: People, collector: FakeCollector
) -> None:
    owner = people.create()
    traceparent = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"

    answer = client.get(
        f"/api/v1/workspaces/{owner.workspace_id}/files", headers={**owner.headers, "traceparent": traceparent}
    )
    assert answer.status_code == 200
    assert telemetry.flush()

    route = "/api/v1/workspaces/{workspace_id}/files"
    span = one(collector.spans_named(f"GET {route}"), "the request's span")
    assert span.kind == SERVER
    assert (span.trace_id, span.parent_span_id) == (CALLER_TRACE, CALLER_SPAN)
    assert span.attributes["http.request.method"] == "GET"
    assert span.attributes["http.route"] == route
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["voxhub.workspace.id"] == owner.workspace_id
    assert span.resource["service.name"] == "voxhub"
    assert span.resource["service.version"] == __version__
    assert span.resource["voxhub.process"] == "api"
    durations = [p for p in collector.points if p.metric == "http.server.request.duration"]
    assert any(p.attributes.get("http.route") == route and p.value >= 1 for p in durations), durations


def test_a_job_is_a_span_with_a_child_per_stage_and_the_engine_call_inside_its_stage(
    client: TestClient, people: People, collector: FakeCollector
) -> None:
    owner = people.create()
    people.grant(owner.workspace_id, 1000)
    created = client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/jobs",
        headers=owner.headers,
        json={"type": "synthesize", "input": {"text": "Rivers shape the land."}, "params": {"format": "wav"}},
    )
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]
    assert wait_for_job(client, owner, job_id)["status"] == "succeeded"
    assert telemetry.flush()

    ids = {"voxhub.job.id": job_id, "voxhub.workspace.id": owner.workspace_id}
    job = one(collector.spans_named("job synthesize"), "the job's span")
    stage = one(collector.spans_named("stage synthesizing"), "the synthesizing stage")
    engine = one(collector.spans_named("engine tts.synthesize"), "the engine call")
    stages = [span for span in collector.spans if span.name.startswith("stage ")]
    assert {span.name for span in stages} >= {"stage preparing", "stage synthesizing", "stage storing"}
    assert {span.parent_span_id for span in stages} == {job.span_id}
    assert engine.parent_span_id == stage.span_id
    assert job.trace_id == stage.trace_id == engine.trace_id
    for span in (job, stage, engine):
        assert {key: span.attributes.get(key) for key in ids} == ids, span.name
    assert job.attributes["voxhub.job.type"] == "synthesize"
    assert stage.attributes["voxhub.job.stage"] == "synthesizing"
    assert engine.attributes["voxhub.engine.model"] == "en_US-joe-medium"
    assert engine.attributes["voxhub.engine.name"] == "local"
    assert engine.attributes["voxhub.engine.duration_ms"] > 0
    finished = [p for p in collector.points if p.metric == "voxhub.jobs.finished"]
    assert [(p.attributes, p.value) for p in finished] == [
        ({"voxhub.job.type": "synthesize", "voxhub.job.status": "succeeded"}, 1.0)
    ]


def test_a_hosted_voice_is_an_engine_span_named_for_its_provider_inside_the_stage(
    client: TestClient, people: People, collector: FakeCollector
) -> None:
    owner = people.create()
    people.grant(owner.workspace_id, 1000)
    with FakeElevenLabs() as elevenlabs:
        store_key(client, owner, "elevenlabs", elevenlabs)
        job = synthesize(client, owner, voice=RACHEL, format="wav")
        said = elevenlabs.calls("POST", "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM")
    assert job["status"] == "succeeded", job
    assert telemetry.flush()

    stage = one(collector.spans_named("stage synthesizing"), "the synthesizing stage")
    calls = collector.spans_named("engine tts.synthesize")
    assert len(calls) == len(said) >= 1, [span.name for span in collector.spans]  # a span per request to ElevenLabs
    for engine in calls:
        assert engine.parent_span_id == stage.span_id
        assert engine.attributes["voxhub.engine.name"] == "elevenlabs"
        assert engine.attributes["voxhub.engine.model"] == "eleven_multilingual_v2"
        assert engine.attributes["voxhub.job.id"] == job["id"]


def test_a_celery_worker_process_turns_telemetry_on_from_its_environment(
    collector: FakeCollector, redis_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `voxhub worker` makes once per process (after the fork): its settings come from the environment, and
    VOXHUB_OTEL_ENDPOINT there turns telemetry on, naming the process a worker."""
    telemetry.shutdown()
    for name, value in {
        "OTEL_ENDPOINT": collector.url,
        "DATA_DIR": str(tmp_path),
        "SECRET_KEY": "w" * 40,
        "QUEUE_URL": redis_url,
    }.items():
        monkeypatch.setenv(f"VOXHUB_{name}", value)
    monkeypatch.setattr(worker, "_state", None)

    state = worker.worker_state()
    try:
        with telemetry.span("probe", {"voxhub.job.id": "j-1"}):
            pass
        assert telemetry.flush()
    finally:
        telemetry.shutdown()
        state.ctx.close()
        state.database.dispose()

    probe = one(collector.spans_named("probe"), "the worker's span")
    assert probe.resource["voxhub.process"] == "worker"
    assert probe.attributes["voxhub.job.id"] == "j-1"


def test_with_no_endpoint_nothing_of_opentelemetry_is_imported_or_added(tmp_path: Any) -> None:
    """In a fresh interpreter: the app, the worker's module and an engine factory run without loading the SDK or the
    exporter, and the engine is the plain one."""
    script = f"""
import sys
from voxhub.app import create_app
from voxhub.config import Settings
from voxhub.telemetry import TelemetryMiddleware
import voxhub.worker, voxhub.engines as engines

settings = Settings(_env_file=None, data_dir={str(tmp_path)!r}, secret_key="k" * 40, run_periodic_tasks=False)
app = create_app(settings)
engine = engines.embedder(settings, engine="remote")
assert type(engine).__name__ == "RemoteEmbedder", type(engine)
assert not any(m.cls is TelemetryMiddleware for m in app.user_middleware)
# FastAPI itself imports the OpenTelemetry API when it is installed; the SDK and the exporter are voxhub's to load.
loaded = sorted(name for name in sys.modules if name.startswith(("opentelemetry.sdk", "opentelemetry.exporter")))
assert loaded == [], loaded
print("off")
"""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("VOXHUB_", "OTEL_"))}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "off"
