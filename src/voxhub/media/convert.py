"""Converting audio with ffmpeg: format, rate, channels, bitrate, trim and EBU R128 loudness, with live progress."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from voxhub.media.probe import ToolMissing

# format → (encoder, file extension, MIME type, extra output options)
FORMATS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "mp3": ("libmp3lame", "mp3", "audio/mpeg", ()),
    "wav": ("pcm_s16le", "wav", "audio/wav", ()),
    "flac": ("flac", "flac", "audio/flac", ()),
    "opus": ("libopus", "opus", "audio/ogg", ()),
    "aac": ("aac", "aac", "audio/aac", ("-f", "adts")),
    "m4a": ("aac", "m4a", "audio/mp4", ("-movflags", "+faststart")),
    "pcm": ("pcm_s16le", "pcm", "audio/pcm", ("-f", "s16le")),  # raw 16-bit little-endian samples, no header
}
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


@dataclass(frozen=True)
class ConvertSpec:
    format: str
    sample_rate: int | None = None
    channels: int | None = None
    bitrate_kbps: int | None = None
    start_s: float | None = None
    end_s: float | None = None
    target_lufs: float | None = None  # None: no loudness normalisation


class ConvertFailed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def output_name(stem: str, fmt: str) -> str:
    return f"{stem}.{FORMATS[fmt][1]}"


def content_type(fmt: str) -> str:
    return FORMATS[fmt][2]


def _output_rate(fmt: str, rate: int | None) -> int | None:
    if fmt == "opus" and (rate is None or rate not in OPUS_RATES):
        return 48000  # Opus only runs at its own rates
    return rate


def _bitrate_options(fmt: str, bitrate_kbps: int | None) -> list[str]:
    """`-b:a` for lossy formats; lossless ones have no bitrate to choose."""
    return ["-b:a", f"{bitrate_kbps}k"] if bitrate_kbps and fmt not in ("wav", "flac", "pcm") else []


# format → ffmpeg muxer, for output written to a pipe (no file name to guess it from)
MUXERS = {"mp3": "mp3", "wav": "wav", "flac": "flac", "opus": "ogg", "aac": "adts", "m4a": "ipod", "pcm": "s16le"}


def build_command(source: Path, target: Path, spec: ConvertSpec, *, ffmpeg: str = "ffmpeg") -> list[str]:
    encoder, _ext, _mime, extra = FORMATS[spec.format]
    command = [ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-y"]
    if spec.start_s:
        command += ["-ss", f"{spec.start_s:.3f}"]
    if spec.end_s is not None:
        command += ["-to", f"{spec.end_s:.3f}"]
    command += ["-i", str(source), "-map", "0:a:0", "-vn", "-sn", "-dn"]
    if spec.target_lufs is not None:
        command += ["-af", f"loudnorm=I={spec.target_lufs:g}:TP=-1.5:LRA=11"]
    rate = _output_rate(spec.format, spec.sample_rate)
    if rate is None and spec.target_lufs is not None:
        rate = 48000  # loudnorm resamples to 192 kHz internally; bring it back to a sane rate
    if rate:
        command += ["-ar", str(rate)]
    if spec.channels:
        command += ["-ac", str(spec.channels)]
    command += ["-c:a", encoder, *_bitrate_options(spec.format, spec.bitrate_kbps)]
    command += [*extra, "-progress", "pipe:1", "-nostats", str(target)]
    return command


def convert(
    source: Path,
    target: Path,
    spec: ConvertSpec,
    *,
    expected_s: float,
    on_progress: Callable[[float], None],
    ffmpeg: str = "ffmpeg",
) -> None:
    """Run ffmpeg, reporting the fraction done (0 to 1) from its own progress output.

    `on_progress` may raise (a cancel, a timeout): ffmpeg is then stopped and the partial output removed.
    """
    command = build_command(source, target, spec, ffmpeg=ffmpeg)
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603
    except FileNotFoundError as exc:
        raise ToolMissing(f"{ffmpeg} is not installed; install ffmpeg (Debian/Ubuntu: apt-get install ffmpeg)") from exc
    try:
        assert process.stdout is not None
        for line in process.stdout:
            key, _, value = line.strip().partition("=")
            if key == "out_time_us" and value.lstrip("-").isdigit() and expected_s > 0:
                on_progress(min(1.0, max(0.0, int(value) / 1_000_000 / expected_s)))
            elif key == "progress":
                on_progress(1.0 if value == "end" else -1.0)
        stderr = process.stderr.read() if process.stderr else ""
        if process.wait() != 0:
            raise ConvertFailed(stderr.strip().splitlines()[-1] if stderr.strip() else "ffmpeg failed")
    except BaseException:
        process.kill()
        process.wait()
        target.unlink(missing_ok=True)
        raise


def encode_stream(
    pcm: Iterator[bytes],
    *,
    input_rate: int,
    fmt: str,
    sample_rate: int | None = None,
    bitrate_kbps: int | None = None,
    ffmpeg: str = "ffmpeg",
) -> Iterator[bytes]:
    """Mono 16-bit PCM chunks → encoded audio chunks, as they come: a thread feeds ffmpeg's stdin while its stdout
    is read, so the first bytes leave before the last PCM arrives. Stopping early (the reader went away) kills
    ffmpeg; an exception from `pcm` ends the stream where it stands."""
    if fmt == "m4a":
        raise ValueError("m4a cannot be written to a pipe (its index comes last); use aac")
    encoder, _ext, _mime, extra = FORMATS[fmt]
    command = [ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-f", "s16le", "-ar", str(input_rate), "-ac", "1"]
    command += ["-i", "pipe:0", "-c:a", encoder, *_bitrate_options(fmt, bitrate_kbps), *extra]
    rate = _output_rate(fmt, sample_rate)
    if rate:
        command += ["-ar", str(rate)]
    command += ["-f", MUXERS[fmt], "pipe:1"]
    try:
        process = subprocess.Popen(  # noqa: S603
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
    except FileNotFoundError as exc:
        raise ToolMissing(f"{ffmpeg} is not installed; install ffmpeg (Debian/Ubuntu: apt-get install ffmpeg)") from exc
    assert process.stdin is not None and process.stdout is not None
    stdin, stdout = process.stdin, process.stdout

    def feed() -> None:
        try:
            for chunk in pcm:
                stdin.write(chunk)
        except Exception:  # noqa: S110 - a broken pipe or a failing producer: the stream just ends
            pass
        finally:
            stdin.close()

    feeder = threading.Thread(target=feed, name="ffmpeg-encode-feed", daemon=True)
    feeder.start()
    try:
        while chunk := stdout.read1(32768):  # type: ignore[attr-defined]
            yield chunk
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        feeder.join(timeout=5)
