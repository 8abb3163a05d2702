"""Transcript versions: version 1 is what the job produced; each edit adds the next version, nothing is overwritten."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from voxhub.clock import utcnow
from voxhub.db import Base, id_column

ORIGINAL = "original"  # the `variant` of the transcript in the audio's own language


class TranscriptVersion(Base):
    __tablename__ = "transcript_versions"
    __table_args__ = (UniqueConstraint("job_id", "variant", "version"),)

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    variant: Mapped[str] = mapped_column(String(16), default=ORIGINAL)  # "original" or a translation's language
    version: Mapped[int] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))  # job | translation | edit
    produced_by_job: Mapped[str | None] = mapped_column(String(36))  # the translate job, for translations
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
