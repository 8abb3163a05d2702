"""What the insights of a transcript look like: summary, chapters, key phrases and action items, with the time ranges
that were read and the engine that wrote them. Names follow AssemblyAI's where it has them (`headline`, `gist`,
`summary`, key phrases like its `auto_highlights`), so users who migrate recognise them.

Times are seconds into the recording; insights of plain text (no recording) have none, so their times are null."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SummaryType = Literal["bullets", "paragraph", "headline", "gist"]
Feature = Literal["summary", "chapters", "key_phrases", "action_items"]


class InsightsEngine(StrEnum):
    LOCAL = "local"  # the local language model
    REMOTE = "remote"  # an OpenAI-compatible chat API
    EXTRACTIVE = "extractive"  # no language model: sentences and phrases picked from the transcript itself


class InsightsOptions(BaseModel):
    """What to make of a transcript."""

    model_config = ConfigDict(extra="forbid")

    summary_type: SummaryType = Field(
        default="bullets",
        description="`bullets`, `paragraph`, `headline` (one sentence) or `gist` (a few words).",
    )
    summary: bool = True
    chapters: bool = True
    key_phrases: bool = True
    action_items: bool = True
    language: str | None = Field(
        default=None,
        max_length=16,
        description="Language to write in; default: the transcript's. A translation in it is read when one exists.",
    )


class TimeRange(BaseModel):
    start: float
    end: float


class Chapter(BaseModel):
    start: float | None = Field(description="The first chapter starts at 0; each ends where the next starts.")
    end: float | None = Field(description="The last chapter ends where the recording does.")
    headline: str = Field(description="One sentence on what the chapter is about.")
    gist: str = Field(description="A few words.")
    summary: str
    segment_ids: list[int] = Field(description="The transcript segments the chapter is made of, in order.")


class KeyPhrase(BaseModel):
    text: str
    count: int = Field(description="How often it is said.")
    rank: float = Field(description="Relevance from 0 to 1; the most relevant phrase has 1.")
    timestamps: list[TimeRange] = Field(description="Where it is said, from the words' own times.")


class ActionItem(BaseModel):
    text: str
    owner: str | None = Field(default=None, description="Who takes it on, when the transcript says.")
    due: str | None = Field(default=None, description="By when, as said (e.g. 'Friday'), when the transcript says.")
    segment_id: int = Field(description="The segment where it is said.")
    start: float | None = Field(description="When that segment starts.")


class Coverage(BaseModel):
    """One stretch of the transcript that the engine read. Anything not listed was not read."""

    start: float | None
    end: float | None
    first_segment_id: int
    last_segment_id: int


class Skipped(BaseModel):
    """A part asked for that could not be made, and why (e.g. action items need a language model)."""

    feature: Feature
    reason: str


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int


class InsightsDocument(BaseModel):
    """The insights an insights job writes: also its result. A part not asked for is null."""

    engine: InsightsEngine
    model: str | None = Field(description="The language model, or the embedding model of the extractive method.")
    language: str
    summary_type: SummaryType
    summary: str | None = None
    chapters: list[Chapter] | None = None
    key_phrases: list[KeyPhrase] | None = None
    action_items: list[ActionItem] | None = None
    coverage: list[Coverage] = Field(description="What was read; `complete` says whether that is everything.")
    complete: bool
    segments: int = Field(description="Segments in the transcript that was read.")
    skipped: list[Skipped] = Field(default_factory=list)
    usage: Usage | None = Field(default=None, description="Tokens the language model read and wrote.")


class InsightsOut(InsightsDocument):
    job_id: str = Field(description="The insights job.")
    source_job_id: str | None = Field(description="The transcription it read; null for plain text.")
    transcript_version: int | None = Field(description="The transcript version it read.")
    latest_transcript_version: int | None
    stale: bool = Field(description="The transcript was edited since: run an insights job again for fresh ones.")
    created_at: datetime
