"""The hosts' voices: which voices a host can have, a set that sounds like different people offline, and one line
rendered to a WAV clip (cached by `clip_key`, so an edited line re-renders alone).

Offline there is one natural voice, piper's joe (US English, male). The others are made from it (its formants, the
size of the vocal tract, and its pitch moved with ffmpeg: resampling, then rubberband) or are espeak-ng's, and were
chosen by measurement: 20 English sentences per voice (215 words) read back by Whisper base; the cosine between
resemblyzer speaker embeddings (what the diarization engine clusters) of joe and of the voice on the same sentences;
and `engines.diarize` on a 45 s dialogue of joe and the voice, one sentence a turn, 250-700 ms pauses, scored frame
by frame as tests/engines/test_diarize.py does.

    voice                                  words misheard   cosine to joe   with joe: speakers, time misplaced
    joe                                    3.3%             1.00 *          -
    joe +high: formants +3, pitch +7 st    3.3%             0.55            2, 0.5%
    joe, formants and pitch +3 st          2.3%             0.70            -
    joe, formants and pitch +4 st          3.7%             0.63            2, 1.6% (rubberband)
    joe +deep: formants -2, pitch -4 st    7.4%             0.72            2, 0.0%
    espeak-ng en-us+m3                     11.6%            0.63            2, 0.1%
    espeak-ng en-us+f3                     9.4% **          0.50            2, 0.0%
    * 0.98 between joe on two different sets of sentences    ** 12 of the sentences

So the second host is joe +high: as intelligible as joe himself, nearly as far from joe for the encoder as espeak's
female voice, and natural rather than robotic (a shift of pitch and formants together sounds like joe sped up and
stays closer to him). Four hosts get joe, joe +high, joe +deep and espeak-ng en-us+m3: in a 58 s four-voice dialogue
the engine found 4 speakers and gave 2.4% of speech time to the wrong one (3 speakers and 0.0% for the first three).

A language without a piper voice gets espeak-ng's voice for it, its +f3 variant (female), then the voice shifted
deeper and higher. On Portuguese (espeak-ng's pt; pt-br is the one chosen) the engine found 2, 3 and 4 speakers in
dialogues of the first two, three and four, with 2.0%, 3.0% and 0.6% of speech time misplaced (with +high second:
2.7%, 0.6%; espeak-ng's own variants alone merge: pt, +f3, +m3 and +f5 came out as 2 speakers). Whisper base cannot
judge espeak-ng's Portuguese well: it misheard 84% of the words of pt, 78% of pt+f3, 80% of pt +deep and 116% of
pt +high (repeating itself), so the female variant comes before the shifted voices there.
"""

from __future__ import annotations

import hashlib
import json
import wave
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voxhub import engines
from voxhub.config import Settings
from voxhub.engines.base import EngineError, Synthesizer, Voice
from voxhub.engines.remote import OPENAI_VOICES, RemoteConfig
from voxhub.media import audio
from voxhub.media.convert import ConvertFailed
from voxhub.media.probe import ToolMissing

SAMPLE_RATE = 44_100
# Bump when what a clip sounds like changes for the same text, voice and speed (a shift, the trimming): cached clips
# made the old way are then not reused.
RENDERER_VERSION = 1
MAX_HOSTS = 4
SILENCE_LEVEL = 0.01  # of full scale (-40 dBFS): quieter edges of a clip are the engine's own padding
KEEP_BEFORE_S, KEEP_AFTER_S = 0.02, 0.06  # kept around the sound: a word's soft start and its release


@dataclass(frozen=True)
class Shift:
    """A voice made to sound like another person: its formants (the size of the vocal tract) and its pitch moved."""

    formant_semitones: float
    pitch_semitones: float
    description: str


SHIFTS = {
    "high": Shift(formant_semitones=3, pitch_semitones=7, description="higher and lighter"),
    "deep": Shift(formant_semitones=-2, pitch_semitones=-4, description="deeper"),
}
# espeak-ng variants offered (`-v language+variant`); more of its variants only sound like these to the encoder.
ESPEAK_VARIANTS = {"m3": "male, variant 3", "f3": "female, variant 3"}
# The dialect espeak-ng speaks a bare language in, where most listeners speak another (its "en" is British).
ESPEAK_DIALECT = {"en": "en-us", "pt": "pt-br"}
# Remote (OpenAI-compatible) voices, the most unlike each other first.
REMOTE_ORDER = ("nova", "onyx", "shimmer", "echo")


