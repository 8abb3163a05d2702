"""Making and measuring media with the real ffmpeg and ffprobe."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", *args], check=True)


def loudness_lufs(path: Path) -> float:
    """Integrated loudness (EBU R128) as ffmpeg's ebur128 filter measures it."""
    answer = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-i", str(path), "-af", "ebur128", "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = answer.stderr[answer.stderr.rindex("Integrated loudness:") :]
    return float(summary.split("I:", 1)[1].split("LUFS", 1)[0])


def probe(path: Path) -> dict[str, Any]:
    """The first audio stream and the container, as ffprobe sees them."""
    answer = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(answer.stdout)
    audio = [s for s in found["streams"] if s["codec_type"] == "audio"]
    assert len(audio) == 1, found
    return {"stream": audio[0], "format": found["format"]}


def decoded_seconds(path: Path) -> float:
    """How long the audio really lasts: decoded to 8 kHz mono 16-bit PCM and counted (no header estimates)."""
    decode = ["-ac", "1", "-ar", "8000", "-f", "s16le", "-"]
    command = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-i", str(path), *decode]
    answer = subprocess.run(command, capture_output=True, check=True)
    return len(answer.stdout) / 16000
