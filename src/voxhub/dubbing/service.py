"""The rules of dubs: what a request may ask for and when it is refused, what it costs, who may see and change a dub,
how its units are edited, and how its status follows the jobs that make it.

A dub is made by jobs: `dub` (asked for here or as POST …/jobs {type: "dub"}) understands, translates and, unless a
review was asked for, renders; `dub_render` renders again after a review or edits, speaking only changed units."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from voxhub import engines
from voxhub.audit import service as audit
from voxhub.billing import service as billing
from voxhub.clock import as_utc, utcnow
from voxhub.context import AppContext
from voxhub.dubbing import units as dub_units
from voxhub.dubbing import voices as dub_voices
from voxhub.dubbing.models import Dub
from voxhub.dubbing.schemas import (
    DubCreate,
    DubOut,
    DubParams,
    DubStatus,
    DubStatusOut,
    DubUpdate,
    Outputs,
    QaReport,
    QaTotals,
    SegmentsPatch,
    Translation,
    Unit,
)
from voxhub.engines import llm
from voxhub.errors import Conflict, NotFound, Unprocessable, field_errors
from voxhub.files import service as files
from voxhub.files.models import FileStatus
from voxhub.jobs import service as jobs
from voxhub.jobs.models import Job, JobStatus
from voxhub.jobs.schemas import JobCreate
from voxhub.labels import service as labels
from voxhub.labels.models import TargetType
from voxhub.labels.service import LabelFilter
from voxhub.notify import delivery
from voxhub.pagination import paginate_by
from voxhub.podcasts import voices as podcast_voices
from voxhub.voices import service as hosted_voices
from voxhub.workspaces.models import Role
from voxhub.workspaces.service import WorkspaceAccess

log = logging.getLogger(__name__)

DUB_JOB = "dub"  # understand, translate, and render unless a review comes first (priced per minute and language)
RENDER_JOB = "dub_render"  # render again after a review or edits: only changed units are spoken again
JOB_TYPES = (DUB_JOB, RENDER_JOB)
WORKING = (DubStatus.QUEUED, DubStatus.RUNNING)


# ---- reading ----


def get(db: Session, *, workspace_id: str, dub_id: str) -> Dub:
    """The workspace's dub, or 404 `dub_not_found` (another workspace's too)."""
    dub = db.get(Dub, dub_id)
    if dub is None or dub.workspace_id != workspace_id:
        raise NotFound("Dub not found.", code="dub_not_found")
    return dub


def list_dubs(
    db: Session,
    *,
    workspace_id: str,
    status: DubStatus | None,
    sort: str,
    order: str,
    cursor: str | None,
    limit: int,
    tags: LabelFilter | None = None,
) -> tuple[list[Dub], str | None]:
    """One page of the workspace's dubs by creation or last change, and the cursor of the next page."""
    column = Dub.updated_at if sort == "updated_at" else Dub.created_at
    query: Select[Any] = select(Dub).where(Dub.workspace_id == workspace_id)
    if status is not None:
        query = query.where(Dub.status == status.value)
    query = labels.narrow(db, query, Dub.id, workspace_id=workspace_id, target_type=TargetType.DUB, wanted=tags)
    return paginate_by(
        db, query, Dub, column=column, descending=order == "desc", cursor=cursor, limit=limit,
        workspace_id=workspace_id,
    )  # fmt: skip


def options_of(dub: Dub) -> DubParams:
    """What the dub was asked for."""
    return DubParams.model_validate(dub.options)


def units_of(dub: Dub) -> list[Unit] | None:
    """The dub units, once made."""
    return [Unit.model_validate(unit) for unit in dub.segments] if dub.segments is not None else None


def media_of(db: Session, *, workspace_id: str, file_id: str) -> dict[str, Any] | None:
    """What probing found in the dub's source file (video codec, duration, …)."""
    file = files.get_file(db, workspace_id=workspace_id, file_id=file_id)
    return dict(file.media or {})


