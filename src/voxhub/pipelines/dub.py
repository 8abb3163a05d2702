"""dub and dub_render: a recording spoken again in other languages, in sync, the original kept.

Stages, each kept on the dub so a retried job or an edit goes on instead of starting over: ingest (a 16 kHz mono copy
for recognition, a 44.1 kHz stereo copy for the mix), understand (words, speakers, each speaker's pitch), units
(sentences joined per speaker, each with its slot), translate (to a character budget from each voice's measured
pace; the language model shortens a line that will not fit), an optional stop for review, then voices (the fit
loop), mix, mux and the QA report. Every spoken clip is kept in the blob store by what it is made of, so an edited
unit is the only one spoken again."""

from __future__ import annotations

import hashlib
import logging
import statistics
import struct
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from voxhub import engines
from voxhub.clock import utcnow
from voxhub.context import AppContext
from voxhub.dubbing import service as dubs
from voxhub.dubbing import units as dub_units
from voxhub.dubbing import voices as dub_voices
from voxhub.dubbing.models import Dub
from voxhub.dubbing.schemas import DubParams, QaReport, QaTotals, SegmentReport, Translation, Unit
from voxhub.dubbing.subtitles import Cue, srt, vtt
from voxhub.engines.base import EngineError, Synthesizer, Translator
from voxhub.engines.hosted import split_voice_id
from voxhub.engines.llm import TextGenerator
from voxhub.engines.llm_translate import LlmTranslator
from voxhub.engines.mt import LANGUAGE_NAMES
from voxhub.errors import Unprocessable
from voxhub.jobs.context import JobContext
from voxhub.jobs.registry import JobType, PipelineError
from voxhub.media import audio
from voxhub.media import dub as media
from voxhub.media.convert import ConvertFailed
from voxhub.pipelines.media_convert import FileInput
from voxhub.pipelines.speech import TEXT_FILE, Clock, decode_to_wav, download, pipeline_error, remote_for, slug
from voxhub.pipelines.transcribe import TranscribeParams, transcribe_file
from voxhub.podcasts import voices as podcast_voices
from voxhub.podcasts.speakable import speakable
from voxhub.voices import service as hosted_voices

log = logging.getLogger(__name__)

MIX_RATE = 44_100  # the clips' rate (podcasts.voices) and the mix's
MAX_ENGINE_SPEED = 1.2  # the voice's own faster pace sounds natural up to here
MAX_SPEED = 1.25  # engine pace times time-stretch: faster than this is hard to follow
BUDGET_SPEED = 1.1  # a translation is asked to fit its slot at this pace, leaving the rest for a slip
STRETCH_STEP = 1.005  # a stretch smaller than this is not worth the pass
PUSH_GAP_S = 0.05  # a dub pushed by the one before it starts this long after it
DUCK_DB = -18.0  # the original under dubbed speech (duck): any higher and its words are heard through the dub
VOICEOVER_DB = -20.0  # … and under a voice-over, which starts after a lead-in of the original
LEAD_IN_S = 0.6
RAMP_S = 0.15  # the fade into and out of ducking
JOIN_GAP_S = 0.6  # ducked spans closer than this are one: the bed does not pump between two lines
TARGET_LUFS, CEILING_DBTP = -16.0, -1.0
SILENT_LUFS = -69.0  # EBU R128's gate: quieter is silence, with no level to match
VIDEO_SUFFIXES = {"mp4": "mp4", "mov": "mp4", "m4v": "mp4", "mkv": "mkv", "webm": "mkv"}


class RenderInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dub_id: str = Field(max_length=36)


class RenderParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- checks when a job is asked for ----


def _check(db: Session, ctx: AppContext, workspace_id: str, job_input: FileInput, params: DubParams) -> None:
    dubs.check_request(db, ctx=ctx, workspace_id=workspace_id, file_id=job_input.file_id, params=params)


def _size(db: Session, ctx: AppContext, workspace_id: str, job_input: FileInput, params: DubParams) -> Any:
    return dubs.dub_size(db, workspace_id=workspace_id, file_id=job_input.file_id, params=params)


def _render_check(db: Session, ctx: AppContext, workspace_id: str, job_input: RenderInput, params: Any) -> None:
    dubs.check_render(db, workspace_id=workspace_id, dub_id=job_input.dub_id)


# ---- the jobs ----


def run_dub(ctx: JobContext, job_input: FileInput, params: DubParams) -> dict[str, Any]:
    with ctx.database.session() as db:
        dub = dubs.of_origin_job(db, job_id=ctx.job_id)
        if dub is None:
            raise PipelineError("dub_not_found", "The dub was deleted.")
        dub_id = dub.id
    return _make(ctx, dub_id)


