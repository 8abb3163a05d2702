"""The rules of podcast episodes: what a request may ask for, what it costs and when it is refused, who may see and
change an episode, and how its status follows the jobs that make it.

An episode is made by jobs: `podcast_script` writes the outline and script and stops for review (or rewrites one
segment of a script under review); `podcast` writes whatever of the script is missing, then voices, mixes and
publishes it. Each stage keeps what it made on the episode, so a retried job goes on from there."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from voxhub.accounts.models import User
from voxhub.audit import service as audit
from voxhub.billing import service as billing
from voxhub.clock import as_utc, utcnow
from voxhub.context import AppContext
from voxhub.errors import Conflict, NotFound, PaymentRequired, Unprocessable, field_errors
from voxhub.files import service as files
from voxhub.files.models import File, FileStatus
from voxhub.jobs import service as jobs
from voxhub.jobs.models import Job, JobStatus
from voxhub.jobs.schemas import JobCreate
from voxhub.labels import service as labels
from voxhub.labels.models import TargetType
from voxhub.labels.service import LabelFilter
from voxhub.notify import delivery
from voxhub.pagination import paginate_by
from voxhub.podcasts import voices
from voxhub.podcasts.models import Podcast
from voxhub.podcasts.schemas import (
    NOTES_MAX_CHARS,
    NOTES_MIN_CHARS,
    WORDS_PER_MINUTE,
    ChapterMark,
    EstimateOut,
    Host,
    Outline,
    OutlineSegment,
    Outputs,
    PodcastCreate,
    PodcastOut,
    PodcastStatus,
    PodcastStatusOut,
    PodcastUpdate,
    Script,
    ScriptEngine,
    ScriptIn,
    ScriptSegment,
    duration_range,
)
from voxhub.transcripts import service as transcripts
from voxhub.voices import service as hosted_voices
from voxhub.workspaces.models import Role
from voxhub.workspaces.service import WorkspaceAccess

log = logging.getLogger(__name__)

SCRIPT_JOB = "podcast_script"  # outline and script, then a stop for review; or one segment rewritten
EPISODE_JOB = "podcast"  # the rest of the script, voices, mix and the published files (priced per minute)
JOB_TYPES = (SCRIPT_JOB, EPISODE_JOB)
SOURCE_MAX_BYTES = 4 * NOTES_MAX_CHARS  # a text file read as notes: UTF-8 of at most the notes' limit
TEXT_TYPES = ("text/", "application/json")
WORKING = (PodcastStatus.QUEUED, PodcastStatus.RUNNING)
MAIL_AFTER_S = 180.0  # an episode that took longer than this is announced by mail to its creator


# ---- reading ----


def get(db: Session, *, workspace_id: str, podcast_id: str) -> Podcast:
    """The workspace's episode, or 404 `podcast_not_found` (another workspace's too)."""
    podcast = db.get(Podcast, podcast_id)
    if podcast is None or podcast.workspace_id != workspace_id:
        raise NotFound("Podcast not found.", code="podcast_not_found")
    return podcast


def list_podcasts(
    db: Session,
    *,
    workspace_id: str,
    status: PodcastStatus | None,
    sort: str,
    order: str,
    cursor: str | None,
    limit: int,
    tags: LabelFilter | None = None,
) -> tuple[list[Podcast], str | None]:
    """One page of the workspace's episodes by creation or last change, and the cursor of the next page."""
    column = Podcast.updated_at if sort == "updated_at" else Podcast.created_at
    query: Select[Any] = select(Podcast).where(Podcast.workspace_id == workspace_id)
    if status is not None:
        query = query.where(Podcast.status == status.value)
    query = labels.narrow(db, query, Podcast.id, workspace_id=workspace_id, target_type=TargetType.PODCAST, wanted=tags)
    return paginate_by(
        db, query, Podcast, column=column, descending=order == "desc", cursor=cursor, limit=limit,
        workspace_id=workspace_id,
    )  # fmt: skip


