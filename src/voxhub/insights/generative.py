"""Insights written by a language model, map-reduce over a transcript of any length.

Chapters begin where the extractive method finds the topic changes (embeddings place them more reliably than a small
model reading a window of text, and always at a segment boundary); the model writes what each is about. Map: each
chapter is read in chunks that fit the model's window (a small trailing chunk joins the one before, so it can neither
be lost nor stand alone for the rest), and from each the model returns, as JSON valid against a schema, a headline,
a gist and a summary, and (asked apart: small models find commitments far better when that is all they look for) the
action items said there, each citing the segment where it is said. Reduce: a chapter read
in several chunks is summed up from their summaries, and the recording's summary from its chapters'.

Grounding: an action item is kept only where the segment it cites (or a neighbour) says most of it, else moved to
the segment of the chunk that does, else dropped; owners and due dates the chunk never mentions are left out. A
headline, gist or summary sentence sharing too few words with its chapter is dropped (the extractive one stays).
`coverage` lists the stretches the model actually read: a chunk it could not answer for is left out, not papered
over, and its chapter keeps the extractive headline."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from voxhub.engines.base import EngineError
from voxhub.engines.llm import Generation, TextGenerator, generate_json
from voxhub.insights.extractive import WORDS_PER_CHAPTER
from voxhub.insights.schemas import ActionItem, Chapter, Coverage, InsightsOptions, SummaryType
from voxhub.insights.segments import Segment, coverage, merge_coverage, tokens

ANSWER_TOKENS = 500  # room left in the window for one answer
MARGIN_TOKENS = 64  # chat template tokens around the messages
SMALL_TAIL = 0.25  # a last chunk under this share of the budget joins the chunk before it
MAX_ACTIONS = 6  # per chunk
STEM = 5  # words agree on their first letters ("register", "registration"): enough to see a claim is sourced
# Words that say nothing about what an action item is: never enough, alone, to tie it to a segment.
_FILLER = (
    "a an the and or but to of in on at by for with from into about this that these those it its is are was were be "
    "will would shall should can could may might must do does did done have has had we you they he she i our your "
    "their his her them us me my all any some next up out as so then than also just"
)
FILLER = frozenset(_FILLER.split())

Progress = Callable[[float], None]  # fraction of the reading done, 0 to 1; may raise to stop the work


@dataclass(frozen=True)
class Written:
    summary: str | None
    chapters: list[Chapter]
    action_items: list[ActionItem] | None
    coverage: list[Coverage]
    complete: bool
    prompt_tokens: int
    completion_tokens: int


# ---- what it will cost ----

CHARACTERS_PER_TOKEN = 3  # fewer than the 4 of English prose: an estimate that holds enough for other languages too
PROMPT_TOKENS = 400  # the system message, the instructions and the chat template of one request


def most_tokens(characters: int, words: int, options: InsightsOptions, *, context_tokens: int) -> int:
    """The most tokens `write` should read and write for a transcript of this size, before it is read: each chunk
    read once for the chapters' texts and once more for the action items, at most one chapter per
    WORDS_PER_CHAPTER words, every answer at its longest, and the summing up of chapters and of the recording."""
    text = math.ceil(characters / CHARACTERS_PER_TOKEN)
    budget = max(200, context_tokens - ANSWER_TOKENS - PROMPT_TOKENS - MARGIN_TOKENS)
    windows = math.ceil(text / budget)
    pieces = max(windows, math.ceil(words / WORDS_PER_CHAPTER), 1) + windows
    reads = 2 if options.action_items else 1
    requests = pieces * reads + pieces + 1  # the chunks, each chapter summed up, the recording's summary
    return text * reads + requests * (PROMPT_TOKENS + ANSWER_TOKENS)


# ---- chunks ----


def plan_chunks(token_counts: Sequence[int], budget: int) -> list[range]:
    """Consecutive runs of lines, each within `budget` tokens (a line longer than the budget alone). A last run under
    SMALL_TAIL of the budget joins the one before it, or, when both would not fit together, the two are cut again
    into halves of about equal size."""
    chunks: list[range] = []
    start, used = 0, 0
    for index, count in enumerate(token_counts):
        if index > start and used + count > budget:
            chunks.append(range(start, index))
            start, used = index, 0
        used += count
    if start < len(token_counts):
        chunks.append(range(start, len(token_counts)))
    if len(chunks) >= 2 and _tokens(token_counts, chunks[-1]) < SMALL_TAIL * budget:
        before, last = chunks[-2], chunks[-1]
        joined = range(before.start, last.stop)
        total = _tokens(token_counts, joined)
        if total <= budget:
            chunks[-2:] = [joined]
        else:
            running, cut = 0, joined.start + 1
            for index in joined:
                running += token_counts[index]
                if running >= total / 2:
                    cut = max(joined.start + 1, min(index + 1, joined.stop - 1))
                    break
            chunks[-2:] = [range(joined.start, cut), range(cut, joined.stop)]
    return chunks


def _tokens(token_counts: Sequence[int], lines: range) -> int:
    return sum(token_counts[index] for index in lines)


def line_of(segment: Segment) -> str:
    return f"[{segment.id}] {segment.text}"


# ---- prompts and schemas ----

_STRING: dict[str, Any] = {"type": "string"}


def _object(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties)}


def _texts_schema(*, titles: bool) -> dict[str, Any]:
    summary = {**_STRING, "maxLength": 500}
    if not titles:
        return _object(summary=summary)
    return _object(topic={**_STRING, "maxLength": 60}, headline={**_STRING, "maxLength": 160}, summary=summary)


_PROMISES_SCHEMA = _object(
    promises={
        "type": "array",
        "maxItems": MAX_ACTIONS,
        "items": _object(
            segment_id={"type": "integer"},
            task={**_STRING, "maxLength": 160},
            owner={**_STRING, "maxLength": 60},
            due={**_STRING, "maxLength": 60},
        ),
    }
)

_TITLES = "topic: the subject in two to five words. headline: one sentence on it. "


def _system(language: str) -> str:
    return (
        "You read transcripts of recordings and meetings and report only what is said in them. Each transcript line "
        "starts with its segment id in square brackets. Answer with JSON only. Write in the language whose ISO 639-1 "
        f"code is '{language}'."
    )


def _texts_prompt(lines: str, *, titles: bool) -> str:
    shape = '{"topic": "...", "headline": "...", "summary": "..."}' if titles else '{"summary": "..."}'
    return (
        f"Transcript:\n{lines}\n\nAnswer in this JSON shape: {shape}\n"
        f"{_TITLES if titles else ''}summary: two or three sentences on what is said and decided."
    )


def _promises_prompt(lines: str) -> str:
    return (
        f'Transcript:\n{lines}\n\nFind the lines where a person promises or agrees to do something ("I will ...", '
        '"I\'ll ...", "we will ..."). For each: segment_id is the number in brackets at the start of that line; task '
        "is what will be done, in a few words; owner is the name of the person who promises (often addressed in the "
        "line before), or an empty string; due is the deadline in the words of the transcript, or an empty string. "
        'Answer in this JSON shape: {"promises": [{"segment_id": 0, "task": "...", "owner": "...", "due": "..."}]}. '
        "An empty list when nobody promises anything."
    )


_SUMMARY_ASK: dict[SummaryType, tuple[str, str]] = {
    "bullets": ('{"bullets": ["...", "..."]}', "bullets: three to eight short points, in the order they were said."),
    "paragraph": ('{"summary": "..."}', "summary: one paragraph of three to six sentences."),
    "headline": ('{"summary": "..."}', "summary: one sentence of at most twenty words on what it is about."),
    "gist": ('{"summary": "..."}', "summary: two to six words naming what it is about."),
}


def _summary_schema(summary_type: SummaryType) -> dict[str, Any]:
    if summary_type == "bullets":
        bullets = {"type": "array", "items": {**_STRING, "maxLength": 240}, "minItems": 2, "maxItems": 8}
        return _object(bullets=bullets)
    return _object(summary={**_STRING, "maxLength": {"paragraph": 1200, "headline": 160, "gist": 60}[summary_type]})


# ---- the map-reduce ----


@dataclass
class _Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, generation: Generation) -> None:
        self.prompt_tokens += generation.prompt_tokens
        self.completion_tokens += generation.completion_tokens


def write(
    segments: Sequence[Segment],
    chapters: Sequence[Chapter],
    generator: TextGenerator,
    options: InsightsOptions,
    *,
    language: str,
    progress: Progress,
) -> Written:
    """Summary, chapter texts and action items of `segments` by `generator`, over `chapters` (which tile the
    segments, as the extractive method found them; each keeps its extractive text where the model gave none), and
    what was read."""
    system = _system(language)
    longest = max(_texts_prompt("", titles=True), _promises_prompt(""), key=len)
    budget = generator.context_tokens - ANSWER_TOKENS - generator.count_tokens(system + longest) - MARGIN_TOKENS
    if budget < 200:
        raise EngineError(
            "context_too_small",
            f"The language model's window ({generator.context_tokens} tokens) leaves no room for the transcript; "
            "raise VOXHUB_LLM_CONTEXT_TOKENS.",
        )
    position = {segment.id: index for index, segment in enumerate(segments)}
    counts = [generator.count_tokens(line_of(segment) + "\n") for segment in segments]
    # (chapter number, lines): each chapter in chunks that fit the window
    pieces = [
        (number, range(first + chunk.start, first + chunk.stop))
        for number, chapter in enumerate(chapters)
        for first in [position[chapter.segment_ids[0]]]
        for chunk in plan_chunks(counts[first : first + len(chapter.segment_ids)], budget)
    ]
    usage = _Usage()
    read: list[Coverage] = []
    notes: dict[int, list[dict[str, Any]]] = {number: [] for number in range(len(chapters))}
    actions: list[ActionItem] = []
    for done, (number, lines) in enumerate(pieces, start=1):
        chunk = [segments[index] for index in lines]
        text = "\n".join(line_of(segment) for segment in chunk)
        alone = sum(1 for other, _lines in pieces if other == number) == 1
        try:
            answer = _ask(generator, system, _texts_prompt(text, titles=alone), _texts_schema(titles=alone), usage)
            promises = (
                _ask(generator, system, _promises_prompt(text), _PROMISES_SCHEMA, usage)["promises"]
                if options.action_items
                else []
            )
        except EngineError as exc:
            if exc.code != "invalid_json":
                raise
            progress(done / (len(pieces) + 1))
            continue  # not read: left out of the coverage
        read.append(coverage(chunk))
        notes[number].append(answer)
        actions += _actions(promises, chunk)
        progress(done / (len(pieces) + 1))
    written = [
        _chapter(generator, system, chapter, notes[number], segments, usage) for number, chapter in enumerate(chapters)
    ]
    merged = merge_coverage(read, segments)
    complete = (
        len(merged) == 1
        and merged[0].first_segment_id == segments[0].id
        and merged[0].last_segment_id == segments[-1].id
    )
    summary = None
    if options.summary and read:
        said = [chapter.summary for chapter, texts in zip(written, notes.values(), strict=True) if texts]
        summary = _reduce(generator, system, said, options.summary_type, budget, usage)
    progress(1.0)
    return Written(
        summary=summary,
        chapters=written,
        action_items=_unique(actions) if options.action_items and read else None,
        coverage=merged,
        complete=complete,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
    )


def _ask(generator: TextGenerator, system: str, prompt: str, schema: Mapping[str, Any], usage: _Usage) -> Any:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
    # Greedy decoding: the same transcript gets the same insights.
    answer, generation = generate_json(generator, messages, schema, max_tokens=ANSWER_TOKENS, temperature=0.0)
    usage.add(generation)
    return answer


def _chapter(
    generator: TextGenerator,
    system: str,
    chapter: Chapter,
    notes: list[dict[str, Any]],
    segments: Sequence[Segment],
    usage: _Usage,
) -> Chapter:
    """The chapter with the model's headline, gist and summary (from its one chunk, or summed up from its chunks'
    summaries), each only where its words are the chapter's; as it was where the model read none of it."""
    if not notes:
        return chapter
    if len(notes) == 1:
        answer = notes[0]
    else:
        said = "\n".join(f"- {note['summary'].strip()}" for note in notes if note["summary"].strip())
        prompt = (
            f"Summaries of the consecutive parts of one chapter of a transcript:\n\n{said}\n\nAnswer in this JSON "
            'shape: {"topic": "...", "headline": "...", "summary": "..."}\n'
            f"{_TITLES}summary: two or three sentences on the whole chapter. Use only what the summaries say."
        )
        try:
            answer = _ask(generator, system, prompt, _texts_schema(titles=True), usage)
        except EngineError as exc:
            if exc.code != "invalid_json":
                raise
            answer = {"summary": " ".join(note["summary"].strip() for note in notes)}
    members = set(chapter.segment_ids)
    spoken = _stems(" ".join(segment.text for segment in segments if segment.id in members))
    update: dict[str, str] = {}
    for field, key in (("gist", "topic"), ("headline", "headline")):
        value = str(answer.get(key) or "").strip()
        if value and _sourced(value, spoken):
            update[field] = value
    sentences = [part for part in _SENTENCES.split(str(answer.get("summary") or "").strip()) if part]
    kept = [sentence for sentence in sentences if _sourced(sentence, spoken)]
    if kept:
        update["summary"] = " ".join(kept)
    return chapter.model_copy(update=update)


