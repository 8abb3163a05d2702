"""Speech engines: one protocol per capability (base.py), local and remote adapters, chosen by settings and
overridable per job. Everything here is process-wide and thread-safe: models load once and are shared."""

from __future__ import annotations

import threading
from typing import Literal

from voxhub.config import Settings
from voxhub.engines.base import EngineError, Synthesizer, Transcriber, Translator, Voice
from voxhub.engines.cache import ModelCache
from voxhub.engines.embed import Embedder, RemoteEmbedder, local_embedder
from voxhub.engines.llm import LocalGenerator, RemoteGenerator, TextGenerator
from voxhub.engines.remote import RemoteConfig, RemoteSynthesizer, RemoteTranscriber, RemoteTranslator
from voxhub.telemetry import traced_engine

Capability = Literal["asr", "tts", "mt", "llm", "embed"]
EngineName = Literal["local", "remote"]

# OpenAI's voice names, so existing client code runs unchanged: each maps to an installed voice.
OPENAI_VOICE_ALIASES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse")
# The language of a text nobody named a language or voice for (voxhub does not guess it from the text), best first.
FALLBACK_LANGUAGES = ("en-US", "en")

_cache_lock = threading.Lock()
_cache: ModelCache | None = None


def model_cache(settings: Settings) -> ModelCache:
    global _cache
    with _cache_lock:
        if _cache is None:
            _cache = ModelCache(settings.model_idle_ttl_s)
        return _cache


def remote_config(
    settings: Settings, capability: Capability, *, api_key: str | None = None, base_url: str | None = None
) -> RemoteConfig:
    """Settings for one remote capability; a workspace's stored provider key (and its base URL) wins."""
    url = {
        "asr": settings.remote_asr_url,
        "tts": settings.remote_tts_url,
        "mt": settings.remote_mt_url,
        "llm": settings.remote_llm_url,
        "embed": settings.remote_embed_url,
    }[capability]
    model = {
        "asr": settings.remote_asr_model,
        "tts": settings.remote_tts_model,
        "mt": settings.remote_mt_model,
        "llm": settings.remote_llm_model,
        "embed": settings.remote_embed_model,
    }[capability]
    return RemoteConfig(
        base_url=base_url or url,
        api_key=api_key or settings.remote_api_key,
        model=model,
        timeout_s=settings.remote_timeout_s,
    )


def transcriber(
    settings: Settings,
    *,
    engine: EngineName | None = None,
    model: str | None = None,
    remote: RemoteConfig | None = None,
) -> Transcriber:
    if (engine or settings.asr_engine) == "remote":
        config = remote or remote_config(settings, "asr")
        if model:
            config = RemoteConfig(config.base_url, config.api_key, model, config.timeout_s)
        return traced_engine(RemoteTranscriber(config), capability="asr", name="remote", model=config.model)
    from voxhub.engines.asr import WhisperTranscriber

    local = WhisperTranscriber(settings, model_cache(settings), model)
    return traced_engine(local, capability="asr", name="local", model=model or settings.asr_model)


def synthesizer(
    settings: Settings, *, engine: EngineName | None = None, remote: RemoteConfig | None = None
) -> Synthesizer:
    if (engine or settings.tts_engine) == "remote":
        config = remote or remote_config(settings, "tts")
        return traced_engine(RemoteSynthesizer(config), capability="tts", name="remote", model=config.model)
    from voxhub.engines.tts import LocalSynthesizer

    local = LocalSynthesizer(settings, model_cache(settings))
    return traced_engine(local, capability="tts", name="local", model=settings.tts_voice)


def translator(
    settings: Settings, *, engine: EngineName | None = None, remote: RemoteConfig | None = None
) -> Translator:
    if (engine or settings.mt_engine) == "remote":
        config = remote or remote_config(settings, "mt")
        return traced_engine(RemoteTranslator(config), capability="mt", name="remote", model=config.model)
    from voxhub.engines.apertium import ApertiumTranslator, LocalTranslator
    from voxhub.engines.mt import BergamotTranslator

    local = LocalTranslator(BergamotTranslator(), ApertiumTranslator())
    return traced_engine(local, capability="mt", name="local", model="bergamot+apertium")


