"""What every speech engine speaks: one protocol per capability, and the plain data they exchange.

Engines know models, not jobs: they take local paths or text and hand back these dataclasses. Pipelines turn them
into files, transcripts and progress; routes never call an engine directly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol


class EngineError(Exception):
    """An engine could not do what was asked. `code` is what the user sees (the job's error code);
    transient errors (a remote engine's timeout or 5xx) are retried, the others are not."""

    def __init__(self, code: str, message: str, *, transient: bool = False, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.transient = transient
        self.details = details or {}


class ModelUnavailable(EngineError):
    def __init__(self, message: str, **details: Any) -> None:
        super().__init__("model_unavailable", message, details=details)


class EngineUnavailable(EngineError):
    def __init__(self, message: str, **details: Any) -> None:
        super().__init__("engine_unavailable", message, details=details)


class UnsupportedLanguage(EngineError):
    def __init__(self, message: str, **details: Any) -> None:
        super().__init__("unsupported_language", message, details=details)


# ---- transcription ----


@dataclass
class Word:
    start: float
    end: float
    word: str
    probability: float


@dataclass
class Segment:
    id: int
    start: float
    end: float
    text: str
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    words: list[Word] = field(default_factory=list)
    speaker: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.speaker is None:
            data.pop("speaker")
        return data


@dataclass
class TranscribeOptions:
    language: str | None = None  # None: detect
    task: str = "transcribe"  # or "translate" (Whisper's own translation to English)
    initial_prompt: str | None = None
    vocabulary: list[str] = field(default_factory=list)
    temperature: float | None = None  # None: the engine's fallback schedule
    word_timestamps: bool = True
    vad: bool = True
    batched: bool | None = None  # None: the engine decides


@dataclass
class Transcription:
    language: str
    language_probability: float
    duration_s: float
    segments: list[Segment]
    model: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "language_probability": self.language_probability,
            "duration_s": self.duration_s,
            "model": self.model,
            "segments": [segment.to_dict() for segment in self.segments],
        }


# progress(seconds of audio done, seconds in all); may raise to stop the engine (cancel, timeout)
AudioProgress = Callable[[float, float], None]


class Transcriber(Protocol):
    name: str

    def transcribe(
        self, audio: Path, options: TranscribeOptions, *, on_progress: AudioProgress | None = None
    ) -> Transcription:
        """Transcribe a 16 kHz mono WAV file."""
        ...

    def models(self) -> list[str]:
        """Model ids this engine can serve without fetching anything."""
        ...


# ---- synthesis ----


@dataclass(frozen=True)
class Voice:
    id: str
    name: str
    language: str  # BCP 47-ish, e.g. "en-US"
    engine: str
    sample_rate: int
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AudioChunk:
    """Mono 16-bit little-endian PCM."""

    pcm: bytes
    sample_rate: int


class Synthesizer(Protocol):
    name: str

    def voices(self) -> list[Voice]: ...

    def synthesize(self, text: str, voice: Voice, *, speed: float = 1.0) -> Iterator[AudioChunk]:
        """Speak one piece of plain text (a sentence or a few), yielding PCM as it is made."""
        ...


# ---- translation ----


class Translator(Protocol):
    name: str

    def pairs(self) -> list[tuple[str, str]]:
        """(source, target) language pairs served locally; empty means any pair (a remote model)."""
        ...

    def translate(self, texts: list[str], *, source: str, target: str) -> list[str]:
        """Translate each text; the result has one entry per input, in order."""
        ...
