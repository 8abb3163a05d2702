"""Audio for programmes voxhub composes (podcast episodes): speech PCM to WAV through ffmpeg filters, any audio
decoded to WAV, EBU R128 loudness in two passes, and encoding with tags and chapters."""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from voxhub.media.convert import ConvertFailed, _what_failed
from voxhub.media.probe import ToolMissing

TIMEOUT_S = 900  # an hour of audio through loudnorm takes well under a minute; a stuck ffmpeg must still end


@dataclass(frozen=True)
class Loudness:
    """What ffmpeg's loudnorm measured (EBU R128): integrated loudness, true peak, loudness range, gate threshold,
    and the offset its second pass needs."""

    integrated_lufs: float
    true_peak_dbtp: float
    range_lu: float
    threshold_lufs: float
    offset_lu: float


@dataclass(frozen=True)
class LoudnessTarget:
    integrated_lufs: float
    true_peak_dbtp: float
    range_lu: float = 11.0


@dataclass(frozen=True)
class Chapter:
    start_s: float
    end_s: float
    title: str


def _ffmpeg(args: list[str], *, input_bytes: bytes | None = None, timeout_s: float = TIMEOUT_S) -> str:
    """Run ffmpeg; its log (stderr) when it succeeds, ConvertFailed naming the line that says what went wrong."""
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-y", *args]
    try:
        result = subprocess.run(  # noqa: S603 - fixed program, no shell
            command, input=input_bytes, capture_output=True, timeout=timeout_s, check=False
        )
    except FileNotFoundError as exc:
        raise ToolMissing("ffmpeg is not installed; install ffmpeg (Debian/Ubuntu: apt-get install ffmpeg)") from exc
    except subprocess.TimeoutExpired as exc:
        raise ConvertFailed(f"ffmpeg took longer than {timeout_s:.0f} s") from exc
    log = result.stderr.decode(errors="replace")
    if result.returncode != 0:
        raise ConvertFailed(_what_failed(log))
    return log


def _wav_output(target: Path, sample_rate: int) -> list[str]:
    return ["-ar", str(sample_rate), "-ac", "1", "-c:a", "pcm_s16le", "-f", "wav", str(target)]


def shift_filters(input_rate: int, *, formant_semitones: float, pitch_semitones: float) -> list[str]:
    """Filters that make a voice sound like another person, its length unchanged: resampling moves pitch and
    formants together (a shorter or longer vocal tract), then rubberband moves the pitch alone the rest of the way."""
    formant = 2 ** (formant_semitones / 12)
    pitch = 2 ** ((pitch_semitones - formant_semitones) / 12)
    filters = []
    if formant_semitones:
        filters.append(f"asetrate={input_rate * formant:.3f},aresample={input_rate},atempo={1 / formant:.6f}")
    if pitch_semitones != formant_semitones:
        filters.append(f"rubberband=pitch={pitch:.6f}:formant=preserved")
    return filters


def pcm_to_wav(pcm: bytes, *, input_rate: int, target: Path, sample_rate: int, filters: Sequence[str] = ()) -> None:
    """Mono 16-bit PCM through `filters` into a mono 16-bit WAV at `sample_rate`."""
    args = ["-f", "s16le", "-ar", str(input_rate), "-ac", "1", "-i", "pipe:0"]
    if filters:
        args += ["-af", ",".join(filters)]
    _ffmpeg([*args, *_wav_output(target, sample_rate)], input_bytes=pcm)


def decode_to_wav(source: Path, target: Path, *, sample_rate: int) -> None:
    """The first audio stream of anything ffmpeg reads, as a mono 16-bit WAV at `sample_rate`."""
    _ffmpeg(["-i", str(source), "-map", "0:a:0", "-vn", "-sn", "-dn", *_wav_output(target, sample_rate)])


def _loudnorm_report(log: str) -> dict[str, str]:
    """The JSON block loudnorm prints last (print_format=json)."""
    start, end = log.rfind("{"), log.rfind("}")
    if start < 0 or end < start:
        raise ConvertFailed("ffmpeg's loudnorm printed no measurement")
    report: dict[str, str] = json.loads(log[start : end + 1])
    return report


def _number(value: str) -> float:
    number = float(value)
    return number if math.isfinite(number) else -99.0  # silence measures -inf


def measure_loudness(source: Path, target: LoudnessTarget) -> Loudness:
    """The first pass of loudnorm: how loud `source` is, and what the second pass needs to reach `target`."""
    report = _loudnorm_report(_ffmpeg(["-i", str(source), "-af", _loudnorm(target, None), "-f", "null", "-"]))
    return Loudness(
        integrated_lufs=_number(report["input_i"]),
        true_peak_dbtp=_number(report["input_tp"]),
        range_lu=_number(report["input_lra"]),
        threshold_lufs=_number(report["input_thresh"]),
        offset_lu=_number(report["target_offset"]),
    )


