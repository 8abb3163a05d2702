"""The OpenAI-compatible audio API, called as OpenAI's own Python client and its curl examples call it, on the real
Whisper base model and piper voice."""

from __future__ import annotations

import itertools
import re
import sys
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from fastapi.testclient import TestClient
from openai import OpenAI
from sqlalchemy import select

from tests.audio import decoded_seconds, ffmpeg
from tests.conftest import Person
from tests.live_server import LiveServer
from tests.openai_compat.conftest import Caller, Clips
from tests.openai_compat.helpers import SENTENCE, create_api_key, ffprobe, word_error_rate, words_of
from voxhub.billing.models import AllowanceUse, CreditAccount, SyncCharge
from voxhub.billing.service import subscription
from voxhub.config import Settings
from voxhub.engines.textnorm import estimate_seconds

SHORT_TEXT = "Hello from voxhub. This is a short test of the speech route."
OPENAI_ERROR_KEYS = {"message", "type", "param", "code"}


def openai_client(live_server: LiveServer, key: str) -> OpenAI:
    return OpenAI(base_url=f"{live_server.url}/v1", api_key=key, max_retries=0, timeout=120)


@pytest.fixture
def oai(live_server: LiveServer, caller: Caller) -> OpenAI:
    """OpenAI's client pointed at voxhub with a `write` key."""
    return openai_client(live_server, caller.key)


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=120) as session:
        yield session


def transcribe(oai: OpenAI, path: Path, **options: Any) -> Any:
    with path.open("rb") as audio:
        return oai.audio.transcriptions.create(file=audio, **{"model": "whisper-1", **options})


def seconds(stamp: str) -> float:
    hours, minutes, rest = stamp.replace(",", ".").split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(rest)


def parse_cues(document: str) -> list[tuple[float, float, str]]:
    """(start, end, text) of each SubRip or WebVTT cue."""
    cues = []
    for block in re.split(r"\n\s*\n", document.strip()):
        lines = block.strip().splitlines()
        timing = next((index for index, line in enumerate(lines) if "-->" in line), None)
        if timing is None:
            continue
        start, end = (part.strip() for part in lines[timing].split("-->"))
        cues.append((seconds(start), seconds(end.split()[0]), " ".join(lines[timing + 1 :])))
    return cues


def openai_error(exc: openai.APIStatusError) -> dict[str, Any]:
    """The error as the server sent it, checked to be in OpenAI's shape."""
    body = exc.response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == OPENAI_ERROR_KEYS, body
    return dict(body["error"])


# ---- transcriptions ----


def test_transcription_as_json_hears_the_sentence(oai: OpenAI, clips: Clips) -> None:
    result = transcribe(oai, clips.speech_wav)
    assert word_error_rate(SENTENCE, result.text) <= 0.15, result.text


@pytest.mark.parametrize("response_format", ["srt", "vtt"])
def test_transcription_as_subtitles(oai: OpenAI, clips: Clips, response_format: str) -> None:
    document = transcribe(oai, clips.speech_mp3, response_format=response_format, language="en")
    assert isinstance(document, str)
    assert document.startswith("WEBVTT\n" if response_format == "vtt" else "1\n00:00:")
    cues = parse_cues(document)
    duration = decoded_seconds(clips.speech_mp3)
    assert cues, document
    for (start, end, _text), (next_start, _next_end, _next_text) in itertools.pairwise(cues):
        assert start < end <= next_start, document
    assert cues[-1][1] <= duration + 0.05
    assert word_error_rate(SENTENCE, " ".join(text for _start, _end, text in cues)) <= 0.15, document


