"""Dub units from a transcript: sentences from word timings, one speaker's sentences joined across short gaps up to
a cap, and each unit's slot (its start up to the next speech, less a guard). Stretches without words keep the
original audio. Pure functions: the pipeline gives them the transcript and keeps what they return."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from voxhub.dubbing.schemas import Unit

MERGE_GAP_S = 0.3  # one speaker's sentences closer than this are one unit: a dub reads better in whole thoughts
MAX_UNIT_S = 12.0  # a longer unit is split: long clips drift and are hard to fix one at a time
SPLIT_GAP_S = 1.0  # a pause this long ends a sentence even without its full stop
GUARD_S = 0.1  # a dub ends this long before the next speech begins
ENDINGS = (".", "?", "!", "…", "。", "\uff1f", "\uff01")  # the last two: full-width ? and !


@dataclass
class _Word:
    start: float
    end: float
    text: str
    speaker: str | None


def _words(transcript: dict[str, Any]) -> list[_Word]:
    """Every word with its speaker; a segment without word timings is one long word."""
    words: list[_Word] = []
    for segment in transcript.get("segments") or []:
        speaker = segment.get("speaker")
        timed = segment.get("words") or []
        if not timed:
            text = str(segment.get("text") or "").strip()
            if text:
                words.append(_Word(float(segment["start"]), float(segment["end"]), text, speaker))
            continue
        for word in timed:
            text = str(word.get("word") or "").strip()
            if text:
                words.append(_Word(float(word["start"]), float(word["end"]), text, word.get("speaker") or speaker))
    words.sort(key=lambda word: word.start)
    return words


def _sentences(words: list[_Word]) -> list[list[_Word]]:
    sentences: list[list[_Word]] = []
    current: list[_Word] = []
    for word in words:
        if current and (word.speaker != current[-1].speaker or word.start - current[-1].end >= SPLIT_GAP_S):
            sentences.append(current)
            current = []
        current.append(word)
        if word.text.endswith(ENDINGS):
            sentences.append(current)
            current = []
    if current:
        sentences.append(current)
    return sentences


def _capped(sentence: list[_Word]) -> list[list[_Word]]:
    """A sentence longer than the cap, cut after a comma (or else at the widest pause) before the cap, repeatedly."""
    pieces = []
    rest = sentence
    while rest and rest[-1].end - rest[0].start > MAX_UNIT_S:
        inside = [n for n in range(1, len(rest)) if rest[n - 1].end - rest[0].start <= MAX_UNIT_S] or [1]
        commas = [n for n in inside if rest[n - 1].text.endswith((",", ";", ":"))]
        cut = commas[-1] if commas else max(inside, key=lambda n: (rest[n].start - rest[n - 1].end, n))
        pieces.append(rest[:cut])
        rest = rest[cut:]
    if rest:
        pieces.append(rest)
    return pieces


def _text(words: list[_Word]) -> str:
    return " ".join(word.text for word in words).strip()


def make_units(
    transcript: dict[str, Any], *, duration_s: float, samples: np.ndarray | None = None, rate: int = 16000
) -> list[Unit]:
    """The dub units of a transcript, in order, with their slots; with the recording's `samples` (mono floats),
    each unit's start and end moved to where its speech is heard."""
    edges = _Edges(samples, rate) if samples is not None else None
    words = _words(transcript)
    if edges is not None:
        words = edges.retime(words)
    groups: list[list[_Word]] = []
    for sentence in _sentences(words):
        for piece in _capped(sentence):
            last = groups[-1] if groups else None
            if (
                last is not None
                and last[-1].speaker == piece[0].speaker
                and piece[0].start - last[-1].end < MERGE_GAP_S
                and piece[-1].end - last[0].start <= MAX_UNIT_S
            ):
                last.extend(piece)
            else:
                groups.append(list(piece))
    spans = [(group[0].start, max(word.end for word in group)) for group in groups]
    if edges is not None:
        spans = [edges.span(group[0], group[-1]) for group in groups]
    units = [
        Unit(
            index=number,
            start=round(spans[number][0], 3),
            end=round(spans[number][1], 3),
            slot_end=0.0,
            speaker=group[0].speaker,
            text=_text(group),
        )
        for number, group in enumerate(groups)
    ]
    return with_slots(units, duration_s=duration_s)