@dataclass(frozen=True)
class VoiceOption:
    id: str  # what Host.voice names
    description: str
    engine: str  # "piper", "piper+shift", "espeak-ng", "espeak-ng+shift", "remote"
    languages: tuple[str, ...]  # language codes it speaks well, ("*",) for a remote model


def _primary(language: str) -> str:
    return language.replace("_", "-").split("-")[0].lower()


def _remote_options() -> list[VoiceOption]:
    names = [*REMOTE_ORDER, *(name for name in OPENAI_VOICES if name not in REMOTE_ORDER)]
    return [
        VoiceOption(id=name, description=f"remote voice {name}", engine="remote", languages=("*",)) for name in names
    ]


def _espeak_base(settings: Settings, language: str) -> Voice | None:
    voices = engines.installed_voices(settings, language=language, engine="espeak-ng")
    wanted = f"espeak:{ESPEAK_DIALECT.get(language.lower(), language.lower())}"
    return next((voice for voice in voices if voice.id == wanted), voices[0] if voices else None)


def _shifted(voice: Voice, engine: str) -> list[VoiceOption]:
    return [
        VoiceOption(
            id=f"{voice.id}+{name}",
            description=f"{voice.name} ({voice.language}), {shift.description}: formants and pitch shifted",
            engine=f"{engine}+shift",
            languages=(_primary(voice.language),),
        )
        for name, shift in SHIFTS.items()
    ]


def _espeak_variant(voice: Voice, variant: str) -> VoiceOption:
    return VoiceOption(
        id=f"{voice.id}+{variant}",
        description=f"espeak-ng {voice.name} ({voice.language}), {ESPEAK_VARIANTS[variant]} (robotic)",
        engine="espeak-ng",
        languages=(_primary(voice.language),),
    )


def voice_options(settings: Settings, language: str = "en") -> list[VoiceOption]:
    """Voices a host can have, best first for the language: remote voices when synthesis is remote, piper's natural
    voices, the same shifted to other people, then espeak-ng's. The first four sound like four different people."""
    options = _remote_options() if settings.tts_engine == "remote" else []
    piper = engines.installed_voices(settings, language=language, engine="piper")
    options += [
        VoiceOption(
            id=voice.id,
            description=f"piper {voice.name} ({voice.language}, neural)",
            engine="piper",
            languages=(_primary(voice.language),),
        )
        for voice in piper
    ]
    for voice in piper:
        options += _shifted(voice, "piper")
    espeak = _espeak_base(settings, language)
    if espeak is not None:
        if piper:
            options += [_espeak_variant(espeak, variant) for variant in ESPEAK_VARIANTS]
        else:
            base = VoiceOption(
                id=espeak.id,
                description=f"espeak-ng {espeak.name} ({espeak.language}, robotic)",
                engine="espeak-ng",
                languages=(_primary(espeak.language),),
            )
            high, deep = _shifted(espeak, "espeak-ng")
            options += [base, _espeak_variant(espeak, "f3"), deep, high]
    return options


def default_voices(settings: Settings, count: int, language: str = "en") -> list[str]:
    """`count` (1-4) voice ids that sound clearly different from each other, best first."""
    if not 1 <= count <= MAX_HOSTS:
        raise ValueError(f"an episode has 1 to {MAX_HOSTS} hosts, not {count}")
    options = voice_options(settings, language)
    if len(options) < count:
        raise EngineError(
            "unsupported_language",
            f"No {count} distinct voices speak {language!r} here; install piper or espeak-ng voices for it.",
            details={"language": language, "voices": [option.id for option in options]},
        )
    return [option.id for option in options[:count]]


