"""Request and response bodies of share links, and of what a share shows the public."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class ShareTarget(StrEnum):
    TRANSCRIPT = "transcript"  # a transcription job's transcript (target_id: the job's id), with its recording
    PODCAST = "podcast"  # a finished podcast episode, with its MP3
    DUB = "dub"  # a finished dub, with its video (or audio)


class ShareStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


class ShareCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_type: ShareTarget
    target_id: str = Field(min_length=1, max_length=36, description="The job (transcript), podcast or dub id.")
    expires_at: datetime | None = Field(default=None, description="When the link stops working; never when absent.")
    password: str | None = Field(
        default=None, min_length=4, max_length=200, description="Asked of whoever opens the link; kept hashed."
    )


class ShareOut(BaseModel):
    id: str
    workspace_id: str
    target_type: ShareTarget
    target_id: str
    title: str = Field(description="The shared item's title as it is now; empty when the item is gone.")
    url: str = Field(description="The public page (`/s/{token}`); anyone holding it sees the item.")
    api_url: str = Field(description="The same as JSON (`/api/v1/shared/{token}`).")
    status: ShareStatus
    password_protected: bool
    expires_at: datetime | None
    revoked_at: datetime | None
    view_count: int
    last_viewed_at: datetime | None
    created_by: str | None
    created_at: datetime


class SharedMedia(BaseModel):
    url: str = Field(description="A short-lived signed link to the bytes (through the CDN when one is set).")
    content_type: str
    expires_at: datetime


class SharedSegment(BaseModel):
    start: float
    end: float
    speaker: str | None = Field(description="The speaker's display name, when the transcript has speakers.")
    text: str


class SharedChapter(BaseModel):
    start: float
    title: str


class SharedItem(BaseModel):
    """Exactly the shared item, read-only: no ids of the workspace's other objects, no people."""

    type: ShareTarget
    title: str
    language: str | None = None
    languages: list[str] = Field(default_factory=list, description="A dub's languages.")
    duration_s: float | None = None
    media: SharedMedia | None = Field(description="The recording, the episode's MP3 or the dubbed video.")
    segments: list[SharedSegment] = Field(default_factory=list, description="A transcript's segments.")
    chapters: list[SharedChapter] = Field(default_factory=list, description="An episode's chapters.")
    expires_at: datetime | None = Field(description="When the share link stops working.")
    views: int
