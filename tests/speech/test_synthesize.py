"""synthesize end to end: text becomes a downloadable audio file in the format and sample rate asked for, as long as
the text takes to say at the asked speed, in a piper or espeak-ng voice; a request it cannot serve is refused before
anything is queued."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.audio import decoded_seconds, probe
from tests.conftest import People, Person
from tests.jobs_helpers import download, read_events
from tests.speech.conftest import create_job, error_of, job_count, run_job, transcribe, transcript_json
from voxhub.config import Settings
from voxhub.engines.textnorm import estimate_seconds

SENTENCE = "The quick brown fox jumps over the lazy dog."

# format → (sample rate asked, codec ffprobe finds, sample rate of the file, content type)
FORMATS: dict[str, tuple[int | None, str, int, str]] = {
    "mp3": (22050, "mp3", 22050, "audio/mpeg"),
    "wav": (16000, "pcm_s16le", 16000, "audio/wav"),
    "flac": (44100, "flac", 44100, "audio/flac"),
    "opus": (48000, "opus", 48000, "audio/ogg"),
    "aac": (24000, "aac", 24000, "audio/aac"),
    "pcm": (None, "pcm_s16le", 24000, "audio/pcm"),  # raw samples, 24 kHz unless asked otherwise
}


def file_info(client: TestClient, person: Person, file_id: str) -> dict[str, Any]:
    answer = client.get(f"/api/v1/workspaces/{person.workspace_id}/files/{file_id}", headers=person.headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def plausible_for(text: str, seconds: float, *, speed: float = 1.0) -> bool:
    """Whether `seconds` is about as long as `text` takes to say: within a factor of two and a half either way."""
    expected = estimate_seconds(text, speed=speed)
    return expected / 2.5 < seconds < expected * 2.5


@pytest.mark.parametrize("fmt", FORMATS)
def test_speech_comes_out_in_each_format_at_the_asked_sample_rate(
    client: TestClient, people: People, settings: Settings, tmp_path: Path, fmt: str
) -> None:
    owner = people.create()
    asked, codec, rate, content_type = FORMATS[fmt]
    params: dict[str, Any] = {"format": fmt} | ({"sample_rate": asked} if asked else {})

    job = run_job(client, owner, "synthesize", {"text": SENTENCE}, **params)

    assert job["status"] == "succeeded", job
    assert job["queue"] == "tts" and job["progress"] == 100
    [file_id] = job["outputs"]
    result = job["result"]
    assert result["file_id"] == file_id
    assert result["voice"] == "en_US-joe-medium" and result["engine"] == "piper"
    assert result["format"] == fmt and result["sample_rate"] == rate
    assert result["characters"] == len(SENTENCE)
    info = file_info(client, owner, file_id)
    assert info["kind"] == "output" and info["content_type"] == content_type
    assert info["media"]["sample_rate"] == rate and info["media"]["channels"] == 1
    audio = download(client, owner, settings, file_id, tmp_path / f"speech.{fmt}")
    assert audio.stat().st_size == info["size_bytes"] == result["size_bytes"]
    if fmt == "pcm":
        seconds = audio.stat().st_size / 2 / rate  # 16-bit mono samples, nothing else
        assert info["media"]["duration_s"] == pytest.approx(seconds, abs=0.01)
    else:
        found = probe(audio)
        assert found["stream"]["codec_name"] == codec
        assert int(found["stream"]["sample_rate"]) == rate and found["stream"]["channels"] == 1
        seconds = decoded_seconds(audio)
    assert result["duration_s"] == pytest.approx(seconds, abs=0.15)
    assert plausible_for(SENTENCE, seconds), seconds


def test_mp3_speech_is_encoded_at_a_bitrate_fit_for_speech(
    client: TestClient, people: People, settings: Settings, tmp_path: Path
) -> None:
    owner = people.create()

    job = run_job(client, owner, "synthesize", {"text": SENTENCE}, format="mp3")

    assert job["status"] == "succeeded", job
    audio = download(client, owner, settings, job["outputs"][0], tmp_path / "speech.mp3")
    stream = probe(audio)["stream"]
    assert int(stream["sample_rate"]) == 22050  # the voice's own rate, where lame alone would pick 32 kb/s
    assert int(stream["bit_rate"]) >= 64000


def test_speaking_twice_as_fast_makes_clearly_shorter_audio(
    client: TestClient, people: People, settings: Settings, tmp_path: Path
) -> None:
    owner = people.create()

    seconds = {}
    for speed in (1.0, 2.0):
        job = run_job(client, owner, "synthesize", {"text": SENTENCE}, format="wav", speed=speed)
        assert job["status"] == "succeeded", job
        seconds[speed] = decoded_seconds(
            download(client, owner, settings, job["outputs"][0], tmp_path / f"{speed}.wav")
        )

    assert seconds[2.0] < seconds[1.0] * 0.7, seconds
    assert plausible_for(SENTENCE, seconds[2.0], speed=2.0), seconds


@pytest.mark.parametrize(
    ("params", "voice"),
    [({"voice": "espeak:pt-br"}, "espeak:pt-br"), ({"language": "pt"}, "espeak:pt")],
    ids=["named-voice", "by-language"],
)
def test_espeak_speaks_what_piper_has_no_voice_for(
    client: TestClient, people: People, settings: Settings, tmp_path: Path, params: dict[str, Any], voice: str
) -> None:
    owner = people.create()
    text = "Bom dia. A reunião começa às nove horas."

    job = run_job(client, owner, "synthesize", {"text": text}, format="wav", **params)

    assert job["status"] == "succeeded", job
    assert job["result"]["voice"] == voice and job["result"]["engine"] == "espeak-ng"
    audio = download(client, owner, settings, job["outputs"][0], tmp_path / "pt.wav")
    assert int(probe(audio)["stream"]["sample_rate"]) == 22050  # espeak-ng's own rate, not resampled
    assert plausible_for(text, decoded_seconds(audio))


@pytest.mark.parametrize("params", [{}, {"voice": "alloy"}], ids=["default-voice", "openai-voice-name"])
def test_without_piper_a_voice_chosen_for_the_text_speaks_english(
    client: TestClient, people: People, monkeypatch: pytest.MonkeyPatch, params: dict[str, Any]
) -> None:
    """The default voice (a piper one) is not installed: the text's language is not named, so it is taken as English
    and spoken by espeak-ng's English voice, not by the first voice espeak-ng lists (Afrikaans)."""
    monkeypatch.setitem(sys.modules, "piper", None)  # the piper package is not installed, as far as voxhub can tell
    owner = people.create()

    job = run_job(client, owner, "synthesize", {"text": SENTENCE}, format="wav", **params)

    assert job["status"] == "succeeded", job
    assert job["result"]["engine"] == "espeak-ng"
    assert job["result"]["voice"] == "espeak:en-us"  # espeak-ng's American English


