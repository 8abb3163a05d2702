"""Voices a workspace made at a hosted provider (an ElevenLabs clone of a speaker it had consent to clone)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from voxhub.clock import utcnow
from voxhub.db import Base, id_column


class HostedVoice(Base):
    __tablename__ = "hosted_voices"
    __table_args__ = (
        UniqueConstraint("workspace_id", "provider", "provider_voice_id"),
        Index("ix_hosted_voices_ws_id", "workspace_id", "id"),
    )

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(40))
    provider_voice_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    language: Mapped[str] = mapped_column(String(16), default="en")
    sample_file_id: Mapped[str | None] = mapped_column(String(36))
    consented_by: Mapped[str] = mapped_column(String(200))  # who gave consent to clone their voice, as stated
    consented_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_by_api_key: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