_SENTENCES = re.compile(r"(?<=[.!?])\s+")


def _stem(word: str) -> str:
    return word[:STEM]


def _stems(text: str) -> set[str]:
    return {_stem(word) for word in _content_words(text)}


def _sourced(text: str, spoken: set[str]) -> bool:
    """At least half the words that carry meaning in `text` are said (give or take their endings)."""
    words = {_stem(word) for word in _content_words(text)}
    return bool(words) and len(words & spoken) * 2 >= len(words)


def _actions(promises: list[dict[str, Any]], chunk: Sequence[Segment]) -> list[ActionItem]:
    said = set(tokens(" ".join(segment.text for segment in chunk)))
    found = []
    for promise in promises:
        grounded = _ground(promise["task"], promise["segment_id"], chunk)
        if grounded is None:
            continue
        owner = promise["owner"].strip() or None
        due = promise["due"].strip() or None
        found.append(
            ActionItem(
                text=promise["task"].strip(),
                owner=owner if owner and set(tokens(owner)) <= said else None,
                due=due if due and _mentioned(due, said) else None,
                segment_id=grounded.id,
                start=grounded.start,
            )
        )
    return found


def _content_words(text: str) -> set[str]:
    return {word for word in tokens(text) if word not in FILLER and len(word) > 2}


