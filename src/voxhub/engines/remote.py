"""Remote engines over the OpenAI-compatible HTTP API (OpenAI, Groq, vLLM, Ollama, or another voxhub):
`/audio/transcriptions`, `/audio/speech` and `/chat/completions` for translation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from voxhub import __version__
from voxhub.engines.base import (
    AudioChunk,
    AudioProgress,
    EngineError,
    Segment,
    TranscribeOptions,
    Transcription,
    Voice,
    Word,
)
from voxhub.engines.mt import translate_in_batches, translation_prompt

OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse")
PCM_SAMPLE_RATE = 24000  # OpenAI's `pcm` response format: 24 kHz, 16-bit, mono, little-endian
TRANSLATE_BATCH = 40  # texts per chat request


@dataclass(frozen=True)
class RemoteConfig:
    base_url: str
    api_key: str | None
    model: str
    timeout_s: float = 300.0

    def client(self) -> httpx.Client:
        headers = {"User-Agent": f"voxhub/{__version__}"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return httpx.Client(
            base_url=self.base_url.rstrip("/"), headers=headers, timeout=httpx.Timeout(self.timeout_s, connect=10.0)
        )


def _call(config: RemoteConfig, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request; transport errors, 429 and 5xx are transient (the job retries), other 4xx are not."""
    try:
        with config.client() as client:
            response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise EngineError(
            "remote_unreachable", f"{config.base_url}: {type(exc).__name__}: {exc}", transient=True
        ) from exc
    if response.status_code < 400:
        return response
    detail = _error_message(response)
    if response.status_code in (401, 403):
        raise EngineError("remote_auth_failed", f"The remote engine refused the key: {detail}")
    transient = response.status_code == 429 or response.status_code >= 500
    raise EngineError(
        "remote_error", f"The remote engine answered {response.status_code}: {detail}", transient=transient
    )


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    return str(body)[:300]


class RemoteTranscriber:
    name = "remote"

    def __init__(self, config: RemoteConfig) -> None:
        self.config = config

    def models(self) -> list[str]:
        return [self.config.model]

    def transcribe(
        self, audio: Path, options: TranscribeOptions, *, on_progress: AudioProgress | None = None
    ) -> Transcription:
        translate = options.task == "translate"
        # A dict, with a list for the repeated field: httpx sends multipart fields only from a mapping.
        data: dict[str, str | list[str]] = {"model": self.config.model, "response_format": "verbose_json"}
        if not translate:  # /audio/translations takes neither a language nor timestamp granularities
            data["timestamp_granularities[]"] = ["segment", "word"] if options.word_timestamps else ["segment"]
            if options.language:
                data["language"] = options.language
        prompt = " ".join(filter(None, [options.initial_prompt, ", ".join(options.vocabulary)]))
        if prompt:
            data["prompt"] = prompt
        if options.temperature is not None:
            data["temperature"] = str(options.temperature)
        path = "/audio/translations" if translate else "/audio/transcriptions"
        with audio.open("rb") as handle:
            response = _call(self.config, "POST", path, data=data, files={"file": (audio.name, handle, "audio/wav")})
        try:
            body = response.json()
        except ValueError as exc:
            raise EngineError("remote_error", "The remote engine did not answer with verbose JSON.") from exc
        transcription = parse_verbose_json(body, model=self.config.model)
        if on_progress is not None:
            on_progress(transcription.duration_s, transcription.duration_s)
        return transcription


def parse_verbose_json(body: dict[str, Any], *, model: str) -> Transcription:
    """OpenAI's verbose_json (words at top level, or per segment as some servers send) → a Transcription."""
    words = [
        Word(float(w["start"]), float(w["end"]), str(w["word"]), float(w.get("probability", 1.0)))
        for w in body.get("words") or []
    ]
    segments: list[Segment] = []
    for raw in body.get("segments") or []:
        start, end = float(raw.get("start", 0.0)), float(raw.get("end", 0.0))
        own = raw.get("words")
        if own:
            seg_words = [
                Word(float(w["start"]), float(w["end"]), str(w["word"]), float(w.get("probability", 1.0))) for w in own
            ]
        else:
            # Top-level words, in order: each goes to the first segment it does not lie after, so none is counted
            # twice at a boundary and none is lost in a gap between segments.
            count = 0
            while count < len(words) and (words[count].start + words[count].end) / 2 <= end + 0.01:
                count += 1
            seg_words, words = words[:count], words[count:]
        text = str(raw.get("text", "")).strip()
        if text:
            segments.append(
                Segment(
                    id=len(segments),
                    start=start,
                    end=end,
                    text=text,
                    avg_logprob=float(raw.get("avg_logprob", 0.0)),
                    no_speech_prob=float(raw.get("no_speech_prob", 0.0)),
                    words=_spaced_words(seg_words, text),
                    speaker=raw.get("speaker"),
                )
            )
    if not segments and str(body.get("text", "")).strip():
        segments.append(Segment(id=0, start=0.0, end=float(body.get("duration") or 0.0), text=body["text"].strip()))
    return Transcription(
        language=_language_code(str(body.get("language") or "")),
        language_probability=float(body.get("language_probability", 1.0)),
        duration_s=float(body.get("duration") or (segments[-1].end if segments else 0.0)),
        segments=segments,
        model=model,
    )


def _spaced_words(words: list[Word], text: str) -> list[Word]:
    """Words as Whisper writes them, each with the space before it: OpenAI strips them, and voxhub's subtitles check
    that the words spell the segment's text before they trust the words' times."""
    if " " not in text or any(word.word[:1].isspace() for word in words):
        return words
    return [Word(word.start, word.end, " " + word.word, word.probability) for word in words]