def run_render(ctx: JobContext, job_input: RenderInput, params: RenderParams) -> dict[str, Any]:
    return _make(ctx, job_input.dub_id)


@dataclass
class _State:
    """What the stages need of the dub, read in one short transaction."""

    id: str
    file_id: str
    title: str
    options: DubParams
    source_language: str | None
    transcript: dict[str, Any] | None
    speakers: dict[str, Any]
    units: list[Unit] | None
    stop_for_review: bool


def _row(db: Session, ctx: JobContext, dub_id: str) -> Dub:
    dub = db.get(Dub, dub_id)
    if dub is None or dub.workspace_id != ctx.workspace_id:
        raise PipelineError("dub_not_found", "The dub was deleted.")
    return dub


def _load(ctx: JobContext, dub_id: str) -> _State:
    with ctx.database.session() as db:
        dub = _row(db, ctx, dub_id)
        if dub.file_id is None:
            raise PipelineError("input_not_found", "The dub's source file was deleted.")
        options = dubs.options_of(dub)
        return _State(
            id=dub.id,
            file_id=dub.file_id,
            title=dub.title,
            options=options,
            source_language=dub.source_language,
            transcript=dub.transcript,
            speakers=dict(dub.speakers or {}),
            units=dubs.units_of(dub),
            stop_for_review=options.review and dub.approved_at is None,
        )


def _save(ctx: JobContext, dub_id: str, **values: Any) -> None:
    with ctx.database.session() as db:
        dub = _row(db, ctx, dub_id)
        for name, value in values.items():
            setattr(dub, name, value)
        dub.updated_at = utcnow()


def _make(ctx: JobContext, dub_id: str) -> dict[str, Any]:
    clock = Clock()
    with ctx.database.session() as db:
        dub = _row(db, ctx, dub_id)
        if dub.job_id != ctx.job_id:
            raise PipelineError("dub_busy", "Another job is working on this dub now.")
        dubs.mark_running(dub)
    state = _load(ctx, dub_id)
    settings = ctx.app.settings
    facts = ctx.input_file(state.file_id)
    source = ctx.open_input(state.file_id)
    duration = facts.duration_s

    # 1. Ingest: the recognition copy and, apart, the full-rate copy the mix is made from.
    started = time.perf_counter()
    ctx.progress(0, "ingest")
    asr_wav = ctx.scratch / "audio-16k.wav"
    decode_to_wav(settings, source, asr_wav, expected_s=duration, on_progress=lambda _f: ctx.check_canceled())
    mix_wav = ctx.scratch / "original.wav"
    try:
        media.extract_audio(source, mix_wav, sample_rate=MIX_RATE, channels=2)
    except ConvertFailed as exc:
        raise PipelineError("conversion_failed", f"ffmpeg could not read this input's audio: {exc.message}") from exc
    duration = _wav_seconds(mix_wav) or duration
    clock.add("ingest", time.perf_counter() - started)

    # 2. Understand: words and speakers, and each speaker's pitch.
    if state.transcript is None:
        started = time.perf_counter()
        ctx.progress(5, "understand")
        state.transcript, state.speakers = _understand(ctx, state, source, asr_wav, duration, clock)
        state.source_language = state.transcript.get("language")
        _save(
            ctx, state.id, transcript=state.transcript, speakers=state.speakers,
            source_language=state.source_language, duration_s=round(duration, 3),
        )  # fmt: skip
        clock.add("understand", time.perf_counter() - started)
    source_language = state.source_language or "en"
    if source_language in state.options.target_languages:
        raise PipelineError(
            "same_language",
            f"The recording is in {source_language}, which is one of the target languages; leave it out.",
        )

    # 3. Units.
    if state.units is None:
        ctx.progress(45, "units")
        samples, rate = dub_voices.read_wav_mono(asr_wav)
        state.units = dub_units.make_units(state.transcript, duration_s=duration, samples=samples, rate=rate)
        del samples
        if not state.units:
            raise PipelineError("no_speech", "No speech was found to dub.")
        _save(ctx, state.id, segments=_dump(state.units))

    # Voices for every speaker, in every language (kept: a retry or a render uses the same ones).
    _choose_voices(ctx, state)

    # 4. Translate to a budget.
    started = time.perf_counter()
    generator = _generator(ctx)
    _translate(ctx, state, source_language, generator, clock)
    clock.add("translate", time.perf_counter() - started)

    # 5. Review.
    if state.stop_for_review:
        ctx.progress(60, "review")
        return {
            "dub_id": state.id,
            "status": "awaiting_review",
            "source_language": source_language,
            "units": len(state.units),
            "timings": clock.stages,
            "engine_s": round(clock.engine_s, 3),
        }

    # 6-9. Voices, mix, mux, report.
    made = _render(ctx, state, source, mix_wav, duration, source_language, generator, clock)
    return {"dub_id": state.id, "status": "succeeded", "source_language": source_language, **made,
            "timings": clock.stages, "engine_s": round(clock.engine_s, 3)}  # fmt: skip