def options_of(podcast: Podcast) -> PodcastCreate:
    """What the episode was asked for, with its notes as they are now."""
    return PodcastCreate.model_validate({**podcast.options, "notes": podcast.notes})


def hosts_of(podcast: Podcast) -> list[Host]:
    """The episode's hosts, in speaking order."""
    return options_of(podcast).hosts


def script_of(podcast: Podcast) -> Script | None:
    """The script as written or edited so far; None before the first segment is written."""
    return Script.model_validate(podcast.script) if podcast.script else None


def out(db: Session, podcast: Podcast) -> PodcastOut:
    """The episode as the API shows it, with its job's progress."""
    options = options_of(podcast)
    target, _low, _high = duration_range(options.duration)
    script = script_of(podcast)
    return PodcastOut(
        **status_out(db, podcast).model_dump(),
        workspace_id=podcast.workspace_id,
        title=podcast.title,
        duration=options.duration,
        target_minutes=target,
        format=options.format,
        language=options.language or "en",
        focus=options.focus,
        hosts=options.hosts,
        review=options.review,
        notes_chars=len(podcast.notes),
        script_engine=script.engine if script else None,
        duration_s=podcast.duration_s,
        chapters=[ChapterMark.model_validate(mark) for mark in podcast.chapters] if podcast.chapters else None,
        outputs=Outputs.model_validate(podcast.outputs or {}),
        created_by=podcast.created_by,
        tags=labels.tags_of(
            db, workspace_id=podcast.workspace_id, target_type=TargetType.PODCAST, target_id=podcast.id
        ),
        created_at=as_utc(podcast.created_at),
        updated_at=as_utc(podcast.updated_at),
    )


def status_out(db: Session, podcast: Podcast) -> PodcastStatusOut:
    """Where the episode is: status, stage, progress and the step under way."""
    job = db.get(Job, podcast.job_id) if podcast.job_id else None
    return PodcastStatusOut(
        id=podcast.id,
        status=PodcastStatus(podcast.status),
        stage=_stage(podcast, job),
        progress=_progress(podcast, job),
        message=job.message if job is not None and podcast.status in WORKING else None,
        error=_error(podcast, job),
        job_id=podcast.job_id,
    )


def _stage(podcast: Podcast, job: Job | None) -> str | None:
    if podcast.status == PodcastStatus.AWAITING_REVIEW:
        return "review"
    if podcast.status == PodcastStatus.SUCCEEDED:
        return "done"
    return job.stage if job is not None else None


def _progress(podcast: Podcast, job: Job | None) -> float:
    if podcast.status == PodcastStatus.SUCCEEDED:
        return 100.0
    if podcast.status == PodcastStatus.AWAITING_REVIEW:
        return 50.0  # the script is written; the audio is the other half
    return float(job.progress) if job is not None else 0.0


def _error(podcast: Podcast, job: Job | None) -> dict[str, Any] | None:
    if podcast.status != PodcastStatus.FAILED or job is None:
        return None
    return {"code": job.error_code, "message": job.error_message}


# ---- making an episode ----


def create(db: Session, *, ctx: AppContext, access: WorkspaceAccess, request: PodcastCreate) -> Podcast:
    """Accept an episode: its notes read and checked, its price held (or, with a review first, checked), and its
    first job queued once this transaction commits."""
    access.require(Role.MEMBER)
    notes = read_notes(db, ctx=ctx, workspace_id=access.workspace_id, request=request)
    _check_audio_files(db, workspace_id=access.workspace_id, request=request)
    _check_voices(db, ctx, access.workspace_id, request)
    options = request.model_dump(mode="json", exclude={"notes"})
    podcast = Podcast(
        workspace_id=access.workspace_id,
        created_by=access.user.id if access.user else None,
        created_by_api_key=access.api_key_id,
        title=request.title or _title_from(notes),
        notes=notes,
        source=request.source.model_dump(mode="json") if request.source else None,
        options=options,
        status=PodcastStatus.QUEUED.value,
        outputs={},
    )
    db.add(podcast)
    db.flush()
    if request.review:
        # The audio is paid when the script is approved; an episode the plan could not pay for is refused now.
        billing.check_can_pay(
            db, ctx=ctx, workspace_id=access.workspace_id, job_type=EPISODE_JOB, size=episode_size(podcast),
            actor=access.actor,
        )  # fmt: skip
    _start(db, ctx=ctx, access=access, podcast=podcast, job_type=SCRIPT_JOB if request.review else EPISODE_JOB)
    audit.record(
        db,
        actor=access.actor,
        action="podcast.created",
        workspace_id=access.workspace_id,
        target_type="podcast",
        target_id=podcast.id,
        summary={"notes_chars": len(notes), "duration": options["duration"], "review": request.review},
    )
    return podcast