def _loudnorm(target: LoudnessTarget, measured: Loudness | None) -> str:
    chosen = f"loudnorm=I={target.integrated_lufs:g}:TP={target.true_peak_dbtp:g}:LRA={target.range_lu:g}"
    if measured is None:
        return f"{chosen}:print_format=json"
    return (
        f"{chosen}:measured_I={measured.integrated_lufs:.2f}:measured_TP={measured.true_peak_dbtp:.2f}"
        f":measured_LRA={measured.range_lu:.2f}:measured_thresh={measured.threshold_lufs:.2f}"
        f":offset={measured.offset_lu:.2f}:linear=true:print_format=json"
    )


def normalize_loudness(
    source: Path, target_path: Path, target: LoudnessTarget, measured: Loudness, *, sample_rate: int
) -> Loudness:
    """The second pass: `source` brought to `target` with the first pass's figures (one gain for the whole file when
    the true peak allows it, else loudnorm's gentle dynamic mode), written as a mono 16-bit WAV; returns what the
    output measures."""
    log = _ffmpeg(["-i", str(source), "-af", _loudnorm(target, measured), *_wav_output(target_path, sample_rate)])
    report = _loudnorm_report(log)
    return Loudness(
        integrated_lufs=_number(report["output_i"]),
        true_peak_dbtp=_number(report["output_tp"]),
        range_lu=_number(report["output_lra"]),
        threshold_lufs=_number(report["output_thresh"]),
        offset_lu=_number(report["target_offset"]),
    )


def limit_peaks(source: Path, target: Path, *, gain_db: float, ceiling_dbtp: float, sample_rate: int) -> None:
    """`source` raised by `gain_db` with its peaks held under `ceiling_dbtp`: a look-ahead limiter run at four times
    the rate (so peaks between samples are caught too), its delay compensated (every sample stays where it was)."""
    ceiling = min(1.0, max(0.0625, 10 ** (ceiling_dbtp / 20)))  # alimiter's range
    chain = (
        f"volume={gain_db:.2f}dB,aresample={4 * sample_rate},"
        f"alimiter=limit={ceiling:.5f}:attack=5:release=100:level=false:latency=true,aresample={sample_rate}"
    )
    _ffmpeg(["-i", str(source), "-af", chain, *_wav_output(target, sample_rate)])


def _escape_metadata(value: str) -> str:
    """ffmetadata escapes '=', ';', '#', '\\' and newlines with a backslash."""
    for special in ("\\", "=", ";", "#", "\n"):
        value = value.replace(special, "\\" + special)
    return value


def ffmetadata(tags: dict[str, str], chapters: Sequence[Chapter]) -> str:
    """An ffmetadata file: global tags, then one [CHAPTER] per chapter in milliseconds."""
    lines = [";FFMETADATA1", *(f"{key}={_escape_metadata(value)}" for key, value in tags.items())]
    for chapter in chapters:
        lines += [
            "[CHAPTER]",
            "TIMEBASE=1/1000",
            f"START={round(chapter.start_s * 1000)}",
            f"END={round(chapter.end_s * 1000)}",
            f"title={_escape_metadata(chapter.title)}",
        ]
    return "\n".join(lines) + "\n"


ENCODERS = {
    "mp3": ("libmp3lame", ["-id3v2_version", "3", "-write_id3v1", "1"]),
    "m4a": ("aac", ["-movflags", "+faststart"]),
}


def encode_tagged(
    source: Path,
    target: Path,
    *,
    fmt: Literal["mp3", "m4a"],
    bitrate_kbps: int,
    sample_rate: int,
    tags: dict[str, str],
    chapters: Sequence[Chapter],
) -> None:
    """Encode `source` to MP3 (ID3v2.3 tags, CHAP/CTOC chapter frames) or M4A (AAC, MP4 tags and chapters)."""
    encoder, options = ENCODERS[fmt]
    metadata = target.with_name(target.name + ".ffmeta")
    metadata.write_text(ffmetadata(tags, chapters), encoding="utf-8")
    try:
        _ffmpeg(
            [
                *("-i", str(source), "-f", "ffmetadata", "-i", str(metadata)),
                *("-map", "0:a:0", "-map_metadata", "1", "-map_chapters", "1"),
                *("-c:a", encoder, "-b:a", f"{bitrate_kbps}k", "-ar", str(sample_rate), "-ac", "1", *options),
                str(target),
            ]
        )
    finally:
        metadata.unlink(missing_ok=True)