def _dump(units: list[Unit]) -> list[dict[str, Any]]:
    return [unit.model_dump(mode="json") for unit in units]


def _wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as source:
        return source.getnframes() / source.getframerate()


# ---- understand ----


def _understand(
    ctx: JobContext, state: _State, source: Path, asr_wav: Path, duration: float, clock: Clock
) -> tuple[dict[str, Any], dict[str, Any]]:
    settings = ctx.app.settings
    remote = None
    if settings.asr_engine == "remote":
        with ctx.database.session() as db:
            remote = remote_for(db, ctx.app, ctx.workspace_id, "asr")
    params = TranscribeParams(language=state.options.source_language, word_timestamps=True, diarize=True)

    def progress(pct: float, _stage: str | None) -> None:
        if pct >= 0:
            ctx.progress(5 + 0.38 * pct)
        ctx.check_canceled()

    began = time.perf_counter()
    scratch = ctx.scratch / "understand"
    scratch.mkdir(exist_ok=True)
    transcript = transcribe_file(
        settings, source, scratch, params, duration_s=duration, progress=progress, remote=remote
    )
    clock.engine_s += time.perf_counter() - began
    for segment in transcript["segments"]:
        segment.setdefault("speaker", None)
        if segment["speaker"] is None:
            segment["speaker"] = "S1"
    samples, rate = dub_voices.read_wav_mono(asr_wav)
    speakers: dict[str, Any] = {}
    for label in sorted({segment["speaker"] for segment in transcript["segments"]}):
        spans = [
            samples[int(segment["start"] * rate) : int(segment["end"] * rate)]
            for segment in transcript["segments"]
            if segment["speaker"] == label
        ]
        voiced = np.concatenate(spans) if spans else np.zeros(0, dtype=np.float32)
        pitch = dub_voices.pitch_hz(voiced[: rate * 60], rate)  # a minute of a speaker tells their register
        speakers[label] = {"pitch_hz": round(pitch, 1) if pitch else None, "voices": {}}
    return transcript, speakers


def _choose_voices(ctx: JobContext, state: _State) -> None:
    settings = ctx.app.settings
    labels = sorted({unit.speaker or "S1" for unit in state.units or []} | set(state.speakers))
    changed = False
    for label in labels:
        state.speakers.setdefault(label, {"pitch_hz": None, "voices": {}})
    for language in state.options.target_languages:
        missing = [label for label in labels if language not in state.speakers[label].get("voices", {})]
        if not missing:
            continue
        chosen = {
            label: voice
            for label, voice in state.options.voices.items()
            if label in state.speakers and dub_voices.speaks(settings, voice, language)
        }
        kept = {label: state.speakers[label]["voices"][language] for label in labels if label not in missing}
        picked = dub_voices.default_voices(
            settings,
            {label: state.speakers[label].get("pitch_hz") for label in labels},
            language,
            chosen={**kept, **chosen},
        )
        if not picked:
            raise PipelineError(
                "unsupported_language",
                f"No voice here speaks {language!r}; install a piper or espeak-ng voice for it, or use a remote "
                "speech engine.",
            )
        for label in missing:
            state.speakers[label].setdefault("voices", {})[language] = picked[label]
        changed = True
    if changed:
        _save(ctx, state.id, speakers=state.speakers)


def voice_for(state_speakers: dict[str, Any], unit: Unit, language: str) -> str:
    """The voice that speaks `unit` in `language`: its own, else its speaker's."""
    own = unit.translations.get(language)
    if own is not None and own.voice:
        return own.voice
    speaker = state_speakers.get(unit.speaker or "S1") or next(iter(state_speakers.values()))
    return str(speaker["voices"][language])


# ---- translate ----


def _generator(ctx: JobContext) -> TextGenerator | None:
    settings = ctx.app.settings
    if settings.llm_engine == "none":
        return None
    remote = None
    if settings.llm_engine == "remote":
        with ctx.database.session() as db:
            remote = remote_for(db, ctx.app, ctx.workspace_id, "llm")
    try:
        return engines.text_generator(settings, remote=remote)
    except EngineError:
        return None