def of_origin_job(db: Session, *, job_id: str) -> Dub | None:
    """The dub a `dub` job started."""
    return db.scalar(select(Dub).where(Dub.origin_job_id == job_id))


def out(db: Session, dub: Dub) -> DubOut:
    """The dub as the API shows it, with its job's progress."""
    options = options_of(dub)
    qa = dub.qa or {}
    return DubOut(
        **status_out(db, dub).model_dump(),
        workspace_id=dub.workspace_id,
        file_id=dub.file_id,
        title=dub.title,
        target_languages=options.target_languages,
        source_language=dub.source_language or options.source_language,
        background=options.background,
        subtitles=options.subtitles,
        review=options.review,
        start=options.start,
        end=options.end,
        voices={label: dict(speaker.get("voices") or {}) for label, speaker in sorted((dub.speakers or {}).items())},
        units=len(dub.segments or []),
        duration_s=dub.duration_s,
        outputs=Outputs.model_validate(dub.outputs or {}),
        qa={language: QaTotals.model_validate(value) for language, value in qa.get("languages", {}).items()}
        if qa
        else None,
        warnings=list(dub.warnings or []),
        created_by=dub.created_by,
        tags=labels.tags_of(db, workspace_id=dub.workspace_id, target_type=TargetType.DUB, target_id=dub.id),
        created_at=as_utc(dub.created_at),
        updated_at=as_utc(dub.updated_at),
    )


def status_out(db: Session, dub: Dub) -> DubStatusOut:
    """Where the dub is: status, stage, progress and the step under way."""
    job = db.get(Job, dub.job_id) if dub.job_id else None
    stage = job.stage if job is not None else None
    progress = float(job.progress) if job is not None else 0.0
    if dub.status == DubStatus.AWAITING_REVIEW:
        stage, progress = "review", 60.0
    elif dub.status == DubStatus.SUCCEEDED:
        stage, progress = "done", 100.0
    error = None
    if dub.status == DubStatus.FAILED and job is not None:
        error = {"code": job.error_code, "message": job.error_message}
    return DubStatusOut(
        id=dub.id,
        status=DubStatus(dub.status),
        stage=stage,
        progress=progress,
        message=job.message if job is not None and dub.status in WORKING else None,
        error=error,
        job_id=dub.job_id,
    )


def qa_report(db: Session, *, workspace_id: str, dub_id: str) -> QaReport:
    """The last render's report, unit by unit; 404 `qa_not_ready` before the first render."""
    dub = get(db, workspace_id=workspace_id, dub_id=dub_id)
    if not dub.qa:
        raise NotFound("The dub has not been rendered yet.", code="qa_not_ready", details={"status": dub.status})
    return QaReport.model_validate(dub.qa)


def output_file(db: Session, *, workspace_id: str, dub_id: str, kind: str, language: str | None) -> str:
    """The id of one file the dub made: `media`, `background`, or a language's `audio`, `voice`, `srt` or `vtt`
    (its first language when none is named); 404 `output_not_found` when it made none."""
    dub = get(db, workspace_id=workspace_id, dub_id=dub_id)
    outputs = Outputs.model_validate(dub.outputs or {})
    if kind in ("media", "background"):
        file_id = outputs.media_file_id if kind == "media" else outputs.background_file_id
    else:
        by_language: dict[str, str] = getattr(outputs, kind)
        file_id = by_language.get(language or next(iter(by_language), ""))
    if not file_id:
        raise NotFound(
            "The dub has not made that file; GET the dub to see its outputs.",
            code="output_not_found",
            details={"kind": kind, "language": language, "status": dub.status},
        )
    return file_id


# ---- what a request may ask for ----


