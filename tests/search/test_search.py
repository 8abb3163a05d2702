"""Searching a workspace's recordings through the HTTP API, over the generated corpus of meetings and a podcast with
planted facts (tests/search/corpus.py): how often the passage that says the fact is in the top five for an exact term
and for a paraphrase in each mode, what a hit carries (a marked snippet, a link that plays from its second), filters
and pages, refusals, and that nothing crosses from one workspace to another, nor outlives an edit or a deletion."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.search.conftest import (
    Library,
    Shelves,
    index_all,
    opening,
    search,
    search_json,
    search_status,
    stock,
    upload,
)
from tests.search.corpus import Question, make_corpus
from tests.storage.stores import call_link
from voxhub.search.models import SearchChunk, SearchSource

# The module's tests share one app and one indexed corpus (module fixtures): under pytest-xdist (`--dist loadgroup`)
# they run together on one worker, where no other module's table cleanup can empty them midway.
pytestmark = pytest.mark.xdist_group("search-corpus")

MODES = ("lexical", "semantic", "hybrid")
KINDS = ("exact", "paraphrase")
TOP = 5
TARGET = {"exact": 0.9, "paraphrase": 0.7}  # recall@5 in hybrid mode (issue 16's "Done means")
HYBRID_SLACK = 0.02  # hybrid may trail the better of the two single modes by this much, no more


def contains_gold(hit: dict[str, Any], library: Library, question: Question) -> bool:
    """Whether the hit is the passage that says the answer. A hit is a passage (a run of segments); its `start` and
    `end` are the one segment of it that matched the query's words best, which for a paraphrase (no shared words) is
    often not the answer's. So the hit contains the gold segment when it is of the right recording and the passage's
    [passage_start, passage_end] covers the gold segment's start: what its snippet shows and its link plays within."""
    gold = library.corpus.gold(question)
    return (
        hit["job_id"] == library.job_ids[question.recording]
        and hit["passage_start"] <= gold["start"] <= hit["passage_end"]
    )


@dataclass
class Asked:
    question: Question
    mode: str
    items: list[dict[str, Any]]
    found: bool  # the gold segment is in the top five
    plays_gold: bool  # the first hit containing it plays from the gold segment's own second


@pytest.fixture(scope="module")
def asked(search_client: TestClient, shelves: Shelves) -> dict[tuple[str, str], list[Asked]]:
    """Every exact and paraphrase question of our corpus asked in every mode, top five each: (kind, mode) → answers."""
    ours = shelves.ours
    answers: dict[tuple[str, str], list[Asked]] = {}
    for kind in KINDS:
        for mode in MODES:
            for question in ours.corpus.of_kind(kind):
                page = search_json(search_client, ours.person, q=question.text, mode=mode, limit=TOP)
                assert page["mode"] == mode and page["semantic"] == (mode != "lexical"), page
                items = page["items"]
                containing = [hit for hit in items if contains_gold(hit, ours, question)]
                gold_start = ours.corpus.gold(question)["start"]
                answers.setdefault((kind, mode), []).append(
                    Asked(
                        question=question,
                        mode=mode,
                        items=items,
                        found=bool(containing),
                        plays_gold=bool(containing) and abs(containing[0]["start"] - gold_start) < 1.0,
                    )
                )
    return answers


def recall(answers: list[Asked]) -> float:
    return sum(answer.found for answer in answers) / len(answers)


def table(asked: dict[tuple[str, str], list[Asked]]) -> str:
    return "; ".join(
        f"{kind}: " + ", ".join(f"{mode} {recall(asked[kind, mode]):.3f}" for mode in MODES) for kind in KINDS
    )


def test_the_passage_saying_the_fact_is_in_the_top_five_for_exact_terms_and_paraphrases(
    asked: dict[tuple[str, str], list[Asked]],
) -> None:
    print(f"recall@{TOP}: {table(asked)}")
    for (kind, mode), answers in asked.items():
        print(f"{kind} {mode} missed:", [answer.question.text for answer in answers if not answer.found])
    for kind in KINDS:
        answers = asked[kind, "hybrid"]
        missed = [answer.question.text for answer in answers if not answer.found]
        assert len(answers) >= 20
        assert recall(answers) >= TARGET[kind], f"{kind} recall@{TOP} {recall(answers):.3f}, missed {missed}"


def test_hybrid_is_never_worse_than_the_better_of_words_or_meaning(asked: dict[tuple[str, str], list[Asked]]) -> None:
    for kind in KINDS:
        better = max(recall(asked[kind, "lexical"]), recall(asked[kind, "semantic"]))
        assert recall(asked[kind, "hybrid"]) >= better - HYBRID_SLACK, table(asked)


