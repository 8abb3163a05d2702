"""Insights of a transcript, one row per insights job: what it wrote, from which transcription at which version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from voxhub.clock import utcnow
from voxhub.db import Base, id_column


class Insights(Base):
    __tablename__ = "insights"

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), unique=True)  # the insights job
    # The transcribe job whose transcript was read; None for plain text.
    source_job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    transcript_variant: Mapped[str | None] = mapped_column(String(16))  # "original" or a translation's language
    transcript_version: Mapped[int | None] = mapped_column(Integer)
    engine: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)  # an InsightsDocument
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
