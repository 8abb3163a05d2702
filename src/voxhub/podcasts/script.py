"""The outline and the script of an episode, from the notes: what each segment covers and its share of the word
budget, then what the hosts say, one segment at a time.

With a language model, the outline is asked of the notes (long notes are summed up chunk by chunk first, each chunk
within the model's window, so nothing is cut off) and each segment is written with the points already covered and
the end of the script so far, so ideas are not said twice. A small model stops after a few lines however much it is
asked for, so a segment far short of its budget is asked for more, a bounded number of times. Every answer is JSON
valid against a schema; lines are cleaned to plain spoken words (no markup, no stage directions, no speaker labels),
a line repeating an earlier one is dropped, and each line points at the paragraphs of the notes it draws on.

Without one, the script is extractive, and says so: the hosts take turns reading the notes' key sentences (ranked by
their YAKE key phrases), in the notes' order, with short plain connecting phrases; it fills the budget only as far as
the notes go and never repeats a sentence to pad."""

from __future__ import annotations

import itertools
import json
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from voxhub.engines.base import EngineError
from voxhub.engines.llm import TextGenerator, generate_json
from voxhub.engines.mt import language_name
from voxhub.insights.extractive import key_phrases
from voxhub.insights.generative import FILLER, STEM, plan_chunks
from voxhub.insights.segments import Segment, from_text, tokens
from voxhub.podcasts.schemas import (
    LINE_MAX_CHARS,
    WORDS_PER_MINUTE,
    Format,
    Host,
    Line,
    Outline,
    OutlineSegment,
    Script,
    ScriptSegment,
)
from voxhub.podcasts.speakable import plain

log = logging.getLogger(__name__)

Progress = Callable[[float], None]  # share of the stage done, 0 to 1

WORDS_PER_SEGMENT = 220  # about a minute and a half of talk: a few asks of a small model
MAX_SEGMENTS = 12
POINTS_PER_SEGMENT = 4
TITLE_MAX_CHARS = 60
SENTENCES_PER_SEGMENT = 2  # an extractive segment has at least this many of the notes' sentences
SHORT_SENTENCE_WORDS = 14  # an extractive turn reads two sentences of a paragraph when the first is this short
TURN_WORDS = 40  # and both together are no longer than this
ENOUGH = 0.85  # a segment with this share of its word budget written is done
MAX_ASKS = 6  # asks for one segment at most: the first and the follow-ups for more
STALLED = 0.2  # an ask that adds less than this share of the words asked for ends the segment
WORDS_PER_ASK = 150  # asked for at once: a small model writes about this much before it stops
LINES_PER_ASK = 7
WORDS_PER_LINE = 22  # what a turn usually holds: a sentence or two
TURN_MAX_CHARS = 300  # what the schema lets the model write in one turn: a few sentences
# One turn at its longest in tokens (three characters a token, to be safe), with its JSON: an answer is never cut
# short by the token limit when the lines it may hold fit it.
TURN_TOKENS = TURN_MAX_CHARS // 3 + 25
ANSWER_TOKENS = 900  # room for one answer: LINES_PER_ASK turns at their longest, with their JSON
OUTLINE_SEGMENT_TOKENS = 130
DIGEST_POINTS = 6  # key facts of one chunk of long notes
DIGEST_TOKENS = 400  # room for one chunk's summary: DIGEST_POINTS facts at their longest
MARGIN_TOKENS = 64  # chat template tokens around the messages
MIN_NOTES_TOKENS = 150  # less room than this for the notes in a prompt: the window is too small
TEMPERATURE = 0.6  # a conversation, not an extraction: some variety, which also keeps a small model from looping
REPEAT = 0.8  # a sentence sharing this share of its words with an earlier one says it again
REPEAT_MIN_WORDS = 4  # shorter sentences ("Exactly.", "Right, go on.") may come back in another segment
RECENT_LINES = 2  # of the segment before, shown (their last sentences) to go on from
SUMMARY_SENTENCES = 5  # of a chunk of long notes, when the model gave none


# ---- the notes ----

_BLANK_LINE = re.compile(r"\n\s*\n")
_STARTS_ITEM = re.compile(r"^\s*(?:#{1,6}\s|[-*+•]\s|\d{1,3}[.)]\s|>)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")
_ENDS_SENTENCE = re.compile(r"[.!?:;…][\"')\]]*$")


def paragraphs(notes: str) -> list[str]:
    """The notes cut into numbered paragraphs (source_refs index them, from 1): blank lines part them, and so does
    a line break after a finished sentence or before a list item or heading (a line break inside a sentence is a
    wrapped line). A heading stays with the paragraph under it."""
    found: list[str] = []
    for block in _BLANK_LINE.split(notes.replace("\r\n", "\n").replace("\r", "\n").strip()):
        current: list[str] = []
        for line in (line.strip() for line in block.split("\n")):
            if not line:
                continue
            after_heading = bool(current) and _HEADING.match(current[-1]) is not None and len(current) == 1
            if current and not after_heading and (_STARTS_ITEM.match(line) or _ENDS_SENTENCE.search(current[-1])):
                found.append("\n".join(current))
                current = []
            current.append(line)
        if current:
            found.append("\n".join(current))
    # A heading alone (a blank line under it) heads the paragraph that follows.
    merged: list[str] = []
    for paragraph in found:
        if merged and _HEADING.match(merged[-1]) and "\n" not in merged[-1]:
            merged[-1] = f"{merged[-1]}\n{paragraph}"
        else:
            merged.append(paragraph)
    return merged


def _heading(paragraph: str) -> str | None:
    match = _HEADING.match(paragraph.split("\n", 1)[0])
    return plain(match.group(1)) if match else None


def _body(paragraph: str) -> str:
    """The paragraph's words without its heading."""
    return plain(paragraph.split("\n", 1)[1] if _heading(paragraph) is not None and "\n" in paragraph else paragraph)


@dataclass(frozen=True)
class _Sentence:
    text: str
    paragraph: int  # from 1
    first: bool  # the paragraph's first sentence


def _sentences(parts: Sequence[str]) -> list[_Sentence]:
    """The notes' sentences, in order, each once (notes pasted together often say a thing twice)."""
    out = []
    seen: set[str] = set()
    for number, paragraph in enumerate(parts, start=1):
        heading = _heading(paragraph)
        if heading is not None and "\n" not in paragraph:
            continue  # a heading with nothing under it says nothing to read out
        for index, segment in enumerate(from_text(_body(paragraph))):
            key = " ".join(tokens(segment.text))
            if key and key not in seen:
                seen.add(key)
                out.append(_Sentence(segment.text, number, index == 0))
    return out