def test_verbose_json_has_openai_segments_and_word_timestamps(oai: OpenAI, clips: Clips) -> None:
    result = transcribe(
        oai, clips.speech_wav, response_format="verbose_json", timestamp_granularities=["word", "segment"]
    )
    body = result.to_dict()
    assert set(body) == {"task", "language", "duration", "text", "segments", "words"}
    assert body["task"] == "transcribe"
    assert body["language"] == "english"
    duration = decoded_seconds(clips.speech_wav)
    assert body["duration"] == pytest.approx(duration, abs=0.1)
    assert word_error_rate(SENTENCE, body["text"]) <= 0.15, body["text"]

    segments = body["segments"]
    assert [segment["id"] for segment in segments] == list(range(len(segments)))
    for segment in segments:
        assert set(segment) == {
            "id",
            "seek",
            "start",
            "end",
            "text",
            "tokens",
            "temperature",
            "avg_logprob",
            "compression_ratio",
            "no_speech_prob",
        }
        assert 0 <= segment["start"] < segment["end"] <= duration + 0.01
        assert segment["tokens"] == [] and segment["temperature"] == 0.0
        assert segment["avg_logprob"] < 0 and 0 <= segment["no_speech_prob"] <= 1 and segment["compression_ratio"] > 0
    assert " ".join(segment["text"] for segment in segments) == body["text"]

    words = body["words"]
    assert len(words) == len(words_of(body["text"]))
    starts = [word["start"] for word in words]
    assert starts == sorted(starts)
    for word in words:
        assert set(word) == {"word", "start", "end"}
        assert word["word"] == word["word"].strip() != ""
        assert 0 <= word["start"] <= word["end"] <= duration + 0.01
    assert word_error_rate(SENTENCE, " ".join(word["word"] for word in words)) <= 0.15


def test_silence_is_empty_text_not_an_error(oai: OpenAI, clips: Clips) -> None:
    body = transcribe(oai, clips.silence, response_format="verbose_json", language="en").to_dict()
    assert body["text"] == "" and body["segments"] == []
    assert body["duration"] == pytest.approx(2.0, abs=0.05)


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # OpenAI's client marks translations so
def test_translation_into_english(oai: OpenAI, clips: Clips) -> None:
    with clips.spanish_wav.open("rb") as audio:
        result = oai.audio.translations.create(model="whisper-1", file=audio, response_format="verbose_json")
    body = result.to_dict()
    assert body["task"] == "translate"
    assert body["language"] == "english"  # the language of the output, as OpenAI reports it
    heard = set(words_of(str(body["text"])))
    assert {"good", "morning", "water", "please"} <= heard, body["text"]
    assert "words" not in body and body["segments"]