def _translator(ctx: JobContext, source: str, target: str, generator: TextGenerator | None) -> Translator:
    settings = ctx.app.settings
    if settings.mt_engine == "remote":
        with ctx.database.session() as db:
            return engines.translator(settings, engine="remote", remote=remote_for(db, ctx.app, ctx.workspace_id, "mt"))
    local = engines.translator(settings, engine="local")
    if (source, target) in local.pairs():
        return local
    if generator is not None:
        return LlmTranslator(generator)
    raise PipelineError(
        "unsupported_language_pair",
        f"Nothing here translates {source} to {target}: the local engine has {_pairs(local)}, and text generation "
        "is off (VOXHUB_LLM_ENGINE=none).",
    )


def _pairs(engine: Translator) -> str:
    return ", ".join(f"{a}→{b}" for a, b in engine.pairs()) or "no pairs"


def _needs_translation(unit: Unit, language: str) -> bool:
    current = unit.translations.get(language)
    return current is None or (not current.edited and current.source_text != unit.text)


def _translate(ctx: JobContext, state: _State, source: str, generator: TextGenerator | None, clock: Clock) -> None:
    """Every unit without a translation (or whose text changed since) translated, then shortened where it will not
    fit its slot at the budget pace and a language model can shorten it."""
    assert state.units is not None
    languages = state.options.target_languages
    for number, language in enumerate(languages):
        todo = [unit for unit in state.units if _needs_translation(unit, language)]
        if not todo:
            continue
        ctx.progress(47 + 13 * number / len(languages), "translate", f"{len(todo)} units into {language}")
        engine = _translator(ctx, source, language, generator)
        texts: list[str] = []
        began = time.perf_counter()
        for start in range(0, len(todo), 20):
            ctx.check_canceled()
            try:
                texts += engine.translate([unit.text for unit in todo[start : start + 20]], source=source,
                                          target=language)  # fmt: skip
            except EngineError as exc:
                raise pipeline_error(exc) from exc
        clock.engine_s += time.perf_counter() - began
        for unit, text in zip(todo, texts, strict=True):
            voice = voice_for(state.speakers, unit, language)
            rate = _rate(ctx, voice, language, clock)
            budget = max(8, int(rate * (unit.slot_end - unit.start) * BUDGET_SPEED))
            text = " ".join(text.split())
            shortened = False
            if len(text) > budget and generator is not None:
                began = time.perf_counter()
                shorter = _shorten(generator, text, language, budget)
                clock.engine_s += time.perf_counter() - began
                if shorter and len(shorter) < len(text):
                    text, shortened = shorter, True
            old = unit.translations.get(language)
            unit.translations[language] = Translation(
                text=text or unit.text, source_text=unit.text, voice=old.voice if old else None,
                shortened=shortened, budget_chars=budget,
            )  # fmt: skip
        _save(ctx, state.id, segments=_dump(state.units))


def _hosted(ctx: JobContext, voice: str) -> Synthesizer | None:
    """The engine of a hosted provider's voice (`elevenlabs:…`, `unrealspeech:…`) with the workspace's key; None for
    this server's own voices (no database read for those)."""
    if split_voice_id(voice) is None:
        return None
    with ctx.database.session() as db:
        try:
            return hosted_voices.synthesizer_for(db, ctx=ctx.app, workspace_id=ctx.workspace_id, voice=voice)
        except Unprocessable as exc:  # the provider's key was deleted after the dub was accepted
            raise PipelineError(exc.code, exc.message) from exc


def _rate(ctx: JobContext, voice: str, language: str, clock: Clock) -> float:
    began = time.perf_counter()
    try:
        return dub_voices.speaking_rate(ctx.app.settings, ctx.app.store, voice, language, hosted=_hosted(ctx, voice))
    except EngineError as exc:
        raise pipeline_error(exc) from exc
    finally:
        clock.engine_s += time.perf_counter() - began


def _shorten(generator: TextGenerator, text: str, language: str, budget: int) -> str | None:
    """The line said again in at most `budget` characters (about a third as many syllables), or None. A first answer
    still too long is told its length and asked once more."""
    name = LANGUAGE_NAMES.get(language, language)  # the names the translation prompts use
    limit = max(budget, int(len(text) * 0.95))
    messages = [
        {
            "role": "system",
            "content": f"You shorten lines of a dubbed video so they fit the time the speaker has. Answer with the "
            f"shortened line only, in {name}, with the same meaning, in at most {budget} characters (about "
            f"{max(1, budget // 3)} syllables). Drop filler words first.",
        },
        {"role": "user", "content": text},
    ]
    for _ in range(2):
        try:
            answer = generator.generate(messages, max_tokens=max(32, budget), temperature=0.0).text
        except EngineError as exc:
            log.info("could not shorten a line: %s", exc.message)
            return None
        line = " ".join(answer.strip().strip('"“”').split())
        if 0 < len(line) <= limit:
            return line
        messages += [
            {"role": "assistant", "content": answer},
            {"role": "user", "content": f"That has {len(line)} characters. Say it in at most {budget}."},
        ]
    return None


