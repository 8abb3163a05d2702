"""Podcast episodes and each workspace's private feed.

An episode keeps what each stage of its making produced (outline, script so far, the finished files), so a retried
job goes on from the last finished stage; the job that is making it now is `job_id`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from voxhub.clock import utcnow
from voxhub.db import Base, id_column


class Podcast(Base):
    __tablename__ = "podcasts"
    __table_args__ = (Index("ix_podcasts_workspace_created", "workspace_id", "created_at"),)

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_by_api_key: Mapped[str | None] = mapped_column(String(36))
    title: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text)
    source: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the files and jobs the notes were read from
    options: Mapped[dict[str, Any]] = mapped_column(JSON)  # duration, format, language, focus, hosts, review, audio
    status: Mapped[str] = mapped_column(String(16), index=True)  # a PodcastStatus
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    outline: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # an Outline, once made
    script: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # a Script: the segments written so far
    script_complete: Mapped[bool] = mapped_column(Boolean, default=False)
    approved_at: Mapped[datetime | None]
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # an Outputs
    chapters: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    duration_s: Mapped[float | None] = mapped_column(Float)
    published_at: Mapped[datetime | None]  # when it was finished: the feed's pubDate
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PodcastFeed(Base):
    """A workspace's private RSS feed: its token is shown once and kept hashed; a new one revokes the old."""

    __tablename__ = "podcast_feeds"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