def test_a_long_text_reports_its_stages_and_progress_as_it_goes(client: TestClient, people: People) -> None:
    owner = people.create()
    text = " ".join(
        [
            "The harbour was quiet in the early morning.",
            "A few boats came back with the night's catch.",
            "Gulls circled over the market stalls.",
            "By eight o'clock the first buyers had arrived.",
            "Soon the whole street was loud with voices.",
        ]
    )

    job = run_job(client, owner, "synthesize", {"text": text}, format="mp3")

    assert job["status"] == "succeeded", job
    events = read_events(client, owner, job["id"])
    stages = [(event.data["stage"], event.data["progress"]) for event in events if event.kind == "stage"]
    assert stages == [("preparing", 0), ("synthesizing", 2), ("encoding", 90), ("storing", 95)]
    # Between the stages, progress as sentences are done (at most twice a second): it only ever goes up.
    reported = [event.data["progress"] for event in events if event.kind in ("stage", "progress")]
    assert reported == sorted(reported)
    assert job["progress"] == 100


def test_money_is_read_as_an_amount(client: TestClient, people: People) -> None:
    owner = people.create()
    spoken = run_job(client, owner, "synthesize", {"text": "The ticket costs $25 at the door."}, format="wav")
    assert spoken["status"] == "succeeded", spoken

    heard = transcribe(client, owner, spoken["outputs"][0])

    assert heard["status"] == "succeeded", heard
    text = " ".join(segment["text"] for segment in transcript_json(client, owner, heard["id"])["segments"])
    assert "25" in text, text
    assert "ticket" in text.lower()


@pytest.mark.parametrize(
    ("job_input", "params", "code", "field"),
    [
        ({"text": ""}, {}, "validation_error", "input.text"),
        ({"text": " \n\t "}, {}, "validation_error", "input.text"),
        ({"text": "word " * 20_000 + "end"}, {}, "validation_error", "input.text"),  # 100,003 characters
        ({"text": "\U0001f600 \U0001f389"}, {}, "empty_text", "input.text"),  # nothing a voice can say
        ({"text": SENTENCE}, {"voice": "en_US-nobody-high"}, "voice_not_found", None),
        ({"text": SENTENCE}, {"language": "xx"}, "unsupported_language", None),
        ({"text": SENTENCE}, {"speed": 0.1}, "validation_error", "params.speed"),
        ({"text": SENTENCE}, {"speed": 4.5}, "validation_error", "params.speed"),
        ({"text": SENTENCE}, {"format": "ogg"}, "validation_error", "params.format"),
        ({"text": SENTENCE}, {"sample_rate": 96000}, "validation_error", "params.sample_rate"),
    ],
    ids=[
        "empty",
        "whitespace",
        "too-long",
        "emoji-only",
        "unknown-voice",
        "unknown-language",
        "too-slow",
        "too-fast",
        "unknown-format",
        "rate-too-high",
    ],
)
def test_a_request_it_cannot_serve_is_refused_and_nothing_is_queued(
    client: TestClient,
    people: People,
    job_input: dict[str, Any],
    params: dict[str, Any],
    code: str,
    field: str | None,
) -> None:
    owner = people.create()

    error = error_of(create_job(client, owner, "synthesize", job_input, **params), 422)

    assert error["code"] == code
    if field is not None:
        assert error["details"]["fields"][0]["field"] == field
    if code == "voice_not_found":
        assert "/api/v1/voices" in error["message"]
    assert job_count(client, owner) == 0


def test_text_the_voice_makes_no_sound_for_fails_once_with_its_code(client: TestClient, people: People) -> None:
    owner = people.create()

    job = run_job(client, owner, "synthesize", {"text": "..."})

    assert job["status"] == "failed", job
    assert job["error"]["code"] == "synthesis_failed"
    assert job["attempts"] == 1  # not retried as if it were a crash
    assert job["outputs"] == []
