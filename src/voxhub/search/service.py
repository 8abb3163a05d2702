"""Searching a workspace's recordings: lexical (SQLite FTS5 bm25, PostgreSQL `ts_rank_cd`), semantic (pgvector
HNSW, or a numpy scan of the stored vectors) and hybrid — the two lists fused by reciprocal rank (k = 60), then
spread so one recording does not fill the page. Every query is bound to one workspace before anything else."""

from __future__ import annotations

import base64
import binascii
import html
import json
import math
import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Float, String, cast, column, func, literal_column, select, table, text
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, Select

from voxhub.context import AppContext
from voxhub.engines.base import EngineError
from voxhub.errors import Unprocessable
from voxhub.files import service as files
from voxhub.files.models import File, FileStatus
from voxhub.jobs import service as jobs
from voxhub.search import index, vectors
from voxhub.search.models import SearchChunk, SearchSource
from voxhub.search.schemas import Mode, SearchHitOut, SearchPage, SearchStatus
from voxhub.storage import DownloadOptions
from voxhub.transcripts.models import TranscriptVersion
from voxhub.workspaces.service import WorkspaceAccess

RRF_K = 60  # reciprocal-rank fusion's constant, as in Cormack et al. (2009)
CANDIDATES = 100  # from each list; also how deep a cursor can page (the same depth for every page, so pages agree)
MAX_CANDIDATES = CANDIDATES
PER_RECORDING = 3  # hits of one recording on a page before other recordings' are shown

_WORD = re.compile(r"\w+", re.UNICODE)
# Words that carry no subject in the languages the bundled models speak best: dropped from lexical queries (unless a
# query is nothing else) so "where did we decide the launch date" looks for decide, launch, date.
_STOP_WORDS_TEXT = """
a an and are as at be been but by can could did do does doing for from had has have he her him his how i if in into
is it its me my of on or our she so some than that the their them then there these they this those to up us was we
were what when where which who whom why will with would you your about after all also any because before between
both each few more most other same should such through too under until very just said say says tell told
o os um uma uns umas de da dos das em na nos nas por para com sem que e é ou se ao aos à às eu tu ele ela nós
vós eles elas meu minha seu sua nosso nossa foi ser está estão era quando onde como qual quem porque mais
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())


@dataclass(frozen=True)
class Filters:
    file_ids: Sequence[str] = ()
    job_ids: Sequence[str] = ()
    speaker: str | None = None
    language: str | None = None
    start: float | None = None  # seconds: passages that end after it
    end: float | None = None  # seconds: passages that begin before it


@dataclass
class Hit:
    chunk_id: int
    job_id: str
    file_id: str | None
    file_name: str | None
    variant: str
    language: str
    passage_start: float  # the passage (a run of segments) the hit is
    passage_end: float
    start: float  # the segment in it that matched best: where playing begins
    end: float
    segment_id: int
    speakers: list[str]
    speaker: str | None
    text: str
    snippet: str  # HTML-escaped, matched words in <mark>
    score: float
    segment_ids: list[int]
    transcript_version: int
    lexical_rank: int | None = None
    semantic_rank: int | None = None
    ranks: dict[str, int] = field(default_factory=dict)


@dataclass
class Results:
    hits: list[Hit]
    more: bool  # a further page exists
    mode: Mode
    semantic: bool  # whether meaning (vectors) took part


# ---- the query's words ----


def _fold(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", word.lower()) if not unicodedata.combining(c))


def query_terms(q: str) -> list[str]:
    """The query's words in lower case (accents kept: PostgreSQL's stemmers need them, FTS5 folds them itself), stop
    words dropped unless nothing else is left."""
    words = list(dict.fromkeys(word.lower() for word in _WORD.findall(q)))
    kept = [word for word in words if _fold(word) not in STOP_WORDS]
    return (kept or words)[:32]


def _stem(term: str) -> str:
    folded = _fold(term)
    return folded[:5] if len(folded) > 5 else folded


def coverage(text_: str, rarity: dict[str, float]) -> float:
    """The share of the query's information that `text_` holds: the rarity (idf) of the query's words it has (crudely
    stemmed, accents folded) over all of theirs; 1 when no word is rarer than another."""
    total = sum(rarity.values())
    if total <= 0:
        return 1.0
    words = {_fold(word) for word in _WORD.findall(text_)}
    return sum(idf for term, idf in rarity.items() if any(_matches(word, [_stem(term)]) for word in words)) / total


def _matches(word: str, stems: Sequence[str]) -> bool:
    folded = _fold(word)
    for stem in stems:
        if len(stem) < 5:
            if folded == stem or folded in (stem + "s", stem + "es"):
                return True
        elif folded.startswith(stem):
            return True
    return False


# ---- lexical ----


def _filtered(query: Select[Any], workspace_id: str, filters: Filters) -> Select[Any]:
    query = query.where(SearchChunk.workspace_id == workspace_id)
    if filters.file_ids:
        query = query.where(SearchChunk.file_id.in_(list(filters.file_ids)))
    if filters.job_ids:
        query = query.where(SearchChunk.job_id.in_(list(filters.job_ids)))
    if filters.language:
        language = filters.language.replace("_", "-").lower()
        query = query.where(
            (func.lower(SearchChunk.language) == language) | SearchChunk.language.ilike(language + "-%")
        )
    if filters.speaker:
        query = query.where(cast(SearchChunk.speakers, String).contains(json.dumps(filters.speaker), autoescape=True))
    if filters.start is not None:
        query = query.where(SearchChunk.end >= filters.start)
    if filters.end is not None:
        query = query.where(SearchChunk.start <= filters.end)
    return query


_FTS = table("search_chunks_fts", column("rowid"))


def _workspace_languages(db: Session, workspace_id: str) -> list[str]:
    """The languages a workspace's transcripts are in (each needs its own stemming), from its few index sources."""
    return sorted(
        language
        for language in db.scalars(
            select(SearchSource.language).where(SearchSource.workspace_id == workspace_id).distinct()
        )
        if language
    )


