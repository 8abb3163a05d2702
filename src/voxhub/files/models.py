"""Tables for files (what users uploaded or jobs produced) and uploads still in progress."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from voxhub.clock import utcnow
from voxhub.db import Base, id_column


class FileKind(enum.StrEnum):
    UPLOAD = "upload"
    OUTPUT = "output"


class FileStatus(enum.StrEnum):
    PENDING = "pending"
    READY = "ready"
    REJECTED = "rejected"
    DELETED = "deleted"


class File(Base):
    __tablename__ = "files"
    __table_args__ = (Index("ix_files_ws_id", "workspace_id", "id"),)

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default=FileKind.UPLOAD.value)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120), default="application/octet-stream")
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=FileStatus.PENDING.value, index=True)
    media: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reject_reason: Mapped[str | None] = mapped_column(String(40))
    reject_message: Mapped[str | None] = mapped_column(String(500))
    storage_key: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_by_api_key: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    expires_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]


class UploadProtocol(enum.StrEnum):
    TUS = "tus"
    MULTIPART = "multipart"


class UploadStatus(enum.StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    ABORTED = "aborted"
    EXPIRED = "expired"


class Upload(Base):
    """An upload in progress. The bytes live in the store (an appendable or multipart upload there);
    this row says whose they are, how long they will be, and until when they may keep coming."""

    __tablename__ = "uploads"

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    file_id: Mapped[str] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"))
    protocol: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=UploadStatus.OPEN.value, index=True)
    length: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    store_upload_id: Mapped[str] = mapped_column(String(1024))
    part_size: Mapped[int | None] = mapped_column(BigInteger)
    part_count: Mapped[int | None] = mapped_column(Integer)
    tus_metadata: Mapped[str | None] = mapped_column(String(4096))
    lease_until: Mapped[datetime | None]
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