def check_request(db: Session, *, ctx: AppContext, workspace_id: str, file_id: str, params: DubParams) -> None:
    """Refuse at once what the job could not do: a file without sound, a language nothing here translates to or
    speaks, an unknown voice, a range outside the recording."""
    file = files.get_file(db, workspace_id=workspace_id, file_id=file_id)
    media = file.media or {}
    if file.status == FileStatus.READY.value and media.get("container") != "text" and not media.get("audio_codec"):
        raise Unprocessable(
            f"{file.filename!r} has no audio stream: there is nothing to dub.",
            code="no_audio_stream",
            details={"file_id": file_id},
        )
    duration = float(media.get("duration_s") or 0.0)
    if params.start is not None and duration and params.start >= duration:
        raise Unprocessable(
            f"start is past the end of the recording ({duration:.1f} s).",
            code="validation_error",
            details=field_errors(("params.start", f"the recording is {duration:.1f} s long")),
        )
    settings = ctx.settings
    for language in params.target_languages:
        _check_pair(ctx, params.source_language, language)
        if settings.tts_engine != "remote" and not podcast_voices.voice_options(settings, language):
            raise Unprocessable(
                f"No voice here speaks {language!r}; install a piper or espeak-ng voice for it, or use a remote "
                "speech engine (VOXHUB_TTS_ENGINE=remote).",
                code="unsupported_language",
                details={"language": language},
            )
    for label, voice in params.voices.items():
        # A hosted provider's voice needs the workspace's key for it: 422 provider_key_not_found now, not later.
        hosted_voices.synthesizer_for(db, ctx=ctx, workspace_id=workspace_id, voice=voice)
        if not any(dub_voices.speaks(settings, voice, language) for language in params.target_languages):
            raise Unprocessable(
                f"Voice {voice!r} does not speak any of {', '.join(params.target_languages)}; GET …/dubs/voices "
                "lists the voices.",
                code="validation_error",
                details=field_errors((f"params.voices.{label}", "unknown voice")),
            )


def _translates(ctx: AppContext, source: str | None, target: str) -> bool:
    settings = ctx.settings
    if settings.mt_engine == "remote":
        return True
    if settings.llm_engine == "remote":
        return True
    if settings.llm_engine == "local" and llm.not_installed(settings) is None:
        return True
    pairs = engines.translator(settings, engine="local").pairs()
    if source is None:
        return any(to == target for _from, to in pairs)
    return (source, target) in pairs


def _check_pair(ctx: AppContext, source: str | None, target: str) -> None:
    if _translates(ctx, source, target):
        return
    pairs = engines.translator(ctx.settings, engine="local").pairs()
    known = ", ".join(f"{a}→{b}" for a, b in pairs) or "none"
    raise Unprocessable(
        f"Nothing here translates {source or 'the recording'} to {target}: the local engine has {known}; set "
        "VOXHUB_LLM_ENGINE to local (with a model installed) or remote for other pairs.",
        code="unsupported_language_pair",
        details={"source_language": source, "target_language": target, "pairs": [list(pair) for pair in pairs]},
    )


def dub_size(db: Session, *, workspace_id: str, file_id: str, params: DubParams) -> billing.JobSize:
    """What a dub's price counts: the minutes dubbed, once per target language."""
    file = jobs.media_input(db, workspace_id=workspace_id, file_id=file_id, job_type=DUB_JOB)
    duration = float((file.media or {}).get("duration_s") or 0.0)
    end = min(duration, params.end) if params.end is not None else duration
    seconds = max(0.0, end - (params.start or 0.0))
    return billing.JobSize(input_seconds=seconds * len(params.target_languages))


def check_render(db: Session, *, workspace_id: str, dub_id: str) -> None:
    """A dub can be rendered once its units are translated and no job is working on it."""
    dub = get(db, workspace_id=workspace_id, dub_id=dub_id)
    if dub.status in WORKING:
        raise Conflict("A job is working on this dub now.", code="dub_busy", details={"job_id": dub.job_id})
    if dub.segments is None:
        raise Conflict(
            "The dub has no units yet; retry it instead.", code="dub_not_ready", details={"status": dub.status}
        )