def _term_query(db: Session, workspace_id: str, terms: Sequence[str], filters: Filters) -> Any:
    """The match of any of `terms` in this database's lexical index: FTS5's MATCH or a tsquery in the workspace's
    languages."""
    if db.get_bind().dialect.name == "sqlite":
        # Terms are \w+ words: quoted, nothing in them can be FTS5 syntax.
        return literal_column("search_chunks_fts").op("MATCH")(" OR ".join(f'"{term}"' for term in terms))
    languages = [filters.language] if filters.language else _workspace_languages(db, workspace_id)
    words = " | ".join(terms)
    tsquery: Any = func.to_tsquery(literal_column("'simple'::regconfig"), words)
    for language in languages:
        tsquery = tsquery.op("||")(func.to_tsquery(func.search_config(language), words))
    return tsquery


def rarity(db: Session, *, workspace_id: str, terms: Sequence[str]) -> dict[str, float]:
    """Each query word's inverse document frequency among the workspace's passages, ln((N + 1) / (df + 1))."""
    total = db.scalar(select(func.count()).select_from(SearchChunk).where(SearchChunk.workspace_id == workspace_id))
    out = {}
    for term in terms:
        query = select(func.count()).select_from(SearchChunk).where(SearchChunk.workspace_id == workspace_id)
        if db.get_bind().dialect.name == "sqlite":
            # The FTS5 match first, then the workspace: joined the other way round, SQLite would ask FTS5 once per
            # passage of the workspace (half a second a word at 10k passages).
            matching = select(_FTS.c.rowid).where(_term_query(db, workspace_id, [term], Filters()))
            query = query.where(SearchChunk.id.in_(matching))
        else:
            query = query.where(
                literal_column("search_chunks.tsv").op("@@")(_term_query(db, workspace_id, [term], Filters()))
            )
        found = db.scalar(query) or 0
        out[term] = math.log((int(total or 0) + 1) / (found + 1))
    return out


def lexical(db: Session, *, workspace_id: str, terms: Sequence[str], filters: Filters, limit: int) -> list[int]:
    """Chunk ids, best first, whose words match any of `terms` (more, rarer matches rank higher)."""
    if not terms:
        return []
    if db.get_bind().dialect.name == "sqlite":
        fts: ColumnElement[Any] = literal_column("search_chunks_fts")
        rank = func.bm25(fts)
        query = (
            select(SearchChunk.id)
            .select_from(_FTS)
            .join(SearchChunk, SearchChunk.id == _FTS.c.rowid)
            .where(_term_query(db, workspace_id, terms, filters))
            .order_by(rank)
            .limit(limit)
        )
    else:
        tsquery = _term_query(db, workspace_id, terms, filters)
        tsv: ColumnElement[Any] = literal_column("search_chunks.tsv")
        query = (
            select(SearchChunk.id)
            .where(tsv.op("@@")(tsquery))
            .order_by(func.ts_rank_cd(tsv, tsquery).desc(), SearchChunk.id)
            .limit(limit)
        )
    return list(db.scalars(_filtered(query, workspace_id, filters)))


