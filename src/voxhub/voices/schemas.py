"""Request and response bodies for cloned voices."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class VoiceCloneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"\S", description="What the voice is called.")
    file_id: str = Field(min_length=1, max_length=36, description="An uploaded recording of the speaker (5 s or more).")
    consent: bool = Field(description="Must be true: the speaker consented to having their voice cloned.")
    consented_by: str = Field(
        min_length=1, max_length=200, pattern=r"\S", description="Who gave that consent (the speaker's name)."
    )
    description: str = Field(default="", max_length=500)
    language: str = Field(default="en", min_length=2, max_length=16, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


class ClonedVoiceOut(BaseModel):
    id: str = Field(description="This clone's id in the workspace (for GET and DELETE).")
    voice: str = Field(description="The voice id to synthesise with, e.g. `elevenlabs:…`.")
    provider: Literal["elevenlabs"]
    name: str
    description: str
    language: str
    sample_file_id: str | None
    consented_by: str
    consented_at: datetime
    created_by: str | None
    created_at: datetime
