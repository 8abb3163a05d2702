"""The search index and the conversations held over it.

A `SearchSource` is one transcript (a job's original or one of its translations) as the index knows it: which version
it should hold and which it holds. Its `SearchChunk`s are runs of whole segments, each with its text for the lexical
index (SQLite FTS5 or PostgreSQL `tsvector`, kept in step by the database itself) and its vector, stored with the
model that made it so vectors of two models are never compared."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from voxhub.clock import utcnow
from voxhub.db import Base, id_column


class SearchSource(Base):
    __tablename__ = "search_sources"
    __table_args__ = (UniqueConstraint("job_id", "variant"),)

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))  # the transcription
    variant: Mapped[str] = mapped_column(String(16))  # "original" or a translation's language
    file_id: Mapped[str | None] = mapped_column(String(36), index=True)  # the recording transcribed
    language: Mapped[str | None] = mapped_column(String(16))  # of the indexed version: how its words are stemmed
    wanted_version: Mapped[int] = mapped_column(Integer)  # the transcript's latest version
    indexed_version: Mapped[int | None] = mapped_column(Integer)  # what the chunks were cut from
    model_id: Mapped[str | None] = mapped_column(String(128))  # what made the chunks' vectors; None: none yet
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending | indexed | failed
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SearchChunk(Base):
    __tablename__ = "search_chunks"

    # An integer key: it is also the chunk's rowid in SQLite's FTS5 index.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("search_sources.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[str] = mapped_column(String(36), index=True)
    job_id: Mapped[str] = mapped_column(String(36), index=True)
    file_id: Mapped[str | None] = mapped_column(String(36))
    variant: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(16))
    transcript_version: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)  # its place in the transcript
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    speakers: Mapped[list[str]] = mapped_column(JSON)  # labels, in order of first words
    segment_ids: Mapped[list[int]] = mapped_column(JSON)
    text: Mapped[str] = mapped_column(Text)
    tokens: Mapped[int] = mapped_column(Integer)
    model_id: Mapped[str | None] = mapped_column(String(128))
    dim: Mapped[int | None] = mapped_column(Integer)
    vector: Mapped[bytes | None] = mapped_column(LargeBinary)  # float32, L2-normalised


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[str | None] = mapped_column(String(36))
    title: Mapped[str] = mapped_column(String(200))
    scope: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"file_ids": [...], "job_ids": [...]}; empty: everything
    summary: Mapped[str] = mapped_column(Text, default="")  # the older turns, summarised
    summarized_upto: Mapped[int] = mapped_column(Integer, default=0)  # how many messages the summary covers
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChatMessage(Base):
    __tablename__ = "chat_messages"

    id: Mapped[str] = id_column()
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # user | assistant
    content: Mapped[str] = mapped_column(Text)
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    engine: Mapped[str | None] = mapped_column(String(16))  # local | remote | extractive; None for the user's
    usage: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # prompt_tokens, completion_tokens
    query: Mapped[str | None] = mapped_column(Text)  # the standalone question that was searched
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