# ---- semantic ----


@dataclass
class _Matrix:
    stamp: tuple[int, int]
    ids: np.ndarray[Any, np.dtype[np.int64]]
    rows: np.ndarray[Any, np.dtype[np.float32]]


_matrices: dict[tuple[str, str, str], _Matrix] = {}  # (database, workspace, model) → its vectors, in memory
_matrices_lock = threading.Lock()
MAX_MATRICES = 16


def _matrix(db: Session, workspace_id: str, model: str, dim: int) -> _Matrix:
    """The workspace's vectors of `model` as one matrix, reloaded when its passages changed."""
    where = (SearchChunk.workspace_id == workspace_id, SearchChunk.model_id == model, SearchChunk.dim == dim)
    count, highest = db.execute(select(func.count(), func.max(SearchChunk.id)).where(*where)).one()
    stamp = (int(count or 0), int(highest or 0))
    key = (str(db.get_bind().engine.url), workspace_id, model)
    with _matrices_lock:
        known = _matrices.get(key)
    if known is not None and known.stamp == stamp:
        return known
    ids: list[int] = []
    rows = np.zeros((stamp[0], dim), dtype=np.float32)
    for position, (chunk_id, data) in enumerate(
        db.execute(select(SearchChunk.id, SearchChunk.vector).where(*where).order_by(SearchChunk.id))
    ):
        if position >= len(rows):
            break  # written since the count: the next query sees them
        ids.append(chunk_id)
        rows[position] = vectors.from_bytes(data or b"", dim)
    matrix = _Matrix(stamp, np.asarray(ids, dtype=np.int64), rows[: len(ids)])
    with _matrices_lock:
        if len(_matrices) >= MAX_MATRICES:
            _matrices.pop(next(iter(_matrices)))
        _matrices[key] = matrix
    return matrix


def semantic(
    db: Session, *, workspace_id: str, vector: vectors.Vectors, model: str, filters: Filters, limit: int
) -> list[int]:
    """Chunk ids, nearest in meaning first, among passages embedded by `model` (never another's vectors)."""
    dim = int(vector.shape[0])
    connection = db.connection()
    if vectors.has_pgvector(connection) and dim in vectors.INDEXED_DIMENSIONS:
        # Filters are applied while walking the HNSW graph, not after it: a small workspace among many still fills
        # its page (pgvector ≥ 0.8).
        db.execute(text("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)"))
        db.execute(text(f"SELECT set_config('hnsw.ef_search', '{max(100, limit)}', true)"))
        distance = literal_column(
            f"(search_chunks.embedding::vector({dim})) <=> '{vectors.literal(vector)}'::vector({dim})", Float
        )
        query = (
            select(SearchChunk.id, distance.label("distance"))
            .where(SearchChunk.dim == dim, SearchChunk.model_id == model)
            .order_by(distance)
            .limit(limit)
        )
        rows = db.execute(_filtered(query, workspace_id, filters)).all()
        return [chunk_id for chunk_id, _ in sorted(rows, key=lambda row: row[1])]  # relaxed order: sort again
    matrix = _matrix(db, workspace_id, model, dim)
    if not len(matrix.ids):
        return []
    scores = matrix.rows @ vector.astype(np.float32)
    narrowed = filters != Filters()
    if narrowed:
        allowed = np.fromiter(db.scalars(_filtered(select(SearchChunk.id), workspace_id, filters)), dtype=np.int64)
        scores = np.where(np.isin(matrix.ids, allowed), scores, -np.inf)
    take = min(limit, len(scores))
    best = np.argpartition(-scores, take - 1)[:take]
    best = best[np.argsort(-scores[best])]
    return [int(matrix.ids[i]) for i in best if np.isfinite(scores[i])]


# ---- fusion, diversity, the page ----