def clip_key(text: str, voice: str, speed: float) -> str:
    """sha256 hex of what a clip is made from (and a renderer version), for the clip cache."""
    made_of = {"renderer": RENDERER_VERSION, "text": text, "voice": voice, "speed": round(speed, 3)}
    return hashlib.sha256(json.dumps(made_of, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class _Speaker:
    engine: Synthesizer
    voice: Voice
    shift: Shift | None


def _local_voice(settings: Settings, voice_id: str) -> tuple[Voice, Shift | None] | None:
    base_id, _, suffix = voice_id.rpartition("+")
    shift = SHIFTS.get(suffix) if base_id else None
    if shift is None:
        base_id = voice_id
    installed = {voice.id: voice for voice in engines.installed_voices(settings)}
    if base_id in installed:
        return installed[base_id], shift
    language, _, variant = base_id.rpartition("+")
    base = installed.get(language)
    if base is not None and base.engine == "espeak-ng" and variant in ESPEAK_VARIANTS:
        return Voice(
            id=base_id,  # espeak-ng's `-v` takes `language+variant` as it is
            name=f"{base.name} {variant}",
            language=base.language,
            engine=base.engine,
            sample_rate=base.sample_rate,
        ), shift
    return None


def _speaker(settings: Settings, voice_id: str, remote: RemoteConfig | None, hosted: Synthesizer | None) -> _Speaker:
    if hosted is not None:  # a hosted provider's voice (voices.service.synthesizer_for): the one voice it knows
        return _Speaker(hosted, hosted.voices()[0], None)
    local = _local_voice(settings, voice_id)
    if local is not None:
        voice, shift = local
        return _Speaker(engines.synthesizer(settings, engine="local"), voice, shift)
    if remote is not None or settings.tts_engine == "remote":
        engine = engines.synthesizer(settings, engine="remote", remote=remote)
        # A remote server may have voices beyond OpenAI's names: its own answer says whether it knows this one.
        return _Speaker(engine, Voice(id=voice_id, name=voice_id, language="*", engine="remote", sample_rate=0), None)
    raise EngineError(
        "voice_not_found",
        f"Voice {voice_id!r} is not installed; GET /api/v1/voices lists the voices.",
        details={"voice": voice_id},
    )


def _trimmed(chunks: Iterable[tuple[bytes, int]]) -> tuple[np.ndarray, int]:
    """The engine's PCM joined, without the silence it pads a clip with (the mix sets the pauses)."""
    pieces, rate = [], 0
    for pcm, chunk_rate in chunks:
        if rate and chunk_rate != rate:
            raise EngineError("synthesis_failed", "The voice changed its sample rate in the middle of a line.")
        rate = chunk_rate
        pieces.append(np.frombuffer(pcm, dtype="<i2"))
    samples = np.concatenate(pieces) if pieces else np.zeros(0, dtype="<i2")
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > SILENCE_LEVEL * 32768)
    if not loud.size:
        return samples[:0], rate
    first = max(0, int(loud[0]) - round(KEEP_BEFORE_S * rate))
    last = min(len(samples), int(loud[-1]) + 1 + round(KEEP_AFTER_S * rate))
    return samples[first:last], rate


def render(
    settings: Settings,
    text: str,
    voice: str,
    target: Path,
    *,
    speed: float = 1.0,
    remote: RemoteConfig | None = None,
    hosted: Synthesizer | None = None,
) -> float:
    """Speak `text` (already speakable) with `voice` into `target`: WAV, 44.1 kHz, mono, 16-bit; returns seconds.
    Raises EngineError with a clear code/message for an unknown voice or a failed engine."""
    if not text.strip():
        raise EngineError("empty_text", "A line has nothing to say.")
    speaker = _speaker(settings, voice, remote, hosted)
    chunks = ((chunk.pcm, chunk.sample_rate) for chunk in speaker.engine.synthesize(text, speaker.voice, speed=speed))
    samples, rate = _trimmed(chunks)
    if not samples.size:
        raise EngineError("synthesis_failed", f"Voice {voice!r} made no sound for: {text[:80]!r}")
    filters = []
    if speaker.shift is not None:
        shift = speaker.shift
        filters = audio.shift_filters(
            rate, formant_semitones=shift.formant_semitones, pitch_semitones=shift.pitch_semitones
        )
    # Written aside and renamed: a clip cache never holds half a clip.
    partial = target.with_name(target.name + ".part")
    try:
        audio.pcm_to_wav(samples.tobytes(), input_rate=rate, target=partial, sample_rate=SAMPLE_RATE, filters=filters)
    except (ConvertFailed, ToolMissing) as exc:
        partial.unlink(missing_ok=True)
        raise EngineError("synthesis_failed", f"Could not make the clip of voice {voice!r}: {exc}") from exc
    partial.replace(target)
    with wave.open(str(target), "rb") as clip:
        return clip.getnframes() / clip.getframerate()
