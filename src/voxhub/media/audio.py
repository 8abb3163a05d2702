"""Audio for programmes voxhub composes (podcast episodes): speech PCM to WAV through ffmpeg filters, any audio
decoded to WAV, EBU R128 loudness measured, gain with a true-peak limiter, and encoding with tags and chapters."""

from __future__ import annotations

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
    """EBU R128 figures as ffmpeg's ebur128 filter measures them (to a tenth)."""

    integrated_lufs: float
    true_peak_dbtp: float
    range_lu: float
    threshold_lufs: float


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


def _figure(summary: str, label: str, unit: str) -> float:
    value = summary.split(label, 1)[1].split(unit, 1)[0].strip()
    return -99.0 if value in ("-inf", "nan") else float(value)  # silence peaks at -inf


def _measured(log: str) -> Loudness:
    """The figures ebur128 prints last, in its summary."""
    if "Summary:" not in log:
        raise ConvertFailed("ffmpeg's ebur128 printed no summary")
    summary = log[log.rindex("Summary:") :]
    integrated = summary.split("Integrated loudness:", 1)[1]
    return Loudness(
        integrated_lufs=_figure(integrated, "I:", "LUFS"),
        true_peak_dbtp=_figure(summary.split("True peak:", 1)[1], "Peak:", "dBFS"),
        range_lu=_figure(summary.split("Loudness range:", 1)[1], "LRA:", "LU"),
        threshold_lufs=_figure(integrated, "Threshold:", "LUFS"),
    )


# EBU R128 with the true peak found at four times the rate; a quarter of the time loudnorm takes to measure (it
# resamples to 192 kHz), and it passes the audio on, so what is written is measured in the same run.
EBUR128 = "ebur128=peak=true"


def measure_loudness(source: Path) -> Loudness:
    """Integrated loudness, true peak, loudness range and gate of `source` (EBU R128)."""
    return _measured(_ffmpeg(["-i", str(source), "-af", EBUR128, "-f", "null", "-"]))


def adjust(source: Path, target: Path, *, gain_db: float, ceiling_dbtp: float | None, sample_rate: int) -> Loudness:
    """`source` raised by `gain_db`, as a mono 16-bit WAV; returns what the written audio measures (EBU R128). With
    a ceiling, peaks are held under it by a look-ahead limiter, its delay compensated (every sample stays where it
    was); it limits samples, so the true peak between them can pass the ceiling by a little: the caller checks."""
    chain = f"volume={gain_db:.2f}dB"
    if ceiling_dbtp is not None:
        ceiling = min(1.0, max(0.0625, 10 ** (ceiling_dbtp / 20)))  # alimiter's range
        chain += f",alimiter=limit={ceiling:.5f}:attack=5:release=100:level=false:latency=true"
    # ebur128 measures after the samples are what the WAV will hold: 16-bit, at the episode's rate
    chain += f",aresample={sample_rate},aformat=sample_fmts=s16,{EBUR128}"
    return _measured(_ffmpeg(["-i", str(source), "-af", chain, *_wav_output(target, sample_rate)]))


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
    # ID3v2.3: more players read its chapter frames than v2.4's
    "mp3": ("libmp3lame", ["-id3v2_version", "3", "-write_id3v1", "1"]),
    # ffmpeg's default AAC search is three times slower, for nothing a listener hears in speech at 96 kb/s
    "m4a": ("aac", ["-aac_coder", "fast", "-movflags", "+faststart"]),
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
