"""The index under the search API: passages cut from transcripts, kept in step with edits and deletions, found by
words and by meaning, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, make_url, select, text

from tests.conftest import People, Person
from voxhub.clock import utcnow
from voxhub.jobs.models import Job, JobStatus
from voxhub.search import index, service, vectors
from voxhub.search.chunking import chunks_of
from voxhub.search.models import SearchChunk, SearchSource
from voxhub.transcripts import service as transcripts

TALK = [
    ("S1", "Good morning everyone, thanks for joining the weekly product sync."),
    ("S2", "Morning. I have the numbers from the beta programme ready to share."),
    ("S1", "Great, before that, a quick word about the office move next month."),
    ("S2", "Sure. We are moving to the fourth floor on the twelfth."),
    ("S1", "Now the big one. After a long debate we decided the launch date is March fourteenth."),
    ("S2", "That gives marketing six weeks for the Zephyr campaign."),
    ("S1", "The budget for the campaign is forty thousand euros, approved by Dana."),
    ("S2", "I will send the summary to the whole team this afternoon."),
]


def document(lines: list[tuple[str, str]], *, seconds: float = 12.0, language: str = "en") -> dict[str, Any]:
    segments = [
        {"id": i, "start": i * seconds, "end": i * seconds + seconds - 1, "text": text, "speaker": speaker}
        for i, (speaker, text) in enumerate(lines)
    ]
    return {
        "language": language,
        "duration": len(lines) * seconds,
        "text": " ".join(text for _, text in lines),
        "segments": segments,
        "speakers": {"S1": "Ana"},
    }


def transcription(app: Any, person: Person, data: dict[str, Any]) -> str:
    with app.state.db.session() as db:
        job = Job(
            workspace_id=person.workspace_id,
            type="transcribe",
            queue="asr",
            status=JobStatus.SUCCEEDED.value,
            input={},
            params={},
            progress=100.0,
            result={"segments": len(data["segments"]), "transcript_version": 1},
            finished_at=utcnow(),
            created_by=person.id,
        )
        db.add(job)
        db.flush()
        transcripts.save_from_job(db, workspace_id=person.workspace_id, job_id=job.id, data=data)
        return job.id


def index_all(app: Any) -> None:
    while index.index_pending(app.state.db.session, app.state.ctx):
        pass


def search(client: TestClient, person: Person, **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/v1/workspaces/{person.workspace_id}/search", params=params, headers=person.headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_passages_are_runs_of_whole_segments_overlapping_by_one() -> None:
    lines = [("S1" if i % 10 < 5 else "S2", f"sentence number {i} " + "word " * 10) for i in range(40)]
    chunks = chunks_of(document(lines, seconds=6.0))
    assert all(chunk.tokens <= 300 for chunk in chunks)
    for before, after in itertools.pairwise(chunks):
        assert before.segment_ids[-1] == after.segment_ids[0]  # one segment shared
        assert after.segment_ids == sorted(after.segment_ids)
    assert sorted({i for chunk in chunks for i in chunk.segment_ids}) == list(range(40))
    # a change of speaker ends a passage once it has 20 words
    assert any(chunk.end - chunk.start < 60 for chunk in chunks[:-1])
    assert chunks[0].speakers == ["Ana"]


def test_a_transcript_is_found_by_its_words_and_its_meaning(client: TestClient, app: Any, people: People) -> None:
    person = people.create()
    job_id = transcription(app, person, document(TALK))
    before = client.get(f"/api/v1/workspaces/{person.workspace_id}/search/status", headers=person.headers).json()
    assert before["pending"] == 1
    index_all(app)
    status = client.get(f"/api/v1/workspaces/{person.workspace_id}/search/status", headers=person.headers).json()
    assert status["pending"] == 0 and status["chunks"] >= 1 and status["embedded"] == status["chunks"]

    lexical = search(client, person, q="Zephyr campaign budget", mode="lexical")
    [top, *_] = lexical["items"]
    assert top["job_id"] == job_id and "<mark>Zephyr</mark>" in top["snippet"]
    assert top["start"] in (60.0, 72.0)  # the segments naming Zephyr and the campaign's budget

    meaning = search(client, person, q="when will the product go live?", mode="semantic")
    assert meaning["semantic"] and meaning["items"][0]["job_id"] == job_id

    hybrid = search(client, person, q="when did we decide the launch date", mode="hybrid")
    assert hybrid["items"][0]["start"] == 48.0 and hybrid["items"][0]["speaker"] == "Ana"


def test_an_edit_reindexes_and_a_deleted_job_leaves_the_index(client: TestClient, app: Any, people: People) -> None:
    person = people.create()
    job_id = transcription(app, person, document(TALK))
    index_all(app)
    url = f"/api/v1/workspaces/{person.workspace_id}/jobs/{job_id}/transcript"
    edit = {"segments": [{"id": 5, "text": "That gives marketing six weeks for the Aurora campaign."}]}
    assert client.patch(url, json=edit, headers=person.headers).status_code == 200
    index_all(app)
    assert search(client, person, q="Aurora", mode="lexical")["items"]
    assert not search(client, person, q="Zephyr", mode="lexical")["items"]

    assert (
        client.delete(f"/api/v1/workspaces/{person.workspace_id}/jobs/{job_id}", headers=person.headers).status_code
        == 204
    )
    with app.state.db.session() as db:
        assert db.scalar(select(func.count()).select_from(SearchChunk).where(SearchChunk.job_id == job_id)) == 0
        assert db.scalar(select(func.count()).select_from(SearchSource).where(SearchSource.job_id == job_id)) == 0
    assert not search(client, person, q="Aurora", mode="lexical")["items"]


@pytest.mark.skipif(not os.environ.get("VOXHUB_TEST_DATABASE_URL"), reason="PostgreSQL only")
def test_postgresql_holds_vectors_in_pgvector_and_a_server_without_it_is_told_why(
    app: Any, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = app.state.db.engine
    with engine.connect() as connection:
        assert vectors.has_pgvector(connection)
        indexes = set(connection.scalars(text("SELECT indexname FROM pg_indexes WHERE tablename = 'search_chunks'")))
    assert {"ix_search_chunks_embedding_384", "ix_search_chunks_tsv"} <= indexes

    # A role that may not create extensions, in a database without pgvector: a clear warning, no exception.
    name = f"noext_{uuid.uuid4().hex[:8]}"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f"CREATE ROLE {name} LOGIN NOSUPERUSER"))
            connection.execute(text(f"CREATE DATABASE {name} OWNER {name}"))
        url = make_url(database_url).set(username=name, database=name)
        plain = create_engine(url)
        with plain.begin() as connection, caplog.at_level(logging.WARNING, logger="voxhub.search"):
            assert vectors.install_pgvector(connection) is False
            assert connection.execute(text("SELECT 1")).scalar() == 1  # the transaction is still usable
        plain.dispose()
        assert "PostgreSQL has no pgvector extension" in caplog.text and "CREATE EXTENSION vector" in caplog.text
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            connection.execute(text(f"DROP ROLE IF EXISTS {name}"))
        admin.dispose()


def test_a_new_embedding_model_re_embeds_while_words_keep_working(app: Any, people: People) -> None:
    person = people.create()
    transcription(app, person, document(TALK))
    index_all(app)
    ctx = app.state.ctx
    other = dataclasses.replace(ctx, settings=ctx.settings.model_copy(update={"search_embed_model": "wordllama"}))
    with app.state.db.session() as db:
        assert index.pending(db, ctx=other, workspace_id=person.workspace_id) == 1
        words = service.retrieve(db, other, workspace_id=person.workspace_id, q="Zephyr budget", mode="lexical")
        assert words.hits
        # Never the old model's vectors against the new model's query: nothing by meaning until re-embedded.
        meaning = service.retrieve(db, other, workspace_id=person.workspace_id, q="go live date", mode="semantic")
        assert meaning.hits == []
    while index.index_pending(app.state.db.session, other):
        pass
    with app.state.db.session() as db:
        assert index.pending(db, ctx=other, workspace_id=person.workspace_id) == 0
        meaning = service.retrieve(db, other, workspace_id=person.workspace_id, q="launch date", mode="semantic")
        assert meaning.hits and meaning.semantic
        chunks = db.scalars(select(SearchChunk).where(SearchChunk.workspace_id == person.workspace_id)).all()
        assert {(chunk.model_id, chunk.dim) for chunk in chunks} == {("wordllama-l2-256", 256)}