def episode_size(podcast: Podcast) -> billing.JobSize:
    """What an episode's price counts before it is made: its longest allowed length."""
    _target, _low, high = duration_range(options_of(podcast).duration)
    return billing.JobSize(output_seconds=high * 60)


def _start(
    db: Session, *, ctx: AppContext, access: WorkspaceAccess, podcast: Podcast, job_type: str, **params: Any
) -> Job:
    job, _created = jobs.create(
        db,
        ctx=ctx,
        access=access,
        request=JobCreate(type=job_type, input={"podcast_id": podcast.id}, params=params),
        idempotency_key=None,
    )
    podcast.job_id = job.id
    podcast.status = PodcastStatus.QUEUED.value
    return job


def read_notes(db: Session, *, ctx: AppContext, workspace_id: str, request: PodcastCreate) -> str:
    """The notes: as given, then the text of each source (text files, transcriptions), within the notes' limits."""
    parts = [request.notes.strip()] if request.notes and request.notes.strip() else []
    source = request.source
    for index, file_id in enumerate(source.file_ids if source else []):
        parts.append(
            _file_text(db, ctx=ctx, workspace_id=workspace_id, file_id=file_id, field=f"source.file_ids.{index}")
        )
    for index, job_id in enumerate(source.job_ids if source else []):
        parts.append(_transcript_text(db, workspace_id=workspace_id, job_id=job_id, field=f"source.job_ids.{index}"))
    notes = "\n\n".join(part for part in parts if part)
    if not NOTES_MIN_CHARS <= len(notes) <= NOTES_MAX_CHARS:
        where = "notes" if request.notes is not None and not source else "source"
        raise Unprocessable(
            f"The notes must be {NOTES_MIN_CHARS} to {NOTES_MAX_CHARS:,} characters; these are {len(notes):,}.",
            code="validation_error",
            details=field_errors((where, f"{len(notes)} characters, not {NOTES_MIN_CHARS}-{NOTES_MAX_CHARS}")),
        )
    return notes


def _file_text(db: Session, *, ctx: AppContext, workspace_id: str, file_id: str, field: str) -> str:
    file = files.get_file(db, workspace_id=workspace_id, file_id=file_id)
    if file.status != FileStatus.READY.value or not file.content_type.startswith(TEXT_TYPES):
        raise Unprocessable(
            "A source file must be a ready text file; transcribe audio or video first and pass its job in "
            "source.job_ids.",
            code="validation_error",
            details=field_errors((field, f"a {file.content_type} file")),
        )
    data = b""
    for chunk in ctx.store.open(file.storage_key, end=SOURCE_MAX_BYTES):
        data += chunk
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise Unprocessable(
            "A source file must be UTF-8 text.", code="validation_error", details=field_errors((field, "not UTF-8"))
        ) from exc


def _transcript_text(db: Session, *, workspace_id: str, job_id: str, field: str) -> str:
    job = jobs.get(db, workspace_id=workspace_id, job_id=job_id)
    if job.type != "transcribe" or job.status != JobStatus.SUCCEEDED.value:
        raise Unprocessable(
            "A source job must be a succeeded transcription.",
            code="validation_error",
            details=field_errors((field, f"a {job.status} {job.type} job")),
        )
    version = transcripts.get(db, workspace_id=workspace_id, job_id=job_id)
    return " ".join(segment.get("text", "").strip() for segment in version.data.get("segments", [])).strip()


