"""`voxhub say` and `voxhub transcribe`: the pipelines on this machine, with no server — real piper, real Whisper."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import srt
from typer.testing import CliRunner, Result

from voxhub.cli import app as cli
from voxhub.media.probe import probe

SENTENCE = "The weather is lovely today. We will walk to the river after lunch."


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in ("", "voxhub")]
    saved = [(logger, logger.handlers[:], logger.level) for logger in loggers]
    yield
    for logger, handlers, level in saved:
        logger.handlers = handlers
        logger.setLevel(level)


def voxhub(tmp_path: Path, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env={"VOXHUB_DATA_DIR": str(tmp_path / "var")}, input=stdin)


def test_say_then_transcribe_round_trip(tmp_path: Path) -> None:
    audio = tmp_path / "out" / "speech.mp3"
    said = voxhub(tmp_path, "say", SENTENCE, "-o", str(audio))
    assert said.exit_code == 0, said.output
    info = probe(str(audio), decode=False)
    assert info.audio_codec == "mp3" and 2.5 < info.duration_s < 9

    subtitles = tmp_path / "speech.srt"
    heard = voxhub(tmp_path, "transcribe", str(audio), "--format", "srt", "-o", str(subtitles))
    assert heard.exit_code == 0, heard.output
    cues = list(srt.parse(subtitles.read_text()))
    text = " ".join(cue.content for cue in cues).lower()
    assert "weather" in text and "river" in text
    assert all(cue.start < cue.end for cue in cues)

    as_json = voxhub(tmp_path, "transcribe", str(audio), "--format", "json", "--model", "tiny.en")
    assert as_json.exit_code == 0, as_json.output
    transcript = json.loads(as_json.stdout)
    assert transcript["model"] == "tiny.en" and transcript["language"] == "en"
    assert transcript["segments"][0]["words"]


def test_say_reads_stdin_and_takes_the_format_from_the_extension(tmp_path: Path) -> None:
    audio = tmp_path / "speech.wav"
    said = voxhub(tmp_path, "say", "-", "-o", str(audio), "--speed", "1.5", stdin="Hello from standard input.")
    assert said.exit_code == 0, said.output
    info = probe(str(audio), decode=False)
    assert info.audio_codec == "pcm_s16le" and info.sample_rate == 22050


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    not_audio = tmp_path / "notes.txt"
    not_audio.write_text("this is not audio")
    wrong = voxhub(tmp_path, "transcribe", str(not_audio))
    assert wrong.exit_code == 1 and "error:" in wrong.output

    no_model = voxhub(tmp_path, "transcribe", str(not_audio), "--model", "/etc")
    assert no_model.exit_code == 1 and "not installed" in no_model.output

    bad_format = voxhub(tmp_path, "say", "hello", "-o", str(tmp_path / "x.xyz"))
    assert bad_format.exit_code == 1 and "format" in bad_format.output

    bad_voice = voxhub(tmp_path, "say", "hello", "-o", str(tmp_path / "x.mp3"), "--voice", "nobody")
    assert bad_voice.exit_code == 1 and "not installed" in bad_voice.output
