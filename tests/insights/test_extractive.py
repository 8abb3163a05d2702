"""The offline method on the known script, with the real wordllama embeddings: chapters change where the planted topics
do and cover the recording, the planted key terms are key phrases timed by their words, and summaries are sentences
that were said, one per topic."""

from __future__ import annotations

from itertools import pairwise

import pytest

from tests.insights.script import TOPICS, transcript_of
from voxhub import engines
from voxhub.config import Settings
from voxhub.engines.embed import Embedder
from voxhub.insights import extractive
from voxhub.insights.segments import from_text, from_transcript, sentences

TOLERANCE_S = 20.0


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    settings = Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("embed") / "var")  # type: ignore[call-arg]
    return engines.embedder(settings, engine="local", model="wordllama")


def test_chapters_begin_where_the_topics_change_and_cover_the_recording(embedder: Embedder) -> None:
    document, changes = transcript_of()
    segments = from_transcript(document)
    units = sentences(segments)
    vectors = extractive.embed(units, embedder)
    starts = extractive.chapter_starts(segments, units, vectors)

    chapters = extractive.chapters(
        segments, units, vectors, starts=starts, language="en", duration=document["duration_s"]
    )

    assert len(chapters) == len(TOPICS), [(c.start, c.gist) for c in chapters]
    for chapter, planted in zip(chapters[1:], changes, strict=True):
        assert chapter.start is not None and abs(chapter.start - planted) <= TOLERANCE_S, (chapter.start, planted)
    # Without gaps or overlaps, from the start of the recording to its end, every segment in exactly one chapter.
    assert chapters[0].start == 0.0 and chapters[-1].end == document["duration_s"]
    assert all(before.end == after.start for before, after in pairwise(chapters))
    assert [i for chapter in chapters for i in chapter.segment_ids] == [s["id"] for s in document["segments"]]
    # Each chapter is named and summarised by what was said in it.
    for chapter, topic in zip(chapters, TOPICS, strict=True):
        said = {document["segments"][i]["text"] for i in chapter.segment_ids}
        assert chapter.headline in said
        assert any(term in chapter.gist.lower() or chapter.gist.lower() in term for term in topic.key_terms) or any(
            chapter.gist.lower() in sentence.lower() for sentence in topic.sentences
        ), chapter.gist


def test_the_planted_key_terms_are_key_phrases_timed_by_their_words(embedder: Embedder) -> None:
    document, _changes = transcript_of()
    segments = from_transcript(document)
    starts = extractive.chapter_starts(segments, segments, extractive.embed(segments, embedder))

    phrases = extractive.key_phrases(segments, language="en", starts=starts)

    found = {phrase.text.lower(): phrase for phrase in phrases}
    for topic in TOPICS:
        assert any(term in found for term in topic.key_terms), (topic.name, sorted(found))
    ranks = [phrase.rank for phrase in phrases]
    assert all(0 < rank <= 1 for rank in ranks) and max(ranks) == 1.0
    # "solar panels" is said three times: each time from its first word's start to its last word's end.
    solar = found["solar panels"]
    words = [w for s in document["segments"] for w in s["words"]]
    said_at = [
        (first["start"], second["end"])
        for first, second in pairwise(words)
        if first["word"].strip().lower() == "solar" and second["word"].strip(" .,").lower() == "panels"
    ]
    assert solar.count == len(said_at) == 3
    assert [(t.start, t.end) for t in solar.timestamps] == said_at


def test_summaries_are_central_sentences_one_per_topic(embedder: Embedder) -> None:
    document, _changes = transcript_of()
    segments = from_transcript(document)
    vectors = extractive.embed(segments, embedder)
    phrases = extractive.key_phrases(segments, language="en")
    said = [segment.text for segment in segments]

    bullets = extractive.summary(segments, vectors, "bullets", phrases=phrases, chapter_count=3).split("\n")
    paragraph = extractive.summary(segments, vectors, "paragraph", phrases=phrases, chapter_count=3)
    headline = extractive.summary(segments, vectors, "headline", phrases=phrases, chapter_count=3)
    gist = extractive.summary(segments, vectors, "gist", phrases=phrases, chapter_count=3)

    assert len(bullets) >= 3 and all(line.startswith("- ") and line[2:] in said for line in bullets)
    for topic in TOPICS:  # not three sentences saying the same thing
        assert any(line[2:] in topic.sentences for line in bullets), topic.name
    assert paragraph == " ".join(line[2:] for line in bullets)
    assert headline in said
    assert gist and len(gist.split()) <= 9 and "\n" not in gist


def test_plain_text_is_read_as_sentences_without_times(embedder: Embedder) -> None:
    text = " ".join(sentence for topic in TOPICS for sentence in topic.sentences)
    segments = from_text(text)
    assert len(segments) == sum(len(topic.sentences) for topic in TOPICS)
    vectors = extractive.embed(segments, embedder)
    starts = extractive.chapter_starts(segments, segments, vectors)

    chapters = extractive.chapters(segments, segments, vectors, starts=starts, language="en", duration=None)
    phrases = extractive.key_phrases(segments, language="en", starts=starts)

    assert len(chapters) == len(TOPICS)
    assert all(chapter.start is None and chapter.end is None for chapter in chapters)
    assert phrases and all(phrase.count >= 1 and phrase.timestamps == [] for phrase in phrases)


def test_a_short_transcript_is_one_chapter(embedder: Embedder) -> None:
    document, _changes = transcript_of(TOPICS[:1])
    document["segments"] = document["segments"][:5]
    segments = from_transcript(document)
    vectors = extractive.embed(segments, embedder)

    chapters = extractive.chapters(
        segments,
        segments,
        vectors,
        starts=extractive.chapter_starts(segments, segments, vectors),
        language="en",
        duration=60.0,
    )

    assert len(chapters) == 1
    assert (chapters[0].start, chapters[0].end) == (0.0, 60.0)
    assert chapters[0].segment_ids == [0, 1, 2, 3, 4]


def test_long_segments_are_read_by_sentence_and_chapters_keep_whole_segments(embedder: Embedder) -> None:
    # Batched Whisper writes 30 s segments of several sentences: five sentences a segment here.
    document, changes = transcript_of()
    fine = document["segments"]
    coarse = [
        {
            "id": number,
            "start": group[0]["start"],
            "end": group[-1]["end"],
            "text": " ".join(segment["text"] for segment in group),
            "words": [word for segment in group for word in segment["words"]],
        }
        for number, group in enumerate(fine[index : index + 5] for index in range(0, len(fine), 5))
    ]
    segments = from_transcript({**document, "segments": coarse})
    units = sentences(segments)
    assert [unit.text for unit in units] == [segment["text"] for segment in fine]
    assert [(unit.start, unit.end) for unit in units] == [(segment["start"], segment["end"]) for segment in fine]
    vectors = extractive.embed(units, embedder)

    starts = extractive.chapter_starts(segments, units, vectors)
    chapters = extractive.chapters(
        segments, units, vectors, starts=starts, language="en", duration=document["duration_s"]
    )

    assert len(chapters) == len(TOPICS)
    for chapter, planted in zip(chapters[1:], changes, strict=True):
        assert chapter.start is not None and abs(chapter.start - planted) <= TOLERANCE_S, (chapter.start, planted)
    assert [i for chapter in chapters for i in chapter.segment_ids] == [segment["id"] for segment in coarse]
    assert all(chapter.headline in {segment["text"] for segment in fine} for chapter in chapters)  # a sentence