def with_slots(units: list[Unit], *, duration_s: float) -> list[Unit]:
    """Each unit's slot: from its start to the next unit's start less the guard (never before its own end), the
    last one to the end of the recording."""
    ordered = sorted(units, key=lambda unit: (unit.start, unit.index))
    for unit, following in zip(ordered, [*ordered[1:], None], strict=True):
        limit = following.start - GUARD_S if following is not None else duration_s
        unit.slot_end = round(max(unit.end, min(limit, duration_s)), 3)
    return units


def in_range(unit: Unit, start: float | None, end: float | None) -> bool:
    """Whether a unit is inside the part of the recording asked to be dubbed."""
    return (start is None or unit.start >= start) and (end is None or unit.end <= end)


FRAME_S = 0.01
ABOVE_DB = 9.0  # speech stands this far above the quiet part of the recording (a music bed, room noise)
LOOK_BEFORE_S, LOOK_AFTER_S = 0.2, 0.4
QUIET_SHARE = 0.2  # a word heard in less of its time than this was timed where it is not


class _Edges:
    """Where speech is heard: 10 ms frames whose level rises ABOVE_DB over the recording's 20th percentile.

    Whisper stretches the first word of a segment back over the silence before it (by up to 0.7 s here, under a
    music bed), so a dub placed by that time starts early; the end of that word, and the start of the last one,
    are close. A unit's start is the first steady loud frame from a little before its first word up to that word's
    end; its end the last loud frame from its last word's start to a little after its end."""

    def __init__(self, samples: np.ndarray, rate: int) -> None:
        hop = max(1, round(FRAME_S * rate))
        frames = samples[: samples.size // hop * hop].reshape(-1, hop).astype(np.float64)
        level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-10) if frames.size else np.zeros(0)
        self.loud = level > (float(np.percentile(level, 20)) + ABOVE_DB if level.size else 0.0)
        # three frames in a row: a click is not speech
        self.steady = self.loud & np.roll(self.loud, -1) & np.roll(self.loud, -2)

    def _frames(self, begin: float, end: float) -> tuple[int, int]:
        return max(0, round(begin / FRAME_S)), min(self.loud.size, round(end / FRAME_S))

    def _heard(self, word: _Word) -> float:
        """The share of a word's time in which speech is heard."""
        low, high = self._frames(word.start, word.end)
        return float(self.loud[low:high].mean()) if high > low else 0.0

    def retime(self, words: list[_Word]) -> list[_Word]:
        """Words moved across a long pause to the side they are heard on. Whisper times the first word after a pause
        as if it came straight after the word before ("warm" 10.31-10.69, "Thank" 10.69-11.55, "you" 14.11): a word
        next to a pause of SPLIT_GAP_S or more in whose time almost nothing is heard goes to the other side of the
        pause, against its neighbour there."""
        for number in range(len(words) - 1):
            word, following = words[number], words[number + 1]
            if following.start - word.end < SPLIT_GAP_S or word.speaker != following.speaker:
                continue
            length = min(word.end - word.start, 0.5)
            if self._heard(word) < QUIET_SHARE <= self._heard(following):
                word.start, word.end = following.start - length, following.start
            elif self._heard(following) < QUIET_SHARE <= self._heard(word):
                length = min(following.end - following.start, 0.5)
                following.start, following.end = word.end, word.end + length
        return words

    def span(self, first: _Word, last: _Word) -> tuple[float, float]:
        start, end = first.start, last.end
        low, high = self._frames(first.start - LOOK_BEFORE_S, first.end)
        onsets = np.flatnonzero(self.steady[low:high])
        if onsets.size:
            start = (low + int(onsets[0])) * FRAME_S
        low, high = self._frames(last.start, last.end + LOOK_AFTER_S)
        ends = np.flatnonzero(self.loud[low:high])
        if ends.size:
            end = (low + int(ends[-1]) + 1) * FRAME_S
        return start, max(end, start + 0.1)
