"""A dub's subtitles: SubRip and WebVTT of the source's lines at their times, and of each language's lines at the
times its dub is heard."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


def _timestamp(seconds: float, separator: str) -> str:
    milliseconds = max(0, round(seconds * 1000))
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}{separator}{millis:03d}"


def _one_line(text: str) -> str:
    return " ".join(text.split())  # a blank line would end the cue


def srt(cues: list[Cue]) -> str:
    """SubRip, numbered from 1."""
    blocks = [
        f"{number}\n{_timestamp(cue.start, ',')} --> {_timestamp(cue.end, ',')}\n{_one_line(cue.text)}"
        for number, cue in enumerate(cues, start=1)
    ]
    return "\n\n".join(blocks) + "\n"


def vtt(cues: list[Cue]) -> str:
    """WebVTT, what browsers show over a <video>."""
    blocks = ["WEBVTT"]
    for cue in cues:
        text = _one_line(cue.text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        blocks.append(f"{_timestamp(cue.start, '.')} --> {_timestamp(cue.end, '.')}\n{text}")
    return "\n\n".join(blocks) + "\n"