def fuse(
    lists: Sequence[Sequence[int]], k: int = RRF_K, weights: Sequence[dict[int, float] | None] = ()
) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion: each id scores the sum of w / (k + rank) over the lists it is in, w being 1 unless
    `weights` gives that list a weight per id."""
    scores: dict[int, float] = {}
    for number, ranked in enumerate(lists):
        weight = weights[number] if number < len(weights) else None
        for rank, chunk_id in enumerate(ranked, start=1):
            share = 1.0 if weight is None else weight.get(chunk_id, 1.0)
            scores[chunk_id] = scores.get(chunk_id, 0.0) + share / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def _spread(ranked: list[tuple[int, float]], recording_of: dict[int, str]) -> list[tuple[int, float]]:
    """The same hits, a recording's fourth and later moved after every other recording's first three."""
    seen: dict[str, int] = {}
    first: list[tuple[int, float]] = []
    later: list[tuple[int, float]] = []
    for item in ranked:
        recording = recording_of[item[0]]
        seen[recording] = seen.get(recording, 0) + 1
        (first if seen[recording] <= PER_RECORDING else later).append(item)
    return first + later


def retrieve(
    db: Session,
    ctx: AppContext,
    *,
    workspace_id: str,
    q: str,
    mode: Mode = "hybrid",
    filters: Filters | None = None,
    limit: int = 10,
    offset: int = 0,
) -> Results:
    """A page of the workspace's passages for `q`, best first."""
    filters = filters or Filters()
    terms = query_terms(q)
    depth = CANDIDATES
    lexical_ids: list[int] = []
    semantic_ids: list[int] = []
    used_vectors = False
    if mode in ("hybrid", "lexical"):
        lexical_ids = lexical(db, workspace_id=workspace_id, terms=terms, filters=filters, limit=depth)
    if mode in ("hybrid", "semantic"):
        try:
            embedder = index.embedder(ctx)
            vector = embedder.embed([q])[0]
            semantic_ids = semantic(
                db, workspace_id=workspace_id, vector=vector, model=embedder.model_id, filters=filters, limit=depth
            )
            used_vectors = True
        except EngineError:  # no embedder at hand: words alone answer (the response says so)
            if mode == "semantic":
                lexical_ids = lexical(db, workspace_id=workspace_id, terms=terms, filters=filters, limit=depth)
    rows = {
        chunk_id: (job_id, text_)
        for chunk_id, job_id, text_ in db.execute(
            select(SearchChunk.id, SearchChunk.job_id, SearchChunk.text).where(
                SearchChunk.workspace_id == workspace_id, SearchChunk.id.in_({*lexical_ids, *semantic_ids})
            )
        )
    }
    if lexical_ids and semantic_ids:
        # A passage's word match counts as much as the share of the query's information it holds, cubed: a question
        # put in other words matches common words everywhere, and that noise must not outrank what meaning found,
        # while a rare name or number matched keeps its full weight. (Measured on tests/search/corpus.py: plain RRF
        # lost a sixth of the paraphrases that meaning alone found; this keeps them and every exact term.)
        idf = rarity(db, workspace_id=workspace_id, terms=terms)
        weight = {chunk_id: coverage(rows[chunk_id][1], idf) ** 3 for chunk_id in lexical_ids if chunk_id in rows}
        ranked = fuse([lexical_ids, semantic_ids], weights=[weight, None])
    else:
        ranked = fuse([lexical_ids or semantic_ids])
    ranked = _spread([item for item in ranked if item[0] in rows], {i: job for i, (job, _) in rows.items()})
    page = ranked[offset : offset + limit]
    chunks = {
        chunk.id: chunk
        for chunk in db.scalars(
            select(SearchChunk).where(
                SearchChunk.workspace_id == workspace_id, SearchChunk.id.in_([chunk_id for chunk_id, _ in page])
            )
        )
    }
    names = _file_names(db, workspace_id, {chunks[i].file_id for i, _ in page if chunks[i].file_id})
    lexical_rank = {chunk_id: rank for rank, chunk_id in enumerate(lexical_ids, start=1)}
    semantic_rank = {chunk_id: rank for rank, chunk_id in enumerate(semantic_ids, start=1)}
    hits = [
        _hit(db, chunks[chunk_id], score, terms, names, lexical_rank.get(chunk_id), semantic_rank.get(chunk_id))
        for chunk_id, score in page
    ]
    return Results(hits=hits, more=len(ranked) > offset + limit, mode=mode, semantic=used_vectors)


def _file_names(db: Session, workspace_id: str, file_ids: set[str | None]) -> dict[str, str]:
    if not file_ids:
        return {}
    rows = db.execute(select(File.id, File.filename).where(File.workspace_id == workspace_id, File.id.in_(file_ids)))
    return {file_id: name for file_id, name in rows}


