"""Converting audio with ffmpeg: format, rate, channels, bitrate, trim and EBU R128 loudness, with live progress."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from voxhub.media.probe import MediaInfo, ToolMissing

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
    # `-v info` for the "Output #0" block: the written stream's facts, read instead of running ffprobe after.
    command = [ffmpeg, "-nostdin", "-hide_banner", "-v", "info", "-y"]
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


# ffmpeg muxer → the container name ffprobe reports for the file it writes
_PROBED_CONTAINER = {
    "mp3": "mp3",
    "wav": "wav",
    "flac": "flac",
    "ogg": "ogg",
    "opus": "ogg",  # the .opus muxer writes Ogg
    "adts": "aac",
    "ipod": "mov,mp4,m4a,3gp,3g2,mj2",
    "mp4": "mov,mp4,m4a,3gp,3g2,mj2",
}
_LAYOUT_CHANNELS = {"mono": 1, "stereo": 2, "2.1": 3, "quad": 4, "4.0": 4, "5.0": 5, "5.1": 6, "6.1": 7, "7.1": 8}
_OUTPUT = re.compile(r"^Output #0, ([\w,]+), to ")
_AUDIO_STREAM = re.compile(r"^\s*Stream #0:0.*?: Audio: (\w+)[^,]*, (\d+) Hz, ([^,]+)")


def written_facts(stderr: str, *, duration_s: float, size_bytes: int) -> MediaInfo | None:
    """What ffmpeg says it wrote (its "Output #0" block), as MediaInfo in ffprobe's terms; None when it does not
    say enough (the caller then probes the file)."""
    muxer = codec = None
    rate = channels = 0
    for line in stderr.splitlines():
        if muxer is None:
            output = _OUTPUT.match(line)
            if output:
                muxer = output.group(1)
            continue
        stream = _AUDIO_STREAM.match(line)
        if stream:
            codec, rate = stream.group(1), int(stream.group(2))
            layout = stream.group(3).strip()
            channels = _LAYOUT_CHANNELS.get(layout.split("(")[0], 0)
            if not channels and layout.endswith(" channels") and layout.split()[0].isdigit():
                channels = int(layout.split()[0])
            break
    container = _PROBED_CONTAINER.get(muxer or "")
    if container is None or codec is None or not channels or duration_s <= 0:
        return None
    if codec == "opus":
        rate = 48000  # what every Opus decoder (and ffprobe) reports, whatever rate was encoded
    return MediaInfo(
        duration_s=round(duration_s, 3),
        container=container,
        audio_codec=codec,
        sample_rate=rate,
        channels=channels,
        bit_rate=round(size_bytes * 8 / duration_s),
    )


_PROBLEM = re.compile(r"error|invalid|could not|cannot|no such|not found|unknown|unsupported|failed", re.IGNORECASE)


def _what_failed(stderr: str) -> str:
    """The line of ffmpeg's log that says what went wrong (the last one that names a problem)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and line.strip() != "Conversion failed!"]
    problems = [line for line in lines if _PROBLEM.search(line)]
    return (problems or lines or ["ffmpeg failed"])[-1]


def convert(
    source: Path,
    target: Path,
    spec: ConvertSpec,
    *,
    expected_s: float,
    on_progress: Callable[[float], None],
    ffmpeg: str = "ffmpeg",
) -> MediaInfo | None:
    """Run ffmpeg, reporting the fraction done (0 to 1) from its own progress output; returns the written file's
    facts as ffmpeg reports them (None when it does not say enough: probe the file then).

    `on_progress` may raise (a cancel, a timeout): ffmpeg is then stopped and the partial output removed.
    """
    command = build_command(source, target, spec, ffmpeg=ffmpeg)
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603
    except FileNotFoundError as exc:
        raise ToolMissing(f"{ffmpeg} is not installed; install ffmpeg (Debian/Ubuntu: apt-get install ffmpeg)") from exc
    # stderr is drained by a thread of its own: a chatty input must never fill its pipe while stdout is read.
    errors: list[str] = []
    drain = threading.Thread(target=lambda: errors.extend(process.stderr or ()), daemon=True)
    drain.start()
    written_us = 0
    try:
        assert process.stdout is not None
        for line in process.stdout:
            key, _, value = line.strip().partition("=")
            if key == "out_time_us" and value.lstrip("-").isdigit():
                written_us = max(written_us, int(value))
                if expected_s > 0:
                    on_progress(min(1.0, max(0.0, written_us / 1_000_000 / expected_s)))
            elif key == "progress":
                on_progress(1.0 if value == "end" else -1.0)
        returncode = process.wait()
        drain.join(timeout=5)
        stderr = "".join(errors)
        if returncode != 0:
            if os.strerror(errno.ENOSPC) in stderr:  # ffmpeg's only word for it: the disk filled, not the input
                raise OSError(errno.ENOSPC, f"ffmpeg: {_what_failed(stderr)}")
            raise ConvertFailed(_what_failed(stderr))
    except BaseException:
        process.kill()
        process.wait()
        target.unlink(missing_ok=True)
        raise
    if spec.format == "pcm":
        return None
    return written_facts(stderr, duration_s=written_us / 1_000_000, size_bytes=target.stat().st_size)


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
