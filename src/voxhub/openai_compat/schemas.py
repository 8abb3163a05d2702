"""Request and response bodies of the OpenAI-compatible routes, named and shaped as OpenAI's API reference has them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from voxhub.engines.languages import whisper_language
from voxhub.pipelines.synthesize import MAX_CHARS

TranscriptFormat = Literal["json", "text", "srt", "verbose_json", "vtt"]
SpeechFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]


class _Form(BaseModel):
    # Fields OpenAI has and voxhub does not use (`include[]`, `chunking_strategy`, …) are ignored, as its clients send
    # some of them by default.
    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    model: str = Field(min_length=1, max_length=200, description="`whisper-1`, or an id from GET /v1/models.")
    prompt: str | None = Field(default=None, max_length=1000, description="Context or spelling hints.")
    response_format: TranscriptFormat = "json"
    temperature: float = Field(
        default=0, ge=0, le=1, description="0 lets the model raise it when decoding fails, as OpenAI's does."
    )
    stream: bool = Field(default=False, description="Streamed transcription is not served; must be false.")

    @field_validator("stream")
    @classmethod
    def _no_stream(cls, value: bool) -> bool:
        if value:
            raise ValueError("streaming is not supported here; leave `stream` out or false")
        return value


class TranslationForm(_Form):
    """multipart/form-data fields of POST /v1/audio/translations, beside `file`."""


class TranscriptionForm(_Form):
    """multipart/form-data fields of POST /v1/audio/transcriptions, beside `file`."""

    language: str | None = Field(
        default=None, max_length=16, description="ISO 639-1 code of the spoken language; else detected."
    )
    timestamp_granularities: list[Literal["word", "segment"]] = Field(
        default_factory=list, max_length=2, description="With verbose_json: `word`, `segment` or both (sent as `…[]`)."
    )

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str | None) -> str | None:
        return whisper_language(value) if value else None


def form_schema(form: type[_Form]) -> dict[str, Any]:
    """The OpenAPI description of a multipart body: the form's fields and the `file`."""
    schema = form.model_json_schema()
    properties = {"file": {"type": "string", "format": "binary", "description": "The audio or video file."}}
    properties.update(schema["properties"])
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "required": ["file", "model"], "properties": properties}
                }
            },
        }
    }


class SpeechIn(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    model: str = Field(min_length=1, max_length=200, description="`tts-1`, `tts-1-hd` or `gpt-4o-mini-tts`.")
    input: str = Field(min_length=1, max_length=MAX_CHARS, description="The text to speak.")
    voice: str = Field(
        min_length=1, max_length=200, description="An OpenAI voice name (alloy, echo, …) or a voxhub voice id."
    )
    response_format: SpeechFormat = "mp3"
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    instructions: str | None = Field(
        default=None, max_length=4096, description="Accepted and ignored: the local voices take none."
    )
    stream_format: Literal["audio"] = Field(default="audio", description="Only `audio`; `sse` is not served.")

    @field_validator("input")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("input is empty")
        return value


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


class TranscriptionOut(BaseModel):
    text: str


# ---- chat completions ----

MAX_MESSAGES = 256
MAX_MESSAGE_CHARS = 200_000  # a long transcript; the body cap and the model's window bound a request well before
MAX_PARTS = 64
MAX_COMPLETION_TOKENS = 131_072  # the largest window voxhub configures (VOXHUB_LLM_CONTEXT_TOKENS)


class TextPart(BaseModel):
    """One part of a message's content; voxhub's models read text only."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["text"]
    text: str = Field(max_length=MAX_MESSAGE_CHARS)


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant"]
    content: (
        Annotated[str, Field(max_length=MAX_MESSAGE_CHARS)] | Annotated[list[TextPart], Field(max_length=MAX_PARTS)]
    ) = Field(description="Text, or a list of text parts (images and audio are not read).")
    name: str | None = Field(default=None, max_length=64, description="Accepted and ignored.")

    @field_validator("content")
    @classmethod
    def _parts_fit(cls, value: str | list[TextPart]) -> str | list[TextPart]:
        if isinstance(value, list) and sum(len(part.text) for part in value) > MAX_MESSAGE_CHARS:
            raise ValueError(f"a message's text parts hold at most {MAX_MESSAGE_CHARS} characters together")
        return value

    @property
    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(part.text for part in self.content)


class JsonSchemaFormat(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = Field(default=None, max_length=1000)
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema", description="The JSON schema to follow.")
    strict: bool | None = Field(default=None, description="Accepted; the local model always follows the schema.")


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: JsonSchemaFormat | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = Field(default=False, description="A last chunk with the usage and no choices.")


class ChatCompletionIn(BaseModel):
    """POST /v1/chat/completions, as OpenAI's `chat.completions.create` sends it (text only: no tools, no images)."""

    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    model: str = Field(min_length=1, max_length=200, description="An id from GET /v1/models.")
    messages: list[ChatMessageIn] = Field(min_length=1, max_length=MAX_MESSAGES)
    max_tokens: int | None = Field(default=None, ge=1, le=MAX_COMPLETION_TOKENS)
    max_completion_tokens: int | None = Field(
        default=None, ge=1, le=MAX_COMPLETION_TOKENS, description="OpenAI's newer name for max_tokens; it wins."
    )
    temperature: float = Field(default=1.0, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1, description="Accepted and ignored.")
    n: int = Field(default=1, ge=1, le=1, description="One choice per request.")
    stop: (
        Annotated[str, Field(min_length=1, max_length=100)]
        | Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]], Field(max_length=4)]
        | None
    ) = Field(default=None, description="Up to 4 sequences that end the text.")
    stream: bool = False
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = None
    user: str | None = Field(default=None, max_length=256, description="Accepted and ignored.")

    @field_validator("response_format")
    @classmethod
    def _schema_given(cls, value: ResponseFormat | None) -> ResponseFormat | None:
        if value is not None and value.type == "json_schema" and value.json_schema is None:
            raise ValueError("type json_schema needs `json_schema` with a `schema`")
        return value

    @property
    def stops(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])


class ChatMessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: None = None


class ChatChoice(BaseModel):
    index: int = 0
    message: ChatMessageOut
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletionOut(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    system_fingerprint: str | None = None
