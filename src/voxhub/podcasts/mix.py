"""The episode's audio from its rendered lines: varied pauses, short fades, hosts at one level, an optional intro,
outro and music bed ducked under speech, then loudness normalised to -16 LUFS (EBU R128, two passes, one gain).

The timeline is built sample by sample, so every line's time in the episode is exact (captions and chapters need no
speech recognition), and it is written as it is built: an hour-long episode never sits in memory whole."""

from __future__ import annotations

import itertools
import math
import random
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from voxhub.media import audio
from voxhub.podcasts.schemas import ChapterMark

SAMPLE_RATE = 44_100
TARGET_LUFS = -16.0  # integrated, EBU R128: what podcast apps and Apple ask for
# -2 dBTP rather than the -1.5 promised: MP3 and AAC encoders overshoot a little, and the published files must keep it.
TARGET_PEAK_DBTP = -2.0
# The limiter's ceiling under the target peak: it limits samples, and the true peaks between them passed it by up to
# 0.7 dB on the voices here at an episode's usual gain, so a smaller margin costs a round with the ceiling lowered.
LIMIT_MARGIN_DB = 0.8
LIMIT_ROUNDS = 4
LIMITED_SLOPE = 0.5  # LU of loudness gained per dB of gain once a limiter holds the peaks (measured on the voices)
# Speech this many LU or more under the limiter's ceiling loses no loudness to it; closer, each dB of gain loses
# (1 - LIMITED_SLOPE) LU. Measured on the voices here (16.9 to 17.4 on SHORT, LONG and 1-minute episodes), so the
# first limited try lands within the tolerance: an episode takes one round, where aiming without it took four.
LIMITER_KNEE_LU = 17.2
TOLERANCE_LU = 0.25
SILENT_LUFS = -69.0  # ebur128 reports -70 for silence: no gain raises that to speech

PAUSE_S = (0.25, 0.7)  # between two lines of one segment
SEGMENT_PAUSE_S = (0.9, 1.3)  # before a new segment: a breath longer
LEAD_IN_S = 0.3  # before the first sound
TAIL_S = 0.5  # after the last
EXTRA_GAP_S = 0.6  # between the intro or outro and the voices
FADE_IN_S, FADE_OUT_S = 0.01, 0.02  # at a clip's edges, which rendering left quiet: no click where a clip starts
EXTRA_FADE_S = 0.05  # at the intro's and outro's edges

SPEECH_RMS = 10 ** (-23 / 20)  # every host spoken at this level (of full scale): room left for the bed
EXTRA_DB = -2.0  # intro and outro sit a little under the voices: music at equal level sounds louder
BED_UP_DB, BED_DOWN_DB = -10.0, -24.0  # the bed under the voices' level, alone and under speech
BED_LEAD_S, BED_TAIL_S = 2.0, 2.5  # the bed alone before the first line and after the last
BED_FADE_S = 1.0  # the bed fading in and out
DUCK_RAMP_S = 0.4  # the bed going down before a line and up after it
DUCK_PAD_S = 0.25  # ducked a little before speech starts and after it ends
DUCK_BRIDGE_S = 1.5  # shorter gaps between lines stay ducked: a bed that rose between turns would pump
ACTIVE_RMS = 10 ** (-50 / 20)  # 20 ms frames quieter than this are silence when a level is measured
BLOCK = SAMPLE_RATE * 10  # silence and the bed are written in blocks of this many samples


@dataclass(frozen=True)
class Turn:
    """One rendered line."""

    path: Path  # its WAV (from voices.render)
    speaker: str
    text: str  # as written in the script (captions show this)
    segment: int  # index of its script segment


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    speaker: str
    text: str
    segment: int


@dataclass(frozen=True)
class Mixed:
    path: Path  # the mixed, loudness-normalised WAV (44.1 kHz)
    duration_s: float
    cues: list[Cue]  # exact times of every line in the mixed audio (intro included in the offset)
    chapters: list[ChapterMark]  # one per script segment, at its first line's start (0 for the first)
    integrated_lufs: float
    true_peak_dbtp: float


Samples = NDArray[np.float32]


def _read(path: Path) -> Samples:
    with wave.open(str(path), "rb") as clip:
        frames = clip.readframes(clip.getnframes())
    return (np.frombuffer(frames, dtype="<i2").astype(np.float32)) / 32768.0


def _is_ours(path: Path) -> bool:
    """A mono 16-bit WAV at the episode's rate, as voices.render writes them."""
    try:
        with wave.open(str(path), "rb") as clip:
            return (clip.getnchannels(), clip.getsampwidth(), clip.getframerate()) == (1, 2, SAMPLE_RATE)
    except (wave.Error, EOFError):
        return False


