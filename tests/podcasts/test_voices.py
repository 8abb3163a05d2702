"""The hosts' voices, on the real engines: piper's joe and the voices made from it, espeak-ng, a small HTTP server
speaking OpenAI's speech API for remote synthesis; the diarization engine and Whisper judge the offline set."""

from __future__ import annotations

import re
import shutil
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.engines.test_diarize import SAMPLE_RATE as DIARIZE_RATE
from tests.engines.test_diarize import ffmpeg_to_16k, score, synthesis_missing
from tests.fake_http import LocalHTTPServer, RecordedRequest, Reply
from voxhub import engines
from voxhub.config import Settings
from voxhub.engines import diarize
from voxhub.engines.base import EngineError, ModelUnavailable, TranscribeOptions
from voxhub.engines.diarize import Turn
from voxhub.engines.remote import RemoteConfig
from voxhub.podcasts import voices

JOE = "en_US-joe-medium"
needs_voices = pytest.mark.skipif(synthesis_missing() is not None, reason=f"no offline voices: {synthesis_missing()}")
needs_diarization = pytest.mark.skipif(not diarize.available(), reason=diarize.unavailable_reason() or "")

LINES = [
    "Welcome back. Today we are talking about bees, rain barrels and compost.",
    "Thanks. Let us start with the hive that arrived in April.",
    "A hive holds one queen and tens of thousands of worker bees.",
    "And the queen lays up to two thousand eggs a day in late spring.",
    "We inspect the hive every nine days to look for queen cells.",
    "Honey is taken only from the boxes above the brood.",
    "The shed roof collects about six hundred litres from one storm.",
    "So we joined three barrels with short hoses near the bottom.",
]


@pytest.fixture(autouse=True)
def _nothing_left_running() -> None:
    """These tests run no jobs and need no database (the package's conftest checks that jobs are left idle)."""


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("var"))  # type: ignore[call-arg]


def wav_facts(path: Path) -> tuple[int, int, int, float]:
    with wave.open(str(path), "rb") as clip:
        return clip.getnchannels(), clip.getsampwidth(), clip.getframerate(), clip.getnframes() / clip.getframerate()


# ---- which voices ----


@needs_voices
def test_two_hosts_get_joe_and_joe_made_higher_four_get_four_voices(settings: Settings) -> None:
    assert voices.default_voices(settings, 1) == [JOE]
    assert voices.default_voices(settings, 2) == [JOE, f"{JOE}+high"]
    four = voices.default_voices(settings, 4)
    assert four == [JOE, f"{JOE}+high", f"{JOE}+deep", "espeak:en-us+m3"]
    options = {option.id: option for option in voices.voice_options(settings)}
    assert set(four) <= options.keys()
    assert options[JOE].engine == "piper" and options[f"{JOE}+high"].engine == "piper+shift"
    assert all(option.languages == ("en",) for option in options.values())
    for count in (0, 5):
        with pytest.raises(ValueError, match="1 to 4 hosts"):
            voices.default_voices(settings, count)


@needs_voices
def test_a_language_without_a_piper_voice_gets_espeak_made_into_four_people(settings: Settings) -> None:
    assert voices.default_voices(settings, 4, "pt") == [
        "espeak:pt-br",
        "espeak:pt-br+f3",
        "espeak:pt-br+deep",
        "espeak:pt-br+high",
    ]
    assert all(option.languages == ("pt",) for option in voices.voice_options(settings, "pt"))


def test_remote_voices_come_first_when_synthesis_is_remote(tmp_path: Path) -> None:
    remote = Settings(_env_file=None, data_dir=tmp_path, tts_engine="remote")  # type: ignore[call-arg]
    options = voices.voice_options(remote)
    assert [option.id for option in options[:4]] == ["nova", "onyx", "shimmer", "echo"]
    assert options[0].engine == "remote" and options[0].languages == ("*",)
    assert voices.default_voices(remote, 2) == ["nova", "onyx"]


def test_a_clip_key_changes_with_what_the_clip_is_made_of() -> None:
    key = voices.clip_key("Hello there.", JOE, 1.0)
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert key == voices.clip_key("Hello there.", JOE, 1.0)
    others = {
        voices.clip_key("Hello there!", JOE, 1.0),
        voices.clip_key("Hello there.", f"{JOE}+high", 1.0),
        voices.clip_key("Hello there.", JOE, 1.1),
    }
    assert key not in others and len(others) == 3


