"""Request and response bodies for files and uploads."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from voxhub.labels.schemas import FieldValueOut


class MediaOut(BaseModel):
    duration_s: float
    container: str
    audio_codec: str
    sample_rate: int
    channels: int
    bit_rate: int | None = None
    video_codec: str | None = None
    width: int | None = None
    height: int | None = None


class FileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    workspace_id: str
    kind: str = Field(description="upload or output")
    filename: str = Field(description="For display only; never part of a storage path.")
    content_type: str = Field(description="What probing found the file to be, not what the client declared.")
    size_bytes: int
    sha256: str | None
    status: str = Field(description="pending, ready, rejected or deleted")
    media: MediaOut | None
    reject_reason: str | None = Field(description="Why the file was rejected, machine-readable.")
    reject_message: str | None
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    tags: list[str] = Field(default=[], description="The file's tags, by name.")
    custom_fields: dict[str, FieldValueOut] = Field(default={}, description="Custom field key → value.")


class FileLinkOut(BaseModel):
    url: str = Field(description="A signed link to the file's bytes; give it to a player or a download.")
    expires_in: int = Field(description="Seconds the link stays valid.")


class FileRename(BaseModel):
    filename: str = Field(min_length=1, max_length=255)


class MultipartIn(BaseModel):
    filename: str = Field(min_length=1, max_length=255)
    size: int = Field(gt=0, description="Exact size of the file in bytes.")
    content_type: str = Field(default="application/octet-stream", max_length=120)


class PartOut(BaseModel):
    part_number: int
    url: str = Field(description="PUT the part's bytes here; no other header is needed.")
    size: int


class MultipartOut(BaseModel):
    upload_id: str
    file_id: str
    part_size: int
    parts: list[PartOut]
    expires_at: datetime
