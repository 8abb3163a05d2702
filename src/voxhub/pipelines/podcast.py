"""podcast and podcast_script: an episode from notes, stage by stage — outline, script, (review,) voices, mix and the
published files. Each stage keeps what it made on the episode (outline and script in its row, every spoken line in
the clip cache of the blob store), so a retried job goes on from the last finished stage and an edited line is the
only one spoken again.

`podcast_script` writes the outline and script and stops there for review, or rewrites one segment of a script
under review; `podcast` writes whatever of the script is missing and makes the audio."""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from voxhub import engines
from voxhub.clock import utcnow
from voxhub.context import AppContext
from voxhub.engines import llm
from voxhub.engines.base import EngineError, Synthesizer
from voxhub.engines.llm import TextGenerator
from voxhub.errors import Conflict, Unprocessable
from voxhub.jobs.context import JobContext
from voxhub.jobs.registry import JobType, PipelineError
from voxhub.pipelines.speech import TEXT_FILE, Clock, download, pipeline_error, remote_for, slug
from voxhub.podcasts import mix, outputs, script, voices
from voxhub.podcasts import service as podcasts
from voxhub.podcasts.models import Podcast
from voxhub.podcasts.schemas import (
    AudioFormat,
    ChapterMark,
    Outline,
    PodcastCreate,
    PodcastStatus,
    Script,
    duration_range,
)
from voxhub.podcasts.speakable import speakable
from voxhub.voices import service as hosted_voices

log = logging.getLogger(__name__)

# An OpenAI-compatible speech API's voices for hosts who name none, clearly different from each other.
REMOTE_VOICES = ("alloy", "onyx", "nova", "echo")
MP3_TYPE, M4A_TYPE = "audio/mpeg", "audio/mp4"


class PodcastInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    podcast_id: str = Field(max_length=36)


class ScriptParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segment: int | None = Field(default=None, ge=0, description="Rewrite only this segment of the script.")


class EpisodeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _TimedGenerator:
    """A text generator whose calls are timed into a Clock."""

    def __init__(self, inner: TextGenerator, clock: Clock) -> None:
        self._inner = inner
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name not in ("generate", "stream"):
            return value

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return value(*args, **kwargs)
            finally:
                self._clock.engine_s += time.perf_counter() - started

        return timed


# ---- checks when a job is asked for ----


def _check(db: Session, ctx: AppContext, workspace_id: str, job_input: PodcastInput, params: BaseModel) -> None:
    podcast = podcasts.get(db, workspace_id=workspace_id, podcast_id=job_input.podcast_id)
    if podcast.status in (PodcastStatus.QUEUED, PodcastStatus.RUNNING) and podcast.job_id is not None:
        raise Conflict(
            "The episode is being made by another job.", code="podcast_busy", details={"job_id": podcast.job_id}
        )
    settings = ctx.settings
    needs_script = not podcast.script_complete or isinstance(params, ScriptParams)
    missing = llm.not_installed(settings) if needs_script and settings.llm_engine == "local" else None
    if missing:
        raise Unprocessable(
            f"{missing}; or set VOXHUB_LLM_ENGINE to `remote` or `none` (an extractive script).",
            code="model_unavailable",
            details={"model": settings.llm_model, "installed": llm.local_models(settings)},
        )


def _episode_size(
    db: Session, ctx: AppContext, workspace_id: str, job_input: PodcastInput, params: EpisodeParams
) -> Any:
    return podcasts.episode_size(podcasts.get(db, workspace_id=workspace_id, podcast_id=job_input.podcast_id))


def _episode_queue(
    db: Session, ctx: AppContext, workspace_id: str, job_input: PodcastInput, params: EpisodeParams
) -> str:
    """`text` while the script is to be written (the language model's machines), `tts` once it is."""
    podcast = podcasts.get(db, workspace_id=workspace_id, podcast_id=job_input.podcast_id)
    return "tts" if podcast.script_complete else "text"


# ---- the jobs ----