# ---- voices, mix, mux ----


@dataclass
class _Placed:
    unit: Unit
    path: Path
    start: float
    seconds: float
    report: SegmentReport


class _VoiceTrack:
    """A mono 16-bit WAV as long as the recording, clips added into it through a memory map: a long video costs
    disk, not memory."""

    def __init__(self, path: Path, seconds: float) -> None:
        self.path = path
        self.frames = round(seconds * MIX_RATE)
        data_bytes = 2 * self.frames
        header = b"".join(
            [
                b"RIFF", struct.pack("<I", 36 + data_bytes), b"WAVE",
                b"fmt ", struct.pack("<IHHIIHH", 16, 1, 1, MIX_RATE, 2 * MIX_RATE, 2, 16),
                b"data", struct.pack("<I", data_bytes),
            ]
        )  # fmt: skip
        with path.open("wb") as handle:
            handle.write(header)
            handle.truncate(len(header) + data_bytes)  # sparse: silence until a clip is added
        self.samples = np.memmap(path, dtype="<i2", mode="r+", offset=len(header), shape=(max(self.frames, 1),))

    def add(self, clip: Path, at: float) -> float:
        """Add a clip at `at` seconds (cut at the end of the track); its length in seconds."""
        samples, _rate = dub_voices.read_wav_mono(clip)
        begin = round(at * MIX_RATE)
        piece = samples[: max(0, self.frames - begin)]
        if piece.size:
            mixed = self.samples[begin : begin + piece.size].astype(np.float32) / 32768 + piece
            self.samples[begin : begin + piece.size] = np.clip(mixed * 32768, -32768, 32767).astype("<i2")
        return samples.size / MIX_RATE

    def scale(self, gain_db: float) -> None:
        """Every sample raised (or lowered) by `gain_db`, a minute at a time."""
        factor = 10 ** (gain_db / 20)
        step = 60 * MIX_RATE
        for begin in range(0, self.frames, step):
            piece = self.samples[begin : begin + step].astype(np.float32) * factor
            self.samples[begin : begin + step] = np.clip(piece, -32768, 32767).astype("<i2")

    def close(self) -> None:
        self.samples.flush()
        del self.samples


def _clip(
    ctx: JobContext, text: str, voice: str, *, speed: float, stretch: float, clock: Clock
) -> tuple[Path, float, bool]:
    """A clip of `text` in `voice` at the engine's `speed`, time-stretched by `stretch`: from this job's scratch,
    the workspace's clip cache, or spoken now (then kept in the cache). Its path, seconds and whether it was made."""
    key = podcast_voices.clip_key(text, voice, speed)
    if stretch > 1.0:
        key = hashlib.sha256(f"{key}:stretch:{stretch:.3f}".encode()).hexdigest()
    folder = ctx.scratch / "clips"
    folder.mkdir(exist_ok=True)
    path = folder / f"{key}.wav"
    blob = f"ws/{ctx.workspace_id}/dub-clips/{key}.wav"
    made = False
    if not path.exists() and ctx.app.store.exists(blob):
        download(ctx, blob, path)
    elif not path.exists():
        began = time.perf_counter()
        try:
            if stretch > 1.0:
                plain, _seconds, _made = _clip(ctx, text, voice, speed=speed, stretch=1.0, clock=clock)
                media.stretch(plain, path, tempo=stretch)
            else:
                podcast_voices.render(ctx.app.settings, text, voice, path, speed=speed, hosted=_hosted(ctx, voice))
        except EngineError as exc:
            raise pipeline_error(exc) from exc
        except ConvertFailed as exc:
            raise PipelineError("synthesis_failed", f"Could not time-stretch a line: {exc.message}") from exc
        clock.engine_s += time.perf_counter() - began
        with path.open("rb") as handle:
            ctx.app.store.put(blob, handle, content_type="audio/wav")
        made = True
    return path, _wav_seconds(path), made


def _fit(
    ctx: JobContext, unit: Unit, language: str, text: str, voice: str, start_at: float, clock: Clock
) -> tuple[Path, float, float, float, bool]:
    """The fit loop: the voice's own pace first (up to MAX_ENGINE_SPEED), then a time-stretch (up to MAX_SPEED in
    all); never slower than normal. The clip, its seconds, the engine speed, the stretch and whether any was made."""
    slot = max(0.2, unit.slot_end - start_at)
    path, seconds, made = _clip(ctx, text, voice, speed=1.0, stretch=1.0, clock=clock)
    engine_speed, stretch = 1.0, 1.0
    if seconds > slot:
        engine_speed = round(min(MAX_ENGINE_SPEED, seconds / slot), 3)
        path, seconds, again = _clip(ctx, text, voice, speed=engine_speed, stretch=1.0, clock=clock)
        made = made or again
    if seconds > slot:
        wanted = min(MAX_SPEED / engine_speed, seconds / slot)
        if wanted > STRETCH_STEP:
            stretch = round(wanted, 3)
            path, seconds, again = _clip(ctx, text, voice, speed=engine_speed, stretch=stretch, clock=clock)
            made = made or again
    return path, seconds, engine_speed, stretch, made


