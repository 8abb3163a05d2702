"""Encoded audio held in memory (an MP3 a hosted voice answered with) decoded by ffmpeg to the mono 16-bit PCM the
synthesis pipelines take from every engine."""

from __future__ import annotations

import subprocess

from voxhub.media.convert import ConvertFailed, _what_failed
from voxhub.media.probe import ToolMissing

TIMEOUT_S = 120  # one sentence or a few: seconds of audio, decoded in far less


def decode_to_pcm(data: bytes, *, sample_rate: int, ffmpeg: str = "ffmpeg") -> bytes:
    """Any audio ffmpeg reads (MP3, WAV, Ogg…) → mono 16-bit little-endian samples at `sample_rate`."""
    command = [ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-i", "pipe:0"]
    command += ["-ac", "1", "-ar", str(sample_rate), "-c:a", "pcm_s16le", "-f", "s16le", "pipe:1"]
    try:
        result = subprocess.run(  # noqa: S603 - fixed program, no shell
            command, input=data, capture_output=True, timeout=TIMEOUT_S, check=False
        )
    except FileNotFoundError as exc:
        raise ToolMissing(f"{ffmpeg} is not installed; install ffmpeg (Debian/Ubuntu: apt-get install ffmpeg)") from exc
    except subprocess.TimeoutExpired as exc:
        raise ConvertFailed(f"ffmpeg took longer than {TIMEOUT_S} s") from exc
    if result.returncode != 0:
        raise ConvertFailed(_what_failed(result.stderr.decode(errors="replace")))
    return result.stdout