# ---- making a dub ----


def create(db: Session, *, ctx: AppContext, access: WorkspaceAccess, request: DubCreate) -> Dub:
    """Accept a dub: checked, its price held, its job queued once this transaction commits."""
    params = DubParams.model_validate(request.model_dump(exclude={"file_id", "title"}))
    job, _created = jobs.create(
        db,
        ctx=ctx,
        access=access,
        request=JobCreate(type=DUB_JOB, input={"file_id": request.file_id}, params=params.model_dump(mode="json")),
        idempotency_key=None,
    )
    dub = of_origin_job(db, job_id=job.id)
    assert dub is not None  # made when the job was
    if request.title:
        dub.title = request.title.strip() or dub.title
    return dub


def job_created(db: Session, event: jobs.JobCreated) -> None:
    """A `dub` job was accepted (here or through /jobs): its dub is made with it."""
    job = event.job
    if job.type != DUB_JOB:
        return
    file = files.get_file(db, workspace_id=job.workspace_id, file_id=str(job.input["file_id"]))
    dub = Dub(
        workspace_id=job.workspace_id,
        created_by=job.created_by,
        created_by_api_key=job.created_by_api_key,
        file_id=file.id,
        title=file.filename[:200],
        options=dict(job.params),
        status=DubStatus.QUEUED.value,
        origin_job_id=job.id,
        job_id=job.id,
        outputs={},
    )
    db.add(dub)
    db.flush()
    audit.record(
        db,
        actor=event.actor,
        action="dub.created",
        workspace_id=job.workspace_id,
        target_type="dub",
        target_id=dub.id,
        summary={"file_id": file.id, "languages": job.params.get("target_languages"), "job_id": job.id},
    )


jobs.job_created.connect(job_created)


def update(db: Session, *, access: WorkspaceAccess, dub_id: str, body: DubUpdate) -> Dub:
    """A new title."""
    access.require(Role.MEMBER)
    dub = get(db, workspace_id=access.workspace_id, dub_id=dub_id)
    if body.title is not None and body.title.strip():
        dub.title = body.title.strip()
        dub.updated_at = utcnow()
        _audit(db, access, "dub.updated", dub, {"title": dub.title})
    return dub


def delete(db: Session, *, ctx: AppContext, access: WorkspaceAccess, dub_id: str) -> None:
    """Remove the dub and the files it made; a job still working on it is canceled first."""
    access.require(Role.MEMBER)
    dub = get(db, workspace_id=access.workspace_id, dub_id=dub_id)
    if dub.job_id and dub.status in WORKING:
        job = db.get(Job, dub.job_id)
        if job is not None and job.status not in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED):
            jobs.cancel(db, ctx=ctx, access=access, job_id=job.id)
    file_ids = _output_ids(dub.outputs or {})
    if file_ids:
        files.remove_outputs(db, ctx=ctx, file_ids=file_ids, actor=access.actor)
    _audit(db, access, "dub.deleted", dub, {"title": dub.title})
    labels.forget(db, workspace_id=dub.workspace_id, target_type=TargetType.DUB, target_id=dub.id)
    db.delete(dub)