def _render(
    ctx: JobContext,
    state: _State,
    source: Path,
    original: Path,
    duration: float,
    source_language: str,
    generator: TextGenerator | None,
    clock: Clock,
) -> dict[str, Any]:
    assert state.units is not None
    options = state.options
    languages = options.target_languages
    warnings: list[str] = []
    background = options.background
    if background == "replace":
        warnings.append(
            "background=replace needs a source-separation model and none is installed here (no separation "
            "weights ship on PyPI); the original was ducked under the dub instead."
        )
        background = "duck"
    unknown = sorted(set(options.voices) - set(state.speakers))
    if unknown:
        warnings.append(
            f"voices names {', '.join(unknown)}, who did not speak here; the speakers are "
            f"{', '.join(sorted(state.speakers))} (GET …/segments shows who said what)."
        )
    lead_in = LEAD_IN_S if background == "voiceover" else 0.0
    duck_db = VOICEOVER_DB if background == "voiceover" else DUCK_DB
    reports: list[SegmentReport] = []
    totals: dict[str, QaTotals] = {}
    tracks: list[tuple[str, Path, Path, list[Cue]]] = []  # language, mixed, voice stem, cues
    bed_for_stem: Path | None = None
    span = 25.0 / len(languages)
    for number, language in enumerate(languages):
        started = time.perf_counter()
        track = _VoiceTrack(ctx.scratch / f"voice-{language}.wav", duration)
        placed: list[_Placed] = []
        ducked: list[tuple[float, float]] = []
        last_end = 0.0
        dubbed = [
            unit
            for unit in sorted(state.units, key=lambda u: u.start)
            if dub_units.in_range(unit, options.start, options.end)
        ]
        for done, unit in enumerate(dubbed):
            ctx.progress(60 + span * (number + done / max(len(dubbed), 1)), "voices",
                         f"{language}: unit {done + 1} of {len(dubbed)}")  # fmt: skip
            ctx.check_canceled()
            if unit.keep_original:
                continue
            if unit.mute:
                ducked.append((unit.start, unit.end))
                continue
            translation = unit.translations[language]
            voice = voice_for(state.speakers, unit, language)
            text = speakable(translation.text, language)
            start_at = unit.start + lead_in
            path, seconds, engine_speed, stretch, made = _fit(ctx, unit, language, text, voice, start_at, clock)
            slot_s = max(0.2, unit.slot_end - start_at)
            if seconds > slot_s and generator is not None and not translation.edited and not translation.shortened:
                budget = max(8, int(len(translation.text) * slot_s / seconds * 0.95))
                shorter = _shorten(generator, translation.text, language, budget)
                if shorter:
                    translation.text, translation.shortened = shorter, True
                    text = speakable(shorter, language)
                    path, seconds, engine_speed, stretch, again = _fit(
                        ctx, unit, language, text, voice, start_at, clock
                    )
                    made = made or again
            at = max(start_at, last_end + PUSH_GAP_S) if placed else start_at
            track.add(path, at)
            last_end = at + seconds
            overflow = max(0.0, last_end - unit.slot_end)
            report = SegmentReport(
                index=unit.index, language=language, speed=round(engine_speed * stretch, 3),
                engine_speed=engine_speed, stretch=stretch, clip_s=round(seconds, 3), slot_s=round(slot_s, 3),
                overflow_s=round(overflow, 3), onset_offset_s=round(at - unit.start, 3),
                shortened=translation.shortened, flagged=overflow > 0.25, rendered=made,
            )  # fmt: skip
            placed.append(_Placed(unit, path, at, seconds, report))
            # under the whole original line too: where the dub ends first, the original must not come back mid-line
            ducked.append((min(at, unit.start), max(last_end, unit.end)))
        if placed:
            # the dub as loud as the speech it replaces, so the bed keeps its place under it
            track.samples.flush()
            gain = _level_gain(original, track.path)
            track.scale(gain)
        track.close()
        reports += [item.report for item in placed]
        totals[language] = _totals(dubbed, [item.report for item in placed])
        clock.add("voices", time.perf_counter() - started)

        started = time.perf_counter()
        ctx.progress(60 + span * (number + 1), "mix", language)
        gains = _gains(ducked, duck_db, lead_in)
        bed = ctx.scratch / f"bed-{language}.wav"
        mixed = ctx.scratch / f"mixed-{language}.wav"
        final = ctx.scratch / f"dub-{language}.wav"
        try:
            media.ducked_bed(original, bed, gains=gains, sample_rate=MIX_RATE)
            media.overlay(bed, track.path, mixed, sample_rate=MIX_RATE)
            media.normalize_stereo(mixed, final, target_lufs=TARGET_LUFS, ceiling_dbtp=CEILING_DBTP,
                                   sample_rate=MIX_RATE)  # fmt: skip
        except ConvertFailed as exc:
            raise PipelineError("mix_failed", f"Could not mix the {language} dub: {exc.message}") from exc
        mixed.unlink(missing_ok=True)
        if bed_for_stem is None:
            bed_for_stem = bed
        else:
            bed.unlink(missing_ok=True)
        cues = [Cue(item.start, item.start + item.seconds, item.unit.translations[language].text) for item in placed]
        tracks.append((language, final, track.path, cues))
        clock.add("mix", time.perf_counter() - started)
    _save(ctx, state.id, segments=_dump(state.units))  # translations shortened while fitting

    started = time.perf_counter()
    ctx.progress(88, "mux")
    outputs = _publish(ctx, state, source, original, source_language, tracks, bed_for_stem)
    clock.add("mux", time.perf_counter() - started)
    qa = QaReport(languages=totals, segments=reports)
    _save(ctx, state.id, outputs=outputs, qa=qa.model_dump(mode="json"), warnings=warnings,
          rendered_at=utcnow())  # fmt: skip
    return {
        "duration_s": round(duration, 3),
        "units": len(state.units),
        "qa": {language: value.model_dump(mode="json") for language, value in totals.items()},
        "warnings": warnings,
        "outputs": outputs,
    }


