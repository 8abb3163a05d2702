"""What an episode is published as: MP3 (or M4A) with tags and chapters, Podcasting 2.0 chapters JSON, and captions
(WebVTT, SRT) with the hosts' names and the mix's exact times."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from voxhub.media import audio
from voxhub.podcasts.mix import Cue, Mixed
from voxhub.podcasts.schemas import ChapterMark

SAMPLE_RATE = 44_100
# Mono speech, sometimes with music under it: 128 kb/s MP3 and 96 kb/s AAC are transparent for it; the usual
# podcast 64 kb/s lisps on a music bed.
BITRATES_KBPS = {"mp3": 128, "m4a": 96}
GENRE = "Podcast"
CHAPTERS_VERSION = "1.2.0"  # Podcasting 2.0 JSON chapters


def _chapter_spans(chapters: list[ChapterMark], duration_s: float) -> list[audio.Chapter]:
    """Each chapter runs to the next one's start, the last to the end."""
    ends = [chapter.start for chapter in chapters[1:]] + [duration_s]
    return [
        audio.Chapter(start_s=chapter.start, end_s=max(chapter.start, end), title=chapter.title)
        for chapter, end in zip(chapters, ends, strict=True)
    ]


def encode(
    mixed: Mixed,
    target: Path,
    *,
    fmt: Literal["mp3", "m4a"],
    title: str,
    artist: str,
    date: str,
    chapters: list[ChapterMark],
) -> None:
    """MP3 (128 kb/s, 44.1 kHz, mono) with ID3v2.3 tags title/artist/date and CHAP/CTOC chapter frames, or M4A (AAC,
    96 kb/s) with the same tags and chapters. Raises ConvertFailed (voxhub.media.convert) when ffmpeg fails."""
    tags = {"title": title, "artist": artist, "album_artist": artist, "date": date, "genre": GENRE}
    try:
        audio.encode_tagged(
            mixed.path,
            target,
            fmt=fmt,
            bitrate_kbps=BITRATES_KBPS[fmt],
            sample_rate=SAMPLE_RATE,
            tags=tags,
            chapters=_chapter_spans(chapters, mixed.duration_s),
        )
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def chapters_json(chapters: list[ChapterMark], duration_s: float, *, title: str | None = None) -> dict[str, Any]:
    """Podcasting 2.0 JSON chapters: {"version": "1.2.0", "chapters": [{"startTime": .., "title": ..}, ...]}."""
    document: dict[str, Any] = {"version": CHAPTERS_VERSION}
    if title:
        document["title"] = title
    document["chapters"] = [
        {"startTime": round(span.start_s, 3), "endTime": round(span.end_s, 3), "title": span.title}
        for span in _chapter_spans(chapters, duration_s)
    ]
    return document


def _timestamp(seconds: float, separator: str) -> str:
    milliseconds = max(0, round(seconds * 1000))
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}{separator}{millis:03d}"


def _one_line(text: str) -> str:
    """A caption's text on one line: a blank line would end the cue."""
    return " ".join(text.split())


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def vtt(cues: list[Cue]) -> str:
    """WebVTT, one cue per line of the script, the speaker in a <v> voice tag."""
    blocks = ["WEBVTT"]
    for cue in cues:
        times = f"{_timestamp(cue.start, '.')} --> {_timestamp(cue.end, '.')}"
        blocks.append(f"{times}\n<v {_vtt_escape(cue.speaker)}>{_vtt_escape(_one_line(cue.text))}")
    return "\n\n".join(blocks) + "\n"


def srt(cues: list[Cue]) -> str:
    """SubRip, numbered, each caption "Speaker: text"."""
    blocks = [
        f"{number}\n{_timestamp(cue.start, ',')} --> {_timestamp(cue.end, ',')}\n{cue.speaker}: {_one_line(cue.text)}"
        for number, cue in enumerate(cues, start=1)
    ]
    return "\n\n".join(blocks) + "\n"
