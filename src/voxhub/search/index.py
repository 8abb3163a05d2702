"""Keeping the search index in step with the transcripts, in the background.

Saving a transcript version (a job's, a translation's, an edit) only marks its source pending, inside the saving
transaction; `index_pending` — periodic work in `voxhub serve`, or on a Celery worker under `voxhub beat` — cuts it
into passages, embeds them outside any transaction and swaps them in at once, so a search sees the old passages or
the new, never half of each. Lexical search works as soon as passages exist; a passage whose vector is missing or was
made by another model than the configured one is re-embedded, and never compared with the others meanwhile."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import ColumnElement

from voxhub import engines
from voxhub.context import AppContext
from voxhub.db import finish
from voxhub.engines.base import EngineError
from voxhub.engines.embed import Embedder, local_model, passage_vectors
from voxhub.files import service as files
from voxhub.files.models import File
from voxhub.jobs import service as jobs
from voxhub.jobs.models import Job
from voxhub.search import vectors
from voxhub.search.chunking import Chunk, chunks_of
from voxhub.search.models import ChatMessage, Conversation, SearchChunk, SearchSource
from voxhub.transcripts import service as transcripts
from voxhub.transcripts.models import TranscriptVersion
from voxhub.workspaces import service as workspaces
from voxhub.workspaces.models import Workspace

log = logging.getLogger("voxhub.search")

PENDING, INDEXED, FAILED = "pending", "indexed", "failed"
MAX_ATTEMPTS = 3
UnitOfWork = Callable[[], AbstractContextManager[Session]]


# ---- marking: in the transaction that changed what is indexed ----


@transcripts.transcript_saved.connect
def _transcript_saved(db: Session, row: TranscriptVersion) -> None:
    source = db.scalar(
        select(SearchSource).where(SearchSource.job_id == row.job_id, SearchSource.variant == row.variant)
    )
    if source is None:
        job = db.get(Job, row.job_id)
        file_id = (job.input or {}).get("file_id") if job is not None else None
        source = SearchSource(
            workspace_id=row.workspace_id, job_id=row.job_id, variant=row.variant, file_id=file_id, attempts=0
        )
        db.add(source)
    source.wanted_version = row.version
    source.status = PENDING
    source.attempts = 0
    source.error = None
    db.flush()


@jobs.job_deleted.connect
def _job_deleted(db: Session, job: Job) -> None:
    db.execute(delete(SearchSource).where(SearchSource.job_id == job.id))


@files.file_removed.connect
def _file_removed(db: Session, file: File) -> None:
    db.execute(delete(SearchSource).where(SearchSource.file_id == file.id))


@workspaces.workspace_deleted.connect
def _workspace_deleted(db: Session, workspace: Workspace) -> None:
    db.execute(delete(SearchSource).where(SearchSource.workspace_id == workspace.id))
    db.execute(delete(ChatMessage).where(ChatMessage.workspace_id == workspace.id))
    db.execute(delete(Conversation).where(Conversation.workspace_id == workspace.id))


# ---- the embedder and its model ----


def embedder(ctx: AppContext) -> Embedder:
    """The search index's embedder: the remote model when embeddings are remote, else the bundled search model."""
    settings = ctx.settings
    if settings.embed_engine == "remote":
        return engines.embedder(settings)
    return engines.embedder(settings, engine="local", model=settings.search_embed_model)


def model_id(ctx: AppContext) -> str:
    """What the index's vectors should be made with, known without loading the model."""
    settings = ctx.settings
    if settings.embed_engine == "remote":
        return settings.remote_embed_model
    model = local_model(settings.search_embed_model)
    assert model is not None
    return model.model_id


# ---- indexing: in the background ----


@dataclass
class _Work:
    source_id: str
    version: int
    document_language: str
    chunks: list[Chunk]
    reuse: bool  # the passages are current: only their vectors are redone


def pending(db: Session, *, ctx: AppContext, workspace_id: str | None = None) -> int:
    """Sources waiting to be indexed or re-embedded (in one workspace, or all)."""
    query = select(func.count()).select_from(SearchSource).where(_wanted(model_id(ctx)))
    if workspace_id is not None:
        query = query.where(SearchSource.workspace_id == workspace_id)
    return int(db.scalar(query) or 0)


def _wanted(model: str) -> ColumnElement[bool]:
    return or_(
        SearchSource.status == PENDING,
        (SearchSource.status == INDEXED) & or_(SearchSource.model_id.is_(None), SearchSource.model_id != model),
    )


def index_pending(unit: UnitOfWork, ctx: AppContext, *, limit: int = 20) -> int:
    """Index up to `limit` waiting sources, oldest first; how many were brought up to date."""
    model = model_id(ctx)
    with unit() as db:
        ids = list(
            db.scalars(select(SearchSource.id).where(_wanted(model)).order_by(SearchSource.updated_at).limit(limit))
        )
    done = 0
    for source_id in ids:
        try:
            done += _index_one(unit, ctx, source_id, model)
        except Exception:  # one bad transcript must not stop the others; it is retried, then marked failed
            log.exception("could not index search source %s", source_id)
            with unit() as db:
                _failed(db, source_id, "internal error")
    return done


