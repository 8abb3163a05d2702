"""A transcript cut into passages for search: runs of whole segments, about 60 to 90 s and at most ~300 tokens, broken
at a change of speaker once a passage has 20 words, each overlapping the one before by a segment so a sentence
that straddles two passages is found whole in one."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

MIN_SECONDS = 60.0
MAX_SECONDS = 90.0
MAX_TOKENS = 300
MIN_WORDS_BEFORE_SPEAKER_BREAK = 20

_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Chunk:
    seq: int
    start: float
    end: float
    speakers: list[str]  # display names (or labels), in order of first words
    segment_ids: list[int]
    text: str
    tokens: int


def estimate_tokens(text: str) -> int:
    """Sub-word tokens of a multilingual tokenizer, roughly: a word and a third per word, or four characters each,
    whichever is more."""
    return max(math.ceil(len(_WORD.findall(text)) * 4 / 3), math.ceil(len(text) / 4))


def _speaker(segment: dict[str, Any], names: dict[str, str]) -> str | None:
    label = segment.get("speaker")
    return names.get(label, label) if label else None


def chunks_of(document: dict[str, Any]) -> list[Chunk]:
    """The passages of a transcript document (`segments`, and `speakers` naming its labels)."""
    names = {str(k): str(v) for k, v in (document.get("speakers") or {}).items()}
    segments = [s for s in document.get("segments") or [] if str(s.get("text") or "").strip()]
    out: list[Chunk] = []
    current: list[dict[str, Any]] = []

    def close() -> None:
        speakers: list[str] = []
        for segment in current:
            name = _speaker(segment, names)
            if name and name not in speakers:
                speakers.append(name)
        text = " ".join(str(segment["text"]).strip() for segment in current)
        out.append(
            Chunk(
                seq=len(out),
                start=float(current[0]["start"]),
                end=float(current[-1]["end"]),
                speakers=speakers,
                segment_ids=[int(segment["id"]) for segment in current],
                text=text,
                tokens=estimate_tokens(text),
            )
        )

    for segment in segments:
        if current:
            start = float(current[0]["start"])
            tokens = estimate_tokens(" ".join(str(s["text"]) for s in [*current, segment]))
            words = sum(len(_WORD.findall(str(s["text"]))) for s in current)
            long_enough = float(current[-1]["end"]) - start >= MIN_SECONDS
            too_long = float(segment["end"]) - start > MAX_SECONDS or tokens > MAX_TOKENS
            new_speaker = _speaker(segment, names) != _speaker(current[-1], names)
            if long_enough or too_long or (new_speaker and words >= MIN_WORDS_BEFORE_SPEAKER_BREAK):
                close()
                # Overlap by the last segment, unless that segment is the whole passage (it would repeat forever)
                # or it alone leaves no room for the next one.
                current = [current[-1]] if len(current) > 1 and not too_long else []
        current.append(segment)
    if current and (not out or current[-1]["id"] != out[-1].segment_ids[-1]):
        close()
    return out
