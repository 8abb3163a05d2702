"""Probing media with ffprobe and ffmpeg: what a file really is, whatever its name and declared type say."""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass
from typing import Any

PROBE_TIMEOUT_S = 120
DECODE_TIMEOUT_S = 900


@dataclass(frozen=True)
class MediaInfo:
    duration_s: float
    container: str
    audio_codec: str
    sample_rate: int
    channels: int
    bit_rate: int | None
    video_codec: str | None = None
    width: int | None = None
    height: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class MediaRejected(Exception):
    """The file is not media voxhub can work with. `code` is the API error code, `reason` the precise cause."""

    def __init__(self, code: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message


class ToolMissing(RuntimeError):
    pass


def _run(args: list[str], timeout: int) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
    except FileNotFoundError as exc:
        raise ToolMissing(
            f"{args[0]} is not installed; install ffmpeg (Debian/Ubuntu: apt-get install ffmpeg)"
        ) from exc


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def probe(
    source: str,
    *,
    ffprobe: str = "ffprobe",
    ffmpeg: str = "ffmpeg",
    size_bytes: int | None = None,
    decode: bool = True,
) -> MediaInfo:
    """Describe the media at `source` (a path or URL), or raise MediaRejected saying why it is unusable.

    The audio is decoded to the end, so a truncated or corrupt file is caught here, not halfway through a job.
    `decode=False` trusts the container's own duration: for files voxhub itself just wrote with ffmpeg.
    """
    if size_bytes == 0:
        raise MediaRejected("unsupported_media", "empty_file", "The file is empty.")
    result = _run(
        [ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", source], PROBE_TIMEOUT_S
    )
    if result.returncode != 0:
        raise MediaRejected(
            "corrupt_media",
            "unreadable",
            "The file could not be read as audio or video; it may be corrupt or of an unknown kind.",
        )
    data = json.loads(result.stdout or "{}")
    streams = data.get("streams", [])
    fmt = data.get("format", {})
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if audio is None:
        raise MediaRejected("unsupported_media", "no_audio_stream", "The file has no audio stream.")
    video = next(
        (s for s in streams if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")),
        None,
    )
    declared = _number(fmt.get("duration")) or _number(audio.get("duration"))
    decoded = _decoded_duration(source, ffmpeg) if decode else declared
    if decoded is None or decoded <= 0:
        raise MediaRejected("corrupt_media", "undecodable", "The audio stream could not be decoded.")
    if declared and declared - decoded > max(1.0, declared * 0.02):
        raise MediaRejected(
            "corrupt_media",
            "truncated",
            f"The file is truncated: it declares {declared:.1f} s of audio but only {decoded:.1f} s can be decoded.",
        )
    return MediaInfo(
        duration_s=round(decoded, 3),
        container=str(fmt.get("format_name", "")),
        audio_codec=str(audio.get("codec_name", "")),
        sample_rate=int(_number(audio.get("sample_rate")) or 0),
        channels=int(audio.get("channels") or 0),
        bit_rate=int(b) if (b := _number(fmt.get("bit_rate") or audio.get("bit_rate"))) else None,
        video_codec=str(video.get("codec_name")) if video else None,
        width=int(video["width"]) if video and video.get("width") else None,
        height=int(video["height"]) if video and video.get("height") else None,
    )


def _decoded_duration(source: str, ffmpeg: str) -> float | None:
    """Seconds of audio ffmpeg decodes, decoding as a conversion does: a damaged packet (the short last one of a cut
    file, or of a streamed WAV whose header leaves its length open) is skipped rather than the end of the check, and
    the last progress report, written when decoding ends, is the length. None when ffmpeg fails or nothing decodes."""
    result = _run(
        [
            ffmpeg,
            "-nostdin",
            "-nostats",
            "-v",
            "error",
            "-progress",
            "pipe:1",
            "-i",
            source,
            "-map",
            "0:a:0",
            "-vn",
            "-sn",
            "-dn",
            "-f",
            "null",
            "-",
        ],
        DECODE_TIMEOUT_S,
    )
    if result.returncode != 0:
        return None
    decoded_us = 0
    for line in result.stdout.splitlines():
        key, _, value = line.partition("=")
        if key == "out_time_us" and value.strip().isdigit():
            decoded_us = int(value)
    return decoded_us / 1_000_000 or None
