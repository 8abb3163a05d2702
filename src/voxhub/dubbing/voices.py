"""The dub's voices: a speaker's pitch, a default voice for each speaker that fits it (and differs from the others'),
and each voice's speaking rate, measured once and kept in the blob store, which gives a unit's translation its
character budget."""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import threading
import wave
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from voxhub.config import Settings
from voxhub.engines.base import Synthesizer
from voxhub.engines.hosted import split_voice_id
from voxhub.engines.remote import RemoteConfig
from voxhub.podcasts import voices as podcast_voices
from voxhub.storage.base import BlobStore

HIGH_PITCH_HZ = 165.0  # between typical men's (85-155 Hz) and women's (165-255 Hz) speaking pitch
HIGH_VOICE_MARKS = ("+high", "+f3", "+f5")  # voices that sound higher than their base
RATE_VERSION = 1  # bump when how a rate is measured changes
# Read once per voice to measure its pace: everyday sentences, numbers spelled out as a dub's text would be.
CALIBRATION = {
    "en": "The meeting starts at nine tomorrow morning, and we will talk about the new budget and the plans for "
    "next year.",
    "pt": "A reunião começa amanhã às nove da manhã, e vamos falar sobre o novo orçamento e os planos para o "
    "próximo ano.",
    "es": "La reunión empieza mañana a las nueve, y hablaremos del nuevo presupuesto y de los planes para el año "
    "que viene.",
    "fr": "La réunion commence demain à neuf heures, et nous parlerons du nouveau budget et des projets pour "
    "l'année prochaine.",
    "de": "Das Treffen beginnt morgen um neun Uhr, und wir sprechen über das neue Budget und die Pläne für das "
    "nächste Jahr.",
}
_rates: dict[str, float] = {}
_rates_lock = threading.Lock()


def pitch_hz(samples: np.ndarray, rate: int) -> float | None:
    """The median fundamental frequency of the voiced 40 ms frames of mono float samples (autocorrelation, 70-400
    Hz), or None when nothing sounds voiced."""
    frame = int(rate * 0.04)
    if frame <= 0 or samples.size < frame:
        return None
    low_lag, high_lag = int(rate / 400), int(rate / 70)
    loudness = float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0
    found = []
    for begin in range(0, samples.size - frame, frame):
        piece = samples[begin : begin + frame].astype(np.float64)
        piece = piece - piece.mean()
        energy = float(np.dot(piece, piece))
        if energy <= 0 or np.sqrt(energy / frame) < 0.5 * loudness:
            continue
        correlation = np.correlate(piece, piece, mode="full")[frame - 1 :]
        window = correlation[low_lag : min(high_lag, frame - 1)]
        if window.size == 0:
            continue
        lag = int(np.argmax(window)) + low_lag
        if correlation[lag] / energy > 0.4:  # clearly periodic: a voiced frame
            found.append(rate / lag)
    return float(np.median(found)) if found else None


def _sounds_high(voice_id: str) -> bool:
    return voice_id.endswith(HIGH_VOICE_MARKS)


def default_voices(
    settings: Settings, pitches: Mapping[str, float | None], language: str, *, chosen: Mapping[str, str]
) -> dict[str, str]:
    """A voice for every speaker in `language`: the one chosen for them, else a voice of their register (high or
    low, by pitch) not yet taken, else any not yet taken, else the first."""
    options = [option.id for option in podcast_voices.voice_options(settings, language)]
    if not options:
        return {}
    taken = {voice for voice in chosen.values()}
    voices: dict[str, str] = {}
    # the lowest and highest voices first: they are the ones a wrong register would hurt most
    order = sorted(pitches, key=lambda label: abs((pitches[label] or HIGH_PITCH_HZ) - HIGH_PITCH_HZ), reverse=True)
    for label in order:
        if label in chosen:
            voices[label] = chosen[label]
            continue
        high = (pitches[label] or 0.0) >= HIGH_PITCH_HZ
        free = [voice for voice in options if voice not in taken]
        fitting = [voice for voice in free if _sounds_high(voice) == high]
        voice = (fitting or free or options)[0]
        taken.add(voice)
        voices[label] = voice
    return voices


def speaks(settings: Settings, voice_id: str, language: str) -> bool:
    """Whether `voice_id` is one of this server's voices for `language` (any voice, when synthesis is remote; a hosted
    provider's voice, whose provider judges the language itself)."""
    if settings.tts_engine == "remote" or split_voice_id(voice_id) is not None:
        return True
    return voice_id in {option.id for option in podcast_voices.voice_options(settings, language)}


def _rate_key(voice_id: str, language: str) -> str:
    digest = hashlib.sha256(f"{RATE_VERSION}:{voice_id}:{language}".encode()).hexdigest()[:32]
    return f"voice-rates/{digest}.json"


def speaking_rate(
    settings: Settings,
    store: BlobStore,
    voice_id: str,
    language: str,
    *,
    remote: RemoteConfig | None = None,
    hosted: Synthesizer | None = None,
) -> float:
    """Characters a second `voice_id` speaks `language` at its normal speed: measured on a calibration sentence the
    first time, then read from the blob store (shared by every worker) or this process."""
    known = known_rate(store, voice_id, language)
    if known is not None:
        return known
    key = _rate_key(voice_id, language)
    sentence = CALIBRATION.get(language, CALIBRATION["en"])
    with tempfile.TemporaryDirectory(prefix="voxhub-rate-") as scratch:
        seconds = podcast_voices.render(
            settings, sentence, voice_id, Path(scratch) / "rate.wav", remote=remote, hosted=hosted
        )
    rate = round(len(sentence) / max(seconds, 0.1), 2)
    record = {"voice": voice_id, "language": language, "chars_per_second": rate}
    store.put(key, io.BytesIO(json.dumps(record).encode()), content_type="application/json")
    with _rates_lock:
        _rates[key] = rate
    return rate


def known_rate(store: BlobStore, voice_id: str, language: str) -> float | None:
    """A rate already measured (by this process or any worker), without measuring it."""
    key = _rate_key(voice_id, language)
    with _rates_lock:
        if key in _rates:
            return _rates[key]
    if not store.exists(key):
        return None
    rate = float(json.loads(b"".join(store.open(key)))["chars_per_second"])
    with _rates_lock:
        _rates[key] = rate
    return rate


def read_wav_mono(path: Path) -> tuple[np.ndarray, int]:
    """A 16-bit WAV's samples as float in [-1, 1], its channels averaged, and its rate."""
    with wave.open(str(path), "rb") as source:
        rate, channels = source.getframerate(), source.getnchannels()
        samples = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2").astype(np.float32) / 32768
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return samples, rate
