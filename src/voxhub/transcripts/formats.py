"""Transcript exports: render a stored transcript (a plain dict) as JSON, plain text, SubRip, WebVTT or TSV.

Subtitles are built from `cues()`: each segment becomes one or more cues that fit the line length, line count and
duration limits, timed by Whisper's word timestamps where it has them. A cue comes from one segment, so it never
mixes two speakers."""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from typing import Any

from voxhub.errors import BadRequest

Transcript = dict[str, Any]

FORMATS = ("json", "txt", "srt", "vtt", "tsv")
CONTENT_TYPES: dict[str, str] = {
    "json": "application/json",
    "txt": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "tsv": "text/tab-separated-values; charset=utf-8",
}

MAX_LINE_CHARS = 42
MAX_LINES = 2
MAX_CUE_S = 7.0
MIN_CUE_MS = 200  # long enough to be seen; a cue is cut shorter rather than overlap the next one
PARAGRAPH_PAUSE_MS = 2000  # in txt, a silence this long starts a new paragraph

# Where a long segment is best cut; the full-width marks are Chinese and Japanese punctuation.
_SENTENCE_ENDS = tuple(".!?…。！？")  # noqa: RUF001
_CLAUSE_ENDS = tuple(",;:—–、，；：")  # noqa: RUF001
_CLOSING_MARKS = "\"')]}»”’」』"  # noqa: RUF001


@dataclass
class Cue:
    """One subtitle, shown from `start` to `end` (seconds, to the millisecond), already wrapped into lines.
    `speaker` is the display name (from the transcript's `speakers`, else the segment's label)."""

    start: float
    end: float
    lines: list[str]
    speaker: str | None = None


@dataclass(frozen=True)
class _Segment:
    start_ms: int
    end_ms: int
    text: str  # whitespace normalised, never empty
    speaker: str | None
    words: list[Any]


@dataclass(frozen=True)
class _Token:
    text: str
    start_ms: int
    end_ms: int
    glue: bool = False  # written without a space before it (Whisper's words in languages without spaces)


@dataclass(frozen=True)
class _Draft:
    start_ms: int
    end_ms: int
    lines: list[str]
    speaker: str | None


def render(
    transcript: Transcript,
    fmt: str,
    *,
    max_line_chars: int = MAX_LINE_CHARS,
    max_lines: int = MAX_LINES,
    max_cue_s: float = MAX_CUE_S,
) -> str:
    """The transcript in `fmt` (one of FORMATS); the layout options apply to srt and vtt."""
    if fmt == "json":
        return to_json(transcript)
    if fmt == "txt":
        return to_txt(transcript)
    if fmt == "tsv":
        return to_tsv(transcript)
    if fmt == "srt":
        return to_srt(transcript, max_line_chars=max_line_chars, max_lines=max_lines, max_cue_s=max_cue_s)
    if fmt == "vtt":
        return to_vtt(transcript, max_line_chars=max_line_chars, max_lines=max_lines, max_cue_s=max_cue_s)
    raise BadRequest(
        f"Unknown transcript format {fmt!r}.", code="unsupported_format", details={"formats": list(FORMATS)}
    )


def to_json(transcript: Transcript) -> str:
    """The transcript as stored, on one line."""
    return json.dumps(transcript, ensure_ascii=False, indent=None)


def to_txt(transcript: Transcript) -> str:
    """Paragraphs of text: a new one when the speaker changes or after a long pause, each named by its speaker."""
    paragraphs: list[str] = []
    previous: _Segment | None = None
    for segment in _segments(transcript):
        if (
            previous is None
            or segment.speaker != previous.speaker
            or segment.start_ms - previous.end_ms >= PARAGRAPH_PAUSE_MS
        ):
            paragraphs.append(_with_speaker(segment.text, segment.speaker))
        else:
            paragraphs[-1] += " " + segment.text
        previous = segment
    return "\n\n".join(paragraphs) + "\n" if paragraphs else ""


def to_tsv(transcript: Transcript) -> str:
    """One row per segment, times in integer milliseconds like Whisper's own tsv writer."""
    segments = _segments(transcript)
    with_speaker = any(segment.speaker for segment in segments)
    rows = [["start", "end", "text", "speaker"] if with_speaker else ["start", "end", "text"]]
    for segment in segments:
        row = [str(segment.start_ms), str(segment.end_ms), segment.text]
        rows.append([*row, segment.speaker or ""] if with_speaker else row)
    return "".join("\t".join(row) + "\n" for row in rows)


