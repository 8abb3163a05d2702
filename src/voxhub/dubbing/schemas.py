"""What a dub is made of: the request (languages, voices, how the original is kept, subtitles, review), its dub units
(what each speaker said, when, and what it says in each language), the QA report and the dub as the API shows it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, field_validator, model_validator

from voxhub.engines.base import EngineError
from voxhub.engines.mt import check_language

Background = Literal["duck", "replace", "voiceover"]
Subtitles = Literal["soft", "burn", "none"]
MAX_LANGUAGES = 4
MAX_SPEAKERS = 20
UNIT_MAX_CHARS = 2000  # a unit is at most ~12 s of speech: a few sentences
Label = Annotated[str, StringConstraints(min_length=1, max_length=40)]
VoiceId = Annotated[str, StringConstraints(min_length=1, max_length=120)]
Language = Annotated[str, StringConstraints(min_length=2, max_length=16)]


class DubStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    AWAITING_REVIEW = "awaiting_review"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


def _language(value: str) -> str:
    try:
        return check_language(value)
    except EngineError as exc:
        raise ValueError(exc.message) from exc


class DubParams(BaseModel):
    """How to dub: the `params` of a `dub` job, and the body of POST …/dubs beside its `file_id`."""

    model_config = ConfigDict(extra="forbid")

    target_languages: list[Language] = Field(
        min_length=1, max_length=MAX_LANGUAGES, description="ISO 639-1 codes; each becomes a dubbed track."
    )
    source_language: Language | None = Field(default=None, description="Spoken language; detected when left out.")
    voices: dict[Label, VoiceId] = Field(
        default_factory=dict,
        max_length=MAX_SPEAKERS,
        description="Speaker label (S1, S2, … in the order they first speak) → voice id (GET …/dubs/voices); "
        "default: one that fits the speaker's pitch, different for each speaker.",
    )
    background: Background = Field(
        default="duck",
        description="duck: the original lowered under the dubbed speech; replace: only the background kept (needs "
        "a separation model; otherwise duck, with a warning); voiceover: the original heard first, then kept low.",
    )
    subtitles: Subtitles = Field(default="soft", description="soft: subtitle tracks; burn: the dub's into the picture.")
    review: StrictBool = Field(
        default=False, description="Stop before the voices so the units can be checked and edited."
    )
    start: float | None = Field(default=None, ge=0, description="Dub only speech from this second on.")
    end: float | None = Field(default=None, gt=0, description="… and up to this second; the rest keeps its audio.")

    @field_validator("target_languages")
    @classmethod
    def _targets(cls, value: list[str]) -> list[str]:
        codes = [_language(code) for code in value]
        if len(set(codes)) != len(codes):
            raise ValueError("a language is named twice")
        return codes

    @field_validator("source_language")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        return _language(value) if value else None

    @model_validator(mode="after")
    def _range(self) -> DubParams:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end must come after start")
        if self.source_language and self.source_language in self.target_languages:
            raise ValueError("a target language is the source language")
        return self


class DubCreate(DubParams):
    file_id: str = Field(max_length=36, description="A ready video or audio file.")
    title: str | None = Field(default=None, max_length=200, description="Default: the file's name.")


class DubUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=200)


class Translation(BaseModel):
    """One unit in one target language."""

    text: str = Field(max_length=UNIT_MAX_CHARS)
    source_text: str = Field(default="", max_length=UNIT_MAX_CHARS, description="The unit's text it translates.")
    voice: str | None = Field(default=None, max_length=120, description="This unit's own voice, if set.")
    shortened: bool = Field(default=False, description="Rewritten shorter to fit its slot.")
    edited: bool = Field(default=False, description="Written by a person.")
    budget_chars: int | None = None


class Unit(BaseModel):
    """A dub unit: a sentence or two of one speaker, the slot its dub may fill, and its translations."""

    index: int
    start: float
    end: float
    slot_end: float = Field(description="Where its dub must have ended: the next speech's onset, less a guard.")
    speaker: str | None = None
    text: str
    mute: bool = Field(default=False, description="No dubbed speech; the original stays lowered.")
    keep_original: bool = Field(default=False, description="No dubbed speech; the original is heard as it is.")
    translations: dict[str, Translation] = Field(default_factory=dict)


class TranslationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, min_length=1, max_length=UNIT_MAX_CHARS)
    voice: VoiceId | None = None


class UnitPatch(BaseModel):
    """Changes to one unit; only what is given changes. Its dub is spoken again at the next render."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0, le=100_000)
    text: str | None = Field(default=None, min_length=1, max_length=UNIT_MAX_CHARS, description="What was said.")
    translations: dict[Language, TranslationPatch] | None = Field(default=None, max_length=MAX_LANGUAGES)
    speaker: Label | None = None
    start: float | None = Field(default=None, ge=0)
    end: float | None = Field(default=None, gt=0)
    mute: StrictBool | None = None
    keep_original: StrictBool | None = None


class SegmentsPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segments: list[UnitPatch] = Field(min_length=1, max_length=500)


class SegmentReport(BaseModel):
    """How one unit's dub was fitted in one language."""

    index: int
    language: str
    speed: float = Field(description="Total speed-up: the engine's rate times the time-stretch.")
    engine_speed: float
    stretch: float
    clip_s: float
    slot_s: float
    overflow_s: float = Field(description="How far the dub ran past its slot (the next line was pushed back).")
    onset_offset_s: float = Field(description="How late the dub starts against the original line.")
    shortened: bool
    flagged: bool = Field(description="Did not fit without pushing the next line, or was cut from the dub.")
    rendered: bool = Field(description="Spoken in this render (false: its clip was reused).")


class QaTotals(BaseModel):
    units: int
    dubbed: int
    max_speed: float
    mean_speed: float
    onset_offset_p95_s: float
    overflows: int
    shortened: int
    flagged: int
    clips_rendered: int
    clips_reused: int


class QaReport(BaseModel):
    languages: dict[str, QaTotals]
    segments: list[SegmentReport]


class Outputs(BaseModel):
    """File ids of what a dub made (GET /api/v1/workspaces/{id}/files/{file_id}/download)."""

    media_file_id: str | None = Field(default=None, description="The video (or audio) with every track.")
    audio: dict[str, str] = Field(default_factory=dict, description="Language → the mixed dubbed audio (M4A).")
    voice: dict[str, str] = Field(default_factory=dict, description="Language → the dubbed speech alone (M4A).")
    background_file_id: str | None = Field(default=None, description="What is heard under the dubbed speech.")
    srt: dict[str, str] = Field(default_factory=dict, description="Language → subtitles (SRT); the source too.")
    vtt: dict[str, str] = Field(default_factory=dict, description="Language → subtitles (WebVTT); the source too.")


class DubStatusOut(BaseModel):
    id: str
    status: DubStatus
    stage: str | None
    progress: float
    message: str | None = None
    error: dict[str, Any] | None = None
    job_id: str | None


class DubOut(DubStatusOut):
    workspace_id: str
    file_id: str | None
    title: str
    target_languages: list[str]
    source_language: str | None
    background: Background
    subtitles: Subtitles
    review: bool
    start: float | None
    end: float | None
    voices: dict[str, dict[str, str]] = Field(description="Speaker → language → the voice speaking for them.")
    units: int
    duration_s: float | None
    outputs: Outputs
    qa: dict[str, QaTotals] | None = Field(description="The last render's totals per language (all of it: /qa).")
    warnings: list[str]
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    tags: list[str] = Field(default=[], description="The dub's tags, by name.")


class VoiceOut(BaseModel):
    id: str
    description: str
    engine: str
    languages: list[str]
    chars_per_second: float | None = Field(default=None, description="Measured speaking rate, once measured.")