def text_generator(
    settings: Settings,
    *,
    engine: Literal["local", "remote", "none"] | None = None,
    model: str | None = None,
    remote: RemoteConfig | None = None,
) -> TextGenerator | None:
    """The configured language model (loaded on first use), or None when text generation is off (`none`)."""
    chosen = engine or settings.llm_engine
    if chosen == "none":
        return None
    if chosen == "remote":
        config = remote or remote_config(settings, "llm")
        if model:
            config = RemoteConfig(config.base_url, config.api_key, model, config.timeout_s)
        generator: TextGenerator = RemoteGenerator(config, context_tokens=settings.llm_context_tokens)
        return traced_engine(generator, capability="llm", name="remote", model=config.model)
    generator = LocalGenerator(settings, model_cache(settings), model)
    return traced_engine(generator, capability="llm", name="local", model=model or settings.llm_model)


def embedder(
    settings: Settings,
    *,
    engine: EngineName | None = None,
    model: str | None = None,
    remote: RemoteConfig | None = None,
) -> Embedder:
    """The configured embedding model (a bundled one loads on first use); `model` picks another."""
    if (engine or settings.embed_engine) == "remote":
        config = remote or remote_config(settings, "embed")
        if model:
            config = RemoteConfig(config.base_url, config.api_key, model, config.timeout_s)
        return traced_engine(RemoteEmbedder(config), capability="embed", name="remote", model=config.model)
    local = local_embedder(model_cache(settings), model or settings.embed_model)
    return traced_engine(local, capability="embed", name="local", model=model or settings.embed_model)


def speaks(voice: Voice, language: str) -> bool:
    """`pt` matches pt and pt-BR voices, `pt-BR` only pt-BR; never another language sharing letters (`ko`, `kok`)."""
    tag, wanted = voice.language.lower(), language.replace("_", "-").lower()
    return tag == wanted or tag.startswith(wanted + "-")


def installed_voices(settings: Settings, *, language: str | None = None, engine: str | None = None) -> list[Voice]:
    """Voices this server can speak with: piper voices first (natural), then espeak-ng (robotic, every language),
    only those of `language` and `engine` when given."""
    return [
        voice
        for voice in synthesizer(settings, engine="local").voices()
        if (not language or speaks(voice, language)) and (engine is None or voice.engine == engine)
    ]


def find_voice(engine: Synthesizer, voice_id: str | None, *, default: str, language: str | None = None) -> Voice:
    """The voice asked for; an OpenAI voice name, or no voice, means the default voice, else the first voice of
    `language` when the default is not installed (piper missing) or does not speak it; no language → English."""
    voices = engine.voices()
    if not voices:
        raise EngineError(
            "engine_unavailable",
            "No voice is installed: install piper (pip install 'voxhub[piper]') or espeak-ng (apt-get install "
            "espeak-ng).",
        )
    by_id = {voice.id: voice for voice in voices}
    if voice_id and voice_id in by_id:
        return by_id[voice_id]
    if voice_id and voice_id.lower() not in OPENAI_VOICE_ALIASES:
        raise EngineError(
            "voice_not_found",
            f"Voice {voice_id!r} is not installed; GET /api/v1/voices lists the voices.",
            details={"voice": voice_id},
        )
    preferred = by_id.get(default)
    if preferred is not None and (not language or speaks(preferred, language)):
        return preferred
    # piper voices come first in the list, so a language with a piper voice gets it rather than espeak-ng
    for wanted in [language] if language else FALLBACK_LANGUAGES:
        matching = [voice for voice in voices if speaks(voice, wanted)]
        if matching:
            return matching[0]
    if language:
        raise EngineError(
            "unsupported_language",
            f"No installed voice speaks {language!r}.",
            details={"language": language},
        )
    return voices[0]  # no English voice installed either: any voice beats none
