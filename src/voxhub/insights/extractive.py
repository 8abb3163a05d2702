"""The offline method, used when no language model is configured, and for what a language model should not guess:
chapters begin where the topic shifts (the similarity of the windows either side of a segment boundary dips, as in
Hearst's TextTiling, on sentence embeddings); key phrases come from YAKE, counted and timed from the words' own
times; summaries are the most central segments (TextRank on the embeddings' similarity graph), picked so they do not
repeat each other. It writes nothing of its own, so it finds no action items.

Pure functions over segments and their vectors: no database, no engine calls but the embedder handed in."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import yake

from voxhub.insights.schemas import Chapter, KeyPhrase, SummaryType, TimeRange
from voxhub.insights.segments import Segment, tokens, word_count

if TYPE_CHECKING:
    from voxhub.engines.embed import Embedder

EMBED_BATCH = 256
WINDOW_WORDS = 80  # each side of a boundary is about this many words (30 s of speech)
MIN_CHAPTER_WORDS = 120  # a topic shorter than this (45 s of speech) is not a chapter of its own
WORDS_PER_CHAPTER = 200  # at most one chapter per this many words
KEY_PHRASES = 15
PHRASE_WORDS = 3  # the longest key phrase, in words
SUMMARY_MIN_WORDS = 6  # shorter segments ("Yes.", "Thank you all.") summarise nothing when longer ones exist
DAMPING = 0.85
TEXTRANK_BLOCK = 3000  # segments ranked together at most; longer transcripts are ranked in blocks of this size


def embed(segments: Sequence[Segment], embedder: Embedder) -> np.ndarray:
    """One L2-normalised vector per segment."""
    texts = [segment.text for segment in segments]
    parts = [embedder.embed(texts[start : start + EMBED_BATCH]) for start in range(0, len(texts), EMBED_BATCH)]
    if not parts:
        return np.zeros((0, embedder.dimension), dtype=np.float32)
    return np.asarray(np.vstack(parts), dtype=np.float32)


# ---- chapters ----


def _window(counts: Sequence[int]) -> int:
    """Segments per window: about WINDOW_WORDS words, at least two segments."""
    mean = max(sum(counts) / max(len(counts), 1), 1.0)
    return max(2, min(12, round(WINDOW_WORDS / mean)))


def gap_similarity(vectors: np.ndarray, window: int) -> np.ndarray:
    """For each boundary before segment i (i = 1 … n-1): the cosine of the mean vectors of the `window` segments
    before it and the `window` segments from it on."""
    n = len(vectors)
    sums = np.vstack([np.zeros((1, vectors.shape[1]), dtype=np.float64), np.cumsum(vectors, axis=0, dtype=np.float64)])
    similarity = np.zeros(max(n - 1, 0))
    for gap in range(1, n):
        left = sums[gap] - sums[max(0, gap - window)]
        right = sums[min(n, gap + window)] - sums[gap]
        norms = np.linalg.norm(left) * np.linalg.norm(right)
        similarity[gap - 1] = float(left @ right / norms) if norms > 0 else 0.0
    return similarity


def depth_scores(similarity: np.ndarray) -> np.ndarray:
    """How deep each point lies in its valley: the climb to the highest point on each side, summed (TextTiling)."""
    depth = np.zeros_like(similarity)
    for index, value in enumerate(similarity):
        left = index
        while left > 0 and similarity[left - 1] >= similarity[left]:
            left -= 1
        right = index
        while right < len(similarity) - 1 and similarity[right + 1] >= similarity[right]:
            right += 1
        depth[index] = (similarity[left] - value) + (similarity[right] - value)
    return depth


def topic_shifts(units: Sequence[Segment], vectors: np.ndarray) -> list[int]:
    """Indexes of the units (sentences) that begin a new topic (the first is always 0): the deepest dips in
    similarity, deeper than is usual for this transcript, no topic shorter than MIN_CHAPTER_WORDS."""
    counts = [len(unit.text.split()) for unit in units]
    total = sum(counts)
    if len(units) < 4 or total < 2 * MIN_CHAPTER_WORDS:
        return [0]
    similarity = gap_similarity(vectors, _window(counts))
    smoothed = np.convolve(np.pad(similarity, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    depth = depth_scores(smoothed)
    minima = [
        gap
        for gap in range(len(smoothed))
        if (gap == 0 or smoothed[gap] <= smoothed[gap - 1])
        and (gap == len(smoothed) - 1 or smoothed[gap] <= smoothed[gap + 1])
    ]
    if not minima:
        return [0]
    cutoff = float(depth.mean() + depth.std() / 2)
    words_before = np.concatenate([[0], np.cumsum(counts)])  # words_before[i]: words in units before i
    starts = [0]
    for gap in sorted(minima, key=lambda g: -depth[g]):
        if depth[gap] <= cutoff or len(starts) > total // WORDS_PER_CHAPTER:
            break
        # Smoothing finds the valley; its lowest raw point is where the topic changes.
        nearby = range(max(0, gap - 1), min(len(similarity), gap + 2))
        start = min(nearby, key=lambda g: similarity[g]) + 1  # the boundary before unit `start`
        bounds = sorted([*starts, start])
        edges = [*bounds, len(units)]
        if all(words_before[b] - words_before[a] >= MIN_CHAPTER_WORDS for a, b in itertools.pairwise(edges)):
            starts = bounds
    return starts


def chapter_starts(segments: Sequence[Segment], units: Sequence[Segment], vectors: np.ndarray) -> list[int]:
    """Indexes of the segments that begin a chapter (the first is always 0): each topic shift found among the
    sentences (`units`, with their `vectors`) moved to the nearer edge of the segment it falls in, so that a chapter
    is made of whole segments."""
    index_of = {segment.id: index for index, segment in enumerate(segments)}
    starts = [0]
    for unit in topic_shifts(units, vectors)[1:]:
        inside = index_of[units[unit].id]
        if units[unit - 1].id != units[unit].id or inside + 1 >= len(segments):
            start = inside  # the shift is at a segment's edge already, or past the last one's start
        else:
            here, before, after = units[unit].start, segments[inside].start, segments[inside + 1].start
            if here is not None and before is not None and after is not None:
                start = inside if here - before <= after - here else inside + 1
            else:  # no times: by how many of the segment's sentences come before the shift
                same = [u for u in units if u.id == units[unit].id]
                start = inside if same.index(units[unit]) * 2 <= len(same) else inside + 1
        if start > starts[-1]:
            starts.append(start)
    return starts


def chapter_times(
    segments: Sequence[Segment], starts: Sequence[int], duration: float | None
) -> list[tuple[float | None, float | None]]:
    """Start and end of each chapter so that together they cover the recording: the first starts at 0, each ends
    where the next begins (at its first segment), the last ends with the recording."""
    if segments[0].start is None:
        return [(None, None) for _ in starts]
    begins: list[float] = [0.0, *(float(segments[index].start or 0.0) for index in starts[1:])]
    last_end = max(float(segment.end or 0.0) for segment in segments)
    ends = [*begins[1:], max(last_end, duration or 0.0)]
    return list(zip(begins, ends, strict=True))


def chapters(
    segments: Sequence[Segment],
    units: Sequence[Segment],
    vectors: np.ndarray,
    *,
    starts: Sequence[int],
    language: str,
    duration: float | None,
) -> list[Chapter]:
    """Chapters of whole segments beginning at `starts` (see chapter_starts), each with its most central sentence
    (of `units`, with their `vectors`) as headline, its top key phrase as gist and its most central sentences, in
    order, as summary."""
    out = []
    stops = [*starts[1:], len(segments)]
    for (start, end), first, stop in zip(chapter_times(segments, starts, duration), starts, stops, strict=True):
        members = segments[first:stop]
        inside = {segment.id for segment in members}
        picked = [index for index, unit in enumerate(units) if unit.id in inside]
        central = [picked[i] for i in most_central([units[i] for i in picked], vectors[picked], 3)]
        phrases = key_phrases(members, language=language, top=1)
        headline = units[central[0]].text if central else members[0].text
        out.append(
            Chapter(
                start=start,
                end=end,
                headline=headline,
                gist=phrases[0].text if phrases else _first_words(headline),
                summary=" ".join(units[index].text for index in sorted(central)) or headline,
                segment_ids=[segment.id for segment in members],
            )
        )
    return out


def _first_words(text: str, count: int = 6) -> str:
    words = text.split()
    return " ".join(words[:count]) + ("…" if len(words) > count else "")


# ---- key phrases ----


def key_phrases(
    segments: Sequence[Segment], *, language: str, starts: Sequence[int] = (0,), top: int = KEY_PHRASES
) -> list[KeyPhrase]:
    """The `top` key phrases, each with how often and when it is said (word times; a segment's own times where its
    words have none, as after an edit). YAKE ranks the phrases of each chapter (`starts`: the index of each chapter's
    first segment) and the chapters take turns, so a topic of one chapter is not crowded out by another's; a phrase
    said once comes after those said again."""
    spoken = _spoken_tokens(segments)
    position: dict[str, tuple[int, float]] = {}  # phrase → (its place in a chapter's list, YAKE score there)
    names: dict[str, str] = {}
    for first, stop in zip(starts, [*starts[1:], len(segments)], strict=True):
        text = " ".join(segment.text for segment in segments[first:stop])
        if not text.strip():
            continue
        extractor = yake.KeywordExtractor(lan=(language or "en")[:2].lower(), n=PHRASE_WORDS, dedupLim=0.7, top=top * 2)
        kept: list[set[str]] = []
        for phrase, score in extractor.extract_keywords(text):
            words = tokens(phrase)
            # "solar", "panels" and "twenty solar panels" add nothing to a better-ranked "solar panels"
            if not words or any(set(words) <= other or other <= set(words) for other in kept):
                continue
            key = " ".join(words)
            place = (len(kept), float(score))
            kept.append(set(words))
            if key not in position or place < position[key]:
                position[key] = place
                names.setdefault(key, phrase)
    found = [(key, _occurrences(key.split(), spoken)) for key in position]
    found = [(key, times) for key, times in found if times]
    found.sort(key=lambda item: (len(item[1]) < 2, position[item[0]]))
    chosen: list[set[str]] = []
    out: list[KeyPhrase] = []
    for key, times in found:
        distinct = set(key.split())
        if any(distinct <= other or other <= distinct for other in chosen):
            continue
        chosen.append(distinct)
        out.append(
            KeyPhrase(
                text=names[key],
                count=len(times),
                rank=round(1.0 / (1 + position[key][0]), 4),
                timestamps=[TimeRange(start=a, end=b) for a, b in times if a is not None and b is not None],
            )
        )
        if len(out) == top:
            break
    return out


_Spoken = tuple[list[str], list[tuple[float | None, float | None]], dict[str, list[int]]]


def _spoken_tokens(segments: Sequence[Segment]) -> _Spoken:
    """Every word said, in order, with its time, and where each word occurs."""
    said: list[str] = []
    times: list[tuple[float | None, float | None]] = []
    for segment in segments:
        if segment.words:
            for word in segment.words:
                for token in tokens(word.text):
                    said.append(token)
                    times.append((word.start, word.end))
        else:
            for token in tokens(segment.text):
                said.append(token)
                times.append((segment.start, segment.end))
    where: dict[str, list[int]] = defaultdict(list)
    for index, token in enumerate(said):
        where[token].append(index)
    return said, times, where


def _occurrences(phrase: list[str], spoken: _Spoken) -> list[tuple[float | None, float | None]]:
    words, times, where = spoken
    if not phrase:
        return []
    found: list[tuple[float | None, float | None]] = []
    after = -1
    for index in where.get(phrase[0], []):
        if index <= after or words[index : index + len(phrase)] != phrase:
            continue
        found.append((times[index][0], times[index + len(phrase) - 1][1]))
        after = index + len(phrase) - 1
    return found


# ---- summary ----


def textrank(vectors: np.ndarray) -> np.ndarray:
    """Centrality of each segment: PageRank on the graph whose edges are the positive cosine similarities."""
    n = len(vectors)
    scores = np.zeros(n)
    for begin in range(0, n, TEXTRANK_BLOCK):
        block = vectors[begin : begin + TEXTRANK_BLOCK].astype(np.float64)
        size = len(block)
        weights = np.clip(block @ block.T, 0.0, None)
        np.fill_diagonal(weights, 0.0)
        totals = weights.sum(axis=1, keepdims=True)
        transition = np.divide(weights, totals, out=np.full_like(weights, 1.0 / size), where=totals > 0)
        rank = np.full(size, 1.0 / size)
        for _ in range(100):
            updated = (1 - DAMPING) / size + DAMPING * (transition.T @ rank)
            if np.abs(updated - rank).sum() < 1e-9:
                rank = updated
                break
            rank = updated
        scores[begin : begin + size] = rank * size / n
    return scores


def most_central(segments: Sequence[Segment], vectors: np.ndarray, count: int, redundancy: float = 0.6) -> list[int]:
    """Indexes of up to `count` central segments, best first, each chosen for its centrality less its similarity to
    those already chosen (maximal marginal relevance), so a summary does not say one thing twice."""
    if not segments:
        return []
    scores = textrank(vectors)
    span = float(scores.max() - scores.min()) or 1.0
    relevance = (scores - scores.min()) / span
    candidates = [i for i, s in enumerate(segments) if len(s.text.split()) >= SUMMARY_MIN_WORDS]
    if len(candidates) < count:
        candidates = list(range(len(segments)))
    chosen: list[int] = []
    while candidates and len(chosen) < count:
        if chosen:
            overlap = (vectors[candidates] @ vectors[chosen].T).max(axis=1)
            marks = relevance[candidates] - redundancy * overlap
        else:
            marks = relevance[candidates]
        best = candidates[int(np.argmax(marks))]
        chosen.append(best)
        candidates.remove(best)
    return chosen


def summary(
    segments: Sequence[Segment],
    vectors: np.ndarray,
    summary_type: SummaryType,
    *,
    phrases: Sequence[KeyPhrase],
    chapter_count: int,
) -> str:
    """Segments as said: the most central ones in the order they were said (bullets or a paragraph), the single most
    central one (headline), or the top key phrases (gist)."""
    if not segments:
        return ""
    if summary_type == "gist":
        return ", ".join(phrase.text for phrase in phrases[:3]) or _first_words(segments[0].text)
    if summary_type == "headline":
        return segments[most_central(segments, vectors, 1)[0]].text
    count = max(3, min(8, max(chapter_count, word_count(segments) // 250)))
    picked = sorted(most_central(segments, vectors, count))
    if summary_type == "bullets":
        return "\n".join(f"- {segments[index].text}" for index in picked)
    return " ".join(segments[index].text for index in picked)