def _output_ids(outputs: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for value in outputs.values():
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            found += [item for item in value.values() if isinstance(item, str)]
    return found


def retry(db: Session, *, ctx: AppContext, access: WorkspaceAccess, dub_id: str) -> Dub:
    """Run a failed or canceled dub's job again (its price held again); it goes on from its last stage."""
    access.require(Role.MEMBER)
    dub = get(db, workspace_id=access.workspace_id, dub_id=dub_id)
    if dub.status not in (DubStatus.FAILED, DubStatus.CANCELED) or dub.job_id is None:
        raise Conflict(
            "Only a failed or canceled dub can be retried.", code="dub_not_retryable", details={"status": dub.status}
        )
    jobs.retry(db, ctx=ctx, access=access, job_id=dub.job_id)
    dub.status = DubStatus.QUEUED.value
    _audit(db, access, "dub.retried", dub, {})
    return dub


def render(db: Session, *, ctx: AppContext, access: WorkspaceAccess, dub_id: str) -> Dub:
    """Approve a dub under review, or render an edited one again: only units that changed are spoken again."""
    access.require(Role.MEMBER)
    dub = get(db, workspace_id=access.workspace_id, dub_id=dub_id)
    check_render(db, workspace_id=access.workspace_id, dub_id=dub_id)
    approving = dub.status == DubStatus.AWAITING_REVIEW
    job, _created = jobs.create(
        db,
        ctx=ctx,
        access=access,
        request=JobCreate(type=RENDER_JOB, input={"dub_id": dub.id}, params={}),
        idempotency_key=None,
    )
    if approving:
        dub.approved_at = utcnow()
    dub.job_id = job.id
    dub.status = DubStatus.QUEUED.value
    dub.updated_at = utcnow()
    _audit(db, access, "dub.approved" if approving else "dub.rendered", dub, {"job_id": job.id})
    return dub


# ---- the units ----


def get_units(db: Session, *, workspace_id: str, dub_id: str) -> list[Unit]:
    """The dub units with their translations; 404 `segments_not_ready` until they are made."""
    dub = get(db, workspace_id=workspace_id, dub_id=dub_id)
    units = units_of(dub)
    if units is None:
        raise NotFound("The dub's units are not made yet.", code="segments_not_ready", details={"status": dub.status})
    return units


def patch_units(
    db: Session, *, ctx: AppContext, access: WorkspaceAccess, dub_id: str, body: SegmentsPatch
) -> list[Unit]:
    """Edit units: what was said, a translation, the speaker, a voice, the timing, mute or keep the original. An
    edited unit is spoken again at the next render; the others keep their clips."""
    access.require(Role.MEMBER)
    dub = get(db, workspace_id=access.workspace_id, dub_id=dub_id)
    if dub.status in WORKING:
        raise Conflict("A job is working on this dub now.", code="dub_busy", details={"job_id": dub.job_id})
    units = units_of(dub)
    if units is None:
        raise Conflict("The dub's units are not made yet.", code="dub_not_ready", details={"status": dub.status})
    options = options_of(dub)
    by_index = {unit.index: unit for unit in units}
    speakers = set(dub.speakers or {})
    duration = dub.duration_s or max(unit.slot_end for unit in units)
    problems: list[tuple[str, str]] = []
    retimed = False
    for number, patch in enumerate(body.segments):
        where = f"segments.{number}"
        unit = by_index.get(patch.index)
        if unit is None:
            problems.append((f"{where}.index", f"no unit {patch.index} (0 to {len(units) - 1})"))
            continue
        if patch.text is not None:
            unit.text = " ".join(patch.text.split())
        if patch.speaker is not None:
            if patch.speaker not in speakers:
                problems.append((f"{where}.speaker", f"not a speaker of this dub ({', '.join(sorted(speakers))})"))
            unit.speaker = patch.speaker
        for language, change in (patch.translations or {}).items():
            if language not in options.target_languages:
                problems.append((f"{where}.translations.{language}", "not a target language of this dub"))
                continue
            current = unit.translations.get(language) or Translation(text=unit.text)
            if change.text is not None:
                current = current.model_copy(
                    update={
                        "text": " ".join(change.text.split()),
                        "edited": True,
                        "shortened": False,
                        "source_text": unit.text,
                    }
                )
            if change.voice is not None:
                hosted_voices.synthesizer_for(db, ctx=ctx, workspace_id=access.workspace_id, voice=change.voice)
                if not dub_voices.speaks(ctx.settings, change.voice, language):
                    problems.append((f"{where}.translations.{language}.voice", f"no such voice for {language}"))
                current = current.model_copy(update={"voice": change.voice})
            unit.translations[language] = current
        if patch.start is not None or patch.end is not None:
            start = patch.start if patch.start is not None else unit.start
            end = patch.end if patch.end is not None else unit.end
            if not 0 <= start < end <= duration + 0.5:
                problems.append((f"{where}.start", f"start must come before end, within 0-{duration:.1f} s"))
            unit.start, unit.end, retimed = round(start, 3), round(end, 3), True
        if patch.mute is not None:
            unit.mute = patch.mute
        if patch.keep_original is not None:
            unit.keep_original = patch.keep_original
    if problems:
        raise Unprocessable(f"{problems[0][0]}: {problems[0][1]}", details=field_errors(*problems[:20]))
    if retimed:
        units = dub_units.with_slots(units, duration_s=duration)
    dub.segments = [unit.model_dump(mode="json") for unit in units]
    dub.updated_at = utcnow()
    _audit(db, access, "dub.segments_edited", dub, {"indexes": [patch.index for patch in body.segments][:100]})
    return units


# ---- following the jobs ----


def _audit(db: Session, access: WorkspaceAccess, action: str, dub: Dub, summary: dict[str, Any]) -> None:
    audit.record(
        db,
        actor=access.actor,
        action=action,
        workspace_id=access.workspace_id,
        target_type="dub",
        target_id=dub.id,
        summary=summary,
    )


def of_job(db: Session, job: Job) -> Dub | None:
    """The dub `job` is working on now (None for another job, or a dub deleted since)."""
    if job.type == DUB_JOB:
        dub = of_origin_job(db, job_id=job.id)
    elif job.type == RENDER_JOB:
        dub = db.get(Dub, (job.input or {}).get("dub_id"))
    else:
        return None
    return dub if dub is not None and dub.job_id == job.id else None


def job_finished(db: Session, event: jobs.JobFinished) -> None:
    """A dub's job ended: the dub's status follows, and its end is announced to the workspace's webhooks."""
    job = event.job
    dub = of_job(db, job)
    if dub is None:
        return
    if job.status == JobStatus.SUCCEEDED:
        waiting = (job.result or {}).get("status") == DubStatus.AWAITING_REVIEW.value
        dub.status = (DubStatus.AWAITING_REVIEW if waiting else DubStatus.SUCCEEDED).value
    elif job.status == JobStatus.FAILED:
        dub.status = DubStatus.FAILED.value
    else:
        dub.status = DubStatus.CANCELED.value
    dub.updated_at = utcnow()
    if dub.status != DubStatus.CANCELED:
        delivery.emit(
            db, workspace_id=dub.workspace_id, event_type=f"dub.{dub.status}", data=out(db, dub).model_dump(mode="json")
        )


jobs.job_finished.connect(job_finished)


def mark_running(dub: Dub) -> None:
    """The pipeline has begun (or resumed) work on the dub."""
    dub.status = DubStatus.RUNNING.value
    dub.updated_at = utcnow()


def voices(ctx: AppContext, language: str, *, db: Session, workspace_id: str) -> list[dict[str, Any]]:
    """The voices a dub in `language` can use, best first, with their measured pace where known; then the
    workspace's hosted voices (ElevenLabs, Unreal Speech), whose providers judge the language themselves."""
    hosted = [
        {
            "id": voice.id,
            "description": f"{voice.name}, {voice.description}",
            "engine": voice.engine,
            "languages": ["*"],
            "chars_per_second": dub_voices.known_rate(ctx.store, voice.id, language),
        }
        for voice in hosted_voices.workspace_voices(db, ctx=ctx, workspace_id=workspace_id)
    ]
    local = [
        {
            "id": option.id,
            "description": option.description,
            "engine": option.engine,
            "languages": list(option.languages),
            "chars_per_second": dub_voices.known_rate(ctx.store, option.id, language),
        }
        for option in podcast_voices.voice_options(ctx.settings, language)
    ]
    return local + hosted
