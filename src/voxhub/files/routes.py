"""HTTP routes for files: the one-request upload, direct-to-store multipart uploads, and the files API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from voxhub.deps import Ctx, DbSession, SpenderAccess, ViewerAccess
from voxhub.errors import BadRequest, VoxhubError, responses
from voxhub.files import service, uploads
from voxhub.files.models import File, UploadProtocol
from voxhub.files.schemas import FileLinkOut, FileOut, FileRename, MultipartIn, MultipartOut, PartOut
from voxhub.labels.filters import LabelQuery
from voxhub.labels.models import TargetType
from voxhub.labels.service import labelled
from voxhub.pagination import Cursor, Page, QueryTime, Sort

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}", tags=["files"])

FORM_OVERHEAD = 64 * 1024


class LengthRequired(VoxhubError):
    status_code = 411
    code = "length_required"
    message = "Send a Content-Length header with the upload."


def file_out(file: File) -> FileOut:
    return FileOut.model_validate(file)


@router.post(
    "/files",
    status_code=201,
    summary="Upload a file in one request",
    responses={**responses(400, 401, 403, 404, 413, 422), 402: {"description": "Storage quota exceeded"}},
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                }
            }
        }
    },
)
async def upload_file(request: Request, db: DbSession, ctx: Ctx, access: SpenderAccess) -> FileOut:
    """Upload up to VOXHUB_MAX_SIMPLE_UPLOAD_MB as multipart/form-data field `file`; it is probed before it is ready.
    Larger files: use tus or the multipart flow."""
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        raise LengthRequired()
    # Refused before reading the body: the declared size bounds the file.
    limit = await run_in_threadpool(
        service.check_capacity,
        db,
        ctx=ctx,
        workspace_id=access.workspace_id,
        size=max(0, int(declared) - FORM_OVERHEAD),
        one_request=True,
    )
    # The body may take minutes to arrive: the session hands its connection back to the pool meanwhile, so slow
    # uploads cannot hold every connection while other requests wait for one.
    await run_in_threadpool(db.commit)
    form = await request.form(max_files=1, max_fields=5)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise BadRequest("Send the file as the multipart/form-data field 'file'.", code="file_missing")
        file = await run_in_threadpool(
            service.store_simple_upload,
            db,
            ctx=ctx,
            access=access,
            filename=upload.filename,
            stream=upload.file,
            max_bytes=limit,
        )
    finally:
        await form.close()
    return file_out(file)


@router.get("/files", summary="List files", responses=responses(401, 403, 404, 422))
def list_files(
    db: DbSession,
    access: ViewerAccess,
    labels: LabelQuery,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    kind: Annotated[str | None, Query(pattern="^(upload|output)$")] = None,
    status: Annotated[str | None, Query(pattern="^(pending|ready|rejected)$")] = None,
    created_after: QueryTime | None = None,
    created_before: QueryTime | None = None,
    sort: Sort = "newest",
) -> Page[FileOut]:
    """The workspace's files, newest first (or `sort=oldest`)."""
    rows, next_cursor = service.list_files(
        db,
        workspace_id=access.workspace_id,
        cursor=cursor,
        limit=limit,
        kind=kind,
        status=status,
        created_after=created_after,
        created_before=created_before,
        sort=sort,
        labels=labels,
    )
    items = labelled(
        db, workspace_id=access.workspace_id, target_type=TargetType.FILE, items=[file_out(f) for f in rows]
    )
    return Page(items=items, next_cursor=next_cursor)


@router.get("/files/{file_id}", summary="Get a file", responses=responses(401, 403, 404))
def get_file(file_id: str, db: DbSession, access: ViewerAccess) -> FileOut:
    """One file with its media facts, or why it was rejected."""
    file = file_out(service.get_file(db, workspace_id=access.workspace_id, file_id=file_id))
    return labelled(db, workspace_id=access.workspace_id, target_type=TargetType.FILE, items=[file])[0]


@router.patch("/files/{file_id}", summary="Rename a file", responses=responses(401, 403, 404, 422))
def rename_file(file_id: str, body: FileRename, db: DbSession, access: SpenderAccess) -> FileOut:
    """Change the display name."""
    file = file_out(service.rename(db, access=access, file_id=file_id, filename=body.filename))
    return labelled(db, workspace_id=access.workspace_id, target_type=TargetType.FILE, items=[file])[0]