def _level_gain(original: Path, voice: Path) -> float:
    """dB that bring the dubbed speech to the loudness of the original (within ±12 dB)."""
    try:
        target = audio.measure_loudness(original).integrated_lufs
        level = audio.measure_loudness(voice).integrated_lufs
    except ConvertFailed as exc:
        raise PipelineError("mix_failed", f"Could not measure the loudness of the dub: {exc.message}") from exc
    if target <= SILENT_LUFS or level <= SILENT_LUFS:
        return 0.0
    return max(-12.0, min(12.0, target - level))


def _totals(units: list[Unit], reports: list[SegmentReport]) -> QaTotals:
    speeds = [report.speed for report in reports] or [1.0]
    offsets = sorted(abs(report.onset_offset_s) for report in reports) or [0.0]
    p95 = offsets[min(len(offsets) - 1, round(0.95 * (len(offsets) - 1)))]
    return QaTotals(
        units=len(units),
        dubbed=len(reports),
        max_speed=round(max(speeds), 3),
        mean_speed=round(statistics.fmean(speeds), 3),
        onset_offset_p95_s=round(p95, 3),
        overflows=sum(1 for report in reports if report.overflow_s > 0),
        shortened=sum(1 for report in reports if report.shortened),
        flagged=sum(1 for report in reports if report.flagged),
        clips_rendered=sum(1 for report in reports if report.rendered),
        clips_reused=sum(1 for report in reports if not report.rendered),
    )


def _gains(spans: list[tuple[float, float]], duck_db: float, lead_in: float) -> list[tuple[float, float]]:
    """(time, dB) points of the original's level: lowered over each dubbed span (joined when close), ramped in
    and out; a voice-over lets the original be heard for its lead-in first."""
    joined: list[list[float]] = []
    for begin, end in sorted(spans):
        if joined and begin - joined[-1][1] < JOIN_GAP_S:
            joined[-1][1] = max(joined[-1][1], end)
        else:
            joined.append([begin, end])
    points: list[tuple[float, float]] = [(0.0, 0.0)]
    for begin, end in joined:
        down = max(points[-1][0], begin - RAMP_S)
        points += [(down, 0.0), (max(down, begin), duck_db), (end, duck_db), (end + RAMP_S, 0.0)]
    return points


