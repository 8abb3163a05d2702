"""What conversations over a workspace's recordings look like: the requests, the stored messages with their
citations, and the server-sent events of an answer being written."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

CONTENT_MAX_CHARS = 4000
TITLE_MAX_CHARS = 200
SCOPE_MAX_IDS = 100

Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX_CHARS)]


class ChatEngine(StrEnum):
    LOCAL = "local"  # the local language model wrote the answer
    REMOTE = "remote"  # an OpenAI-compatible chat API wrote it
    EXTRACTIVE = "extractive"  # no language model: the best passages, quoted


class Stage(StrEnum):
    SEARCHING = "searching"
    READING = "reading"
    WRITING = "writing"


class Scope(BaseModel):
    """What a conversation searches: the recordings of these files and these transcriptions; empty, everything."""

    model_config = ConfigDict(extra="forbid")

    file_ids: list[Id] = Field(default_factory=list, max_length=SCOPE_MAX_IDS)
    job_ids: list[Id] = Field(
        default_factory=list, max_length=SCOPE_MAX_IDS, description="Transcribe jobs (their transcripts)."
    )


class ConversationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = Field(default=None, description="Default: the first question, shortened.")
    scope: Scope = Field(default_factory=Scope)


class ConversationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1, max_length=CONTENT_MAX_CHARS, pattern=r"\S", description="The question.")


class CitationOut(BaseModel):
    n: int = Field(description="The number the answer cites it by, as [n].")
    job_id: str = Field(description="The transcription.")
    file_id: str | None = Field(description="The recording; null where it was deleted or never kept.")
    file_name: str | None
    start: float = Field(description="Seconds into the recording where the cited words begin.")
    end: float
    speaker: str | None
    quote: str = Field(description="The words said there.")
    url: str | None = Field(description="A signed link that plays the recording from `start` (`#t=start`).")


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class MessageOut(BaseModel):
    id: str
    role: Literal["user", "assistant"]
    content: str
    citations: list[CitationOut] = Field(description="The passages the answer cites; none on a question.")
    engine: ChatEngine | None = Field(description="What wrote the answer; null on a question.")
    usage: Usage | None = Field(description="Tokens the language model read and wrote for the answer.")
    query: str | None = Field(description="The standalone question that was searched for the answer.")
    created_at: datetime


class ConversationSummaryOut(BaseModel):
    id: str
    title: str
    scope: Scope
    created_at: datetime
    updated_at: datetime


class ConversationOut(ConversationSummaryOut):
    messages: list[MessageOut] = Field(description="Oldest first.")


# ---- the events of one answer (`event:` names the model) ----


class StatusEvent(BaseModel):
    stage: Stage


class CitationsEvent(BaseModel):
    citations: list[CitationOut] = Field(
        description="The passages given to the model, numbered, each at the segment that answers best by the "
        "question's words and meaning; the model reads the segments around it too."
    )


class DeltaEvent(BaseModel):
    text: str


class DoneEvent(BaseModel):
    message: MessageOut = Field(
        description="The stored answer, as GET …/conversations/{id} shows it: the passages it cites keep their "
        "numbers, each at the segment the sentence citing it takes its words from."
    )
    user_message_id: str
