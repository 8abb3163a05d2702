"""A share link: which one item of a workspace it shows, until when, behind which password, and how often it was seen.
The link's token is not stored: it is the share's id signed with the secret key, so it can be shown again (copy link)
and a revoked or expired share is told apart from a made-up token."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from voxhub.clock import utcnow
from voxhub.db import Base, id_column


class Share(Base):
    __tablename__ = "shares"
    __table_args__ = (Index("ix_shares_workspace_target", "workspace_id", "target_type", "target_id"),)

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    target_type: Mapped[str] = mapped_column(String(16))  # a ShareTarget
    target_id: Mapped[str] = mapped_column(String(36))  # a transcription job, a podcast or a dub
    password_hash: Mapped[str | None] = mapped_column(String(255))  # argon2id, like account passwords
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    view_count: Mapped[int] = mapped_column(Integer, default=0)
    last_viewed_at: Mapped[datetime | None]
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_by_api_key: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