def _check_audio_files(db: Session, *, workspace_id: str, request: PodcastCreate) -> None:
    for field in ("intro_file_id", "outro_file_id", "music_bed_file_id"):
        file_id = getattr(request, field)
        if file_id is None:
            continue
        file = db.get(File, file_id)
        if file is None or file.workspace_id != workspace_id or file.deleted_at is not None:
            raise NotFound("File not found.", code="file_not_found", details={"field": field})
        media = file.media or {}
        if file.status != FileStatus.READY.value or not media.get("audio_codec"):
            raise Unprocessable(
                "Intro, outro and music bed must be ready files with sound.",
                code="validation_error",
                details=field_errors(
                    (field, "no sound" if file.status == FileStatus.READY.value else f"a {file.status} file")
                ),
            )


def _check_voices(db: Session, ctx: AppContext, workspace_id: str, request: PodcastCreate) -> None:
    # A hosted provider's voice needs the workspace's key for that provider (422 provider_key_not_found); the
    # provider judges the voice itself.
    named = [host.voice for host in request.hosts if host.voice]
    hosted = {
        voice
        for voice in named
        if hosted_voices.synthesizer_for(db, ctx=ctx, workspace_id=workspace_id, voice=voice) is not None
    }
    if ctx.settings.tts_engine == "remote":
        return  # the remote API knows its voices; a wrong one fails the voices stage with its answer
    known = {option.id for option in voices.voice_options(ctx.settings, request.language or "en")} | hosted
    for index, host in enumerate(request.hosts):
        if host.voice is not None and host.voice not in known:
            raise Unprocessable(
                f"Voice {host.voice!r} is not one this server has; GET …/podcasts/voices lists them.",
                code="validation_error",
                details=field_errors((f"hosts.{index}.voice", "unknown voice")),
            )


def _title_from(notes: str) -> str:
    first = notes.strip().splitlines()[0].strip(" #*-\t") if notes.strip() else ""
    words = first.split()
    title = " ".join(words[:10]) + ("…" if len(words) > 10 else "")
    return title[:200] or "Untitled episode"


def estimate(db: Session, *, ctx: AppContext, access: WorkspaceAccess, request: PodcastCreate) -> EstimateOut:
    """What an episode would be and cost, and whether it would be accepted now; nothing is made or held."""
    notes = read_notes(db, ctx=ctx, workspace_id=access.workspace_id, request=request)
    target, low, high = duration_range(request.duration)
    price = billing.catalog_of(ctx.settings).price_for(EPISODE_JOB) if ctx.settings.billing_enabled else None
    size = billing.JobSize(output_seconds=high * 60)
    refusal: dict[str, Any] | None = None
    try:
        billing.check_can_pay(
            db, ctx=ctx, workspace_id=access.workspace_id, job_type=EPISODE_JOB, size=size, actor=access.actor
        )
    except PaymentRequired as refused:
        refusal = {"code": refused.code, "message": refused.message, "details": refused.details}
    allowance_left: float | int | None = None
    credits = 0
    if price is not None:
        credits = billing.credits_for_seconds(price, high * 60, billing.catalog_of(ctx.settings).rounding)
        if price.meter:
            summary = billing.summary(db, ctx=ctx, workspace_id=access.workspace_id)
            allowance_left = summary["allowances"].get(price.meter, {}).get("left")
    engine: ScriptEngine = "extractive" if ctx.settings.llm_engine == "none" else ctx.settings.llm_engine
    notes_minutes = len(notes.split()) / WORDS_PER_MINUTE
    warnings = []
    if engine == "extractive" and notes_minutes < low:
        warnings.append(
            f"Without a language model the hosts read the notes' own sentences, and these notes hold about "
            f"{notes_minutes:.1f} minutes of them: the episode will be shorter than {low:g} minutes. Add notes, or "
            "set VOXHUB_LLM_ENGINE to local or remote."
        )
    return EstimateOut(
        target_minutes=target,
        min_minutes=round(low, 2),
        max_minutes=round(high, 2),
        words=round(target * WORDS_PER_MINUTE),
        notes_chars=len(notes),
        notes_minutes=round(notes_minutes, 2),
        script_engine=engine,
        warnings=warnings,
        credits=credits,
        allowance_left=allowance_left,
        can_start=refusal is None,
        refusal=refusal,
    )


