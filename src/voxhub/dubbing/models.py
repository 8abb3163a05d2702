"""Dubs: a recording spoken again in other languages.

A dub keeps what each stage of its making produced (the transcript, the dub units with their translations, the
speakers' voices, the QA report and the finished files), so a retried job goes on from the last finished stage and
an edited unit is the only one spoken again; the job working on it now is `job_id`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from voxhub.clock import utcnow
from voxhub.db import Base, id_column


class Dub(Base):
    __tablename__ = "dubs"
    __table_args__ = (Index("ix_dubs_workspace_created", "workspace_id", "created_at"),)

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_by_api_key: Mapped[str | None] = mapped_column(String(36))
    file_id: Mapped[str | None] = mapped_column(ForeignKey("files.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(200))
    options: Mapped[dict[str, Any]] = mapped_column(JSON)  # a DubParams: languages, voices, background, subtitles, …
    status: Mapped[str] = mapped_column(String(16), index=True)  # a DubStatus
    # The `dub` job that started it (the row is found from it) and the job working on it now (dub or dub_render).
    origin_job_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    source_language: Mapped[str | None] = mapped_column(String(16))
    transcript: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # what was said: segments, words, speakers
    speakers: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # label -> pitch and voice per language
    segments: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)  # the dub units, each with its translations
    qa: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the last render's report
    warnings: Mapped[list[str] | None] = mapped_column(JSON)
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # file ids of what was made
    duration_s: Mapped[float | None] = mapped_column(Float)
    approved_at: Mapped[datetime | None]
    rendered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