def test_an_exact_term_plays_from_the_second_the_fact_was_said(asked: dict[tuple[str, str], list[Asked]]) -> None:
    found = [answer for answer in asked["exact", "hybrid"] if answer.found]
    playing = [answer for answer in found if answer.plays_gold]
    missed = [answer.question.text for answer in found if not answer.plays_gold]
    assert len(playing) >= TARGET["exact"] * len(found), f"{len(playing)} of {len(found)} play from the fact: {missed}"


def test_results_never_come_from_another_workspace(
    search_client: TestClient, shelves: Shelves, asked: dict[tuple[str, str], list[Asked]]
) -> None:
    ours, theirs = shelves.ours, shelves.theirs
    seen = {hit["job_id"] for answers in asked.values() for answer in answers for hit in answer.items}
    assert seen and seen <= set(ours.job_ids)
    assert not {hit["file_id"] for answers in asked.values() for answer in answers for hit in answer.items} - set(
        ours.file_ids
    )
    # Their planted names are nowhere in our workspace, by words; by meaning the nearest passages are still ours.
    our_words = set(re.findall(r"\w+", " ".join(r.document["text"] for r in ours.corpus.recordings).lower()))
    names = [t for t in theirs.corpus.planted_terms if not set(re.findall(r"\w+", t.lower())) & our_words]
    assert len(names) >= 5, names
    for term in names:
        assert search_json(search_client, ours.person, q=term, mode="lexical")["items"] == [], term
        for mode in ("semantic", "hybrid"):
            page = search_json(search_client, ours.person, q=term, mode=mode, limit=50)
            assert {hit["job_id"] for hit in page["items"]} <= set(ours.job_ids), term
    # And ours are nowhere in theirs, whatever the words.
    for question in ours.corpus.of_kind("exact"):
        page = search_json(search_client, theirs.person, q=question.text, mode="hybrid", limit=50)
        assert {hit["job_id"] for hit in page["items"]} <= set(theirs.job_ids), question.text


def test_filters_naming_another_workspaces_recording_find_nothing_of_it(
    search_client: TestClient, shelves: Shelves
) -> None:
    ours, theirs = shelves.ours, shelves.theirs
    term = theirs.corpus.planted_terms[0]  # said in their first recording
    for params in ({"file_id": theirs.file_ids[0]}, {"job_id": theirs.job_ids[0]}):
        answer = search(search_client, ours.person, q=term, **params)
        assert answer.status_code == 404, answer.text
        assert set(answer.json()["error"]) == {"code", "message", "details"}
    # Their workspace is not ours to search, with or without their ids.
    assert search(search_client, ours.person, workspace_id=theirs.person.workspace_id, q=term).status_code == 404
    # A cursor is a place in our own results, never a way into theirs.
    first = search_json(search_client, theirs.person, q=term, limit=1)
    assert first["next_cursor"]
    page = search_json(search_client, ours.person, q=term, limit=5, cursor=first["next_cursor"])
    assert {hit["job_id"] for hit in page["items"]} <= set(ours.job_ids)


def test_a_hit_names_its_recording_marks_the_words_that_matched_and_plays_from_its_second(
    search_client: TestClient, shelves: Shelves, search_settings: Any
) -> None:
    ours = shelves.ours
    values = ours.corpus.planted_terms
    [top, *_] = search_json(search_client, ours.person, q=f"{values[0]} marketing budget", mode="lexical")["items"]

    assert top["job_id"] == ours.job_ids[0] and top["file_id"] == ours.file_ids[0]
    assert top["file_name"] == ours.corpus.recordings[0].name
    assert "<mark>Zephyr</mark>" in top["snippet"]
    assert "<mark>budget</mark>" in top["snippet"]
    assert "<mark>marketing</mark>" in top["snippet"]
    assert top["url"].endswith(f"#t={top['start']:.2f}")
    played = call_link(search_client, search_settings, "GET", top["url"].split("#", 1)[0])
    assert played.status_code == 200
    assert played.headers["content-type"].startswith("audio/")
    assert played.content == shelves.audio

    # A snippet is HTML: the words of a transcript are escaped, never markup.
    [portuguese, *_] = search_json(search_client, ours.person, q="Ferreira Filhos", mode="lexical")["items"]
    assert "<mark>Ferreira</mark> &amp; <mark>Filhos</mark>" in portuguese["snippet"]
    assert portuguese["language"] == "pt"


def test_words_with_accents_find_their_passage_by_words_alone(search_client: TestClient, shelves: Shelves) -> None:
    ours = shelves.ours
    portuguese = len(ours.corpus.recordings) - 1
    [question] = [q for q in ours.corpus.of_kind("exact") if q.text == "inauguração do escritório"]
    assert question.recording == portuguese
    for q in ("inauguração do escritório", "inauguração"):
        items = search_json(search_client, ours.person, q=q, mode="lexical", limit=TOP)["items"]
        assert any(contains_gold(hit, ours, question) for hit in items), (q, items)
        assert "<mark>inauguração</mark>" in items[0]["snippet"], q