# ---- changing an episode ----


def update(db: Session, *, access: WorkspaceAccess, podcast_id: str, body: PodcastUpdate) -> Podcast:
    """A new title at any time; new notes only while no script has been written from them."""
    access.require(Role.MEMBER)
    podcast = get(db, workspace_id=access.workspace_id, podcast_id=podcast_id)
    changed: dict[str, Any] = {}
    if body.notes is not None:
        if podcast.outline is not None or podcast.script is not None:
            raise Conflict(
                "The script is already written from these notes; edit the script instead.",
                code="podcast_script_written",
                details={"status": podcast.status},
            )
        notes = body.notes.strip()
        if not NOTES_MIN_CHARS <= len(notes) <= NOTES_MAX_CHARS:
            raise Unprocessable(
                f"The notes must be {NOTES_MIN_CHARS} to {NOTES_MAX_CHARS:,} characters.",
                code="validation_error",
                details=field_errors(("notes", f"{len(notes)} characters")),
            )
        podcast.notes = notes
        changed["notes_chars"] = len(notes)
    if body.title is not None:
        podcast.title = body.title.strip() or podcast.title
        changed["title"] = podcast.title
    if changed:
        podcast.updated_at = utcnow()
        _audit(db, access, "podcast.updated", podcast, changed)
    return podcast


def delete(db: Session, *, ctx: AppContext, access: WorkspaceAccess, podcast_id: str) -> None:
    """Remove the episode and its files; a job still making it is canceled first."""
    access.require(Role.MEMBER)
    podcast = get(db, workspace_id=access.workspace_id, podcast_id=podcast_id)
    if podcast.job_id and podcast.status in WORKING:
        job = db.get(Job, podcast.job_id)
        if job is not None and job.status not in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED):
            jobs.cancel(db, ctx=ctx, access=access, job_id=job.id)
    file_ids = [file_id for file_id in Outputs.model_validate(podcast.outputs or {}).model_dump().values() if file_id]
    if file_ids:
        files.remove_outputs(db, ctx=ctx, file_ids=file_ids, actor=access.actor)
    _audit(db, access, "podcast.deleted", podcast, {"title": podcast.title})
    labels.forget(db, workspace_id=podcast.workspace_id, target_type=TargetType.PODCAST, target_id=podcast.id)
    db.delete(podcast)


def retry(db: Session, *, ctx: AppContext, access: WorkspaceAccess, podcast_id: str) -> Podcast:
    """Run a failed or canceled episode's job again (its price held again); it goes on from its last stage."""
    access.require(Role.MEMBER)
    podcast = get(db, workspace_id=access.workspace_id, podcast_id=podcast_id)
    if podcast.status not in (PodcastStatus.FAILED, PodcastStatus.CANCELED) or podcast.job_id is None:
        raise Conflict(
            "Only a failed or canceled episode can be retried.",
            code="podcast_not_retryable",
            details={"status": podcast.status},
        )
    jobs.retry(db, ctx=ctx, access=access, job_id=podcast.job_id)
    podcast.status = PodcastStatus.QUEUED.value
    _audit(db, access, "podcast.retried", podcast, {})
    return podcast


def _in_review(podcast: Podcast, action: str) -> None:
    if podcast.status != PodcastStatus.AWAITING_REVIEW:
        raise Conflict(
            f"Only an episode awaiting review can {action}.",
            code="podcast_not_in_review",
            details={"status": podcast.status},
        )