# OpenAI names languages in English ("english") where voxhub uses codes ("en"): Whisper's own table.
LANGUAGE_NAMES = {
    "en": "english", "zh": "chinese", "de": "german", "es": "spanish", "ru": "russian", "ko": "korean",
    "fr": "french", "ja": "japanese", "pt": "portuguese", "tr": "turkish", "pl": "polish", "ca": "catalan",
    "nl": "dutch", "ar": "arabic", "sv": "swedish", "it": "italian", "id": "indonesian", "hi": "hindi",
    "fi": "finnish", "vi": "vietnamese", "he": "hebrew", "uk": "ukrainian", "el": "greek", "ms": "malay",
    "cs": "czech", "ro": "romanian", "da": "danish", "hu": "hungarian", "ta": "tamil", "no": "norwegian",
    "th": "thai", "ur": "urdu", "hr": "croatian", "bg": "bulgarian", "lt": "lithuanian", "la": "latin",
    "mi": "maori", "ml": "malayalam", "cy": "welsh", "sk": "slovak", "te": "telugu", "fa": "persian",
    "lv": "latvian", "bn": "bengali", "sr": "serbian", "az": "azerbaijani", "sl": "slovenian", "kn": "kannada",
    "et": "estonian", "mk": "macedonian", "br": "breton", "eu": "basque", "is": "icelandic", "hy": "armenian",
    "ne": "nepali", "mn": "mongolian", "bs": "bosnian", "kk": "kazakh", "sq": "albanian", "sw": "swahili",
    "gl": "galician", "mr": "marathi", "pa": "punjabi", "si": "sinhala", "km": "khmer", "sn": "shona",
    "yo": "yoruba", "so": "somali", "af": "afrikaans", "oc": "occitan", "ka": "georgian", "be": "belarusian",
    "tg": "tajik", "sd": "sindhi", "gu": "gujarati", "am": "amharic", "yi": "yiddish", "lo": "lao",
    "uz": "uzbek", "fo": "faroese", "ht": "haitian creole", "ps": "pashto", "tk": "turkmen", "nn": "nynorsk",
    "mt": "maltese", "sa": "sanskrit", "lb": "luxembourgish", "my": "myanmar", "bo": "tibetan", "tl": "tagalog",
    "mg": "malagasy", "as": "assamese", "tt": "tatar", "haw": "hawaiian", "ln": "lingala", "ha": "hausa",
    "ba": "bashkir", "jw": "javanese", "su": "sundanese", "yue": "cantonese",
}  # fmt: skip
_LANGUAGE_CODES = {name: code for code, name in LANGUAGE_NAMES.items()}


def language_name(code: str) -> str:
    """`en` → `english`, as OpenAI's verbose_json names it; an unknown code is returned as it is."""
    return LANGUAGE_NAMES.get(code.strip().lower(), code)


def _language_code(value: str) -> str:
    value = value.strip().lower()
    return _LANGUAGE_CODES.get(value, value)


class RemoteSynthesizer:
    name = "remote"

    def __init__(self, config: RemoteConfig) -> None:
        self.config = config

    def voices(self) -> list[Voice]:
        return [
            Voice(
                id=name,
                name=name,
                language="en",
                engine="remote",
                sample_rate=PCM_SAMPLE_RATE,
                description=f"{self.config.model} at {self.config.base_url}",
            )
            for name in OPENAI_VOICES
        ]

    def synthesize(self, text: str, voice: Voice, *, speed: float = 1.0) -> Iterator[AudioChunk]:
        response = _call(
            self.config,
            "POST",
            "/audio/speech",
            json={
                "model": self.config.model,
                "input": text,
                "voice": voice.id,
                "response_format": "pcm",
                "speed": speed,
            },
        )
        yield AudioChunk(pcm=response.content, sample_rate=PCM_SAMPLE_RATE)


class RemoteTranslator:
    name = "remote"

    def __init__(self, config: RemoteConfig) -> None:
        self.config = config

    def pairs(self) -> list[tuple[str, str]]:
        return []

    def translate(self, texts: list[str], *, source: str, target: str) -> list[str]:
        return translate_in_batches(
            texts,
            size=TRANSLATE_BATCH,
            ask=lambda batch: _string_array(self._ask(batch, source, target)),
            ask_one=lambda text: self._translate_one(text, source, target),
        )

    def _translate_one(self, text: str, source: str, target: str) -> str:
        answer = self._ask([text], source, target)
        parsed = _string_array(answer)
        if parsed is not None and len(parsed) == 1:
            return parsed[0]
        # Asked for a one-item array, a chat model sometimes answers with the bare translation: take it, but never
        # hand back the source text as if it were translated.
        if parsed is None and answer.strip().strip('"'):
            return answer.strip().strip('"').strip()
        raise EngineError("remote_error", "The remote chat model did not answer with a translation.")

    def _ask(self, texts: list[str], source: str, target: str) -> str:
        """The chat model's answer, with any Markdown code fence around it removed."""
        system = translation_prompt(source, target)
        response = _call(
            self.config,
            "POST",
            "/chat/completions",
            json={
                "model": self.config.model,
                "temperature": 0,
                "messages": [
                    {"role": "system", "content": system},
                    {"role": "user", "content": json.dumps(texts, ensure_ascii=False)},
                ],
            },
        )
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise EngineError("remote_error", "The remote chat model answered in an unexpected shape.") from exc
        if not isinstance(content, str):
            raise EngineError("remote_error", "The remote chat model answered without text.")
        return content.strip().removeprefix("```json").removeprefix("```").removesuffix("```").strip()


def _string_array(content: str) -> list[str] | None:
    """The answer as a JSON array of strings, or None when it is something else."""
    try:
        parsed = json.loads(content)
    except ValueError:
        return None
    if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
        return None
    return parsed
