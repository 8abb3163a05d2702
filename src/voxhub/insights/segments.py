"""A transcript as the insights methods read it: segments with their ids, times and word times, made from a stored
transcript or from plain text (split into sentences, without times)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from voxhub.insights.schemas import Coverage

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")
_ENDS_SENTENCE = re.compile(r"[.!?…][\"')\]]*$")
_TOKEN = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")  # apostrophes inside words: "don't" is one


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Segment:
    id: int
    start: float | None  # None for plain text
    end: float | None
    text: str
    words: tuple[Word, ...] = ()


def from_transcript(data: Mapping[str, Any]) -> list[Segment]:
    """The segments of a stored transcript that have text, in order of time."""
    segments = []
    for raw in data.get("segments") or []:
        text = str(raw.get("text") or "").strip()
        if not text:
            continue
        words = tuple(
            Word(float(word["start"]), float(word["end"]), str(word.get("word") or ""))
            for word in raw.get("words") or []
            if word.get("start") is not None and word.get("end") is not None
        )
        segments.append(Segment(int(raw["id"]), float(raw["start"]), float(raw["end"]), text, words))
    return sorted(segments, key=lambda segment: (segment.start or 0.0, segment.id))


def from_text(text: str) -> list[Segment]:
    """Plain text as numbered sentences (a line break ends one too)."""
    sentences = [part.strip() for part in _SENTENCE_END.split(text) if part and part.strip()]
    return [Segment(number, None, None, sentence) for number, sentence in enumerate(sentences)]


def sentences(segments: Sequence[Segment]) -> list[Segment]:
    """Each segment cut into its sentences, which keep their segment's id (a recogniser's segment may hold several:
    batched Whisper writes 30 s ones). Times come from the words where there are words, else the segment's time is
    shared out by length."""
    out: list[Segment] = []
    for segment in segments:
        if segment.words:
            current: list[Word] = []
            for word in segment.words:
                current.append(word)
                if _ENDS_SENTENCE.search(word.text.strip()):
                    out.append(_sentence(segment, current))
                    current = []
            if current:
                out.append(_sentence(segment, current))
            continue
        parts = [part.strip() for part in _SENTENCE_END.split(segment.text) if part.strip()]
        if len(parts) <= 1 or segment.start is None or segment.end is None:
            out += [Segment(segment.id, segment.start, segment.end, part) for part in parts or [segment.text]]
            continue
        total, done, span = sum(len(part) for part in parts), 0, segment.end - segment.start
        for part in parts:
            start = segment.start + span * done / total
            done += len(part)
            out.append(Segment(segment.id, round(start, 3), round(segment.start + span * done / total, 3), part))
    return out


def _sentence(segment: Segment, words: list[Word]) -> Segment:
    text = "".join(word.text for word in words).strip()
    return Segment(segment.id, words[0].start, words[-1].end, text, tuple(words))


def tokens(text: str) -> list[str]:
    """Lower-case words without punctuation, as phrases are matched."""
    return [token.lower() for token in _TOKEN.findall(text)]


def word_count(segments: Sequence[Segment]) -> int:
    return sum(len(segment.text.split()) for segment in segments)


def coverage(segments: Sequence[Segment]) -> Coverage:
    """One stretch read from the first of `segments` to the last."""
    first, last = segments[0], segments[-1]
    return Coverage(start=first.start, end=last.end, first_segment_id=first.id, last_segment_id=last.id)


def merge_coverage(ranges: Sequence[Coverage], order: Sequence[Segment]) -> list[Coverage]:
    """Stretches that follow one another in `order` (no segment between them unread) become one."""
    position = {segment.id: index for index, segment in enumerate(order)}
    merged: list[Coverage] = []
    for item in sorted(ranges, key=lambda r: position[r.first_segment_id]):
        if merged and position[item.first_segment_id] == position[merged[-1].last_segment_id] + 1:
            merged[-1] = Coverage(
                start=merged[-1].start,
                end=item.end,
                first_segment_id=merged[-1].first_segment_id,
                last_segment_id=item.last_segment_id,
            )
        else:
            merged.append(item)
    return merged