def _segments(db: Session, chunk: SearchChunk) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The chunk's segments, from the transcript version it was cut from, and the names given to speakers."""
    data = db.scalar(
        select(TranscriptVersion.data).where(
            TranscriptVersion.job_id == chunk.job_id,
            TranscriptVersion.variant == chunk.variant,
            TranscriptVersion.version == chunk.transcript_version,
        )
    )
    wanted = set(chunk.segment_ids)
    names = {str(k): str(v) for k, v in ((data or {}).get("speakers") or {}).items()}
    return [segment for segment in (data or {}).get("segments", []) if segment.get("id") in wanted], names


def best_segment(segments: Sequence[dict[str, Any]], terms: Sequence[str]) -> dict[str, Any] | None:
    """The segment matching most of the query's words (the first on a tie, and the first when none match)."""
    if not segments:
        return None
    stems = [_stem(term) for term in terms]

    def matched(segment: dict[str, Any]) -> int:
        words = _WORD.findall(str(segment.get("text") or ""))
        return sum(1 for stem in stems if any(_matches(word, [stem]) for word in words))

    return max(segments, key=lambda segment: (matched(segment), -float(segment.get("start") or 0)))


def snippet(text_: str, terms: Sequence[str], *, around: int = 0, width: int = 36) -> str:
    """Up to `width` words of `text_` from near word `around`, HTML-escaped, words matching the query in <mark>."""
    tokens = re.findall(r"\S+", text_)
    stems = [_stem(term) for term in terms]
    begin = max(0, min(around - width // 4, len(tokens) - width))
    shown = tokens[begin : begin + width]
    out = []
    for token in shown:
        match = _WORD.search(token)
        if match and _matches(match.group(), stems):
            out.append(
                html.escape(token[: match.start()])
                + "<mark>"
                + html.escape(match.group())
                + "</mark>"
                + html.escape(token[match.end() :])
            )
        else:
            out.append(html.escape(token))
    return ("… " if begin else "") + " ".join(out) + (" …" if begin + width < len(tokens) else "")


def _hit(
    db: Session,
    chunk: SearchChunk,
    score: float,
    terms: Sequence[str],
    names: dict[str, str],
    lexical_rank: int | None,
    semantic_rank: int | None,
) -> Hit:
    segments, names_of_speakers = _segments(db, chunk)
    best = best_segment(segments, terms)
    start, end = (float(best["start"]), float(best["end"])) if best else (chunk.start, chunk.end)
    # Where the best segment's words begin in the passage, for the snippet.
    before = 0
    for segment in segments:
        if segment is best:
            break
        before += len(str(segment.get("text") or "").split())
    speaker = chunk.speakers[0] if chunk.speakers else None
    if best is not None and best.get("speaker"):
        speaker = names_of_speakers.get(str(best["speaker"]), str(best["speaker"]))
    return Hit(
        chunk_id=chunk.id,
        job_id=chunk.job_id,
        file_id=chunk.file_id,
        file_name=names.get(chunk.file_id or ""),
        variant=chunk.variant,
        language=chunk.language,
        passage_start=chunk.start,
        passage_end=chunk.end,
        start=start,
        end=end,
        segment_id=int(best["id"]) if best else chunk.segment_ids[0],
        speakers=list(chunk.speakers),
        speaker=speaker,
        text=chunk.text,
        snippet=snippet(chunk.text, terms, around=before),
        score=round(score, 6),
        segment_ids=list(chunk.segment_ids),
        transcript_version=chunk.transcript_version,
        lexical_rank=lexical_rank,
        semantic_rank=semantic_rank,
    )


# ---- links and passages ----


def play_url(db: Session, ctx: AppContext, *, workspace_id: str, file_id: str | None, start: float) -> str | None:
    """A signed, expiring link that plays the recording from `start` (a media fragment), or None without one."""
    if not file_id:
        return None
    file = db.get(File, file_id)
    if file is None or file.workspace_id != workspace_id or file.status != FileStatus.READY.value:
        return None
    url = ctx.store.signed_get_url(
        file.storage_key,
        ttl_s=ctx.settings.download_url_ttl,
        download=DownloadOptions(filename=file.filename, content_type=file.content_type, inline=True),
    )
    return f"{url}#t={max(0.0, start):.2f}"


@dataclass(frozen=True)
class Passage:
    start: float
    end: float
    text: str  # "Speaker: words" lines, one per segment
    segments: list[dict[str, Any]]


def passage(db: Session, *, hit: Hit, neighbours: int = 1) -> Passage:
    """The hit's passage widened by `neighbours` segments on each side, from the version it was cut from."""
    data = db.scalar(
        select(TranscriptVersion.data).where(
            TranscriptVersion.job_id == hit.job_id,
            TranscriptVersion.variant == hit.variant,
            TranscriptVersion.version == hit.transcript_version,
        )
    )
    segments = list((data or {}).get("segments", []))
    names = {str(k): str(v) for k, v in ((data or {}).get("speakers") or {}).items()}
    places = [i for i, segment in enumerate(segments) if segment.get("id") in set(hit.segment_ids)]
    if not places:
        return Passage(hit.passage_start, hit.passage_end, hit.text, [])
    chosen = segments[max(0, places[0] - neighbours) : places[-1] + 1 + neighbours]
    lines = []
    for segment in chosen:
        label = segment.get("speaker")
        who = names.get(label, label) if label else None
        lines.append(f"{who}: {segment['text']}" if who else str(segment["text"]))
    return Passage(float(chosen[0]["start"]), float(chosen[-1]["end"]), "\n".join(lines), chosen)


# ---- cursors ----


def encode_cursor(offset: int) -> str:
    """An opaque cursor for the page starting at `offset` of a result list (which is always the workspace's own)."""
    return base64.urlsafe_b64encode(f"search:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The offset a cursor stands for (0 without one); 422 `invalid_cursor` for anything else."""
    if not cursor:
        return 0
    try:
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, number = value.partition(":")
        offset = int(number)
        if kind != "search" or not 0 < offset < MAX_CANDIDATES:
            raise ValueError(value)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise Unprocessable(
            "The cursor is not valid; pass next_cursor from a previous page.", code="invalid_cursor"
        ) from exc
    return offset


# ---- the API's answers ----


def search(
    db: Session,
    ctx: AppContext,
    *,
    access: WorkspaceAccess,
    q: str,
    mode: Mode,
    filters: Filters,
    limit: int,
    cursor: str | None,
) -> SearchPage:
    """A page of search results for a member of the workspace; another workspace's file or job is a 404."""
    if not query_terms(q):
        raise Unprocessable("Say what to look for: the query has no words.", code="validation_error")
    for file_id in filters.file_ids:
        files.get_file(db, workspace_id=access.workspace_id, file_id=file_id)
    for job_id in filters.job_ids:
        jobs.get(db, workspace_id=access.workspace_id, job_id=job_id)
    offset = decode_cursor(cursor)
    results = retrieve(
        db, ctx, workspace_id=access.workspace_id, q=q, mode=mode, filters=filters, limit=limit, offset=offset
    )
    urls: dict[tuple[str | None, float], str | None] = {}
    items = []
    for hit in results.hits:
        key = (hit.file_id, hit.start)
        if key not in urls:
            urls[key] = play_url(db, ctx, workspace_id=access.workspace_id, file_id=hit.file_id, start=hit.start)
        items.append(hit_out(hit, urls[key]))
    return SearchPage(
        items=items,
        next_cursor=encode_cursor(offset + limit) if results.more and offset + limit < MAX_CANDIDATES else None,
        mode=mode,
        semantic=results.semantic,
        pending=index.pending(db, ctx=ctx, workspace_id=access.workspace_id),
    )


def hit_out(hit: Hit, url: str | None) -> SearchHitOut:
    """A hit as the API shows it, with its playing link."""
    return SearchHitOut(
        job_id=hit.job_id,
        file_id=hit.file_id,
        file_name=hit.file_name,
        variant=hit.variant,
        language=hit.language,
        start=hit.start,
        end=hit.end,
        passage_start=hit.passage_start,
        passage_end=hit.passage_end,
        segment_id=hit.segment_id,
        speaker=hit.speaker,
        speakers=hit.speakers,
        snippet=hit.snippet,
        score=hit.score,
        url=url,
        transcript_version=hit.transcript_version,
    )


def status(db: Session, ctx: AppContext, *, workspace_id: str) -> SearchStatus:
    """What the workspace's index holds and how much of it waits to be (re)indexed."""
    model = index.model_id(ctx)
    by_status = dict(
        db.execute(
            select(SearchSource.status, func.count())
            .where(SearchSource.workspace_id == workspace_id)
            .group_by(SearchSource.status)
        ).all()
    )
    chunks, embedded = db.execute(
        select(func.count(), func.count(SearchChunk.id).filter(SearchChunk.model_id == model)).where(
            SearchChunk.workspace_id == workspace_id
        )
    ).one()
    return SearchStatus(
        recordings=sum(by_status.values()),
        chunks=chunks,
        pending=index.pending(db, ctx=ctx, workspace_id=workspace_id),
        failed=by_status.get(index.FAILED, 0),
        model_id=model,
        embedded=embedded,
    )
