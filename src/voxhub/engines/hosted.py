"""Hosted text-to-speech providers with their own APIs (beside the OpenAI-compatible one in remote.py): ElevenLabs
(voices, models, voice cloning) and Unreal Speech. A workspace's key comes from the provider-key vault; these adapters
only speak HTTP and hand back PCM, as every synthesizer does.

A hosted voice's id in voxhub is `provider:voice id at the provider`, e.g. `elevenlabs:21m00Tcm4TlvDq8ikWAM` or
`unrealspeech:Scarlett`, so a voice names the engine that speaks it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx

from voxhub import __version__
from voxhub.engines.base import AudioChunk, EngineError, Voice

HostedProvider = Literal["elevenlabs", "unrealspeech"]
HOSTED_PROVIDERS: tuple[HostedProvider, ...] = ("elevenlabs", "unrealspeech")
DEFAULT_URLS: dict[HostedProvider, str] = {
    "elevenlabs": "https://api.elevenlabs.io",
    "unrealspeech": "https://api.v8.unrealspeech.com",
}
ELEVENLABS_MODEL = "eleven_multilingual_v2"
WORKSPACE_LABEL = "voxhub_workspace"  # the label a voice cloned through voxhub carries at ElevenLabs: whose it is
ELEVENLABS_RATE = 24000  # `pcm_24000`: raw 16-bit mono little-endian samples, no decoding needed
UNREAL_RATE = 24000  # Unreal Speech answers with MP3; voxhub decodes it to this rate
UNREAL_MAX_CHARS = 1000  # what its /stream endpoint takes in one call
# Unreal Speech's v8 English voices (it has no endpoint that lists them).
UNREAL_VOICES = (
    ("Autumn", "female"), ("Melody", "female"), ("Hannah", "female"), ("Emily", "female"), ("Ivy", "female"),
    ("Kaitlyn", "female"), ("Luna", "female"), ("Willow", "female"), ("Lauren", "female"), ("Sierra", "female"),
    ("Noah", "male"), ("Jasper", "male"), ("Caleb", "male"), ("Ronan", "male"), ("Ethan", "male"),
    ("Daniel", "male"), ("Zane", "male"), ("Scarlett", "female"), ("Liv", "female"), ("Amy", "female"),
    ("Dan", "male"), ("Will", "male"),
)  # fmt: skip

# (encoded audio, sample rate) → PCM at that rate: ffmpeg, handed in by the caller (engines do not launch programs)
Decoder = Callable[[bytes, int], bytes]


def voice_id(provider: str, provider_voice_id: str) -> str:
    """voxhub's id for a provider's voice."""
    return f"{provider}:{provider_voice_id}"


def split_voice_id(value: str | None) -> tuple[HostedProvider, str] | None:
    """(provider, the provider's voice id) for a hosted voice's id; None for any other voice."""
    if not value:
        return None
    provider, sep, rest = value.partition(":")
    if not sep or not rest:
        return None
    for known in HOSTED_PROVIDERS:
        if provider == known:
            return known, rest
    return None


@dataclass(frozen=True)
class HostedConfig:
    provider: HostedProvider
    api_key: str
    base_url: str | None = None
    timeout_s: float = 120.0
    # The workspace that stored this key. Two workspaces may store the same account's key: the voices voxhub cloned
    # there for one (labelled with its id) are not listed for the other.
    workspace_id: str | None = None

    @property
    def url(self) -> str:
        return (self.base_url or DEFAULT_URLS[self.provider]).rstrip("/")

    def client(self) -> httpx.Client:
        headers = {"User-Agent": f"voxhub/{__version__}"}
        if self.provider == "elevenlabs":
            headers["xi-api-key"] = self.api_key
        else:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=httpx.Timeout(self.timeout_s, connect=10.0))


def _call(config: HostedConfig, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request to the provider. Transport errors, 429 and 5xx are transient (a job retries them); a refused key,
    a spent quota, an unknown voice and other 4xx are not. Every error names the provider in its details."""
    details: dict[str, Any] = {"provider": config.provider}
    try:
        with config.client() as client:
            response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise EngineError(
            "provider_unreachable",
            f"{config.provider} at {config.url} could not be reached: {type(exc).__name__}",
            transient=True,
            details=details,
        ) from exc
    if response.status_code < 400:
        return response
    status, message = _provider_error(response)
    details = {**details, "status": response.status_code, **({"provider_code": status} if status else {})}
    if status in ("quota_exceeded", "insufficient_credits", "payment_required") or response.status_code == 402:
        raise EngineError("provider_quota_exceeded", f"{config.provider}: {message}", details=details)
    if response.status_code in (401, 403):
        raise EngineError(
            "provider_auth_failed", f"{config.provider} refused the workspace's key: {message}", details=details
        )
    if response.status_code == 404 or status == "voice_not_found":
        raise EngineError("voice_not_found", f"{config.provider} does not know this voice: {message}", details=details)
    transient = response.status_code == 429 or response.status_code >= 500
    raise EngineError(
        "provider_error",
        f"{config.provider} answered {response.status_code}: {message}",
        transient=transient,
        details=details,
    )


def _provider_error(response: httpx.Response) -> tuple[str | None, str]:
    """(the provider's error code, its message): ElevenLabs sends `{"detail": {"status"|"code", "message"}}` (or a
    list of field errors), Unreal Speech `{"message": …}` or plain text."""
    try:
        body = response.json()
    except ValueError:
        return None, (response.text.strip() or response.reason_phrase)[:300]
    if isinstance(body, dict):
        detail = body.get("detail", body)
        if isinstance(detail, dict):
            code = detail.get("status") or detail.get("code")
            message = detail.get("message") or detail.get("error") or json.dumps(detail)
            return (str(code) if code else None), str(message)[:300]
        if isinstance(detail, list):
            return None, "; ".join(
                str(item.get("msg", item)) if isinstance(item, dict) else str(item) for item in detail
            )[:300]
        return None, str(detail)[:300]
    return None, str(body)[:300]


class HostedSynthesizer(Protocol):
    name: str

    def voices(self) -> list[Voice]: ...

    def voice(self, provider_voice_id: str, *, name: str | None = None, language: str | None = None) -> Voice: ...

    def synthesize(self, text: str, voice: Voice, *, speed: float = 1.0) -> Iterator[AudioChunk]: ...


class ElevenLabsSynthesizer:
    """ElevenLabs' text-to-speech (`POST /v1/text-to-speech/{voice_id}`, 24 kHz PCM), its voice list and its
    instant voice cloning (`POST /v1/voices/add`, `DELETE /v1/voices/{voice_id}`)."""

    name = "elevenlabs"

    def __init__(self, config: HostedConfig, *, model: str = ELEVENLABS_MODEL) -> None:
        self.config = config
        self.model = model

    def voice(self, provider_voice_id: str, *, name: str | None = None, language: str | None = None) -> Voice:
        return Voice(
            id=voice_id(self.name, provider_voice_id),
            name=name or provider_voice_id,
            language=language or "en",
            engine=self.name,
            sample_rate=ELEVENLABS_RATE,
            description=f"ElevenLabs, {self.model}",
        )

    def voices(self) -> list[Voice]:
        body = _json(_call(self.config, "GET", "/v1/voices"), self.config)
        found = []
        for raw in body.get("voices") or []:
            if not isinstance(raw, dict) or not raw.get("voice_id"):
                continue
            labels: dict[str, Any] = raw["labels"] if isinstance(raw.get("labels"), dict) else {}
            if labels.get(WORKSPACE_LABEL) not in (None, self.config.workspace_id):
                continue  # cloned through voxhub for another workspace on the same account
            verified = raw.get("verified_languages") or []
            language = labels.get("language") or (verified[0].get("language") if verified else None)
            voice = self.voice(str(raw["voice_id"]), name=str(raw.get("name") or raw["voice_id"]), language=language)
            kind = str(raw.get("category") or "premade")
            described = ", ".join(str(value) for value in (kind, labels.get("gender"), labels.get("accent")) if value)
            found.append(
                Voice(voice.id, voice.name, voice.language, voice.engine, voice.sample_rate, f"ElevenLabs, {described}")
            )
        return found

    def synthesize(self, text: str, voice: Voice, *, speed: float = 1.0) -> Iterator[AudioChunk]:
        provider_voice = _own_voice(self.name, voice)
        body: dict[str, Any] = {"text": text, "model_id": self.model}
        if speed != 1.0:
            body["voice_settings"] = {"speed": min(max(speed, 0.7), 1.2)}  # the range ElevenLabs accepts
        response = _call(
            self.config,
            "POST",
            f"/v1/text-to-speech/{provider_voice}",
            params={"output_format": f"pcm_{ELEVENLABS_RATE}"},
            json=body,
        )
        if not response.content:
            raise EngineError("synthesis_failed", "ElevenLabs answered with no audio.", details={"provider": self.name})
        pcm = response.content[: len(response.content) // 2 * 2]
        yield AudioChunk(pcm=pcm, sample_rate=ELEVENLABS_RATE)

    def clone(self, *, name: str, description: str, samples: Sequence[Path], labels: dict[str, str]) -> str:
        """A new voice at ElevenLabs made from recordings of one speaker; its voice id there."""
        files = [("files", (sample.name, sample.read_bytes(), "application/octet-stream")) for sample in samples]
        if self.config.workspace_id:
            labels = {**labels, WORKSPACE_LABEL: self.config.workspace_id}
        data = {"name": name, "description": description, "labels": json.dumps(labels)}
        body = _json(_call(self.config, "POST", "/v1/voices/add", data=data, files=files), self.config)
        made = body.get("voice_id")
        if not isinstance(made, str) or not made:
            raise EngineError(
                "provider_error", "ElevenLabs did not answer with the new voice's id.", details={"provider": self.name}
            )
        return made

    def delete(self, provider_voice_id: str) -> None:
        """Delete a voice at ElevenLabs; one it no longer has counts as deleted."""
        try:
            _call(self.config, "DELETE", f"/v1/voices/{provider_voice_id}")
        except EngineError as exc:
            if exc.code != "voice_not_found":
                raise


class UnrealSpeechSynthesizer:
    """Unreal Speech's `POST /stream` (MP3 for up to 1,000 characters, decoded to PCM by `decode`) and its fixed
    list of voices."""

    name = "unrealspeech"

    def __init__(self, config: HostedConfig, *, decode: Decoder) -> None:
        self.config = config
        self.decode = decode

    def voice(self, provider_voice_id: str, *, name: str | None = None, language: str | None = None) -> Voice:
        gender = dict(UNREAL_VOICES).get(provider_voice_id)
        return Voice(
            id=voice_id(self.name, provider_voice_id),
            name=name or provider_voice_id,
            language=language or "en-US",
            engine=self.name,
            sample_rate=UNREAL_RATE,
            description=f"Unreal Speech{', ' + gender if gender else ''}",
        )

    def voices(self) -> list[Voice]:
        return [self.voice(name) for name, _gender in UNREAL_VOICES]

    def synthesize(self, text: str, voice: Voice, *, speed: float = 1.0) -> Iterator[AudioChunk]:
        provider_voice = _own_voice(self.name, voice)
        for piece in _pieces(text, UNREAL_MAX_CHARS):
            response = _call(
                self.config,
                "POST",
                "/stream",
                json={
                    "Text": piece,
                    "VoiceId": provider_voice,
                    "Bitrate": "192k",
                    "Speed": round(min(max(speed - 1.0, -1.0), 1.0), 2),  # 0 is normal, 0.5 faster, -0.5 slower
                    "Pitch": 1.0,
                    "Codec": "libmp3lame",
                },
            )
            if not response.content:
                raise EngineError(
                    "synthesis_failed", "Unreal Speech answered with no audio.", details={"provider": self.name}
                )
            yield AudioChunk(pcm=self.decode(response.content, UNREAL_RATE), sample_rate=UNREAL_RATE)


class OneVoice:
    """A hosted engine that knows the one voice a job speaks with, without asking the provider for its list."""

    def __init__(self, engine: HostedSynthesizer, voice: Voice) -> None:
        self.engine = engine
        self.voice = voice
        self.name = engine.name

    def voices(self) -> list[Voice]:
        return [self.voice]

    def synthesize(self, text: str, voice: Voice, *, speed: float = 1.0) -> Iterator[AudioChunk]:
        return self.engine.synthesize(text, voice, speed=speed)


def hosted_synthesizer(config: HostedConfig, *, decode: Decoder) -> ElevenLabsSynthesizer | UnrealSpeechSynthesizer:
    if config.provider == "elevenlabs":
        return ElevenLabsSynthesizer(config)
    return UnrealSpeechSynthesizer(config, decode=decode)


def _own_voice(provider: str, voice: Voice) -> str:
    split = split_voice_id(voice.id)
    if split is None or split[0] != provider:
        raise EngineError(
            "voice_not_found", f"Voice {voice.id!r} is not a {provider} voice.", details={"voice": voice.id}
        )
    return split[1]


def _json(response: httpx.Response, config: HostedConfig) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise EngineError(
            "provider_error", f"{config.provider} did not answer with JSON.", details={"provider": config.provider}
        ) from exc
    if not isinstance(body, dict):
        raise EngineError(
            "provider_error",
            f"{config.provider} answered in an unexpected shape.",
            details={"provider": config.provider},
        )
    return body


def _pieces(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` characters, cut at spaces where it can be."""
    pieces = []
    rest = text.strip()
    while len(rest) > limit:
        cut = rest.rfind(" ", 0, limit + 1)
        cut = cut if cut > 0 else limit
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    return [*pieces, rest] if rest else pieces
