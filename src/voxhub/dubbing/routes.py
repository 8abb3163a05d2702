"""HTTP routes for dubs: create, list, read, rename, delete, follow, retry; review and edit the units, render again;
the QA report; downloads; the voices a dub can use."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import RedirectResponse

from voxhub.deps import Ctx, DbSession, SpenderAccess, ViewerAccess
from voxhub.dubbing import service
from voxhub.dubbing.schemas import (
    DubCreate,
    DubOut,
    DubStatus,
    DubStatusOut,
    DubUpdate,
    QaReport,
    SegmentsPatch,
    Unit,
    VoiceOut,
)
from voxhub.errors import responses
from voxhub.files import service as files
from voxhub.labels.filters import TagQuery
from voxhub.pagination import Cursor, Page

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/dubs", tags=["dubbing"])
Download = Literal["media", "audio", "voice", "background", "srt", "vtt"]


@router.post("", status_code=202, summary="Dub a video or audio file", responses=responses(401, 402, 403, 404, 422))
def create_dub(body: DubCreate, db: DbSession, ctx: Ctx, access: SpenderAccess) -> DubOut:
    """Into one or more languages (one track each), the original kept as a track; priced per minute and language.
    The same as POST …/jobs {type: "dub", input: {file_id}, params}."""
    return service.out(db, service.create(db, ctx=ctx, access=access, request=body))


@router.get("", summary="List dubs", responses=responses(401, 403, 404, 422))
def list_dubs(
    db: DbSession,
    access: ViewerAccess,
    tags: TagQuery,
    status: DubStatus | None = None,
    sort: Literal["created_at", "updated_at"] = "created_at",
    order: Literal["asc", "desc"] = "desc",
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Page[DubOut]:
    rows, next_cursor = service.list_dubs(
        db,
        workspace_id=access.workspace_id,
        status=status,
        sort=sort,
        order=order,
        cursor=cursor,
        limit=limit,
        tags=tags,
    )
    return Page(items=[service.out(db, row) for row in rows], next_cursor=next_cursor)


@router.get("/voices", summary="Voices for dubs", responses=responses(401, 403, 404))
def dub_voices(
    ctx: Ctx,
    db: DbSession,
    access: ViewerAccess,
    language: Annotated[str, Query(min_length=2, max_length=16)] = "en",
) -> Page[VoiceOut]:
    """The voices that speak `language` here, best first, with their measured pace once a dub has used them; then
    the workspace's hosted voices. One page: `next_cursor` is always null."""
    listed = service.voices(ctx, language, db=db, workspace_id=access.workspace_id)
    return Page(items=[VoiceOut.model_validate(item) for item in listed])


@router.get("/{dub_id}", summary="A dub", responses=responses(401, 403, 404))
def get_dub(dub_id: str, db: DbSession, access: ViewerAccess) -> DubOut:
    return service.out(db, service.get(db, workspace_id=access.workspace_id, dub_id=dub_id))


@router.patch("/{dub_id}", summary="Rename a dub", responses=responses(401, 403, 404, 422))
def update_dub(dub_id: str, body: DubUpdate, db: DbSession, access: SpenderAccess) -> DubOut:
    return service.out(db, service.update(db, access=access, dub_id=dub_id, body=body))


@router.delete("/{dub_id}", status_code=204, summary="Delete a dub", responses=responses(401, 403, 404))
def delete_dub(dub_id: str, db: DbSession, ctx: Ctx, access: SpenderAccess) -> Response:
    """With the files it made; a job still working on it is canceled. The source file stays."""
    service.delete(db, ctx=ctx, access=access, dub_id=dub_id)
    return Response(status_code=204)


@router.get("/{dub_id}/status", summary="A dub's progress", responses=responses(401, 403, 404))
def dub_status(dub_id: str, db: DbSession, access: ViewerAccess) -> DubStatusOut:
    return service.status_out(db, service.get(db, workspace_id=access.workspace_id, dub_id=dub_id))


@router.post("/{dub_id}/retry", status_code=202, summary="Retry a dub", responses=responses(401, 402, 403, 404, 409))
def retry_dub(dub_id: str, db: DbSession, ctx: Ctx, access: SpenderAccess) -> DubOut:
    """A failed or canceled dub, from its last finished stage; the plan's limits are checked again."""
    return service.out(db, service.retry(db, ctx=ctx, access=access, dub_id=dub_id))


@router.get("/{dub_id}/segments", summary="A dub's units", responses=responses(401, 403, 404))
def get_segments(dub_id: str, db: DbSession, access: ViewerAccess) -> Page[Unit]:
    """Each unit: who said what and when, its slot, and its translation and voice in each language. One page:
    `next_cursor` is always null."""
    return Page(items=service.get_units(db, workspace_id=access.workspace_id, dub_id=dub_id))


@router.patch("/{dub_id}/segments", summary="Edit a dub's units", responses=responses(401, 403, 404, 409, 422))
def patch_segments(dub_id: str, body: SegmentsPatch, db: DbSession, ctx: Ctx, access: SpenderAccess) -> Page[Unit]:
    """Text, translation, speaker, voice, timing, mute or keep the original, unit by unit (by `index`); then
    POST …/render. Only edited units are spoken again."""
    return Page(items=service.patch_units(db, ctx=ctx, access=access, dub_id=dub_id, body=body))


@router.post(
    "/{dub_id}/render", status_code=202, summary="Approve or render again", responses=responses(401, 403, 404, 409)
)
def render_dub(dub_id: str, db: DbSession, ctx: Ctx, access: SpenderAccess) -> DubOut:
    """Approve a dub under review, or render an edited one again; only changed units are spoken again."""
    return service.out(db, service.render(db, ctx=ctx, access=access, dub_id=dub_id))


@router.get("/{dub_id}/qa", summary="A dub's QA report", responses=responses(401, 403, 404))
def dub_qa(dub_id: str, db: DbSession, access: ViewerAccess) -> QaReport:
    """Per unit and language: the speed applied, how far it ran over, how late it starts, whether it was shortened
    or flagged; totals per language."""
    return service.qa_report(db, workspace_id=access.workspace_id, dub_id=dub_id)


@router.get(
    "/{dub_id}/download",
    status_code=302,
    response_class=RedirectResponse,
    summary="Download a dub's file",
    responses=responses(401, 403, 404),
)
def download_dub(
    dub_id: str,
    db: DbSession,
    ctx: Ctx,
    access: ViewerAccess,
    kind: Download = "media",
    language: Annotated[str | None, Query(max_length=16)] = None,
    inline: bool = False,
) -> RedirectResponse:
    """Redirect to a signed link: the media with every track, or one language's mixed audio, dubbed speech or
    subtitles, or the background."""
    file_id = service.output_file(db, workspace_id=access.workspace_id, dub_id=dub_id, kind=kind, language=language)
    return RedirectResponse(files.download_url(db, ctx=ctx, access=access, file_id=file_id, inline=inline), 302)