def test_curl_style_multipart_requests(http: httpx.Client, caller: Caller, clips: Clips) -> None:
    """As OpenAI's curl examples send them: `-F file=@speech.mp3 -F model=whisper-1 -F response_format=text`."""
    with clips.speech_mp3.open("rb") as audio:
        answer = http.post(
            "/v1/audio/transcriptions",
            headers=caller.headers,
            files={"file": ("speech.mp3", audio, "audio/mpeg")},
            data={"model": "whisper-1", "response_format": "text"},
        )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    assert word_error_rate(SENTENCE, answer.text) <= 0.15, answer.text

    with clips.speech_wav.open("rb") as audio:
        answer = http.post(
            "/v1/audio/transcriptions",
            headers=caller.headers,
            files={"file": ("speech.wav", audio, "audio/wav")},
            data={"model": "base", "response_format": "verbose_json", "language": "en"},
        )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    verbose = answer.json()
    assert "words" not in verbose  # words only when `timestamp_granularities[]=word` asks for them
    assert verbose["segments"] and word_error_rate(SENTENCE, verbose["text"]) <= 0.15

    answer = http.post(
        "/v1/audio/speech", headers=caller.headers, json={"model": "tts-1", "input": SHORT_TEXT, "voice": "alloy"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "audio/mpeg"
    assert answer.content[:3] == b"ID3" or answer.content[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xe3")


# ---- speech ----


@pytest.mark.parametrize(
    ("response_format", "content_type", "codec", "voice"),
    [
        ("mp3", "audio/mpeg", "mp3", "alloy"),
        ("opus", "audio/ogg", "opus", "nova"),
        ("aac", "audio/aac", "aac", "echo"),
        ("flac", "audio/flac", "flac", "en_US-joe-medium"),
        ("wav", "audio/wav", "pcm_s16le", "shimmer"),
    ],
)
def test_speech_in_each_format(
    oai: OpenAI, tmp_path: Path, response_format: Any, content_type: str, codec: str, voice: str
) -> None:
    target = tmp_path / f"speech.{response_format}"
    with oai.audio.speech.with_streaming_response.create(
        model="tts-1", voice=voice, input=SHORT_TEXT, response_format=response_format
    ) as response:
        assert response.headers["content-type"] == content_type
        assert "content-length" not in response.headers  # streamed while it is made
        response.stream_to_file(target)
    assert ffprobe(target)["stream"]["codec_name"] == codec
    expected = estimate_seconds(SHORT_TEXT)
    assert 0.5 * expected <= decoded_seconds(target) <= 2 * expected


def test_mp3_speech_streams_at_a_bitrate_fit_for_speech(oai: OpenAI, tmp_path: Path) -> None:
    target = tmp_path / "speech.mp3"
    with oai.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=SHORT_TEXT, response_format="mp3"
    ) as response:
        response.stream_to_file(target)

    stream = ffprobe(target)["stream"]
    assert int(stream["sample_rate"]) == 22050  # the voice's own rate, where lame alone would pick 32 kb/s
    assert int(stream["bit_rate"]) >= 64000


def test_pcm_speech_is_24khz_raw_and_transcribes_back(oai: OpenAI, tmp_path: Path) -> None:
    pcm = oai.audio.speech.create(model="tts-1-hd", voice="onyx", input=SENTENCE, response_format="pcm", speed=1.0)
    audio = pcm.content
    assert len(audio) % 2 == 0 and audio[:4] != b"RIFF"
    seconds_at_24k = len(audio) / 2 / 24000
    expected = estimate_seconds(SENTENCE)
    assert 0.5 * expected <= seconds_at_24k <= 2 * expected
    # Heard at 24 kHz, the speech is the sentence; at any other rate Whisper would hear it too fast or too slow.
    as_wav = tmp_path / "speech.wav"
    with wave.open(str(as_wav), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(24000)
        writer.writeframes(audio)
    assert word_error_rate(SENTENCE, transcribe(oai, as_wav, language="en").text) <= 0.15


def test_speech_speed_changes_the_length(oai: OpenAI) -> None:
    normal = oai.audio.speech.create(model="tts-1", voice="alloy", input=SHORT_TEXT, response_format="pcm")
    fast = oai.audio.speech.create(model="tts-1", voice="alloy", input=SHORT_TEXT, response_format="pcm", speed=2)
    assert len(fast.content) < 0.7 * len(normal.content)


def test_without_piper_openai_voices_speak_english_and_the_streamed_wav_comes_back_as_words(
    oai: OpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Installed without the piper extra, espeak-ng speaks: `alloy` is its English voice, not the first voice in its
    list (Afrikaans, in which English text is unintelligible). The WAV streamed out, its RIFF size left open, is
    accepted when uploaded back."""
    monkeypatch.setitem(sys.modules, "piper", None)  # the piper package is not installed, as far as voxhub can tell
    english = "Rivers shape the land. The weather is lovely today, so we will walk along the river."
    target = tmp_path / "speech.wav"
    with oai.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=english, response_format="wav"
    ) as response:
        response.stream_to_file(target)
    assert target.read_bytes()[4:8] == b"\xff\xff\xff\xff"  # streamed: the length is not known when the header leaves

    heard = transcribe(oai, target, response_format="verbose_json")

    assert heard.language == "english"
    assert word_error_rate(english, heard.text) <= 0.25, heard.text
    assert heard.duration == pytest.approx(decoded_seconds(target), abs=0.1)


# ---- models ----


def test_models_list_and_retrieve(oai: OpenAI) -> None:
    models = {model.id: model for model in oai.models.list()}
    assert {"base", "whisper-1", "tts-1", "tts-1-hd"} <= set(models)
    for model in models.values():
        assert model.object == "model" and model.owned_by == "voxhub" and model.created > 0
    assert oai.models.retrieve("whisper-1").id == "whisper-1"
    assert oai.models.retrieve("base").id == "base"
    with pytest.raises(openai.NotFoundError) as missing:
        oai.models.retrieve("gpt-9")
    error = openai_error(missing.value)
    assert (error["type"], error["code"]) == ("not_found_error", "model_not_found")


def test_read_only_key_lists_models_but_may_not_spend(live_server: LiveServer, caller: Caller, clips: Clips) -> None:
    reader = openai_client(live_server, caller.read_key)
    assert any(model.id == "whisper-1" for model in reader.models.list())
    with pytest.raises(openai.PermissionDeniedError) as speech:
        reader.audio.speech.create(model="tts-1", voice="alloy", input=SHORT_TEXT)
    with pytest.raises(openai.PermissionDeniedError) as transcription:
        transcribe(reader, clips.speech_wav)
    for exc in (speech.value, transcription.value):
        error = openai_error(exc)
        assert (error["type"], error["code"]) == ("permission_error", "insufficient_scope")
        assert "write scope" in error["message"]


# ---- errors, as OpenAI's client sees them ----


def test_unknown_or_missing_keys_are_authentication_errors(
    live_server: LiveServer, caller: Caller, http: httpx.Client
) -> None:
    for key in ("vx_0123456789abcdef_" + "x" * 40, caller.person.access_token, "sk-not-a-voxhub-key"):
        with pytest.raises(openai.AuthenticationError) as refused:
            openai_client(live_server, key).models.list()
        error = openai_error(refused.value)
        assert error["type"] == "authentication_error"
    answer = http.get("/v1/models")
    assert answer.status_code == 401
    assert answer.json()["error"]["type"] == "authentication_error"


def test_unknown_models_and_voices(oai: OpenAI, clips: Clips) -> None:
    with pytest.raises(openai.NotFoundError) as asr:
        transcribe(oai, clips.speech_wav, model="whisper-9")
    with pytest.raises(openai.NotFoundError) as tts:
        oai.audio.speech.create(model="whisper-1", voice="alloy", input=SHORT_TEXT)
    for exc in (asr.value, tts.value):
        error = openai_error(exc)
        assert (error["code"], error["param"]) == ("model_not_found", "model")
    with pytest.raises(openai.BadRequestError) as voice:
        oai.audio.speech.create(model="tts-1", voice="nobody", input=SHORT_TEXT)
    error = openai_error(voice.value)
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "voice_not_found", "voice")


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"speed": 10}, "speed"),
        ({"speed": 0.1}, "speed"),
        ({"input": "   "}, "input"),
        ({"input": ""}, "input"),
        ({"response_format": "ogg"}, "response_format"),
    ],
)
def test_invalid_speech_requests_are_400_naming_the_field(oai: OpenAI, options: dict[str, Any], param: str) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        oai.audio.speech.create(**{"model": "tts-1", "voice": "alloy", "input": SHORT_TEXT, **options})
    error = openai_error(refused.value)
    assert (error["type"], error["param"]) == ("invalid_request_error", param)


def test_malformed_json_is_a_400_without_a_param(http: httpx.Client, caller: Caller) -> None:
    answer = http.post(
        "/v1/audio/speech",
        headers={**caller.headers, "Content-Type": "application/json"},
        content=b'{"model": "tts-1", "input": ',
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"
    assert answer.json()["error"]["param"] is None


def test_invalid_transcription_forms_are_400_naming_the_field(
    oai: OpenAI, http: httpx.Client, caller: Caller, clips: Clips
) -> None:
    with pytest.raises(openai.BadRequestError) as bad_format:
        transcribe(oai, clips.speech_wav, response_format="docx")
    with pytest.raises(openai.BadRequestError) as bad_language:
        transcribe(oai, clips.speech_wav, language="klingon")
    with pytest.raises(openai.BadRequestError) as bad_temperature:
        transcribe(oai, clips.speech_wav, temperature=3)
    for exc, param in ((bad_format, "response_format"), (bad_language, "language"), (bad_temperature, "temperature")):
        assert openai_error(exc.value)["param"] == param

    no_file = http.post("/v1/audio/transcriptions", headers=caller.headers, files={"model": (None, "whisper-1")})
    assert no_file.status_code == 400
    assert no_file.json()["error"]["param"] == "file"
    with clips.speech_wav.open("rb") as audio:
        no_model = http.post("/v1/audio/transcriptions", headers=caller.headers, files={"file": audio})
    assert no_model.status_code == 400
    assert no_model.json()["error"]["param"] == "model"
    as_json = http.post("/v1/audio/transcriptions", headers=caller.headers, json={"model": "whisper-1"})
    assert as_json.status_code == 400
    assert as_json.json()["error"]["code"] == "invalid_content_type"


def test_unusable_media_is_400_naming_the_reason(oai: OpenAI, clips: Clips) -> None:
    for path, reason in ((clips.not_audio, "unreadable"), (clips.truncated, "truncated"), (clips.empty, "empty_file")):
        with pytest.raises(openai.BadRequestError) as refused:
            transcribe(oai, path)
        error = openai_error(refused.value)
        assert error["type"] == "invalid_request_error" and error["param"] == "file"
        assert error["code"] in ("corrupt_media", "unsupported_media")
        assert reason in error["message"]


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
def test_audio_longer_than_the_sync_limit_points_to_the_jobs_api(
    live_server: LiveServer, oai: OpenAI, caller: Caller, clips: Clips
) -> None:
    live_server.settings.sync_max_audio_s = 2
    jobs = f"/api/v1/workspaces/{caller.person.workspace_id}/jobs"
    with pytest.raises(openai.APIStatusError) as transcription:
        transcribe(oai, clips.speech_wav)
    with clips.speech_wav.open("rb") as audio, pytest.raises(openai.APIStatusError) as translation:
        oai.audio.translations.create(model="whisper-1", file=audio)
    for exc in (transcription.value, translation.value):
        assert exc.status_code == 413
        error = openai_error(exc)
        assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "audio_too_long", "file")
        assert jobs in error["message"] and '"type": "transcribe"' in error["message"]
    assert '"task": "translate"' in openai_error(translation.value)["message"]

    with pytest.raises(openai.APIStatusError) as speech:
        oai.audio.speech.create(model="tts-1", voice="alloy", input=SENTENCE)
    assert speech.value.status_code == 413
    error = openai_error(speech.value)
    assert (error["code"], error["param"]) == ("input_too_long", "input")
    assert jobs in error["message"] and '"type": "synthesize"' in error["message"]


def test_file_larger_than_the_upload_limit_is_413(
    client: TestClient, settings: Settings, caller: Caller, tmp_path: Path
) -> None:
    """Refused from its declared length before a byte is read, or, sent without one, as soon as it passes the limit.
    (In process: over a socket, a server that stops reading may reset the connection before the client reads the
    answer.)"""
    settings.max_simple_upload_mb = 1
    big = tmp_path / "big.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=8:sample_rate=48000", "-ac", "2", str(big))
    with big.open("rb") as audio:
        declared = client.post(
            "/v1/audio/transcriptions",
            headers=caller.headers,
            files={"file": ("big.wav", audio, "audio/wav")},
            data={"model": "whisper-1"},
        )
    boundary = "voxhub-test-boundary"

    def chunked_form() -> Iterator[bytes]:
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'.encode()
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n\r\n'.encode()
        with big.open("rb") as audio:
            while chunk := audio.read(64 * 1024):
                yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    streamed = client.post(
        "/v1/audio/transcriptions",
        headers={**caller.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=chunked_form(),
    )
    for answer in (declared, streamed):
        assert answer.status_code == 413, answer.text
        assert answer.json()["error"]["code"] == "file_too_large"
        assert answer.json()["error"]["param"] == "file"
    assert "content-length" not in streamed.request.headers


def test_voxhub_keeps_its_own_error_shape_outside_v1(http: httpx.Client, caller: Caller) -> None:
    unauthenticated = http.get("/api/v1/workspaces")
    assert unauthenticated.status_code == 401
    assert set(unauthenticated.json()["error"]) == {"code", "message", "details"}
    invalid = http.post(
        f"/api/v1/workspaces/{caller.person.workspace_id}/api-keys",
        headers=caller.person.headers,
        json={"name": "no scopes", "scopes": []},
    )
    assert invalid.status_code == 422
    assert invalid.json()["error"]["code"] == "validation_error"
    assert invalid.json()["error"]["details"]["fields"][0]["field"] == "body.scopes"
    assert set(http.get("/api/v1/nowhere").json()["error"]) == {"code", "message", "details"}
    nowhere = http.get("/v1/nowhere", headers=caller.headers)
    assert nowhere.status_code == 404
    assert set(nowhere.json()["error"]) == OPENAI_ERROR_KEYS


# ---- audit ----


def test_every_call_is_in_the_audit_log(
    oai: OpenAI, http: httpx.Client, caller: Caller, clips: Clips, tmp_path: Path
) -> None:
    transcribe(oai, clips.silence, response_format="text", language="en")
    oai.audio.speech.create(model="tts-1", voice="alloy", input=SHORT_TEXT, response_format="wav")
    events = audit_events(http, caller.person, "openai.")
    assert [event["action"] for event in events] == ["openai.speech", "openai.transcription"]
    speech, transcription = events
    assert speech["summary"]["characters"] == len(SHORT_TEXT)
    assert speech["summary"]["voice"] == "alloy"
    assert transcription["summary"]["duration_s"] == pytest.approx(2.0, abs=0.05)
    assert transcription["summary"]["response_format"] == "text"
    assert all(event["actor_api_key_id"] for event in events)


def audit_events(http: httpx.Client, person: Person, action: str) -> list[dict[str, Any]]:
    answer = http.get(
        f"/api/v1/workspaces/{person.workspace_id}/audit-log", headers=person.headers, params={"action": action}
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


# ---- billing ----


def billing(http: httpx.Client, person: Person) -> dict[str, Any]:
    answer = http.get(f"/api/v1/workspaces/{person.workspace_id}/billing", headers=person.headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_calls_are_charged_to_the_plans_allowance_first(
    oai: OpenAI, http: httpx.Client, caller: Caller, clips: Clips
) -> None:
    before = billing(http, caller.person)

    transcribe(oai, clips.speech_wav, response_format="text")
    oai.audio.speech.create(model="tts-1", voice="alloy", input=SHORT_TEXT, response_format="wav")
    after = billing(http, caller.person)

    speech_s = decoded_seconds(clips.speech_wav)
    used = after["allowances"]["audio_minutes"]["used"] - before["allowances"]["audio_minutes"]["used"]
    assert used == pytest.approx(speech_s / 60, abs=0.02)
    assert after["allowances"]["tts_characters"]["used"] == len(SHORT_TEXT)
    assert (after["held"], after["balance"]) == (0, before["balance"])  # the free allowances covered both
    ledger = http.get(f"/api/v1/workspaces/{caller.person.workspace_id}/billing/ledger", headers=caller.person.headers)
    assert [entry["kind"] for entry in ledger.json()["items"]] == ["grant"]


def test_with_nothing_left_a_call_is_refused_in_openais_shape_and_costs_nothing(
    live_server: LiveServer, people: Any, client: TestClient, clips: Clips, app: Any
) -> None:
    owner = people.create()
    people.grant(owner.workspace_id, -100_000)  # no credits
    with app.state.db.session() as db:  # and the month's minutes used up
        sub = subscription(db, workspace_id=owner.workspace_id)
        db.add(
            AllowanceUse(
                workspace_id=owner.workspace_id, period_start=sub.allowance_period_start, meter="audio_minutes",
                used=25 * 60,
            )
        )  # fmt: skip
    spender = openai_client(live_server, create_api_key(client, owner, "write"))

    with pytest.raises(openai.APIStatusError) as refused:
        transcribe(spender, clips.speech_wav)

    assert refused.value.status_code == 402
    error = openai_error(refused.value)
    assert (error["type"], error["code"]) == ("insufficient_quota", "quota_exceeded")
    with app.state.db.session() as db:
        assert db.scalars(select(SyncCharge).where(SyncCharge.workspace_id == owner.workspace_id)).all() == []
        account = db.get(CreditAccount, owner.workspace_id)
        assert account is not None and (account.balance, account.held) == (0, 0)