def test_filters_narrow_the_results_to_a_file_a_job_a_speaker_a_language_or_a_stretch_of_time(
    search_client: TestClient, shelves: Shelves
) -> None:
    ours = shelves.ours
    q = "budget for the launch"

    def hits(**params: Any) -> list[dict[str, Any]]:
        items = search_json(search_client, ours.person, q=q, limit=50, **params)["items"]
        assert items, params
        return items

    everything = hits()
    assert len({hit["job_id"] for hit in everything}) > 1
    assert {hit["file_id"] for hit in hits(file_id=ours.file_ids[5])} == {ours.file_ids[5]}
    assert {hit["job_id"] for hit in hits(job_id=ours.job_ids[1])} == {ours.job_ids[1]}
    assert all("S3" in hit["speakers"] for hit in hits(speaker="S3"))
    assert {hit["language"] for hit in hits(language="pt")} == {"pt"}
    assert {hit["language"] for hit in hits(language="en")} == {"en"}
    for hit in hits(**{"from": 300, "to": 400}):
        assert hit["passage_end"] >= 300 and hit["passage_start"] <= 400, hit
    # A speaker nobody is, a language nobody speaks: nothing, not an error.
    assert search_json(search_client, ours.person, q=q, speaker="S9")["items"] == []
    assert search_json(search_client, ours.person, q=q, language="de")["items"] == []


@pytest.mark.parametrize("mode", ["lexical", "hybrid"])
def test_pages_follow_each_other_without_repeating_a_hit(
    search_client: TestClient, shelves: Shelves, mode: str
) -> None:
    ours = shelves.ours
    q = "budget"
    whole = search_json(search_client, ours.person, q=q, mode=mode, limit=25)["items"]
    pages: list[list[dict[str, Any]]] = []
    cursor = None
    while len(pages) < 6:
        page = search_json(
            search_client, ours.person, q=q, mode=mode, limit=5, **({"cursor": cursor} if cursor else {})
        )
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    walked = [hit for page in pages for hit in page]
    keys = [(hit["job_id"], hit["passage_start"]) for hit in walked]
    assert len(keys) == len(set(keys)), "a hit came back on two pages"
    assert all(len(page) == 5 for page in pages[:-1])
    assert keys[: len(whole)] == [(hit["job_id"], hit["passage_start"]) for hit in whole]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": ""}, "q"),
        ({"q": "   "}, None),
        ({"q": "?!"}, None),
        ({}, "q"),
        ({"q": "budget", "mode": "fuzzy"}, "mode"),
        ({"q": "budget", "limit": 0}, "limit"),
        ({"q": "budget", "limit": 51}, "limit"),
        ({"q": "budget", "cursor": "not-a-cursor"}, None),
        ({"q": "budget", "cursor": "c2VhcmNoOi0x"}, None),  # "search:-1"
        ({"q": "budget", "from": -1}, "from"),
    ],
)
def test_a_bad_request_is_refused_with_the_one_error_shape(
    search_client: TestClient, shelves: Shelves, params: dict[str, Any], field: str | None
) -> None:
    answer = search(search_client, shelves.ours.person, **params)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert set(error) == {"code", "message", "details"} and error["message"]
    assert error["code"] in ("validation_error", "invalid_cursor")
    if field:
        assert field in str(error["details"]), error


# ---- what changes the index: each in a workspace of its own ----


@pytest.fixture
def own(search_app: Any, search_client: TestClient, shelves: Shelves, recording_audio: Any) -> Library:
    """A fresh workspace, indexed, with the openings of two recordings of make_corpus(2) (other planted values
    again): the launch meeting up to a little after its launch date is set, and the stand-up's first minute and a
    half."""
    person = shelves.people.create()
    corpus = make_corpus(2)
    launch, standup = corpus.recordings[:2]
    [question] = [q for q in corpus.of_kind("exact") if q.text == f"{corpus.planted_terms[0]} launch date"]
    openings = [opening(launch, corpus.gold(question)["end"] + 30), opening(standup, 90)]
    library = stock(search_app, search_client, person, corpus, recording_audio, openings)
    index_all(search_app)
    return library


def chunk_count(app: Any, **where: str) -> int:
    with app.state.db.session() as db:
        clauses = [getattr(SearchChunk, name) == value for name, value in where.items()]
        return int(db.scalar(select(func.count()).select_from(SearchChunk).where(*clauses)) or 0)