# ---- rendering ----


@pytest.fixture(scope="module")
def clips(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, float]]:
    """One line in each of the four default voices: its WAV and the length render() reported."""
    if synthesis_missing() is not None:
        pytest.skip(f"no offline voices: {synthesis_missing()}")
    folder = tmp_path_factory.mktemp("clips")
    made = {}
    for number, voice in enumerate(voices.default_voices(settings, 4)):
        target = folder / f"{number}.wav"
        made[voice] = (target, voices.render(settings, LINES[0], voice, target))
    return made


@needs_voices
def test_every_default_voice_renders_a_44k_mono_clip_without_padding(clips: dict[str, tuple[Path, float]]) -> None:
    for voice, (path, seconds) in clips.items():
        channels, width, rate, length = wav_facts(path)
        assert (channels, width, rate) == (1, 2, 44_100), voice
        assert seconds == pytest.approx(length, abs=1e-9), voice
        assert 2.5 < seconds < 8.0, (voice, seconds)
        with wave.open(str(path), "rb") as clip:
            samples = np.frombuffer(clip.readframes(clip.getnframes()), dtype="<i2")
        loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 328)
        # the engines' own silence is cut (the mix sets the pauses): sound starts and ends near the clip's edges
        assert loud[0] / rate < 0.06 and (len(samples) - loud[-1]) / rate < 0.15, voice
        assert not Path(f"{path}.part").exists()


@needs_voices
def test_the_shifted_voices_keep_joes_pace(clips: dict[str, tuple[Path, float]]) -> None:
    joe = clips[JOE][1]
    assert clips[f"{JOE}+high"][1] == pytest.approx(joe, rel=0.05)
    assert clips[f"{JOE}+deep"][1] == pytest.approx(joe, rel=0.05)


@needs_voices
def test_speed_makes_a_line_shorter(settings: Settings, clips: dict[str, tuple[Path, float]], tmp_path: Path) -> None:
    # Piper draws each phoneme's length with a little noise, so one line's length varies by several percent run
    # to run: at 1.5 times the speed a line is about two thirds of the length, far enough from the bound for that noise
    faster = voices.render(settings, LINES[0], f"{JOE}+high", tmp_path / "fast.wav", speed=1.5)
    assert faster < clips[f"{JOE}+high"][1] * 0.85


@needs_voices
def test_unknown_voices_and_empty_lines_are_refused_clearly(settings: Settings, tmp_path: Path) -> None:
    cases = {
        "nobody": "voice_not_found",
        f"{JOE}+chipmunk": "voice_not_found",
        "espeak:en-us+zz9": "voice_not_found",
    }
    for voice, code in cases.items():
        with pytest.raises(EngineError) as caught:
            voices.render(settings, "Hello.", voice, tmp_path / "x.wav")
        assert caught.value.code == code and voice in caught.value.message
    with pytest.raises(EngineError) as empty:
        voices.render(settings, "   ", JOE, tmp_path / "x.wav")
    assert empty.value.code == "empty_text"
    assert not list(tmp_path.iterdir())


# ---- the measured choice: different people, clearly spoken ----


def _dialogue(paths: list[tuple[str, Path]], pause_s: float = 0.4) -> tuple[np.ndarray, list[Turn]]:
    pieces: list[np.ndarray] = []
    turns: list[Turn] = []
    position = 0.5
    pieces.append(np.zeros(int(0.5 * DIARIZE_RATE), dtype=np.float32))
    for speaker, path in paths:
        speech = ffmpeg_to_16k(path.read_bytes())
        pieces += [speech, np.zeros(int(pause_s * DIARIZE_RATE), dtype=np.float32)]
        turns.append(Turn(start=position, end=position + len(speech) / DIARIZE_RATE, speaker=speaker))
        position += (len(speech) + int(pause_s * DIARIZE_RATE)) / DIARIZE_RATE
    return np.concatenate(pieces), turns


