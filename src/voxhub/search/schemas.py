"""Search requests and answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Mode = Literal["hybrid", "lexical", "semantic"]


class SearchHitOut(BaseModel):
    job_id: str
    file_id: str | None
    file_name: str | None
    variant: str = Field(description="`original`, or the language of the translation the words are in.")
    language: str
    start: float = Field(description="Seconds: where the segment that matched best begins (`url` plays from here).")
    end: float
    passage_start: float = Field(description="Seconds: the passage (a run of segments) the hit is part of.")
    passage_end: float
    segment_id: int
    speaker: str | None
    speakers: list[str]
    snippet: str = Field(description="HTML-escaped text with the query's words in `<mark>`.")
    score: float
    url: str | None = Field(description="A signed, expiring link that plays the recording from `start` (`#t=`).")
    transcript_version: int


class SearchPage(BaseModel):
    items: list[SearchHitOut]
    next_cursor: str | None = None
    mode: Mode
    semantic: bool = Field(description="Whether meaning (embeddings) took part; false when only words did.")
    pending: int = Field(description="Recordings still being indexed: their newest words may be missing.")


class SearchStatus(BaseModel):
    recordings: int = Field(description="Transcripts (originals and translations) in the index.")
    chunks: int
    pending: int = Field(description="Transcripts waiting to be indexed or re-embedded; 0 when all are current.")
    failed: int
    model_id: str = Field(description="The embedding model of the index's vectors.")
    embedded: int = Field(description="Passages with a vector of `model_id`.")