def test_a_corrected_transcript_is_found_by_its_new_words_and_not_its_old(
    search_app: Any, search_client: TestClient, own: Library
) -> None:
    person, corpus = own.person, own.corpus
    product = corpus.planted_terms[0]  # Halcyon-3, named where the first recording's launch date is set
    [question] = [q for q in corpus.of_kind("exact") if q.text == f"{product} launch date"]
    gold = corpus.gold(question)
    named = [s for s in own.recordings[0].document["segments"] if product in s["text"]]
    assert gold in named
    assert search_json(search_client, person, q=product, mode="lexical")["items"]

    corrections = [{"id": s["id"], "text": s["text"].replace(product, "Borealis-4")} for s in named]
    answer = search_client.patch(
        f"/api/v1/workspaces/{person.workspace_id}/jobs/{own.job_ids[0]}/transcript",
        headers=person.headers,
        json={"segments": corrections, "base_version": 1},
    )
    assert answer.status_code == 200, answer.text
    assert search_status(search_client, person)["pending"] == 1
    index_all(search_app)

    assert search_status(search_client, person)["pending"] == 0
    for mode in MODES:
        [top, *_] = search_json(search_client, person, q="Borealis-4 launch date", mode=mode)["items"]
        assert top["job_id"] == own.job_ids[0] and top["transcript_version"] == 2, mode
        assert top["passage_start"] <= gold["start"] <= top["passage_end"], mode
    [top, *_] = search_json(search_client, person, q="Borealis-4", mode="lexical")["items"]
    assert top["start"] in {s["start"] for s in named} and "<mark>Borealis</mark>" in top["snippet"]
    # The old name was said nowhere else: no passage holds it any more, by words or in any snippet.
    old_name = product.split("-")[0]
    assert search_json(search_client, person, q=old_name, mode="lexical")["items"] == []
    for hit in search_json(search_client, person, q=product, mode="hybrid", limit=50)["items"]:
        assert old_name not in hit["snippet"] and hit["transcript_version"] == (
            2 if hit["job_id"] == own.job_ids[0] else 1
        )


def test_deleting_a_job_or_a_file_takes_its_passages_out_of_the_index(
    search_app: Any, search_client: TestClient, own: Library
) -> None:
    person = own.person
    headers = person.headers
    workspace = f"/api/v1/workspaces/{person.workspace_id}"
    before = search_status(search_client, person)
    assert before["recordings"] == 2
    first, second = chunk_count(search_app, job_id=own.job_ids[0]), chunk_count(search_app, job_id=own.job_ids[1])
    assert first and second and before["chunks"] == first + second

    assert search_client.delete(f"{workspace}/jobs/{own.job_ids[0]}", headers=headers).status_code == 204
    assert chunk_count(search_app, job_id=own.job_ids[0]) == 0
    found = search_json(search_client, person, q="budget launch outage", limit=50)["items"]
    assert found and {hit["job_id"] for hit in found} == {own.job_ids[1]}
    assert search_status(search_client, person)["chunks"] == second

    assert search_client.delete(f"{workspace}/files/{own.file_ids[1]}", headers=headers).status_code == 204
    assert chunk_count(search_app, job_id=own.job_ids[1]) == 0
    assert search_json(search_client, person, q="budget launch outage", limit=50)["items"] == []
    with search_app.state.db.session() as db:
        assert not db.scalar(
            select(func.count()).select_from(SearchSource).where(SearchSource.workspace_id == person.workspace_id)
        )
    after = search_status(search_client, person)
    assert (after["recordings"], after["chunks"], after["embedded"], after["pending"]) == (0, 0, 0, 0)
    # Nothing waits to be indexed for them either: the next round has nothing of theirs to do.
    index_all(search_app)
    assert search_status(search_client, person)["chunks"] == 0


def test_a_new_recording_is_searchable_once_indexed_and_says_so_meanwhile(
    search_app: Any, search_client: TestClient, shelves: Shelves, recording_audio: Any
) -> None:
    person = shelves.people.create()
    corpus = make_corpus(2)
    file_id = upload(search_client, person, recording_audio, "late.mp3")
    library = stock(search_app, search_client, person, corpus, recording_audio, [opening(corpus.recordings[2], 90)])
    page = search_json(search_client, person, q=corpus.planted_terms[2], mode="lexical")
    assert page["items"] == [] and page["pending"] == 1
    index_all(search_app)
    page = search_json(search_client, person, q=corpus.planted_terms[2], mode="lexical")
    assert page["pending"] == 0 and page["items"], page
    assert page["items"][0]["job_id"] == library.job_ids[0]
    assert file_id not in {hit["file_id"] for hit in page["items"]}  # an untranscribed file has nothing to find