def get_script(db: Session, *, workspace_id: str, podcast_id: str) -> Script:
    """The script, once its first segment is written; 404 `script_not_ready` before."""
    podcast = get(db, workspace_id=workspace_id, podcast_id=podcast_id)
    script = script_of(podcast)
    if script is None:
        raise NotFound("The script is not written yet.", code="script_not_ready", details={"status": podcast.status})
    return script


def put_script(db: Session, *, access: WorkspaceAccess, podcast_id: str, body: ScriptIn) -> Script:
    """Replace the script of an episode awaiting review; every line's speaker must be one of its hosts."""
    access.require(Role.MEMBER)
    podcast = get(db, workspace_id=access.workspace_id, podcast_id=podcast_id)
    _in_review(podcast, "have its script edited")
    names = {host.name for host in hosts_of(podcast)}
    wrong = [
        (f"segments.{s}.lines.{n}.speaker", f"not a host ({', '.join(sorted(names))})")
        for s, segment in enumerate(body.segments)
        for n, line in enumerate(segment.lines)
        if line.speaker not in names
    ]
    if wrong:
        raise Unprocessable("Every line must be spoken by one of the hosts.", details=field_errors(*wrong[:20]))
    current = script_of(podcast)
    assert current is not None  # in review: written
    edited = current.model_copy(update={"segments": [ScriptSegment.model_validate(s) for s in body.segments]})
    podcast.script = edited.model_dump(mode="json")
    if podcast.outline is not None:
        podcast.outline = _outline_following(Outline.model_validate(podcast.outline), edited).model_dump(mode="json")
    podcast.updated_at = utcnow()
    _audit(db, access, "podcast.script_edited", podcast, {"segments": len(body.segments), "words": edited.words()})
    return edited


def _outline_following(outline: Outline, edited: Script) -> Outline:
    """The outline with one segment per segment of an edited script, in its order, so that rewriting segment n
    works from what segment n now is: a segment kept (by its title) keeps its planned points; one the reviewer added
    or renamed is planned from its own points, or its title, and the words it has."""
    unused = list(outline.segments)
    planned = []
    for segment in edited.segments:
        kept = next((plan for plan in unused if plan.title == segment.title), None)
        if kept is not None:
            unused.remove(kept)
            planned.append(kept)
            continue
        words = sum(len(line.text.split()) for line in segment.lines)
        planned.append(
            OutlineSegment(title=segment.title, points=segment.points or [segment.title], words=segment.words or words)
        )
    return outline.model_copy(update={"segments": planned})


def approve(db: Session, *, ctx: AppContext, access: WorkspaceAccess, podcast_id: str) -> Podcast:
    """The reviewed script goes to the voices: the episode's price is held now."""
    access.require(Role.MEMBER)
    podcast = get(db, workspace_id=access.workspace_id, podcast_id=podcast_id)
    _in_review(podcast, "be approved")
    podcast.approved_at = utcnow()
    _start(db, ctx=ctx, access=access, podcast=podcast, job_type=EPISODE_JOB)
    _audit(db, access, "podcast.approved", podcast, {})
    return podcast


def regenerate_segment(
    db: Session, *, ctx: AppContext, access: WorkspaceAccess, podcast_id: str, segment: int
) -> Podcast:
    """Write one segment of a script under review again; the episode is back in review when it is done."""
    access.require(Role.MEMBER)
    podcast = get(db, workspace_id=access.workspace_id, podcast_id=podcast_id)
    _in_review(podcast, "have a segment regenerated")
    script = script_of(podcast)
    assert script is not None
    if not 0 <= segment < len(script.segments):
        raise NotFound(
            f"The script has segments 0 to {len(script.segments) - 1}.",
            code="segment_not_found",
            details={"segments": len(script.segments)},
        )
    _start(db, ctx=ctx, access=access, podcast=podcast, job_type=SCRIPT_JOB, segment=segment)
    _audit(db, access, "podcast.segment_regenerated", podcast, {"segment": segment})
    return podcast