def _failed(db: Session, source_id: str, error: str) -> None:
    source = db.get(SearchSource, source_id)
    if source is None:
        return
    source.attempts += 1
    source.error = error
    if source.attempts >= MAX_ATTEMPTS:
        source.status = FAILED


def _index_one(unit: UnitOfWork, ctx: AppContext, source_id: str, model: str) -> int:
    with unit() as db:
        work = _plan(db, source_id)
    if work is None:
        return 0
    try:
        embedding = embedder(ctx)
        found = passage_vectors(embedding, [chunk.text for chunk in work.chunks]) if work.chunks else None
        made_by, error = embedding.model_id, None
    except EngineError as exc:  # the passages are still searched by their words
        log.warning("search passages of source %s kept without vectors: %s", source_id, exc.message)
        found, made_by, error = None, None, exc.message
    with unit() as db:
        source = db.get(SearchSource, source_id, with_for_update=True)
        if source is None or source.wanted_version != work.version:
            return 0  # deleted, or edited again meanwhile: the next round takes the newer version
        if work.reuse:
            if found is not None:
                _set_vectors(db, source_id, found, made_by)
        else:
            _replace(db, source, work, found, made_by)
        source.indexed_version = work.version
        source.language = work.document_language or None
        source.model_id = made_by
        if error is None:
            source.status, source.error, source.attempts = INDEXED, None, 0
        else:
            _failed(db, source_id, error)
            if source.status != FAILED:
                source.status = PENDING
    return 1


def _plan(db: Session, source_id: str) -> _Work | None:
    source = db.get(SearchSource, source_id)
    if source is None:
        return None
    job = db.get(Job, source.job_id)
    row = transcripts.latest_row(db, job_id=source.job_id, variant=source.variant)
    if job is None or job.deleted_at is not None or row is None:
        db.delete(source)
        return None
    if source.wanted_version != row.version:
        source.wanted_version = row.version
    reuse = source.indexed_version == row.version and source.status == INDEXED
    chunks = [] if reuse else chunks_of(row.data)
    if reuse:
        texts = db.scalars(select(SearchChunk).where(SearchChunk.source_id == source_id).order_by(SearchChunk.seq))
        chunks = [Chunk(c.seq, c.start, c.end, list(c.speakers), list(c.segment_ids), c.text, c.tokens) for c in texts]
    return _Work(source.id, row.version, row.language, chunks, reuse)


def _replace(
    db: Session, source: SearchSource, work: _Work, found: vectors.Vectors | None, made_by: str | None
) -> None:
    db.execute(delete(SearchChunk).where(SearchChunk.source_id == source.id))
    rows = [
        SearchChunk(
            source_id=source.id,
            workspace_id=source.workspace_id,
            job_id=source.job_id,
            file_id=source.file_id,
            variant=source.variant,
            language=work.document_language or "",
            transcript_version=work.version,
            seq=chunk.seq,
            start=chunk.start,
            end=chunk.end,
            speakers=chunk.speakers,
            segment_ids=chunk.segment_ids,
            text=chunk.text,
            tokens=chunk.tokens,
            model_id=made_by if found is not None else None,
            dim=int(found.shape[1]) if found is not None else None,
            vector=vectors.to_bytes(found[index]) if found is not None else None,
        )
        for index, chunk in enumerate(work.chunks)
    ]
    db.add_all(rows)
    db.flush()
    if found is not None and vectors.has_pgvector(db.connection()):
        _pgvector_column(db, [row.id for row in rows], found)


def _set_vectors(db: Session, source_id: str, found: vectors.Vectors, made_by: str | None) -> None:
    ids = list(db.scalars(select(SearchChunk.id).where(SearchChunk.source_id == source_id).order_by(SearchChunk.seq)))
    rows = [
        {"id": chunk_id, "vector": vectors.to_bytes(found[index]), "model_id": made_by, "dim": int(found.shape[1])}
        for index, chunk_id in enumerate(ids)
    ]
    if vectors.has_pgvector(db.connection()):
        # One statement per row for all four: the HNSW index of the new dimension must never see the old vector.
        db.execute(
            text(
                "UPDATE search_chunks SET vector = :vector, model_id = :model_id, dim = :dim, "
                "embedding = CAST(:embedding AS vector) WHERE id = :id"
            ),
            [{**row, "embedding": vectors.literal(found[index])} for index, row in enumerate(rows)],
        )
    else:
        db.execute(update(SearchChunk), rows)


def _pgvector_column(db: Session, ids: Sequence[int], found: vectors.Vectors) -> None:
    db.execute(
        text("UPDATE search_chunks SET embedding = CAST(:vector AS vector) WHERE id = :id"),
        [{"id": chunk_id, "vector": vectors.literal(found[index])} for index, chunk_id in enumerate(ids)],
    )


# ---- periodic work ----


def units_of(db: Session) -> UnitOfWork:
    """Units of work on the database `db` is bound to, for work that must not hold one transaction throughout."""
    factory = sessionmaker(db.get_bind(), expire_on_commit=False)

    @contextmanager
    def unit() -> Iterator[Session]:
        session = factory()
        try:
            yield session
        except BaseException as exc:
            finish(session, exc)
            raise
        finish(session, None)

    return unit


def run_periodic(db: Session, ctx: AppContext) -> int:
    return index_pending(units_of(db), ctx)
