"""Request and response bodies for transcripts and voices."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from voxhub.db import MAX_INTEGER
from voxhub.transcripts.models import TranscriptVersion

SpeakerLabel = Annotated[str, StringConstraints(min_length=1, max_length=40)]
SpeakerName = Annotated[str, StringConstraints(max_length=200)]


class SegmentEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int = Field(ge=0, le=MAX_INTEGER)
    text: str | None = Field(default=None, max_length=10_000)
    speaker: str | None = Field(default=None, max_length=40, description="A speaker label; empty removes it.")


class TranscriptEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segments: list[SegmentEdit] = Field(default_factory=list, max_length=10_000)
    speakers: dict[SpeakerLabel, SpeakerName] = Field(
        default_factory=dict, max_length=100, description='Label → display name, e.g. {"S1": "Ana"}.'
    )
    base_version: int | None = Field(
        default=None, ge=1, le=MAX_INTEGER, description="Refuse the edit (409) unless this is the latest."
    )

    @model_validator(mode="after")
    def _changes_something(self) -> TranscriptEdit:
        if not self.segments and not self.speakers:
            raise ValueError("Nothing to change: give segments or speakers.")
        return self


class TranscriptVersionOut(BaseModel):
    version: int
    language: str
    variant: str
    source: str
    created_by: str | None
    created_at: datetime


def version_out(row: TranscriptVersion) -> TranscriptVersionOut:
    return TranscriptVersionOut(
        version=row.version,
        language=row.language,
        variant=row.variant,
        source=row.source,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def transcript_document(row: TranscriptVersion) -> dict[str, Any]:
    """A transcript version as the API shows it: its data with the job, version and variant it belongs to."""
    return {"job_id": row.job_id, "version": row.version, "variant": row.variant, **row.data}


class VoiceOut(BaseModel):
    id: str
    name: str
    language: str
    engine: str
    sample_rate: int
    description: str
