"""A hosted voice is traced as a local engine is: with VOXHUB_OTEL_ENDPOINT set, a synthesis job that speaks with
an ElevenLabs voice has an `engine tts.synthesize` span, named for the provider, inside its synthesizing stage."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.conftest import People
from tests.otlp_collector import FakeCollector
from tests.voices.fakes import FakeElevenLabs
from tests.voices.test_hosted_voices import RACHEL, store_key, synthesize
from voxhub import telemetry
from voxhub.config import Settings


@pytest.fixture
def collector() -> Iterator[FakeCollector]:
    server = FakeCollector().start()
    yield server
    server.stop()


@pytest.fixture
def settings(settings: Settings, collector: FakeCollector) -> Iterator[Settings]:
    yield settings.model_copy(update={"otel_endpoint": collector.url})
    telemetry.shutdown()  # the next test's app starts with telemetry off


def test_an_elevenlabs_voice_is_an_engine_span_inside_the_synthesizing_stage(
    client: TestClient, people: People, elevenlabs: FakeElevenLabs, collector: FakeCollector
) -> None:
    owner = people.create()
    store_key(client, owner, "elevenlabs", elevenlabs)

    job = synthesize(client, owner, voice=RACHEL, format="wav")
    assert job["status"] == "succeeded", job
    assert telemetry.flush()

    [stage] = collector.spans_named("stage synthesizing")
    calls = collector.spans_named("engine tts.synthesize")
    assert calls, [span.name for span in collector.spans]
    for engine in calls:
        assert engine.parent_span_id == stage.span_id
        assert engine.attributes["voxhub.engine.name"] == "elevenlabs"
        assert engine.attributes["voxhub.engine.model"] == "eleven_multilingual_v2"
        assert engine.attributes["voxhub.job.id"] == job["id"]
    assert len(calls) == len(elevenlabs.calls("POST", "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM")), calls
