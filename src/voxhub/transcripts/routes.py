"""HTTP routes for transcripts (export in five formats, corrections in versions) and the list of voices."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from voxhub import engines
from voxhub.db import MAX_INTEGER
from voxhub.deps import Ctx, CurrentPrincipal, DbSession, MemberAccess, ViewerAccess, get_workspace_access
from voxhub.errors import Unprocessable, responses
from voxhub.pagination import Page
from voxhub.transcripts import formats, service
from voxhub.transcripts.schemas import TranscriptEdit, TranscriptVersionOut, VoiceOut, transcript_document, version_out
from voxhub.voices import service as hosted_voices
from voxhub.workspaces.models import Role

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/jobs/{job_id}/transcript", tags=["transcripts"])
voices_router = APIRouter(prefix="/api/v1/voices", tags=["speech"])

Lang = Annotated[str | None, Query(max_length=16, description="A translation's language (from a translate job).")]


@router.get(
    "",
    summary="A job's transcript",
    responses={
        **responses(401, 403, 404, 409, 422),
        200: {"content": {mime.split(";")[0]: {} for mime in formats.CONTENT_TYPES.values()}},
    },
)
def get_transcript(
    job_id: str,
    db: DbSession,
    access: ViewerAccess,
    format: Literal["json", "txt", "srt", "vtt", "tsv"] = "json",
    lang: Lang = None,
    version: Annotated[int | None, Query(ge=1, le=MAX_INTEGER)] = None,
    max_line_chars: Annotated[int, Query(ge=10, le=200)] = 42,
    max_cue_s: Annotated[float, Query(ge=1, le=60)] = 7.0,
    download: bool = False,
) -> Response:
    """The latest version (or `version`) in `json`, `txt`, `srt`, `vtt` or `tsv`; `lang` picks a translation."""
    row = service.get(db, workspace_id=access.workspace_id, job_id=job_id, lang=lang, version=version)
    body = formats.render(transcript_document(row), format, max_line_chars=max_line_chars, max_cue_s=max_cue_s)
    headers = {"X-Transcript-Version": str(row.version)}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="{job_id}.{row.variant}.{format}"'
    return Response(body, media_type=formats.CONTENT_TYPES[format], headers=headers)


@router.patch("", summary="Correct a transcript", responses=responses(401, 403, 404, 409, 422))
def edit_transcript(
    job_id: str,
    body: TranscriptEdit,
    db: DbSession,
    access: MemberAccess,
    lang: Lang = None,
    if_match: Annotated[str | None, Header(description="A version number, as `base_version`.")] = None,
) -> dict[str, Any]:
    """Correct segments' text and speakers, or name speakers. Each edit is a new version; exports use the latest."""
    base_version = body.base_version
    if base_version is None and if_match:
        try:
            base_version = int(if_match.strip('"W/ '))
        except ValueError as exc:
            raise Unprocessable("If-Match must be a version number.", code="validation_error") from exc
    row = service.edit(
        db,
        access=access,
        job_id=job_id,
        segments=[edit.model_dump(exclude_unset=True) for edit in body.segments],
        speakers=body.speakers,
        base_version=base_version,
        lang=lang,
    )
    return transcript_document(row)


@router.get("/versions", summary="A transcript's versions", responses=responses(401, 403, 404, 409))
def transcript_versions(
    job_id: str, db: DbSession, access: ViewerAccess, lang: Lang = None
) -> Page[TranscriptVersionOut]:
    rows = service.versions(db, workspace_id=access.workspace_id, job_id=job_id, lang=lang)
    return Page(items=[version_out(row) for row in rows])


@router.get("/languages", summary="A transcript's languages", responses=responses(401, 403, 404, 409))
def transcript_languages(job_id: str, db: DbSession, access: ViewerAccess) -> Page[TranscriptVersionOut]:
    """The latest version in each language: the original, then every translation (pass its `language` as `lang`)."""
    rows = service.languages(db, workspace_id=access.workspace_id, job_id=job_id)
    return Page(items=[version_out(row) for row in rows])


@voices_router.get("", summary="Voices for synthesis", responses=responses(401, 403, 404, 422))
async def list_voices(
    ctx: Ctx,
    principal: CurrentPrincipal,
    db: DbSession,
    request: Request,
    language: Annotated[str | None, Query(max_length=16, description="e.g. `en` or `pt-BR`")] = None,
    engine: Literal["piper", "espeak-ng", "elevenlabs", "unrealspeech"] | None = None,
    workspace_id: Annotated[
        str | None,
        Query(
            max_length=36,
            description="Add the hosted voices (ElevenLabs, Unreal Speech, the workspace's clones) of this workspace, "
            "for each provider it stored a key for. An API key always lists its own workspace's.",
        ),
    ] = None,
) -> Page[VoiceOut]:
    """Installed voices: piper voices first (natural), then espeak-ng (robotic, every language); then a workspace's
    hosted voices."""
    voices = await run_in_threadpool(engines.installed_voices, ctx.settings, language=language, engine=engine)
    if workspace_id is None and principal.api_key is not None:
        workspace_id = principal.api_key.workspace_id
    if workspace_id is not None and engine in (None, "elevenlabs", "unrealspeech"):
        access = await run_in_threadpool(get_workspace_access, workspace_id, principal, db, ctx, request)
        access.require(Role.VIEWER)
        hosted = await run_in_threadpool(
            lambda: hosted_voices.workspace_voices(db, ctx=ctx, workspace_id=access.workspace_id)
        )
        voices += [
            voice
            for voice in hosted
            if (not language or engines.speaks(voice, language)) and engine in (None, voice.engine)
        ]
    return Page(items=[VoiceOut(**voice.to_dict()) for voice in voices])