def run_script(ctx: JobContext, job_input: PodcastInput, params: ScriptParams) -> dict[str, Any]:
    clock = Clock()
    episode = _begin(ctx, job_input)
    generator = _generator(ctx, clock)
    if params.segment is not None:
        started = time.perf_counter()
        ctx.progress(5, "script", f"rewriting segment {params.segment + 1}")
        _rewrite_segment(ctx, episode, params.segment, generator)
        clock.add("script", time.perf_counter() - started)
    else:
        _write_script(ctx, episode, generator, clock, share=(0.0, 100.0))
    written = _load(ctx, episode.id).script
    return {
        "podcast_id": episode.id,
        "segments": len(written.segments) if written else 0,
        "words": written.words() if written else 0,
        "script_engine": written.engine if written else None,
        "timings": clock.stages,
        "engine_s": round(clock.engine_s, 3),
    }


def run_episode(ctx: JobContext, job_input: PodcastInput, params: EpisodeParams) -> dict[str, Any]:
    clock = Clock()
    episode = _begin(ctx, job_input)
    if not episode.script_complete:
        _write_script(ctx, episode, _generator(ctx, clock), clock, share=(0.0, 40.0))
        episode = _load(ctx, episode.id)
    assert episode.script is not None
    made = _make_audio(ctx, episode, clock, start=40.0 if clock.stages else 0.0)
    return {"podcast_id": episode.id, **made, "timings": clock.stages, "engine_s": round(clock.engine_s, 3)}


@dataclass
class _Episode:
    """What a stage needs of the episode, read in one short transaction."""

    id: str
    title: str
    notes: str
    options: PodcastCreate
    outline: Outline | None
    script: Script | None
    script_complete: bool


def _load(ctx: JobContext, podcast_id: str) -> _Episode:
    with ctx.database.session() as db:
        podcast = _row(ctx, db, podcast_id)
        return _Episode(
            id=podcast.id,
            title=podcast.title,
            notes=podcast.notes,
            options=podcasts.options_of(podcast),
            outline=Outline.model_validate(podcast.outline) if podcast.outline else None,
            script=podcasts.script_of(podcast),
            script_complete=podcast.script_complete,
        )


def _row(ctx: JobContext, db: Session, podcast_id: str) -> Podcast:
    podcast = db.get(Podcast, podcast_id)
    if podcast is None or podcast.workspace_id != ctx.workspace_id:
        raise PipelineError("podcast_not_found", "The episode was deleted.")
    return podcast


def _begin(ctx: JobContext, job_input: PodcastInput) -> _Episode:
    with ctx.database.session() as db:
        podcast = _row(ctx, db, job_input.podcast_id)
        if podcast.job_id != ctx.job_id:
            raise PipelineError("podcast_busy", "Another job is making this episode now.")
        podcasts.mark_running(podcast)
    return _load(ctx, job_input.podcast_id)


def _save(ctx: JobContext, podcast_id: str, **values: Any) -> None:
    with ctx.database.session() as db:
        podcast = _row(ctx, db, podcast_id)
        for name, value in values.items():
            setattr(podcast, name, value)
        podcast.updated_at = utcnow()


def _generator(ctx: JobContext, clock: Clock) -> TextGenerator | None:
    settings = ctx.app.settings
    if settings.llm_engine == "none":
        return None
    remote = None
    if settings.llm_engine == "remote":
        with ctx.database.session() as db:
            remote = remote_for(db, ctx.app, ctx.workspace_id, "llm")
    generator = engines.text_generator(settings, remote=remote)
    if generator is None:
        return None
    return _TimedGenerator(generator, clock)


# ---- outline and script ----


def _write_script(
    ctx: JobContext, episode: _Episode, generator: TextGenerator | None, clock: Clock, *, share: tuple[float, float]
) -> None:
    """The outline (unless kept from an earlier attempt), then each segment not yet written, each kept as it is
    written."""
    low, high = share
    options = episode.options
    language = options.language or "en"
    target, _min, _max = duration_range(options.duration)
    outline = episode.outline
    if outline is None:
        started = time.perf_counter()
        ctx.progress(low, "outline")

        def outline_progress(fraction: float) -> None:
            ctx.progress(low + (high - low) * 0.15 * fraction, "outline")
            ctx.check_canceled()

        try:
            outline = script.make_outline(
                episode.notes, minutes=target, hosts=options.hosts, format=options.format, focus=options.focus,
                language=language, generator=generator, progress=outline_progress,
            )  # fmt: skip
        except EngineError as exc:
            raise pipeline_error(exc) from exc
        _save(ctx, episode.id, outline=outline.model_dump(mode="json"))
        clock.add("outline", time.perf_counter() - started)
    written = list(episode.script.segments) if episode.script else []
    started = time.perf_counter()
    for index in range(len(written), len(outline.segments)):
        ctx.progress(
            low + (high - low) * (0.15 + 0.85 * index / len(outline.segments)),
            "script",
            f"segment {index + 1} of {len(outline.segments)}",
        )
        ctx.check_canceled()
        try:
            segment = script.write_segment(
                outline, index, written, notes=episode.notes, hosts=options.hosts, format=options.format,
                focus=options.focus, language=language, generator=generator,
            )  # fmt: skip
        except EngineError as exc:
            raise pipeline_error(exc) from exc
        written.append(segment)
        partial = Script(**script.written_by(generator), language=language, segments=written)
        _save(ctx, episode.id, script=partial.model_dump(mode="json"))
    _save(ctx, episode.id, script_complete=True)
    clock.add("script", time.perf_counter() - started)