def _as_ours(path: Path, work_dir: Path, name: str) -> Path:
    if _is_ours(path):
        return path
    decoded = work_dir / f"{name}.wav"
    audio.decode_to_wav(path, decoded, sample_rate=SAMPLE_RATE)
    return decoded


def _samples(seconds: float) -> int:
    return round(seconds * SAMPLE_RATE)


def _active_power(samples: Samples) -> tuple[float, int]:
    """Sum of squares and count of the samples in 20 ms frames louder than silence."""
    frame = SAMPLE_RATE // 50
    usable = len(samples) - len(samples) % frame
    if not usable:
        return 0.0, 0
    frames = samples[:usable].reshape(-1, frame).astype(np.float64)
    power = (frames**2).mean(axis=1)
    loud = power > ACTIVE_RMS**2
    return float(power[loud].sum() * frame), int(loud.sum() * frame)


def _gain_to(level: float, power: float, count: int, peak: float) -> float:
    """The gain that brings audio of this active power to `level` RMS, never pushing its peak past full scale."""
    if not count or peak <= 0:
        return 1.0
    rms = math.sqrt(power / count)
    return min(level / rms, 0.95 / peak)


def _faded(samples: Samples, fade_in_s: float, fade_out_s: float) -> Samples:
    out = samples.copy()
    for seconds, at_start in ((fade_in_s, True), (fade_out_s, False)):
        n = min(_samples(seconds), len(out) // 2)
        if n:
            ramp = (0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n, dtype=np.float32))).astype(np.float32)
            if at_start:
                out[:n] *= ramp
            else:
                out[-n:] *= ramp[::-1]
    return out


@dataclass(frozen=True)
class _Bed:
    samples: Samples  # one loop, at its own level
    start: int  # where it starts in the timeline
    end: int  # and stops
    points_x: NDArray[np.float64]  # the gain envelope's corners (timeline samples) ...
    points_y: NDArray[np.float64]  # ... and its gains there

    def block(self, first: int, count: int) -> Samples | None:
        """The bed under timeline samples [first, first + count), None where it is silent."""
        if first + count <= self.start or first >= self.end:
            return None
        positions = np.arange(first, first + count, dtype=np.int64)
        gains = np.interp(positions, self.points_x, self.points_y, left=0.0, right=0.0).astype(np.float32)
        looped = self.samples[(positions - self.start) % len(self.samples)]
        return np.where((positions >= self.start) & (positions < self.end), looped * gains, 0.0).astype(np.float32)