@needs_voices
@needs_diarization
@pytest.mark.parametrize("hosts", [2, 4])
def test_the_default_voices_are_told_apart_by_the_diarization_engine(
    settings: Settings, hosts: int, tmp_path: Path
) -> None:
    chosen = voices.default_voices(settings, hosts)
    lines = LINES if hosts == 2 else LINES + LINES[:4]  # each of four voices needs some seconds of speech
    rendered = []
    for number, text in enumerate(lines):
        voice = chosen[number % hosts]
        target = tmp_path / f"{number}.wav"
        voices.render(settings, text, voice, target)
        rendered.append((voice, target))
    samples, truth = _dialogue(rendered)
    found = diarize.diarize(samples, DIARIZE_RATE)
    result = score(truth, found, len(samples) / DIARIZE_RATE)
    assert len({turn.speaker for turn in found}) == hosts
    assert result.wrong_speaker <= 0.05, result
    assert sorted(result.mapping.values()) == sorted(chosen)


# Plain words, no numbers (Whisper writes those as digits) and no trade terms: what any listener must follow.
HEARD = [
    "Researchers believe the vaccine will reach rural clinics before winter.",
    "She asked whether the committee had already approved the budget.",
    "Our guest today wrote a book about the history of maps and sailors.",
    "Let us move on to the next question from our listeners.",
]


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z ]", " ", text.lower()).split()


@needs_voices
def test_the_second_voice_is_understood_by_speech_recognition(settings: Settings, tmp_path: Path) -> None:
    try:
        asr = engines.transcriber(settings, engine="local", model="base")
        second = voices.default_voices(settings, 2)[1]
        heard = []
        for number, text in enumerate(HEARD):
            clip = tmp_path / f"{number}.wav"
            voices.render(settings, text, second, clip)
            wav16 = tmp_path / f"{number}-16k.wav"
            with wave.open(str(wav16), "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(16_000)
                out.writeframes((ffmpeg_to_16k(clip.read_bytes()) * 32767).astype("<i2").tobytes())
            transcription = asr.transcribe(wav16, TranscribeOptions(language="en", word_timestamps=False, vad=False))
            heard.append(" ".join(segment.text for segment in transcription.segments))
    except ModelUnavailable as exc:
        pytest.skip(str(exc))
    said = [word for text in HEARD for word in _words(text)]
    got = set(_words(" ".join(heard)))
    missed = [word for word in said if word not in got]
    assert len(missed) <= 0.1 * len(said), (missed, heard)


# ---- remote synthesis ----


@pytest.fixture
def speech_server() -> Iterator[tuple[str, list[dict[str, object]]]]:
    """OpenAI's /audio/speech: 24 kHz 16-bit PCM, here half a second of a tone with some silence around it."""
    asked: list[dict[str, object]] = []
    tone = (np.sin(np.arange(12_000) * 2 * np.pi * 220 / 24_000) * 12_000).astype("<i2")
    body = np.concatenate([np.zeros(2400, dtype="<i2"), tone, np.zeros(2400, dtype="<i2")]).tobytes()

    class Speech(LocalHTTPServer):
        methods = ("POST",)

        def respond(self, request: RecordedRequest) -> Reply:
            asked.append({"path": request.path, **request.json()})
            return 200, "audio/pcm", body, {}

    with Speech() as server:
        yield f"{server.url}/v1", asked


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_a_remote_voice_is_spoken_by_the_remote_engine(
    settings: Settings, speech_server: tuple[str, list[dict[str, object]]], tmp_path: Path
) -> None:
    url, asked = speech_server
    remote = RemoteConfig(base_url=url, api_key="key", model="tts-1", timeout_s=10)
    seconds = voices.render(settings, "Hello from far away.", "onyx", tmp_path / "remote.wav", remote=remote)
    assert asked == [
        {
            "path": "/v1/audio/speech",
            "model": "tts-1",
            "input": "Hello from far away.",
            "voice": "onyx",
            "response_format": "pcm",
            "speed": 1.0,
        }
    ]
    assert wav_facts(tmp_path / "remote.wav")[:3] == (1, 2, 44_100)
    assert seconds == pytest.approx(0.5 + voices.KEEP_BEFORE_S + voices.KEEP_AFTER_S, abs=0.01)