@router.delete("/files/{file_id}", status_code=204, summary="Delete a file", responses=responses(401, 403, 404))
def delete_file(file_id: str, db: DbSession, ctx: Ctx, access: SpenderAccess) -> Response:
    """Delete the file and its bytes."""
    service.delete_file(db, ctx=ctx, access=access, file_id=file_id)
    return Response(status_code=204)


@router.get(
    "/files/{file_id}/download",
    status_code=302,
    response_class=RedirectResponse,
    summary="Download a file",
    responses=responses(401, 403, 404),
)
def download_file(
    file_id: str, db: DbSession, ctx: Ctx, access: ViewerAccess, inline: bool = False
) -> RedirectResponse:
    """Redirect to a signed URL valid VOXHUB_DOWNLOAD_URL_TTL seconds; `?inline=1` to play it in a browser."""
    url = service.download_url(db, ctx=ctx, access=access, file_id=file_id, inline=inline)
    return RedirectResponse(url, status_code=302)


@router.get("/files/{file_id}/link", summary="A signed link to a file", responses=responses(401, 403, 404))
def file_link(file_id: str, db: DbSession, ctx: Ctx, access: ViewerAccess, inline: bool = False) -> FileLinkOut:
    """The signed URL `…/download` redirects to, as JSON: for a browser's `<audio>` or `<video>`, which cannot send
    an Authorization header. `?inline=1` to play it rather than save it."""
    url = service.download_url(db, ctx=ctx, access=access, file_id=file_id, inline=inline)
    return FileLinkOut(url=url, expires_in=ctx.settings.download_url_ttl)


# ---- direct-to-store multipart ----


def multipart_out(upload: Any, file: File, targets: list[uploads.PartTarget]) -> MultipartOut:
    return MultipartOut(
        upload_id=upload.id,
        file_id=file.id,
        part_size=upload.part_size,
        expires_at=upload.expires_at,
        parts=[PartOut(part_number=t.part_number, url=t.url, size=t.size) for t in targets],
    )


@router.post(
    "/uploads/multipart",
    status_code=201,
    summary="Start a direct multipart upload",
    responses={**responses(401, 403, 404, 413, 422), 402: {"description": "Storage quota exceeded"}},
)
def start_multipart(body: MultipartIn, db: DbSession, ctx: Ctx, access: SpenderAccess) -> MultipartOut:
    """Get one presigned URL per part; PUT each part's bytes to its URL (straight to S3, or to voxhub with the
    local store), then call `complete`."""
    upload, file = uploads.start(
        db,
        ctx=ctx,
        access=access,
        protocol=UploadProtocol.MULTIPART,
        filename=body.filename,
        content_type=body.content_type,
        length=body.size,
    )
    return multipart_out(upload, file, uploads.part_targets(ctx, upload=upload, file=file))


@router.get("/uploads/multipart/{upload_id}", summary="Get the part URLs again", responses=responses(401, 403, 404))
def get_multipart(upload_id: str, db: DbSession, ctx: Ctx, access: SpenderAccess) -> MultipartOut:
    """Fresh presigned URLs for an upload in progress (after the first ones expired, or to resume)."""
    upload, file = uploads.get(
        db, workspace_id=access.workspace_id, upload_id=upload_id, protocol=UploadProtocol.MULTIPART
    )
    return multipart_out(upload, file, uploads.part_targets(ctx, upload=upload, file=file))


@router.post(
    "/uploads/multipart/{upload_id}/complete",
    summary="Complete a multipart upload",
    responses=responses(401, 403, 404, 409, 422),
)
def complete_multipart(upload_id: str, db: DbSession, ctx: Ctx, access: SpenderAccess) -> FileOut:
    """Join the parts into the file and probe it."""
    upload, file = uploads.get(
        db, workspace_id=access.workspace_id, upload_id=upload_id, protocol=UploadProtocol.MULTIPART
    )
    return file_out(uploads.complete_multipart(db, ctx=ctx, access=access, upload=upload, file=file))


@router.delete(
    "/uploads/multipart/{upload_id}",
    status_code=204,
    summary="Abort a multipart upload",
    responses=responses(401, 403, 404),
)
def abort_multipart(upload_id: str, db: DbSession, ctx: Ctx, access: SpenderAccess) -> Response:
    """Drop the upload and every part already sent."""
    upload, file = uploads.get(
        db, workspace_id=access.workspace_id, upload_id=upload_id, protocol=UploadProtocol.MULTIPART
    )
    uploads.terminate(db, ctx=ctx, access=access, upload=upload, file=file)
    return Response(status_code=204)
