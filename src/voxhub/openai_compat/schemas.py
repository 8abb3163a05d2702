"""Request and response bodies of the OpenAI-compatible routes, named and shaped as OpenAI's API reference has them."""

from __future__ import annotations

from typing import Any, Literal

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