def download_url(db: Session, *, ctx: AppContext, access: WorkspaceAccess, podcast_id: str, fmt: str) -> str:
    """A signed link to a finished episode's audio in `fmt`; 409 until it is finished, 404 for a format not made."""
    podcast = get(db, workspace_id=access.workspace_id, podcast_id=podcast_id)
    if podcast.status != PodcastStatus.SUCCEEDED:
        raise Conflict(
            "The episode's audio is not ready.", code="podcast_not_ready", details={"status": podcast.status}
        )
    file_id = (podcast.outputs or {}).get(f"{fmt}_file_id")
    if not file_id:
        made = options_of(podcast).formats
        raise NotFound(
            f'This episode was made as {", ".join(made)} only; ask for "formats": ["{fmt}"] when making one.',
            code="format_not_made",
            details={"formats": made},
        )
    return files.download_url(db, ctx=ctx, access=access, file_id=file_id, inline=False)


def _audit(db: Session, access: WorkspaceAccess, action: str, podcast: Podcast, summary: dict[str, Any]) -> None:
    audit.record(
        db,
        actor=access.actor,
        action=action,
        workspace_id=access.workspace_id,
        target_type="podcast",
        target_id=podcast.id,
        summary=summary,
    )


# ---- following the jobs ----


def of_job(db: Session, job: Job) -> Podcast | None:
    """The episode `job` is making now (None for another job, or an episode deleted since)."""
    if job.type not in JOB_TYPES:
        return None
    podcast_id = (job.input or {}).get("podcast_id")
    podcast = db.get(Podcast, podcast_id) if podcast_id else None
    if podcast is None or podcast.job_id != job.id:
        return None
    return podcast


def job_finished(db: Session, event: jobs.JobFinished) -> None:
    """An episode's job ended: the episode's status follows, and success or failure is announced."""
    job = event.job
    podcast = of_job(db, job)
    if podcast is None:
        return
    if job.status == JobStatus.SUCCEEDED:
        podcast.status = (
            PodcastStatus.AWAITING_REVIEW.value if job.type == SCRIPT_JOB else PodcastStatus.SUCCEEDED.value
        )
    elif job.status == JobStatus.FAILED:
        podcast.status = PodcastStatus.FAILED.value
    else:
        podcast.status = PodcastStatus.CANCELED.value
    podcast.updated_at = utcnow()
    if podcast.status in (PodcastStatus.SUCCEEDED, PodcastStatus.FAILED):
        delivery.emit(
            db,
            workspace_id=podcast.workspace_id,
            event_type=f"podcast.{podcast.status}",
            data=out(db, podcast).model_dump(mode="json"),
        )
    if podcast.status == PodcastStatus.SUCCEEDED:
        _mail_when_slow(db, event.ctx, podcast)


def _mail_when_slow(db: Session, ctx: AppContext, podcast: Podcast) -> None:
    """Tell the creator an episode that took minutes is ready: they have likely moved on to something else."""
    took = (utcnow() - as_utc(podcast.created_at)).total_seconds()
    creator = db.get(User, podcast.created_by) if podcast.created_by else None
    if took < MAIL_AFTER_S or creator is None or creator.deleted_at is not None:
        return
    ctx.mailer.send_after_commit(
        db,
        template="podcast_ready",
        to=creator.email,
        context={
            "title": podcast.title,
            "minutes": round((podcast.duration_s or 0) / 60, 1),
            "workspace_id": podcast.workspace_id,
            "podcast_id": podcast.id,
        },
        user_id=creator.id,
        workspace_id=podcast.workspace_id,
        event_key=f"podcast_ready:{podcast.id}",
    )


jobs.job_finished.connect(job_finished)


def mark_running(podcast: Podcast) -> None:
    """The pipeline has begun (or resumed) work on the episode."""
    podcast.status = PodcastStatus.RUNNING.value
    podcast.updated_at = utcnow()