def _mentioned(phrase: str, said: set[str]) -> bool:
    words = _content_words(phrase) or set(tokens(phrase))
    return bool(words) and words <= said


def _ground(task: str, segment_id: int, chunk: Sequence[Segment]) -> Segment | None:
    """The segment an action item comes from: the one it cites when it (or a neighbour: a task is often agreed a line
    after it is asked) says most of the task, else the chunk's segment that does; None when none does."""
    words = {_stem(word) for word in _content_words(task)}
    if not words:
        return None
    place = next((p for p, segment in enumerate(chunk) if segment.id == segment_id), None)
    if place is not None:
        nearby = " ".join(segment.text for segment in chunk[max(0, place - 1) : place + 2])
        if _sourced(task, _stems(nearby)):
            return chunk[place]
    backing = [segment for segment in chunk if _sourced(task, _stems(segment.text))]
    if not backing:
        return None
    return max(backing, key=lambda segment: len(words & _stems(segment.text)))


def _unique(items: list[ActionItem]) -> list[ActionItem]:
    """One item per thing to do: a later item on the same segment, or saying mostly the same, is a repeat."""
    kept: list[ActionItem] = []
    for item in sorted(items, key=lambda item: (item.start or 0.0, item.segment_id)):
        words = _stems(item.text)
        repeat = any(
            other.segment_id == item.segment_id
            or len(words & _stems(other.text)) >= 0.6 * max(len(words), len(_stems(other.text)), 1)
            for other in kept
        )
        if not repeat:
            kept.append(item)
    return kept


def _reduce(
    generator: TextGenerator, system: str, said: list[str], summary_type: SummaryType, budget: int, usage: _Usage
) -> str:
    """The summary asked for, from the chapters' summaries (in groups that fit the window, then once more over the
    groups' summaries, as long as there is more than one)."""
    while True:
        groups = plan_chunks([generator.count_tokens(text) + 2 for text in said], budget)
        kind: SummaryType = summary_type if len(groups) == 1 else "paragraph"
        shape, ask = _SUMMARY_ASK[kind]
        written = []
        for group in groups:
            notes = "\n".join(f"- {said[index]}" for index in group)
            prompt = (
                f"Summaries of the consecutive chapters of a recording:\n\n{notes}\n\nAnswer in this JSON shape: "
                f"{shape}\n{ask} Use only what the summaries say."
            )
            answer = _ask(generator, system, prompt, _summary_schema(kind), usage)
            if kind == "bullets":
                written.append("\n".join(f"- {bullet.strip()}" for bullet in answer["bullets"] if bullet.strip()))
            else:
                written.append(str(answer["summary"]).strip())
        if len(groups) == 1:
            return written[0]
        said = written
