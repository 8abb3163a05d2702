"""media.convert end to end on each executor: the output is a downloadable File in the asked format, trimmed and
loudness-normalised as asked; input it cannot work with fails the job with a clear code and leaves nothing behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.audio import decoded_seconds, loudness_lufs, probe
from tests.conftest import People
from tests.fixtures.workers import local_only
from tests.jobs_helpers import attempts_of, download, get_job, output_files, start, upload, wait_for_job
from voxhub.config import Settings

# format → (params, codec, sample rate, channels, MIME type) of what comes out
FORMATS: dict[str, tuple[dict[str, Any], str, int, int, str]] = {
    "mp3": ({"sample_rate": 22050, "channels": 1, "bitrate_kbps": 64}, "mp3", 22050, 1, "audio/mpeg"),
    "wav": ({"sample_rate": 16000, "channels": 1}, "pcm_s16le", 16000, 1, "audio/wav"),
    "flac": ({"sample_rate": 48000, "channels": 2}, "flac", 48000, 2, "audio/flac"),
    "opus": ({"channels": 1, "bitrate_kbps": 32}, "opus", 48000, 1, "audio/ogg"),
    "aac": ({"sample_rate": 44100, "channels": 2, "bitrate_kbps": 96}, "aac", 44100, 2, "audio/aac"),
    "m4a": ({"sample_rate": 24000, "channels": 1}, "aac", 24000, 1, "audio/mp4"),
}


# Every format on the local executor; on Celery, what differs is where the job runs, not how ffmpeg encodes.
@pytest.mark.parametrize(("executor_kind", "fmt"), [*(("local", fmt) for fmt in FORMATS), ("celery", "m4a")])
def test_convert_makes_a_downloadable_file_in_the_asked_format_rate_channels_and_length(
    client: TestClient, people: People, media: dict[str, Path], settings: Settings, tmp_path: Path, fmt: str
) -> None:
    owner = people.create()
    source = upload(client, owner, media["tone.wav"])
    params, codec, rate, channels, mime = FORMATS[fmt]

    accepted = start(client, owner, source, format=fmt, start_s=1.5, end_s=3.5, **params)
    job = wait_for_job(client, owner, accepted["id"])

    assert accepted["status"] == "queued"
    assert accepted["type"] == "media.convert" and accepted["queue"] == "media"
    assert job["status"] == "succeeded", job
    assert job["progress"] == 100
    assert job["attempts"] == 1
    assert job["error"] is None
    assert job["timings"]["started_at"] and job["timings"]["finished_at"]
    assert len(job["outputs"]) == 1
    output_id = job["outputs"][0]
    assert job["result"]["file_id"] == output_id
    assert job["result"]["format"] == fmt
    assert abs(job["result"]["duration_s"] - 2.0) < 0.15
    [listed] = output_files(client, owner)
    assert listed["id"] == output_id
    assert listed["kind"] == "output" and listed["status"] == "ready"
    assert listed["filename"] == f"tone.{'m4a' if fmt == 'm4a' else fmt}"
    assert listed["content_type"] == mime
    found = probe(download(client, owner, settings, output_id, tmp_path / f"out.{fmt}"))
    assert found["stream"]["codec_name"] == codec
    assert int(found["stream"]["sample_rate"]) == rate
    assert found["stream"]["channels"] == channels
    assert abs(decoded_seconds(tmp_path / f"out.{fmt}") - 2.0) < 0.1


def test_normalize_brings_quiet_audio_to_the_podcast_loudness_target(
    client: TestClient, people: People, media: dict[str, Path], settings: Settings, tmp_path: Path
) -> None:
    owner = people.create()
    source = upload(client, owner, media["quiet.wav"])

    job = wait_for_job(client, owner, start(client, owner, source, format="flac", normalize=True)["id"])

    assert job["status"] == "succeeded", job
    output = download(client, owner, settings, job["outputs"][0], tmp_path / "loud.flac")
    assert loudness_lufs(media["quiet.wav"]) < -35
    assert abs(loudness_lufs(output) - (-16.0)) <= 2.0


@local_only
def test_normalize_honours_another_target(
    client: TestClient, people: People, media: dict[str, Path], settings: Settings, tmp_path: Path
) -> None:
    owner = people.create()
    source = upload(client, owner, media["quiet.wav"])

    job = wait_for_job(client, owner, start(client, owner, source, format="wav", normalize=True, target_lufs=-23)["id"])

    output = download(client, owner, settings, job["outputs"][0], tmp_path / "broadcast.wav")
    assert abs(loudness_lufs(output) - (-23.0)) <= 2.0


def test_a_trim_past_the_end_of_the_input_fails_at_once_with_its_code_and_no_output(
    client: TestClient, people: People, media: dict[str, Path]
) -> None:
    owner = people.create()
    source = upload(client, owner, media["tone.wav"])

    job = wait_for_job(client, owner, start(client, owner, source, format="mp3", start_s=10)["id"])

    assert job["status"] == "failed"
    assert job["error"]["code"] == "trim_out_of_range"
    assert "past the end" in job["error"]["message"]
    assert job["attempts"] == 1  # bad input is not retried
    assert job["outputs"] == []
    assert output_files(client, owner) == []
    [attempt] = attempts_of(client, owner, job["id"])
    assert attempt["outcome"] == "failed" and attempt["error_code"] == "trim_out_of_range"


@local_only
def test_the_end_of_a_trim_past_the_input_stops_at_its_end(
    client: TestClient, people: People, media: dict[str, Path], settings: Settings, tmp_path: Path
) -> None:
    owner = people.create()
    source = upload(client, owner, media["tone.wav"])

    job = wait_for_job(client, owner, start(client, owner, source, format="wav", start_s=3, end_s=60)["id"])

    assert job["status"] == "succeeded", job
    output = download(client, owner, settings, job["outputs"][0], tmp_path / "tail.wav")
    assert abs(decoded_seconds(output) - 2.0) < 0.1
    assert get_job(client, owner, job["id"])["result"]["duration_s"] == pytest.approx(2.0, abs=0.1)
