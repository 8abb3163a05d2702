"""Vectors in the database: pgvector on PostgreSQL when the server has it (an HNSW index per common dimension),
raw float32 bytes everywhere (SQLite, or a PostgreSQL without the extension), scanned with numpy."""

from __future__ import annotations

import logging

import numpy as np
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from voxhub.engines.embed import Vectors

log = logging.getLogger("voxhub.search")

# HNSW indexes need a fixed dimension: one partial index per dimension the bundled and the common remote models have
# (wordllama 256, e5-small 384, 768, 1024, OpenAI's 1536). Another dimension is searched exactly.
INDEXED_DIMENSIONS = (256, 384, 768, 1024, 1536)


def install_pgvector(connection: Connection) -> bool:
    """Add the `embedding` column and its HNSW indexes when the server has pgvector (idempotent); False, with the
    reason logged, when it has not — semantic search then scans the stored bytes."""
    try:
        with connection.begin_nested():
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
    except DBAPIError as exc:
        log.warning(
            "PostgreSQL has no pgvector extension (%s): semantic search scans vectors in Python, which is fine up to "
            "about 100k passages a workspace. To index them, install pgvector on the server (the `postgresql-NN-"
            "pgvector` package), run `CREATE EXTENSION vector;` as a superuser, and restart voxhub.",
            str(exc.orig).strip().splitlines()[0] if exc.orig else exc,
        )
        return False
    connection.execute(text("ALTER TABLE search_chunks ADD COLUMN IF NOT EXISTS embedding vector"))
    for dim in INDEXED_DIMENSIONS:
        connection.execute(
            text(
                f"CREATE INDEX IF NOT EXISTS ix_search_chunks_embedding_{dim} ON search_chunks "
                f"USING hnsw ((embedding::vector({dim})) vector_cosine_ops) WHERE dim = {dim}"
            )
        )
    return True


_present: dict[str, bool] = {}  # database URL → whether its chunks table has the pgvector column


def has_pgvector(connection: Connection) -> bool:
    """Whether the chunks table has its pgvector column on this database (asked once per process)."""
    if connection.dialect.name != "postgresql":
        return False
    key = connection.engine.url.render_as_string(hide_password=True)
    if key not in _present:
        _present[key] = bool(
            connection.execute(
                text(
                    "SELECT 1 FROM information_schema.columns WHERE table_name = 'search_chunks' "
                    "AND column_name = 'embedding' AND table_schema = current_schema()"
                )
            ).first()
        )
    return _present[key]


def to_bytes(vector: Vectors) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


def from_bytes(data: bytes, dim: int) -> Vectors:
    return np.frombuffer(data, dtype=np.float32, count=dim)


def literal(vector: Vectors) -> str:
    """pgvector's text form of a vector: `[0.1,0.2,…]`."""
    return "[" + ",".join(f"{value:.7g}" for value in vector.tolist()) + "]"


def ensure_pgvector(engine: Engine) -> None:
    """At start-up on PostgreSQL: add the vector column where the server has pgvector now (installed since the
    migration ran), or say once, clearly, that semantic search will scan instead. Never stops the service."""
    if engine.dialect.name != "postgresql":
        return
    try:
        with engine.begin() as connection:
            if not inspect(connection).has_table("search_chunks"):
                return  # not migrated yet: `voxhub migrate` installs it
            key = connection.engine.url.render_as_string(hide_password=True)
            _present.pop(key, None)
            if not has_pgvector(connection):
                _present[key] = install_pgvector(connection)
    except SQLAlchemyError as exc:
        log.warning("could not check the search index's vector column: %s", exc)