def _stems(text: str) -> set[str]:
    """The words of `text` that carry meaning, cut to their first letters ("panel", "panels"), and its numbers."""
    return {word[:STEM] for word in tokens(text) if word.isdigit() or (word not in FILLER and len(word) > 2)}


def _words(text: str) -> int:
    return len(text.split())


# ---- the outline ----


def make_outline(
    notes: str,
    *,
    minutes: float,
    hosts: list[Host],
    format: Format,
    focus: str | None,
    language: str,
    generator: TextGenerator | None,
    progress: Progress,
) -> Outline:
    """Segments with titles and the points each covers; the word budget (minutes times WORDS_PER_MINUTE) split across
    them. Long notes (more than fits the model's window) are summed up chunk by chunk first (Outline.digest);
    nothing silently truncated."""
    budget = max(1, round(minutes * WORDS_PER_MINUTE))
    parts = paragraphs(notes)
    if generator is None:
        outline = _extractive_outline(parts, budget=budget, focus=focus, language=language)
    else:
        outline = _model_outline(
            parts,
            budget=budget,
            hosts=hosts,
            format=format,
            focus=focus,
            language=language,
            generator=generator,
            progress=progress,
        )
    progress(1.0)
    return outline


def segment_count(budget: int, sentences: int) -> int:
    """How many segments an episode of `budget` words has: one per WORDS_PER_SEGMENT, as many as the notes can
    fill."""
    wanted = round(budget / WORDS_PER_SEGMENT)
    return max(1, min(wanted, MAX_SEGMENTS, sentences // SENTENCES_PER_SEGMENT))


def _shares(budget: int, weights: Sequence[int]) -> list[int]:
    """`budget` split in proportion to `weights`, each share at least 1, adding up to the budget."""
    total = sum(weights) or 1
    shares = [max(1, math.floor(budget * weight / total)) for weight in weights]
    for index in range(budget - sum(shares)):
        shares[index % len(shares)] += 1
    return shares


# -- extractive --

# Connecting phrases of the extractive script, by language; None: none (only the notes' sentences are read).
_OPENING = {
    "en": "Welcome. I'm {first}, here with {others}. This episode goes through the key points of the notes, "
    "starting with {title}.",
    "pt": "Olá e bem-vindos. Eu sou {first}, aqui com {others}. Este episódio percorre os pontos principais das "
    "notas, começando por {title}.",
}
_NEXT_SEGMENT = {"en": "Next: {title}.", "pt": "A seguir: {title}."}
# Whole sentences of their own: a note's sentence follows them as it is written.
_TURNS = {"en": ("", "Right.", "", "There's more.", "", "Yes."), "pt": ("", "Certo.", "", "E há mais.", "", "Sim.")}
_CLOSING = {
    "en": "That covers the notes. Thanks for listening.",
    "pt": "Isso cobre as notas. Obrigado por ouvir.",
}
_AND = {"en": "and", "pt": "e"}
MIN_SENTENCE_WORDS = 4  # shorter ones ("See below.") are read only when the notes have nothing longer


def _language(code: str) -> str:
    return code.strip().lower().replace("_", "-").split("-")[0]


def _ranked(sentences: Sequence[_Sentence], *, focus: str | None, language: str) -> list[float]:
    """Each sentence's worth: the ranks of the notes' key phrases it holds, more for a paragraph's first sentence
    (where notes usually state their point) and for words of the focus."""
    segments = [Segment(index, None, None, sentence.text) for index, sentence in enumerate(sentences)]
    phrases = key_phrases(segments, language=language, top=max(10, len(sentences) // 2))
    focused = _stems(focus or "")
    scores = []
    for sentence in sentences:
        said = " ".join(tokens(sentence.text))
        score = sum(phrase.rank for phrase in phrases if f" {' '.join(tokens(phrase.text))} " in f" {said} ")
        score += 0.3 if sentence.first else 0.0
        score += 0.5 * len(focused & _stems(sentence.text))
        if _words(sentence.text) < MIN_SENTENCE_WORDS:
            score -= 10.0
        scores.append(score)
    return scores


def _pick(sentences: Sequence[_Sentence], scores: Sequence[float], budget: int) -> list[_Sentence]:
    """The best sentences whose words (with a share for the connecting phrases) fit the budget, in the notes'
    order; all of them when all fit."""
    cost = [_words(sentence.text) * 1.1 + 1 for sentence in sentences]
    if sum(cost) <= budget:
        return list(sentences)
    chosen: set[int] = set()
    used = 0.0
    for index in sorted(range(len(sentences)), key=lambda i: (-scores[i], i)):
        if used + cost[index] <= budget:
            chosen.add(index)
            used += cost[index]
    if not chosen:  # one sentence longer than the whole budget: still say the best one
        chosen.add(max(range(len(sentences)), key=lambda i: scores[i]))
    return [sentences[index] for index in sorted(chosen)]


def _cuts(picked: Sequence[_Sentence], parts: Sequence[str], count: int) -> list[int]:
    """Where each segment after the first begins (indexes into `picked`): near equal shares of the words, moved to
    a heading or a new paragraph when one is near."""
    bonus = [0.0]
    for before, sentence in itertools.pairwise(picked):
        new_paragraph = sentence.paragraph != before.paragraph
        heading = new_paragraph and sentence.first and _heading(parts[sentence.paragraph - 1]) is not None
        bonus.append(0.15 if heading else 0.08 if new_paragraph else 0.0)
    return _partition([_words(sentence.text) for sentence in picked], bonus, count)


def _title(group: Sequence[_Sentence], parts: Sequence[str], language: str) -> str:
    """The heading the group starts under, else its top key phrase, else its first words."""
    first = group[0]
    heading = _heading(parts[first.paragraph - 1])
    if heading:
        return heading[:200]
    segments = [Segment(index, None, None, sentence.text) for index, sentence in enumerate(group)]
    phrases = key_phrases(segments, language=language, top=1)
    if phrases:
        text = phrases[0].text
        return _capitalised(text)[:200]
    return " ".join(first.text.split()[:6]).rstrip(".,;:")[:200]


def _extractive_outline(parts: Sequence[str], *, budget: int, focus: str | None, language: str) -> Outline:
    sentences = _sentences(parts)
    if not sentences:
        raise EngineError("empty_notes", "The notes hold no sentences to make an episode of.")
    lang = _language(language)
    # The opening and the closing are said whatever the notes hold: the notes' sentences get what they leave.
    opening = _words(_OPENING[lang]) + 6 if lang in _OPENING else 0
    closing = _words(_CLOSING[lang]) if lang in _CLOSING else 0
    framing = min(opening + closing, budget // 3)
    picked = _pick(sentences, _ranked(sentences, focus=focus, language=lang), budget - framing)
    count = segment_count(budget, len(picked))
    edges = [0, *_cuts(picked, parts, count), len(picked)]
    groups = [picked[start:stop] for start, stop in itertools.pairwise(edges) if stop > start]
    segments = []
    for number, group in enumerate(groups):
        # The connecting phrases: about one word in ten.
        words = round(sum(_words(sentence.text) for sentence in group) * 1.1)
        words += (opening if number == 0 else 0) + (closing if number == len(groups) - 1 else 0)
        segments.append(OutlineSegment(title=_title(group, parts, lang), points=[s.text for s in group], words=words))
    return Outline(engine="extractive", segments=segments)


# -- with a language model --

_OUTLINE_TEXT: dict[str, Any] = {"type": "string", "minLength": 1}


def _outline_schema(count: int) -> dict[str, Any]:
    segment = {
        "type": "object",
        "properties": {
            "title": {**_OUTLINE_TEXT, "maxLength": TITLE_MAX_CHARS},
            "points": {
                "type": "array",
                "minItems": 1,
                "maxItems": POINTS_PER_SEGMENT,
                "items": {**_OUTLINE_TEXT, "maxLength": 160},
            },
        },
        "required": ["title", "points"],
    }
    return {
        "type": "object",
        "properties": {"segments": {"type": "array", "minItems": count, "maxItems": count, "items": segment}},
        "required": ["segments"],
    }


_DIGEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "points": {
            "type": "array",
            "minItems": 1,
            "maxItems": DIGEST_POINTS,
            "items": {**_OUTLINE_TEXT, "maxLength": 200},
        }
    },
    "required": ["points"],
}

_STYLE: dict[str, str] = {
    "deep_dive": "a deep dive: a curious, friendly conversation that explains the ideas, how they connect and why "
    "they matter",
    "brief": "a brief: a brisk, clear run through the essentials",
    "debate": "a debate: the hosts take different sides and argue them with the facts of the notes, politely",
    "critique": "a critique: the hosts weigh the strengths and the weaknesses of what the notes say",
    "interview": "an interview: the first host asks questions, the others answer as experts on the notes",
}


def _planner_system(language: str) -> str:
    return (
        "You plan podcast episodes from notes. You use only what the notes say. Answer with JSON only. Write in "
        f"{language_name(language)}."
    )


def _numbered(parts: Sequence[str], numbers: Sequence[int]) -> str:
    return "\n".join(f"[{number}] {plain(parts[number - 1])}" for number in numbers)


@dataclass(frozen=True)
class _Unit:
    """A piece of what a model's outline is planned from: a paragraph of the notes, or a sentence of their digest."""

    text: str  # as the model reads it
    body: str  # its sentences, without a heading
    heading: str | None  # the heading it starts under


def _model_outline(
    parts: Sequence[str],
    *,
    budget: int,
    hosts: list[Host],
    format: Format,
    focus: str | None,
    language: str,
    generator: TextGenerator,
    progress: Progress,
) -> Outline:
    """The notes (or their digest) are cut into runs of about equal length, one per segment, at headings where they
    can be; the model gives each run a title and the points it covers. A run the model's points leave out is
    covered by its own key sentences."""
    sentences = _sentences(parts)
    if not sentences:
        raise EngineError("empty_notes", "The notes hold no sentences to make an episode of.")
    system = _planner_system(language)
    minutes = budget / WORDS_PER_MINUTE
    wanted = segment_count(budget, len(sentences))
    # Each segment's title and points, as long as a model usually writes them (the schema allows more).
    answer_tokens = min(max(_answer_tokens(generator), wanted * OUTLINE_SEGMENT_TOKENS), generator.context_tokens // 2)
    bare = _outline_prompt([], [range(len(parts))] * wanted, minutes=minutes, format=format, focus=focus)
    room = _room(generator, system + bare, answer=answer_tokens)
    texts = [plain(part) for part in parts]
    counts = [generator.count_tokens(f"[{number}] {text}\n") for number, text in enumerate(texts, start=1)]
    digest: list[str] | None = None
    if sum(counts) <= room:
        units = [_Unit(text, _body(part), _heading(part)) for text, part in zip(texts, parts, strict=True)]
    else:
        digest = _digest(parts, counts, generator=generator, language=language, room=room, progress=progress)
        units = [_Unit(segment.text, segment.text, None) for summary in digest for segment in from_text(summary)]
    count = max(1, min(wanted, len(units)))
    weights = [_words(unit.text) for unit in units]
    cuts = _partition(weights, [0.15 if unit.heading else 0.0 for unit in units], count)
    ranges = [range(start, stop) for start, stop in itertools.pairwise([0, *cuts, len(units)])]
    prompt = _outline_prompt(units, ranges, minutes=minutes, format=format, focus=focus)
    messages = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
    try:
        answer, _generation = generate_json(
            generator, messages, _outline_schema(len(ranges)), max_tokens=answer_tokens, temperature=0.0
        )
    except EngineError as exc:
        if exc.code != "invalid_json":
            raise
        answer = {"segments": []}
    planned = _planned(answer["segments"], units, ranges, focus=focus, language=language)
    kept = [(plan, run) for plan, run in zip(planned, ranges, strict=True) if plan[1]]
    if not kept:
        # The model planned nothing the notes say: the notes' own key sentences plan the episode, and say so.
        fallback = _extractive_outline(parts, budget=budget, focus=focus, language=language)
        return fallback.model_copy(update={"digest": digest})
    # A segment with more to cover gets more time; every segment some.
    shares = _shares(budget, [len(points) + 2 for (_title, points), _run in kept])
    return Outline(
        engine="remote" if generator.engine == "remote" else "local",
        model=generator.model_id,
        segments=[
            OutlineSegment(title=title, points=points, words=words)
            for ((title, points), _run), words in zip(kept, shares, strict=True)
        ],
        digest=digest,
    )


def _partition(weights: Sequence[int], bonus: Sequence[float], count: int) -> list[int]:
    """Where each of `count` runs after the first begins (indexes into `weights`): near equal shares of the weight,
    moved to a place with a `bonus` (a heading, a new paragraph: a share of the whole) when one is near."""
    total = sum(weights) or 1
    before = list(itertools.accumulate(weights, initial=0))
    cuts: list[int] = []
    for number in range(1, count):
        low, high = (cuts[-1] + 1 if cuts else 1), len(weights) - (count - number)
        if low > high:
            break
        target = total * number / count
        cuts.append(min(range(low, high + 1), key=lambda index: abs(before[index] - target) / total - bonus[index]))
    return cuts


def _outline_prompt(
    units: Sequence[_Unit], ranges: Sequence[range], *, minutes: float, format: Format, focus: str | None
) -> str:
    material = "\n".join(f"[{number}] {unit.text}" for number, unit in enumerate(units, start=1))
    runs = "\n".join(
        f"Segment {number}: notes [{run.start + 1}]" + (f" to [{run.stop}]" if len(run) > 1 else "")
        for number, run in enumerate(ranges, start=1)
    )
    dwell = f" Dwell on: {focus}." if focus else ""
    return (
        f"Notes:\n{material}\n\nPlan a podcast episode of about {max(1, round(minutes))} minutes on these notes, "
        f"{_STYLE[format]}.{dwell} It has {len(ranges)} segments, each on its own notes:\n{runs}\nFor each segment, "
        f"in this order: a title of two to six words, and one to {POINTS_PER_SEGMENT} points: short sentences "
        "saying what it covers, from its notes, with their facts, names and numbers. No point is repeated. Answer "
        'in this JSON shape: {"segments": [{"title": "...", "points": ["...", "..."]}]}'
    )


def _room(generator: TextGenerator, prompt: str, *, answer: int) -> int:
    """Tokens left for the notes in a request whose other text is `prompt`."""
    room = generator.context_tokens - answer - generator.count_tokens(prompt) - MARGIN_TOKENS
    if room < MIN_NOTES_TOKENS:
        raise EngineError(
            "context_too_small",
            f"The language model's window ({generator.context_tokens} tokens) leaves no room for the notes; raise "
            "VOXHUB_LLM_CONTEXT_TOKENS.",
        )
    return room


def _digest(
    parts: Sequence[str],
    counts: Sequence[int],
    *,
    generator: TextGenerator,
    language: str,
    room: int,
    progress: Progress,
) -> list[str]:
    """One summary per chunk of the notes that fits the window, in order; a chunk the model gave nothing grounded
    for is summed up by its own key sentences, so no part of the notes is left out. Summed up again, in groups,
    while the summaries together still do not fit `room`."""
    system = _planner_system(language)
    ask = _digest_prompt("")
    chunk_room = min(room, _room(generator, system + ask, answer=DIGEST_TOKENS))
    chunks = plan_chunks(counts, chunk_room)
    summaries: list[str] = []
    for done, chunk in enumerate(chunks, start=1):
        numbers = [index + 1 for index in chunk]
        source = " ".join(_body(parts[number - 1]) for number in numbers)
        summaries.append(_summarise(_numbered(parts, numbers), source, generator=generator, system=system))
        progress(0.9 * done / (len(chunks) + 1))
    while len(summaries) > 1:
        sizes = [generator.count_tokens(f"- {summary}\n") for summary in summaries]
        if sum(sizes) <= room:
            break
        groups = plan_chunks(sizes, chunk_room)
        if len(groups) == len(summaries):  # each summary alone fills a chunk: summing up cannot shrink them
            break
        summaries = [
            _summarise(
                "\n".join(f"- {summaries[index]}" for index in group),
                " ".join(summaries[index] for index in group),
                generator=generator,
                system=system,
            )
            for group in groups
        ]
    return summaries


def _digest_prompt(material: str) -> str:
    return (
        f"Notes:\n{material}\n\nList the key facts of these notes as short sentences (at most {DIGEST_POINTS}), in "
        "order, "
        'with their names and numbers. Answer in this JSON shape: {"points": ["...", "..."]}'
    )


def _summarise(material: str, source: str, *, generator: TextGenerator, system: str) -> str:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": _digest_prompt(material)}]
    said = _stems(source)
    try:
        answer, _generation = generate_json(
            generator, messages, _DIGEST_SCHEMA, max_tokens=DIGEST_TOKENS, temperature=0.0
        )
        points = [plain(point) for point in answer["points"]]
        kept = [point for point in points if point and _sourced(point, said)]
    except EngineError as exc:
        if exc.code != "invalid_json":
            raise
        kept = []
    if kept:
        return " ".join(point if _ENDS_SENTENCE.search(point) else f"{point}." for point in kept)
    units = [_Sentence(segment.text, 1, index == 0) for index, segment in enumerate(from_text(source))]
    if not units:
        return source
    scores = _ranked(units, focus=None, language="en")
    best = sorted(sorted(range(len(units)), key=lambda i: -scores[i])[:SUMMARY_SENTENCES])
    return " ".join(units[index].text for index in best)


def _sourced(text: str, said: set[str]) -> bool:
    """At least half the words that carry meaning in `text` are in the notes (give or take their endings)."""
    words = _stems(text)
    return bool(words) and len(words & said) * 2 >= len(words)


def _planned(
    raw: Sequence[Mapping[str, Any]],
    units: Sequence[_Unit],
    ranges: Sequence[range],
    *,
    focus: str | None,
    language: str,
) -> list[tuple[str, list[str]]]:
    """Each run's title and points: the model's points that the notes back, each once; then, for each unit of the
    run that no point draws on (a small model stops planning before the notes end), the unit's key sentence, as
    long as the segment has room for it."""
    said = _stems(" ".join(unit.text for unit in units))
    unit_stems = [_stems(unit.text) for unit in units]
    seen: list[set[str]] = []
    planned: list[tuple[str, list[tuple[int, str]]]] = []  # title, (unit drawn on or -1, point)
    for position in range(len(ranges)):
        segment = raw[position] if position < len(raw) else {}
        points: list[tuple[int, str]] = []
        for point in (_capitalised(plain(str(point))) for point in segment.get("points") or []):
            stems = _stems(point)
            if not point or not _sourced(point, said) or any(_repeats(stems, other) for other in seen):
                continue
            seen.append(stems)
            best = max(range(len(units)), key=lambda index: len(stems & unit_stems[index]))
            points.append((best if len(stems & unit_stems[best]) >= 2 else -1, point))
        title = plain(str(segment.get("title") or "")).rstrip(".")
        if len(title) >= TITLE_MAX_CHARS - 2 and " " in title:
            title = title.rsplit(" ", 1)[0]  # cut at the schema's length: its last word is unfinished
        planned.append((title, points))
    covered = {unit for _title, points in planned for unit, _point in points}
    candidates = [
        _Sentence(sentence.text, index, number == 0)
        for index, unit in enumerate(units)
        for number, sentence in enumerate(from_text(unit.body))
    ]
    scores = _ranked(candidates, focus=focus, language=_language(language)) if candidates else []
    key: dict[int, tuple[float, str]] = {}  # unit → its key sentence, and how well it ranks
    for sentence, score in zip(candidates, scores, strict=True):
        if _words(sentence.text) >= MIN_SENTENCE_WORDS and score > key.get(sentence.paragraph, (-math.inf, ""))[0]:
            key[sentence.paragraph] = (score, sentence.text)
    out: list[tuple[str, list[str]]] = []
    for (title, points), run in zip(planned, ranges, strict=True):
        missing = [index for index in run if index not in covered and index in key]
        room = max(POINTS_PER_SEGMENT + 2 - len(points), 0)
        for index in sorted(sorted(missing, key=lambda unit: -key[unit][0])[:room]):
            # After the last point drawn from an earlier unit: the segment keeps the notes' order.
            at = max((place + 1 for place, (unit, _p) in enumerate(points) if 0 <= unit < index), default=0)
            points.insert(at, (index, key[index][1]))
        texts = [point for _unit, point in points]
        heading = units[run.start].heading if run else None
        out.append((title or heading or " ".join(texts[0].split()[:6]) if texts else title, texts))
    return out


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _repeats(stems: set[str], other: set[str]) -> bool:
    """Whether words (`stems`) say again what `other` said: most of them were said there. Saying all of it and
    more is not a repeat: the more is news."""
    if len(stems) < REPEAT_MIN_WORDS:
        return stems == other and bool(stems)
    return len(stems & other) >= REPEAT * len(stems)


# ---- the script ----


def write_segment(
    outline: Outline,
    index: int,
    written: list[ScriptSegment],
    *,
    notes: str,
    hosts: list[Host],
    format: Format,
    focus: str | None,
    language: str,
    generator: TextGenerator | None,
) -> ScriptSegment:
    """Segment `index` of the script: JSON validated against a schema ([{speaker, text, source_refs}]), written with
    the script so far and the points already covered (no repetition), lines within LINE_MAX_CHARS, speakers the
    hosts' names alternating naturally, in `language`, close to the segment's word budget (ask again for more
    when far short, a bounded number of times). generator None: the extractive dialogue.

    `written`: the script's other segments, those before `index` first: the segments so far when writing in order,
    all the others when one segment is written again (what the ones after it say is not repeated either)."""
    planned = outline.segments[index]
    parts = paragraphs(notes)
    if generator is None:
        lines = _extractive_lines(outline, index, written, parts=parts, hosts=hosts, language=language)
    else:
        lines = _model_lines(
            outline,
            index,
            written,
            parts=parts,
            hosts=hosts,
            format=format,
            focus=focus,
            language=language,
            generator=generator,
        )
    return ScriptSegment(title=planned.title, points=planned.points, words=planned.words, lines=lines)


def write_script(
    notes: str,
    outline: Outline,
    written: list[ScriptSegment],
    *,
    hosts: list[Host],
    format: Format,
    focus: str | None,
    language: str,
    generator: TextGenerator | None,
    progress: Progress,
) -> Script:
    """The whole script: the segments of `outline` not yet in `written` (a resumed job keeps those), one at a time."""
    segments = list(written)
    total = len(outline.segments)
    for index in range(len(segments), total):
        segments.append(
            write_segment(
                outline,
                index,
                segments,
                notes=notes,
                hosts=hosts,
                format=format,
                focus=focus,
                language=language,
                generator=generator,
            )
        )
        progress((index + 1) / total)
    return Script(**written_by(generator), language=language, segments=segments)


def written_by(generator: TextGenerator | None) -> dict[str, Any]:
    """A script's `engine` and `model` fields for the generator that writes its lines."""
    if generator is None:
        return {"engine": "extractive", "model": None}
    return {"engine": "remote" if generator.engine == "remote" else "local", "model": generator.model_id}


def _next_speaker(hosts: Sequence[Host], written: Sequence[ScriptSegment]) -> int:
    names = [host.name for host in hosts]
    last = next((seg.lines[-1].speaker for seg in reversed(written) if seg.lines), None)
    return (names.index(last) + 1) % len(names) if last in names else 0


# -- extractive --


def _extractive_lines(
    outline: Outline,
    index: int,
    written: Sequence[ScriptSegment],
    *,
    parts: Sequence[str],
    hosts: Sequence[Host],
    language: str,
) -> list[Line]:
    """The hosts take turns reading the segment's sentences of the notes, with short connecting phrases in English
    or Portuguese (none in other languages: nothing is made up in a language the phrases are not written in)."""
    lang = _language(language)
    sentences = _segment_sentences(outline.segments[index], written, parts)
    turn = _next_speaker(hosts, written[:index])
    names = [host.name for host in hosts]
    lines: list[Line] = []

    def say(text: str, refs: list[int]) -> None:
        nonlocal turn
        lines.append(Line(speaker=names[turn], text=text, source_refs=refs))
        turn = (turn + 1) % len(names)

    title = outline.segments[index].title
    if index == 0 and lang in _OPENING:
        others = f" {_AND[lang]} ".join(names[1:]) if len(names) > 1 else ""
        opening = (
            _OPENING[lang]
            if others
            else _OPENING[lang].replace(", here with {others}", "").replace(", aqui com {others}", "")
        )
        say(opening.format(first=names[turn], others=others, title=title), [])
    for number, (text, paragraph) in enumerate(_turns(sentences)):
        lead = ""
        if number == 0 and index > 0 and lang in _NEXT_SEGMENT:
            lead = _NEXT_SEGMENT[lang].format(title=title)
        elif lang in _TURNS:
            lead = _TURNS[lang][(number + index) % len(_TURNS[lang])]
        said = f"{lead} {text}".strip() if len(lead) + len(text) + 1 <= LINE_MAX_CHARS else text
        say(said, [paragraph])
    if index == len(outline.segments) - 1 and lang in _CLOSING:
        say(_CLOSING[lang], [])
    if not lines:  # a segment's sentences were all read already: it still needs a line to exist
        say(title, [])
    return lines


def _segment_sentences(
    planned: OutlineSegment, written: Sequence[ScriptSegment], parts: Sequence[str]
) -> list[tuple[str, int]]:
    """The notes' sentences the segment reads, with their paragraph: its points where they are sentences of the
    notes (an extractive outline), else the unread sentence of the notes closest to each point; none read before."""
    sentences = _sentences(parts)
    exact = {sentence.text: sentence for sentence in reversed(sentences)}
    read = " ".join(line.text for segment in written for line in segment.lines)
    out: list[tuple[str, int]] = []
    for point in planned.points:
        sentence = exact.get(point)
        if sentence is None:
            wanted = _stems(point)
            unread = [s for s in sentences if s.text not in read and all(s.text != text for text, _p in out)]
            if not unread or not wanted:
                continue
            sentence = max(unread, key=lambda s: len(wanted & _stems(s.text)))
            if not wanted & _stems(sentence.text):
                continue
        if sentence.text in read or any(sentence.text == text for text, _p in out):
            continue
        out.append((sentence.text, sentence.paragraph))
    return out


def _turns(sentences: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """Sentences in turns: one each, or two short ones of one paragraph together; a sentence longer than a line is
    cut where a clause ends."""
    turns: list[tuple[str, int]] = []
    for text, paragraph in sentences:
        for piece in _fit(text):
            if (
                turns
                and turns[-1][1] == paragraph
                and _words(turns[-1][0]) < SHORT_SENTENCE_WORDS
                and _words(turns[-1][0]) + _words(piece) <= TURN_WORDS
                and len(turns[-1][0]) + len(piece) + 1 <= LINE_MAX_CHARS - 40
                and _ENDS_SENTENCE.search(turns[-1][0])
            ):
                turns[-1] = (f"{turns[-1][0]} {piece}", paragraph)
            else:
                turns.append((piece, paragraph))
    return turns


_CLAUSE_END = re.compile(r"(?<=[.!?;:,])\s+")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?…])\s+")


def _fit(text: str, limit: int = LINE_MAX_CHARS - 40) -> list[str]:
    """`text` in pieces within `limit` characters: cut after sentences, else after clauses, else between words."""
    if len(text) <= limit:
        return [text]
    for pattern in (_SENTENCE_BREAK, _CLAUSE_END):
        pieces = [piece for piece in pattern.split(text) if piece]
        if len(pieces) > 1:
            out: list[str] = []
            for piece in pieces:
                if out and len(out[-1]) + len(piece) + 1 <= limit:
                    out[-1] = f"{out[-1]} {piece}"
                else:
                    out.append(piece)
            return [part for piece in out for part in _fit(piece, limit)]
    words = text.split()
    out = [""]
    for word in words:
        if out[-1] and len(out[-1]) + len(word) + 1 > limit:
            out.append("")
        out[-1] = f"{out[-1]} {word}".strip()
    return out


# -- with a language model --


def _lines_schema(names: Sequence[str], *, least: int, most: int) -> dict[str, Any]:
    line = {
        "type": "object",
        "properties": {
            "speaker": {"type": "string", "enum": list(names)},
            "text": {"type": "string", "minLength": 1, "maxLength": TURN_MAX_CHARS},
            "source_refs": {"type": "array", "maxItems": 3, "items": {"type": "integer"}},
        },
        "required": ["speaker", "text", "source_refs"],
    }
    return {
        "type": "object",
        "properties": {"lines": {"type": "array", "minItems": least, "maxItems": most, "items": line}},
        "required": ["lines"],
    }


def _writer_system(hosts: Sequence[Host], format: Format, language: str) -> str:
    names = [host.name for host in hosts]
    cast = "; ".join(f"{host.name}: {host.persona}" for host in hosts if host.persona)
    together = f"{', '.join(names[:-1])} and {names[-1]}" if len(names) > 1 else names[0]
    return (
        f"You write the script of a podcast hosted by {together}"
        f"{f' ({cast})' if cast else ''}. The episode is {_STYLE[format]}. Write every line in "
        f"{language_name(language)}, whatever language the notes are in. Each line is what one host says aloud: "
        "plain spoken sentences; no markdown, no lists, no emoji, no stage directions or sound effects, never a "
        "name or label before the words. The hosts talk with each other and take turns. Use only facts from the "
        "notes. Answer with JSON only."
    )


@dataclass
class _Draft:
    """A segment as it is being written, and the episode's lines before it."""

    before: list[Line]
    lines: list[Line]
    sizes: dict[int, int] = field(default_factory=dict)  # paragraph → its tokens, counted once per segment

    def words(self) -> int:
        return sum(_words(line.text) for line in self.lines)


@dataclass(frozen=True)
class _Ask:
    """What one request asks for."""

    words: int
    lines: int
    speaker: str  # who speaks first
    closing: bool  # the episode ends with these lines


def _model_lines(
    outline: Outline,
    index: int,
    written: Sequence[ScriptSegment],
    *,
    parts: Sequence[str],
    hosts: Sequence[Host],
    format: Format,
    focus: str | None,
    language: str,
    generator: TextGenerator,
) -> list[Line]:
    """The segment's lines: asked for, then asked again to go on (the lines so far as the model's own answer) while
    the segment is far short of its budget, at most MAX_ASKS times, and not after an ask that added little (what
    the model says then is mostly what it said before)."""
    planned = outline.segments[index]
    names = [host.name for host in hosts]
    system = _writer_system(hosts, format, language)
    draft = _Draft(before=[line for segment in written[:index] for line in segment.lines], lines=[])
    first = names[_next_speaker(hosts, written[:index])]
    answer_tokens = _answer_tokens(generator)
    most = max(2, min(LINES_PER_ASK, answer_tokens // TURN_TOKENS))
    per_ask = min(WORDS_PER_ASK, most * WORDS_PER_LINE)
    last = index == len(outline.segments) - 1
    for number in range(MAX_ASKS):
        remaining = planned.words - draft.words()
        if remaining <= planned.words * (1 - ENOUGH):
            break
        wanted = min(per_ask, max(remaining, 30))
        speaker = names[(names.index(draft.lines[-1].speaker) + 1) % len(names)] if draft.lines else first
        ask = _Ask(
            words=wanted,
            lines=max(1, min(most, round(wanted / WORDS_PER_LINE))),
            speaker=speaker,
            closing=last and (remaining <= per_ask or number == MAX_ASKS - 1),
        )
        messages = _messages(
            outline, index, written, draft, ask, parts=parts, generator=generator, system=system, focus=focus
        )
        try:
            answer, _generation = generate_json(
                generator,
                messages,
                # At least half the lines asked for: left free, a model often answers a "go on" with one line.
                _lines_schema(names, least=max(1, ask.lines // 2), most=min(most, ask.lines + 1)),
                max_tokens=answer_tokens,
                temperature=TEMPERATURE,
            )
        except EngineError as exc:
            # A repair asked of a long request can overflow the window: that answer is lost, as an invalid one is.
            if exc.code not in ("invalid_json", "context_length_exceeded"):
                raise
            answer = {"lines": []}
        log.debug("segment %d, ask %d: the model wrote %s", index + 1, number + 1, answer["lines"])
        before = draft.words()
        added = _add_lines(draft, answer["lines"], names=names, parts=parts)
        log.info(
            "segment %d, ask %d: %d lines kept of %d, %d of %d words",
            index + 1,
            number + 1,
            added,
            len(answer["lines"]),
            draft.words(),
            planned.words,
        )
        # Out of new things to say from these notes (asking again repeats them), or twice nothing usable at all.
        if draft.words() - before < STALLED * wanted and (draft.lines or number >= 1):
            break
    if not draft.lines:
        raise EngineError(
            "script_failed",
            f"The language model {generator.model_id} wrote no usable lines for segment {index + 1} "
            f"({planned.title!r}), even when asked again.",
            transient=True,
        )
    return draft.lines


def _answer_tokens(generator: TextGenerator) -> int:
    return max(200, min(ANSWER_TOKENS, generator.context_tokens // 3))


def _messages(
    outline: Outline,
    index: int,
    written: Sequence[ScriptSegment],
    draft: _Draft,
    ask: _Ask,
    *,
    parts: Sequence[str],
    generator: TextGenerator,
    system: str,
    focus: str | None,
) -> list[dict[str, str]]:
    """The request for the next lines of segment `index`: the notes it draws on, what earlier segments covered,
    the end of the conversation before it, what to write; and, to go on, the segment's lines so far as the
    model's own answer with a request for more. Where the window is small the notes give way first (the best
    paragraphs stay), then the covered points, the segment's earlier lines (to its last two), the conversation
    before, and at last the segment's lines altogether."""
    planned = outline.segments[index]
    count = len(outline.segments)
    covered = [f"- {segment.title}: {'; '.join(segment.points)}" for segment in written]
    # The segment before ends with these: enough to go on from. More, and a small model copies it out again.
    recent = [
        line.model_copy(update={"text": _SENTENCE_BREAK.split(line.text)[-1]}) for line in draft.before[-RECENT_LINES:]
    ]
    shown = list(draft.lines)
    ranked = _relevant(planned, parts)
    answer_tokens = _answer_tokens(generator)
    while True:
        conversation = "\n".join(f"{line.speaker}: {line.text}" for line in recent)
        context = (
            f"Covered in other segments (do not say these again):\n{chr(10).join(covered)}\n\n" if covered else ""
        ) + (f"The conversation so far ends with:\n{conversation}\n\n" if conversation else "")
        opening = _Ask(words=ask.words, lines=ask.lines, speaker=shown[0].speaker, closing=False) if shown else ask
        task = _task(planned, index, count, opening, focus=focus, opening=index == 0)
        follow: list[dict[str, str]] = []
        if shown:
            lines = [line.model_dump(include={"speaker", "text", "source_refs"}) for line in shown]
            follow = [
                {"role": "assistant", "content": json.dumps({"lines": lines}, ensure_ascii=False)},
                {"role": "user", "content": _go_on(ask)},
            ]
        fixed = system + context + task + "".join(message["content"] for message in follow)
        room = generator.context_tokens - answer_tokens - MARGIN_TOKENS - generator.count_tokens(fixed)
        notes = _fitting_notes(parts, ranked, room, generator, draft.sizes)
        if notes or not (covered or recent or shown):
            break
        if covered:
            covered = covered[-2:] if len(covered) > 2 else []
        elif len(shown) > 2:
            shown = shown[-2:]
        elif recent:
            recent = recent[-2:] if len(recent) > 2 else []
        else:
            # No room to show the segment's lines: asked afresh, and a line said again is dropped.
            shown = []
    if not notes:
        raise EngineError(
            "context_too_small",
            f"The language model's window ({generator.context_tokens} tokens) leaves no room for the notes; raise "
            "VOXHUB_LLM_CONTEXT_TOKENS.",
        )
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": f"Notes:\n{notes}\n\n{context}{task}"},
        *follow,
    ]


_SHAPE = (
    'Answer in this JSON shape: {"lines": [{"speaker": "...", "text": "...", "source_refs": [1]}]} where '
    "source_refs are the numbers of the notes' paragraphs the line uses."
)


def _task(planned: OutlineSegment, index: int, count: int, ask: _Ask, *, focus: str | None, opening: bool) -> str:
    points = "\n".join(f"- {point}" for point in planned.points)
    place = (
        "It opens the episode: the hosts greet the listeners, say their names and what the episode is about. "
        if opening
        else "Do not greet the listeners. "
    )
    place += (
        "It ends the episode: the hosts sum up in a sentence or two and say goodbye."
        if ask.closing
        else "Do not say goodbye: the episode goes on after it."
    )
    dwell = f" Dwell on: {focus}." if focus else ""
    return (
        f'Segment {index + 1} of {count}: "{planned.title}". It covers:\n{points}\n{place}{dwell}\n'
        f"Write {ask.lines} lines of the conversation, about {ask.words} words in all, {ask.speaker} speaking "
        f"first, the hosts taking turns. {_SHAPE}"
    )


def _go_on(ask: _Ask) -> str:
    ending = (
        "Then end the episode: sum up in a sentence or two and say goodbye."
        if ask.closing
        else "Do not greet and do not say goodbye."
    )
    return (
        f"Go on with this segment from where it stops: the next {ask.lines} lines, about {ask.words} words, "
        f"{ask.speaker} speaking first. Go deeper into the segment's points: how it works, why it matters, what it "
        "means for people, always with the facts of the notes. Say something new in every line; never repeat one. "
        f"{ending} {_SHAPE}"
    )


def _relevant(planned: OutlineSegment, parts: Sequence[str]) -> list[int]:
    """The paragraphs the segment draws on, best first: for each point, the paragraph that says most of it and any
    other saying at least half of it; else (points that match no paragraph well) those sharing words with it.
    Paragraphs of other segments stay out, or the model talks about them here."""
    paragraph_stems = [_stems(plain(part)) for part in parts]
    shared: dict[int, int] = {}
    for point in planned.points:
        stems = _stems(point)
        overlaps = [len(stems & other) for other in paragraph_stems]
        best = max(range(len(parts)), key=lambda index: overlaps[index], default=None)
        for index, overlap in enumerate(overlaps):
            if overlap and (index == best or 2 * overlap >= len(stems)):
                shared[index + 1] = max(shared.get(index + 1, 0), overlap)
    if not shared:
        wanted = _stems(" ".join([planned.title, *planned.points]))
        shared = {number: len(wanted & stems) for number, stems in enumerate(paragraph_stems, start=1)}
    return [number for number in sorted(shared, key=lambda n: (-shared[n], n)) if shared[number] > 0]


def _fitting_notes(
    parts: Sequence[str], ranked: Sequence[int], room: int, generator: TextGenerator, sizes: dict[int, int]
) -> str:
    """The best of `ranked` paragraphs that fit `room` tokens, numbered, in the notes' order, without their
    headings (the segment's title says what they are about; a heading among the facts gets read out)."""
    if room < MIN_NOTES_TOKENS // 2:
        return ""
    bodies = {number: _body(parts[number - 1]) for number in ranked}
    chosen: list[int] = []
    used = 0
    for number in ranked:
        if number not in sizes:
            sizes[number] = generator.count_tokens(f"[{number}] {bodies[number]}\n")
        size = sizes[number]
        if used + size <= room:
            chosen.append(number)
            used += size
    if not chosen and ranked:
        # The best paragraph alone is longer than the room: its start.
        number = ranked[0]
        keep = max(1, int(len(bodies[number]) * room / max(generator.count_tokens(bodies[number]), 1) * 0.9))
        return f"[{number}] {bodies[number][:keep]}"
    return "\n".join(f"[{number}] {bodies[number]}" for number in sorted(chosen))


# A small model slips out of the conversation into an assistant's voice, or copies the request's own words.
_OUT_OF_CHARACTER = re.compile(
    r"\b(?:as an ai|language model|as of my last|my knowledge|i don't have (?:any )?(?:information|access)|"
    r"provide (?:me with )?more (?:details|information)|source_refs|segment \d+ of \d+|it covers:)",
    re.IGNORECASE,
)


_HASHTAGS = re.compile(r"(?<![\w&])#[^\W\d_][\w-]*")  # a model's social-media habit, not something to say


def _add_lines(draft: _Draft, raw: Sequence[Mapping[str, Any]], *, names: Sequence[str], parts: Sequence[str]) -> int:
    """The model's lines cleaned and added to the draft: plain words, a host's name as speaker; no sentence that
    says again what one said before in the episode (a short one, "Exactly.", only not twice in a segment), none
    out of character; a turn by the same speaker joined to the one before when it fits; paragraphs cited that
    exist and say some of the line (else the one that says most of it). How many lines were added."""
    by_name = {name.lower(): name for name in names}
    earlier = [
        _stems(sentence) for line in [*draft.before, *draft.lines] for sentence in _SENTENCE_BREAK.split(line.text)
    ]
    earlier = [stems for stems in earlier if len(stems) >= REPEAT_MIN_WORDS]
    in_segment = {" ".join(tokens(sentence)) for line in draft.lines for sentence in _SENTENCE_BREAK.split(line.text)}
    paragraph_stems = [_stems(plain(part)) for part in parts]
    added = 0
    for item in raw:
        speaker = by_name.get(str(item.get("speaker") or "").strip().lower())
        if speaker is None:
            continue
        raw_text = str(item.get("text") or "")
        sentences = _SENTENCE_BREAK.split(plain(_HASHTAGS.sub("", raw_text), speakers=names))
        if len(raw_text) >= TURN_MAX_CHARS - 2 and not _ENDS_SENTENCE.search(raw_text.rstrip()):
            sentences = sentences[:-1]  # cut off at the schema's length: its last sentence is unfinished
        if sentences and sentences[0][:1].islower():
            sentences = sentences[1:]  # the end of a sentence cut off in the turn before
        kept = []
        for sentence in sentences:
            key, stems = " ".join(tokens(sentence)), _stems(sentence)
            if not key or key in in_segment or _OUT_OF_CHARACTER.search(sentence):
                continue
            if len(stems) >= REPEAT_MIN_WORDS:
                if any(_repeats(stems, other) for other in earlier):
                    continue
                earlier.append(stems)
            in_segment.add(key)
            kept.append(sentence)
        if not kept:
            continue
        text = " ".join(kept)
        refs = _refs(item.get("source_refs"), _stems(text), paragraph_stems)
        last = draft.lines[-1] if draft.lines else None
        if last is not None and last.speaker == speaker and len(last.text) + len(text) + 1 <= LINE_MAX_CHARS:
            draft.lines[-1] = Line(
                speaker=speaker, text=f"{last.text} {text}", source_refs=sorted({*last.source_refs, *refs})
            )
        else:
            draft.lines.extend(
                Line(speaker=speaker, text=piece, source_refs=refs) for piece in _fit(text, LINE_MAX_CHARS)
            )
        added += 1
    return added


def _refs(cited: Any, stems: set[str], paragraph_stems: Sequence[set[str]]) -> list[int]:
    """The paragraphs a line draws on: those it cites that say at least two of its words, else the one that says
    most of them (at least two)."""
    numbers = [n for n in cited if isinstance(n, int) and not isinstance(n, bool)] if isinstance(cited, list) else []
    kept = sorted({n for n in numbers if 1 <= n <= len(paragraph_stems) and len(stems & paragraph_stems[n - 1]) >= 2})
    if kept:
        return kept[:3]
    best = max(range(len(paragraph_stems)), key=lambda i: len(stems & paragraph_stems[i]), default=None)
    if best is not None and len(stems & paragraph_stems[best]) >= 2:
        return [best + 1]
    return []