def _rewrite_segment(ctx: JobContext, episode: _Episode, index: int, generator: TextGenerator | None) -> None:
    options = episode.options
    if episode.outline is None or episode.script is None or index >= len(episode.script.segments):
        raise PipelineError("segment_not_found", f"The script has no segment {index}.")
    others = [segment for number, segment in enumerate(episode.script.segments) if number != index]
    try:
        segment = script.write_segment(
            episode.outline, index, others, notes=episode.notes, hosts=options.hosts, format=options.format,
            focus=options.focus, language=options.language or "en", generator=generator,
        )  # fmt: skip
    except EngineError as exc:
        raise pipeline_error(exc) from exc
    segments = list(episode.script.segments)
    segments[index] = segment
    _save(ctx, episode.id, script=episode.script.model_copy(update={"segments": segments}).model_dump(mode="json"))


# ---- voices, mix, outputs ----


def _make_audio(ctx: JobContext, episode: _Episode, clock: Clock, *, start: float) -> dict[str, Any]:
    settings = ctx.app.settings
    options = episode.options
    written = episode.script
    assert written is not None
    language = written.language
    span = 100.0 - start

    # Voices: every line spoken once, from the clip cache when the same text and voice were spoken before.
    started = time.perf_counter()
    tts_remote = None
    if settings.tts_engine == "remote":
        with ctx.database.session() as db:
            tts_remote = remote_for(db, ctx.app, ctx.workspace_id, "tts")
    if tts_remote is None:
        chosen = voices.default_voices(settings, len(options.hosts), language)
    else:
        chosen = list(REMOTE_VOICES[: len(options.hosts)])
    voice_of = {host.name: host.voice or chosen[number] for number, host in enumerate(options.hosts)}
    # Voices of hosted providers (ElevenLabs, Unreal Speech), spoken with the workspace's key for the provider.
    hosted_of: dict[str, Synthesizer] = {}
    with ctx.database.session() as db:
        for chosen_voice in set(voice_of.values()):
            try:
                hosted = hosted_voices.synthesizer_for(
                    db, ctx=ctx.app, workspace_id=ctx.workspace_id, voice=chosen_voice
                )
            except Unprocessable as exc:  # the provider's key was deleted after the episode was accepted
                raise PipelineError(exc.code, exc.message) from exc
            if hosted is not None:
                hosted_of[chosen_voice] = hosted
    clips_dir = ctx.scratch / "clips"
    clips_dir.mkdir(parents=True, exist_ok=True)
    lines = [(number, line) for number, segment in enumerate(written.segments) for line in segment.lines]
    turns: list[mix.Turn] = []
    rendered = cached = 0
    for done, (segment_number, line) in enumerate(lines):
        ctx.progress(start + span * 0.7 * done / len(lines), "voices", f"line {done + 1} of {len(lines)}")
        ctx.check_canceled()
        voice = voice_of.get(line.speaker)
        if voice is None:
            raise PipelineError("unknown_speaker", f"{line.speaker!r} speaks a line but is not a host.")
        spoken = speakable(line.text, language)
        key = voices.clip_key(spoken, voice, 1.0)
        path = clips_dir / f"{key}.wav"
        blob = f"ws/{ctx.workspace_id}/podcast-clips/{key}.wav"
        if not path.exists() and ctx.app.store.exists(blob):
            download(ctx, blob, path)
            cached += 1
        elif not path.exists():
            began = time.perf_counter()
            try:
                voices.render(settings, spoken, voice, path, remote=tts_remote, hosted=hosted_of.get(voice))
            except EngineError as exc:
                raise pipeline_error(exc) from exc
            clock.engine_s += time.perf_counter() - began
            with path.open("rb") as handle:
                ctx.app.store.put(blob, handle, content_type="audio/wav")
            rendered += 1
        else:
            cached += 1
        turns.append(mix.Turn(path=path, speaker=line.speaker, text=line.text, segment=segment_number))
    clock.add("voices", time.perf_counter() - started)

    # Mix: pauses, fades, intro and outro, a ducked bed, loudness.
    started = time.perf_counter()
    ctx.progress(start + span * 0.7, "mix")
    extras = {
        name: ctx.open_input(file_id) if file_id else None
        for name, file_id in (
            ("intro", options.intro_file_id),
            ("outro", options.outro_file_id),
            ("music_bed", options.music_bed_file_id),
        )
    }
    mixed = mix.mix(
        turns,
        segment_titles=[segment.title for segment in written.segments],
        work_dir=ctx.scratch / "mix",
        seed=random.Random(episode.id).randrange(1 << 30),  # noqa: S311  (pauses, not secrets)
        intro=extras["intro"],
        outro=extras["outro"],
        music_bed=extras["music_bed"],
    )
    clock.add("mix", time.perf_counter() - started)

    # Outputs: MP3 (and M4A when asked for) with tags and chapters, chapters JSON, captions and the script.
    started = time.perf_counter()
    ctx.progress(start + span * 0.85, "outputs")
    hosts = ", ".join(host.name for host in options.hosts)
    date = utcnow().date().isoformat()
    stem = slug(episode.title, default="episode")
    made: dict[str, str] = {}
    encodings: dict[AudioFormat, str] = {"mp3": MP3_TYPE, "m4a": M4A_TYPE}
    for fmt in dict.fromkeys(options.formats):
        content_type = encodings[fmt]
        target = ctx.scratch / f"{stem}.{fmt}"
        outputs.encode(mixed, target, fmt=fmt, title=episode.title, artist=hosts, date=date, chapters=mixed.chapters)
        made[f"{fmt}_file_id"] = ctx.write_output(target.name, target, content_type).id
    texts = {
        "chapters_file_id": (
            f"{stem}.chapters.json",
            json.dumps(outputs.chapters_json(mixed.chapters, mixed.duration_s, title=episode.title), indent=2),
            "application/json+chapters",
        ),
        "vtt_file_id": (f"{stem}.vtt", outputs.vtt(mixed.cues), "text/vtt"),
        "srt_file_id": (f"{stem}.srt", outputs.srt(mixed.cues), "application/x-subrip"),
        "script_file_id": (f"{stem}.script.json", written.model_dump_json(indent=2), "application/json"),
    }
    for name, (filename, text, content_type) in texts.items():
        target = ctx.scratch / filename
        target.write_text(text, encoding="utf-8")
        made[name] = ctx.write_output(filename, target, content_type, known=TEXT_FILE).id
    chapters = [ChapterMark(start=mark.start, title=mark.title).model_dump(mode="json") for mark in mixed.chapters]
    _save(
        ctx,
        episode.id,
        outputs=made,
        chapters=chapters,
        duration_s=round(mixed.duration_s, 3),
        published_at=utcnow(),
    )
    clock.add("outputs", time.perf_counter() - started)
    return {
        "duration_s": round(mixed.duration_s, 3),
        "lines": len(lines),
        "clips_rendered": rendered,
        "clips_cached": cached,
        "voices": voice_of,
        "integrated_lufs": mixed.integrated_lufs,
        "true_peak_dbtp": mixed.true_peak_dbtp,
        "words": written.words(),
        "script_engine": written.engine,
        **made,
    }


SCRIPT_JOB_TYPE = JobType(
    name=podcasts.SCRIPT_JOB,
    queue="text",
    input_model=PodcastInput,
    params_model=ScriptParams,
    run=run_script,
    timeout_s=3600,
    description="A podcast episode's outline and script, to review (or one segment of it rewritten).",
    check=_check,
)

EPISODE_JOB_TYPE = JobType(
    name=podcasts.EPISODE_JOB,
    queue="tts",
    input_model=PodcastInput,
    params_model=EpisodeParams,
    run=run_episode,
    timeout_s=3 * 3600,
    description="A podcast episode: its script (unless reviewed), voices, mix, and the published audio and captions.",
    check=_check,
    size=_episode_size,
    queue_for=_episode_queue,
)