def _speech_spans(cues: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The stretches the bed ducks under: lines padded a little, joined across short gaps."""
    spans: list[tuple[int, int]] = []
    for start, end in cues:
        start, end = start - _samples(DUCK_PAD_S), end + _samples(DUCK_PAD_S)
        if spans and start - spans[-1][1] < _samples(DUCK_BRIDGE_S):
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def _bed(path: Path, *, start: int, end: int, speech: list[tuple[int, int]], speech_rms: float) -> _Bed:
    samples = _read(path)
    if not samples.size or not np.abs(samples).max():
        raise ValueError("the music bed is silent")
    # The loop's ends dip rather than click where it starts over.
    samples = _faded(samples, 0.05, 0.05)
    power, count = _active_power(samples)
    level = _gain_to(speech_rms, power, count, float(np.abs(samples).max()))
    up, down = level * 10 ** (BED_UP_DB / 20), level * 10 ** (BED_DOWN_DB / 20)
    ramp, fade = _samples(DUCK_RAMP_S), _samples(BED_FADE_S)
    xs: list[float] = [start, start + fade]
    ys: list[float] = [0.0, up]
    for span_start, span_end in _speech_spans(speech):
        xs += [span_start - ramp, span_start, span_end, span_end + ramp]
        ys += [up, down, down, up]
    xs += [end - fade, end]
    ys += [up, 0.0]
    return _Bed(samples, start, end, np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64))


def _pauses(turns: list[Turn], seed: int) -> list[float]:
    """The silence before each line after the first: drawn from `seed`, so the same episode mixes the same."""
    rng = random.Random(seed)  # noqa: S311 - pauses, not secrets
    return [
        rng.uniform(*(SEGMENT_PAUSE_S if turn.segment != previous.segment else PAUSE_S))
        for previous, turn in itertools.pairwise(turns)
    ]


@dataclass(frozen=True)
class _Piece:
    """Something in the timeline: a clip (its samples read when written) or silence."""

    start: int
    path: Path | None = None
    gain: float = 1.0
    fades: tuple[float, float] = (0.0, 0.0)


def _write(pieces: list[_Piece], bed: _Bed | None, target: Path, total: int) -> None:
    with wave.open(str(target), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        for first, block in _blocks(pieces, total):
            under = bed.block(first, len(block)) if bed is not None else None
            if under is not None:
                block = block + under
            out.writeframes((np.clip(block, -1.0, 1.0) * 32767).astype("<i2").tobytes())


def _blocks(pieces: list[_Piece], total: int) -> Iterator[tuple[int, Samples]]:
    """The timeline in order, as (first sample, samples); pieces do not overlap, gaps are silence."""
    position = 0
    for piece in [*pieces, _Piece(start=total)]:
        while position < piece.start:
            count = min(BLOCK, piece.start - position)
            yield position, np.zeros(count, dtype=np.float32)
            position += count
        if piece.path is not None:
            samples = _faded(_read(piece.path) * np.float32(piece.gain), *piece.fades)
            yield position, samples
            position += len(samples)


def _normalized(raw: Path, final: Path, report: Callable[[float], None]) -> audio.Loudness:
    """Two passes, EBU R128: measure, then one gain for the whole episode. Speech peaks high for its loudness (about
    22 dB over it from the voices here, where -16 LUFS with -2 dBTP leaves 14), so that gain alone would push the true
    peak over the limit: the peaks are then held down by a limiter as the gain is applied, and what it wrote measured.
    Limiting costs loudness (about half a dB for each dB of gain added), so the first gain already makes up what the
    limiter is expected to cost; a try that misses is tried again, aimed by the loudness the earlier tries reached,
    until the episode is within a quarter of a LU of the target.

    Measured with ebur128 and applied with volume (and alimiter) rather than loudnorm's two passes: loudnorm
    resamples to 192 kHz to measure and again to apply, about four times slower on a 5-minute episode, and falls back
    to compressing the whole episode dynamically whenever one gain would pass the peak limit."""
    measured = audio.measure_loudness(raw)
    if measured.integrated_lufs <= SILENT_LUFS:
        raise ValueError("the mixed episode is silent")
    report(0.5)
    gain_db = TARGET_LUFS - measured.integrated_lufs
    if measured.true_peak_dbtp + gain_db <= TARGET_PEAK_DBTP:
        result = audio.adjust(raw, final, gain_db=gain_db, ceiling_dbtp=None, sample_rate=SAMPLE_RATE)
        report(1.0)
        return result
    ceiling_db = TARGET_PEAK_DBTP - LIMIT_MARGIN_DB
    lost = 1.0 - LIMITED_SLOPE
    # The first try aims at the loudness the limiter will cost: solved from the knee, with the loss of loudness it
    # predicts at the gain it chooses.
    gain_db += max(0.0, lost / LIMITED_SLOPE * (LIMITER_KNEE_LU - (ceiling_db - TARGET_LUFS)))
    tries: list[tuple[float, float]] = []  # (gain, loudness reached)
    for attempt in range(LIMIT_ROUNDS):
        result = audio.adjust(raw, final, gain_db=gain_db, ceiling_dbtp=ceiling_db, sample_rate=SAMPLE_RATE)
        report(0.5 + 0.5 * (attempt + 1) / LIMIT_ROUNDS)
        if result.true_peak_dbtp > TARGET_PEAK_DBTP:
            lowered = result.true_peak_dbtp - TARGET_PEAK_DBTP + LIMIT_MARGIN_DB
            ceiling_db -= lowered
            # a lower ceiling limits more: the gain makes up the loudness it would cost
            gain_db += lowered * lost / LIMITED_SLOPE
            tries.clear()  # loudness reached under another ceiling aims nothing under this one
            continue
        missing = TARGET_LUFS - result.integrated_lufs
        if abs(missing) <= TOLERANCE_LU:
            break
        tries.append((gain_db, result.integrated_lufs))
        slope = LIMITED_SLOPE
        if len(tries) > 1:
            (gain_a, loud_a), (gain_b, loud_b) = tries[-2:]
            slope = (loud_b - loud_a) / (gain_b - gain_a) if gain_b != gain_a else slope
        gain_db += missing / min(1.0, max(0.2, slope))
    if result.true_peak_dbtp > TARGET_PEAK_DBTP:  # the rounds ran out lowering the ceiling: a little quieter, safe
        ceiling_db -= result.true_peak_dbtp - TARGET_PEAK_DBTP + 1.0
        result = audio.adjust(raw, final, gain_db=gain_db, ceiling_dbtp=ceiling_db, sample_rate=SAMPLE_RATE)
    report(1.0)
    return result


def mix(
    turns: list[Turn],
    *,
    segment_titles: list[str],
    work_dir: Path,
    seed: int,
    intro: Path | None = None,
    outro: Path | None = None,
    music_bed: Path | None = None,
    progress: Callable[[float], None] | None = None,
) -> Mixed:
    """The episode: each line after a varied pause (longer between segments), the intro before and the outro after
    (anything ffmpeg reads), the music bed looped under the voices and ducked while they speak, then loudness
    normalised to -16 LUFS with true peaks at most -2 dBTP (measure, then one gain, peaks limited). Raises ValueError
    for nothing to mix or a segment without a title, ConvertFailed (voxhub.media.convert) for audio ffmpeg cannot
    read."""
    if not turns:
        raise ValueError("there are no lines to mix")
    if any(not 0 <= turn.segment < len(segment_titles) for turn in turns):
        raise ValueError("a line's segment has no title")
    report = progress or (lambda _fraction: None)
    work_dir.mkdir(parents=True, exist_ok=True)

    clips = [_as_ours(turn.path, work_dir, f"line-{number}") for number, turn in enumerate(turns)]
    lengths: list[int] = []
    peaks: dict[str, float] = {}
    power: dict[str, tuple[float, int]] = {}
    for turn, clip in zip(turns, clips, strict=True):
        samples = _read(clip)
        lengths.append(len(samples))
        sum_squares, count = _active_power(samples)
        total_power, total_count = power.get(turn.speaker, (0.0, 0))
        power[turn.speaker] = (total_power + sum_squares, total_count + count)
        peaks[turn.speaker] = max(peaks.get(turn.speaker, 0.0), float(np.abs(samples).max(initial=0.0)))
    gains = {speaker: _gain_to(SPEECH_RMS, *power[speaker], peaks[speaker]) for speaker in power}
    report(0.1)

    pieces: list[_Piece] = []
    position = 0

    def extra(path: Path, name: str) -> None:
        nonlocal position
        clip = _as_ours(path, work_dir, name)
        samples = _read(clip)
        if not samples.size:
            return
        extra_power, count = _active_power(samples)
        gain = _gain_to(SPEECH_RMS * 10 ** (EXTRA_DB / 20), extra_power, count, float(np.abs(samples).max()))
        pieces.append(_Piece(position, clip, gain, (EXTRA_FADE_S, EXTRA_FADE_S)))
        position += len(samples)

    if intro is not None:
        extra(intro, "intro")
    position += _samples(EXTRA_GAP_S if pieces else LEAD_IN_S)
    bed_start = position
    if music_bed is not None:
        position += _samples(BED_LEAD_S)
    spans: list[tuple[int, int]] = []
    for turn, clip, length, pause in zip(turns, clips, lengths, [0.0, *_pauses(turns, seed)], strict=True):
        position += _samples(pause)
        pieces.append(_Piece(position, clip, gains[turn.speaker], (FADE_IN_S, FADE_OUT_S)))
        spans.append((position, position + length))
        position += length
    bed_end = position + _samples(BED_TAIL_S) if music_bed is not None else position
    position = bed_end
    if outro is not None:
        position += _samples(EXTRA_GAP_S)
        extra(outro, "outro")
    total = position + _samples(TAIL_S)

    bed = None
    if music_bed is not None:
        loop = _as_ours(music_bed, work_dir, "bed")
        bed = _bed(loop, start=bed_start, end=bed_end, speech=spans, speech_rms=SPEECH_RMS)
    raw = work_dir / "mix.wav"
    _write(pieces, bed, raw, total)
    report(0.4)

    final = work_dir / "episode.wav"
    result = _normalized(raw, final, report)
    raw.unlink(missing_ok=True)

    cues = [
        Cue(
            start=start / SAMPLE_RATE, end=end / SAMPLE_RATE, speaker=turn.speaker, text=turn.text, segment=turn.segment
        )
        for turn, (start, end) in zip(turns, spans, strict=True)
    ]
    chapters = [
        ChapterMark(start=cue.start if number else 0.0, title=segment_titles[cue.segment])
        for number, cue in enumerate(cues)
        if not number or cue.segment != cues[number - 1].segment
    ]
    with wave.open(str(final), "rb") as written:
        duration_s = written.getnframes() / written.getframerate()
    return Mixed(
        path=final,
        duration_s=duration_s,
        cues=cues,
        chapters=chapters,
        integrated_lufs=result.integrated_lufs,
        true_peak_dbtp=result.true_peak_dbtp,
    )