def to_srt(
    transcript: Transcript,
    *,
    max_line_chars: int = MAX_LINE_CHARS,
    max_lines: int = MAX_LINES,
    max_cue_s: float = MAX_CUE_S,
) -> str:
    """SubRip: numbered cues, the speaker's name before the first line (not counted in its length)."""
    blocks = []
    shown = cues(transcript, max_line_chars=max_line_chars, max_lines=max_lines, max_cue_s=max_cue_s)
    for number, cue in enumerate(shown, start=1):
        lines = [_with_speaker(cue.lines[0], cue.speaker), *cue.lines[1:]]
        timing = f"{_timestamp(cue.start, ',')} --> {_timestamp(cue.end, ',')}"
        blocks.append(f"{number}\n{timing}\n" + "\n".join(lines) + "\n\n")
    return "".join(blocks)


def to_vtt(
    transcript: Transcript,
    *,
    max_line_chars: int = MAX_LINE_CHARS,
    max_lines: int = MAX_LINES,
    max_cue_s: float = MAX_CUE_S,
) -> str:
    """WebVTT: the speaker as a voice span (`<v Alice>`), text escaped so that it is never read as markup."""
    blocks = ["WEBVTT"]
    for cue in cues(transcript, max_line_chars=max_line_chars, max_lines=max_lines, max_cue_s=max_cue_s):
        text = "\n".join(html.escape(line, quote=False) for line in cue.lines)
        if cue.speaker:
            text = f"<v {html.escape(cue.speaker, quote=False)}>{text}"
        blocks.append(f"{_timestamp(cue.start, '.')} --> {_timestamp(cue.end, '.')}\n{text}")
    return "\n\n".join(blocks) + "\n"


def cues(
    transcript: Transcript,
    *,
    max_line_chars: int = MAX_LINE_CHARS,
    max_lines: int = MAX_LINES,
    max_cue_s: float = MAX_CUE_S,
) -> list[Cue]:
    """The transcript as subtitle cues, in time order, never overlapping, each at most `max_cue_s` long and at most
    `max_lines` lines of at most `max_line_chars` characters (a single longer word keeps a line of its own)."""
    if max_line_chars < 1 or max_lines < 1 or not max_cue_s > 0:
        raise ValueError("max_line_chars and max_lines must be at least 1, max_cue_s more than 0")
    max_cue_ms = max(1, round(max_cue_s * 1000))
    drafts = []
    for segment in _segments(transcript):
        tokens = _tokens(segment)
        for piece in _pieces(tokens, max_line_chars=max_line_chars, max_lines=max_lines, max_cue_ms=max_cue_ms):
            start = piece[0].start_ms
            end = min(piece[-1].end_ms, start + max_cue_ms)  # a single word that lasts longer is cut short
            drafts.append(_Draft(start, end, _balanced_lines(piece, max_line_chars), segment.speaker))
    drafts.sort(key=lambda draft: draft.start_ms)  # word times can start before their segment does
    duration_ms = _ms(transcript.get("duration_s")) or None
    return _spaced(drafts, duration_ms=duration_ms, min_ms=min(MIN_CUE_MS, max_cue_ms))


# ---- reading the stored transcript ----


def _segments(transcript: Transcript) -> list[_Segment]:
    """The segments that have text, in time order, with clean text, times clamped to >= 0 and speakers named."""
    names = transcript.get("speakers") or {}
    segments = []
    for raw in transcript.get("segments") or []:
        text = _clean(raw.get("text"))
        if not text:
            continue
        start = _ms(raw.get("start"))
        label = _clean(raw.get("speaker"))
        speaker = (_clean(names.get(label)) or label) if label else None
        segments.append(_Segment(start, max(_ms(raw.get("end")), start), text, speaker, raw.get("words") or []))
    return sorted(segments, key=lambda segment: segment.start_ms)


def _clean(value: Any) -> str:
    """Whisper's text with its leading space, tabs and newlines gone: words separated by single spaces."""
    return " ".join(str(value).split()) if value is not None else ""


def _ms(seconds: Any) -> int:
    """Seconds as whole milliseconds; negative, NaN, infinite or missing times count as 0."""
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        return 0
    return round(value * 1000) if math.isfinite(value) and value > 0 else 0


def _with_speaker(text: str, speaker: str | None) -> str:
    return f"{speaker}: {text}" if speaker else text


# ---- cutting segments into cues ----


def _tokens(segment: _Segment) -> list[_Token]:
    """The segment's words with times: Whisper's word timestamps where they spell the segment's text, otherwise the
    segment's time shared out in proportion to characters."""
    return _word_tokens(segment) or _proportional_tokens(segment)


def _word_tokens(segment: _Segment) -> list[_Token]:
    words = [word for word in segment.words if isinstance(word, dict) and _clean(word.get("word"))]
    if not words or _clean("".join(str(word["word"]) for word in words)) != segment.text:
        return []
    tokens = []
    previous_start = 0
    for word in words:
        spelled = str(word["word"])
        start = max(_ms(word.get("start")), previous_start)
        end = max(_ms(word.get("end")), start)
        previous_start = start
        for index, part in enumerate(spelled.split()):
            tokens.append(_Token(part, start, end, glue=index == 0 and not spelled[0].isspace()))
    return tokens