def _publish(
    ctx: JobContext,
    state: _State,
    source: Path,
    original: Path,
    source_language: str,
    tracks: list[tuple[str, Path, Path, list[Cue]]],
    background: Path | None,
) -> dict[str, Any]:
    """The media file with every track, each language's mixed audio and voice stem, the background stem, and
    subtitles (SRT and WebVTT) of the source and of each language."""
    facts = ctx.input_file(state.file_id)
    stem = slug(state.title.rsplit(".", 1)[0], default="dub")
    info = _media_of(ctx, state.file_id)
    has_video = bool(info and info.get("video_codec"))
    outputs: dict[str, Any] = {"audio": {}, "voice": {}, "srt": {}, "vtt": {}}
    subtitle_files: dict[str, Path] = {}
    source_cues = [Cue(unit.start, unit.end, unit.text) for unit in state.units or []]
    for language, cues in [(source_language, source_cues), *((lang, c) for lang, _m, _v, c in tracks)]:
        for fmt, render, content_type in (("srt", srt, "application/x-subrip"), ("vtt", vtt, "text/vtt")):
            path = ctx.scratch / f"{stem}.{language}.{fmt}"
            path.write_text(render(cues), encoding="utf-8")
            outputs[fmt][language] = ctx.write_output(path.name, path, content_type, known=TEXT_FILE).id
            if fmt == "srt":
                subtitle_files[language] = path
    encoded: dict[str, Path] = {}
    for language, mixed, voice, _cues in tracks:
        audio_path = ctx.scratch / f"{stem}.{language}.m4a"
        encoded[language] = audio_path
        voice_path = ctx.scratch / f"{stem}.{language}.voice.m4a"
        _encode(mixed, audio_path, language, f"Dub ({language})")
        _encode(voice, voice_path, language, f"Dubbed speech ({language})")
        outputs["audio"][language] = ctx.write_output(audio_path.name, audio_path, "audio/mp4").id
        outputs["voice"][language] = ctx.write_output(voice_path.name, voice_path, "audio/mp4").id
    if background is not None:
        background_path = ctx.scratch / f"{stem}.background.m4a"
        _encode(background, background_path, None, "Background")
        outputs["background_file_id"] = ctx.write_output(background_path.name, background_path, "audio/mp4").id
    # each language's M4A is what goes in the file, copied; the original as it came, when the container takes it
    audio_tracks = [
        media.AudioTrack(
            path=encoded[language], language=language, title=f"Dub ({language})", default=number == 0, copy=True
        )
        for number, (language, _mixed, _voice, _cues) in enumerate(tracks)
    ]
    suffix = VIDEO_SUFFIXES.get(facts.filename.rsplit(".", 1)[-1].lower(), "mp4") if has_video else "m4a"
    as_it_came = suffix == "mkv" or (info or {}).get("audio_codec") == "aac"
    audio_tracks.append(
        media.AudioTrack(
            path=source if as_it_came else original, language=source_language, title="Original", copy=as_it_came
        )
    )
    subtitles = []
    burn = None
    if state.options.subtitles == "soft" and has_video:  # audio players seldom show text tracks: sidecars only
        subtitles = [
            media.SubtitleTrack(path=subtitle_files[language], language=language, title=title)
            for language, title in [(lang, f"Dub ({lang})") for lang, *_ in tracks] + [(source_language, "Original")]
        ]
    elif state.options.subtitles == "burn" and has_video:
        burn = subtitle_files[tracks[0][0]]
    target = ctx.scratch / f"{stem}.dub.{suffix}"
    try:
        media.mux(video=source if has_video else None, audio=audio_tracks, subtitles=subtitles, target=target,
                  burn=burn)  # fmt: skip
    except ConvertFailed as exc:
        raise PipelineError("mux_failed", f"Could not put the dub into the file: {exc.message}") from exc
    content_type = {"mp4": "video/mp4", "mkv": "video/x-matroska", "m4a": "audio/mp4"}[suffix]
    outputs["media_file_id"] = ctx.write_output(target.name, target, content_type).id
    return outputs


def _encode(source: Path, target: Path, language: str | None, title: str) -> None:
    try:
        media.encode_audio(source, target, fmt="m4a", language=language, title=title)
    except ConvertFailed as exc:
        raise PipelineError("mux_failed", f"Could not encode {title}: {exc.message}") from exc


def _media_of(ctx: JobContext, file_id: str) -> dict[str, Any] | None:
    with ctx.database.session() as db:
        return dubs.media_of(db, workspace_id=ctx.workspace_id, file_id=file_id)


JOB_TYPE = JobType(
    name=dubs.DUB_JOB,
    queue="asr",
    input_model=FileInput,
    params_model=DubParams,
    run=run_dub,
    timeout_s=6 * 3600,
    description="A video or audio file spoken again in other languages, in sync, the original kept as a track.",
    check=_check,
    size=_size,
)

RENDER_JOB_TYPE = JobType(
    name=dubs.RENDER_JOB,
    queue="tts",
    input_model=RenderInput,
    params_model=RenderParams,
    run=run_render,
    timeout_s=6 * 3600,
    description="A dub rendered again after review or edits: only changed units are spoken again.",
    check=_render_check,
)