def _proportional_tokens(segment: _Segment) -> list[_Token]:
    span = segment.end_ms - segment.start_ms
    total = len(segment.text)
    tokens = []
    offset = 0
    for part in segment.text.split(" "):
        # Each word owns the space after it, so that the pieces of a split segment follow one another without gaps.
        next_offset = min(offset + len(part) + 1, total)
        start = segment.start_ms + span * offset // total
        end = segment.start_ms + span * next_offset // total
        tokens.append(_Token(part, start, end))
        offset = next_offset
    return tokens


def _pieces(tokens: list[_Token], *, max_line_chars: int, max_lines: int, max_cue_ms: int) -> list[list[_Token]]:
    """Consecutive runs of tokens, each as long as fits the lines and the duration, cut after punctuation when there
    is some in the latter half of what fits."""
    pieces = []
    rest = tokens
    while rest:
        # Greedy wrapping keeps its first lines when more text follows, so this is the longest run that fits.
        fit_lines = sum(len(line) for line in _wrap(rest, max_line_chars)[:max_lines])
        fit_time = 1
        while fit_time < len(rest) and rest[fit_time].end_ms - rest[0].start_ms <= max_cue_ms:
            fit_time += 1
        count = min(fit_lines, fit_time)
        if count < len(rest):
            count = _cut_after_punctuation(rest[:count])
        pieces.append(rest[:count])
        rest = rest[count:]
    return pieces


def _cut_after_punctuation(tokens: list[_Token]) -> int:
    """How many of `tokens` to keep: up to the last sentence end in their latter half, else the last clause end there,
    else all of them."""
    for marks in (_SENTENCE_ENDS, _CLAUSE_ENDS):
        for count in range(len(tokens), (len(tokens) + 1) // 2 - 1, -1):
            if tokens[count - 1].text.rstrip(_CLOSING_MARKS).endswith(marks):
                return count
    return len(tokens)


def _wrap(tokens: list[_Token], width: int) -> list[list[_Token]]:
    """Greedy wrapping at token boundaries; a token longer than `width` gets a line of its own."""
    lines: list[list[_Token]] = []
    length = 0
    for token in tokens:
        added = len(token.text) + (0 if token.glue else 1)
        if lines and length + added <= width:
            lines[-1].append(token)
            length += added
        else:
            lines.append([token])
            length = len(token.text)
    return lines


def _balanced_lines(tokens: list[_Token], max_line_chars: int) -> list[str]:
    """The tokens wrapped into as few lines as `max_line_chars` allows, with lengths as even as possible: two lines of
    similar length read faster than a full one and a stub."""
    greedy = _wrap(tokens, max_line_chars)
    narrowest = math.ceil(len(_join(tokens)) / len(greedy))
    for width in range(narrowest, max_line_chars):
        lines = _wrap(tokens, width)
        if len(lines) <= len(greedy):
            return [_join(line) for line in lines]
    return [_join(line) for line in greedy]


def _join(tokens: list[_Token]) -> str:
    return "".join(token.text if token.glue or index == 0 else " " + token.text for index, token in enumerate(tokens))


def _spaced(drafts: list[_Draft], *, duration_ms: int | None, min_ms: int) -> list[Cue]:
    """Cues that never overlap and always end after they start. Each starts no earlier than the one before it ends and
    lasts at least `min_ms` unless the next one starts sooner; then, where the audio's duration is known, the last
    ones are pulled back inside it (they only pile up past the end when segments overlap or have no length)."""
    times: list[list[int]] = []
    for index, draft in enumerate(drafts):
        start = max(draft.start_ms, times[-1][1] if times else 0)
        end = max(draft.end_ms, start + min_ms)
        if index + 1 < len(drafts) and drafts[index + 1].start_ms > start:
            end = min(end, drafts[index + 1].start_ms)
        times.append([start, end])
    if duration_ms is not None and duration_ms >= len(times):  # room for a millisecond each
        limit = duration_ms
        for time in reversed(times):
            time[1] = min(time[1], limit)
            time[0] = min(time[0], time[1] - 1)
            limit = time[0]
    return [
        Cue(start / 1000, end / 1000, draft.lines, draft.speaker)
        for (start, end), draft in zip(times, drafts, strict=True)
    ]


def _timestamp(seconds: float, decimal_mark: str) -> str:
    """HH:MM:SS,mmm (srt) or HH:MM:SS.mmm (vtt); the hours grow past two digits when they need to."""
    hours, rest = divmod(round(seconds * 1000), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole_seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole_seconds:02d}{decimal_mark}{millis:03d}"
