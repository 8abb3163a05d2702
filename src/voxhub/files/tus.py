"""The tus 1.0 resumable upload protocol: core, creation, creation-with-upload, termination, checksum, expiration.

Bytes go straight to the configured store as they arrive (S3 multipart underneath when the store is S3);
the offset is read back from the store, so an upload resumes after a dropped connection or a server restart.
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
from collections.abc import Callable, Iterator
from email.utils import format_datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from voxhub.clock import as_utc
from voxhub.context import AppContext
from voxhub.deps import Ctx, DbSession, SpenderAccess
from voxhub.errors import ErrorOut, VoxhubError, error_body, responses
from voxhub.files import service as files
from voxhub.files import uploads
from voxhub.files.models import File, Upload, UploadProtocol, UploadStatus
from voxhub.security import same
from voxhub.storage.streaming import BodyTooLarge, pump_body
from voxhub.workspaces.service import WorkspaceAccess

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,termination,checksum,expiration"
CHECKSUMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}
OFFSET_STREAM = "application/offset+octet-stream"

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/uploads/tus", tags=["uploads (tus)"])

T = TypeVar("T")


class TusError(VoxhubError):
    """An error answered with tus's own status codes (412, 415, 460, …)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message, code=code)
        self.status_code = status


# tus's own refusals: a missing or unknown Tus-Resumable, a malformed tus header, a PATCH body of the wrong type.
TUS_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "A tus header is missing or malformed"},
    412: {"model": ErrorOut, "description": "Tus-Resumable is missing or not 1.0.0"},
}
# HEAD and OPTIONS answers carry headers only.
BARE: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not authenticated"},
    404: {"description": "No such workspace or upload"},
    422: {"description": "A parameter is not valid"},
}


def _headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store", **(extra or {})}


def _expires(upload: Upload) -> str:
    return format_datetime(as_utc(upload.expires_at), usegmt=True)


def _check_version(request: Request) -> None:
    if request.headers.get("tus-resumable") != TUS_VERSION:
        raise TusError(412, "tus_version_unsupported", f"Send 'Tus-Resumable: {TUS_VERSION}'.")


def _tus_error(exc: VoxhubError) -> JSONResponse:
    headers = _headers({"Tus-Version": TUS_VERSION, **exc.headers})
    return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status_code, headers=headers)


def _metadata_filename(raw: str | None) -> tuple[str | None, str]:
    """tus Upload-Metadata: comma-separated `key base64value` pairs."""
    values: dict[str, str] = {}
    for pair in (raw or "").split(","):
        key, _, encoded = pair.strip().partition(" ")
        if key:
            try:
                values[key] = base64.b64decode(encoded, validate=True).decode("utf-8", "replace") if encoded else ""
            except ValueError as exc:
                raise TusError(400, "invalid_metadata", "Upload-Metadata values must be base64.") from exc
    name = values.get("filename") or values.get("name")
    content_type = values.get("filetype") or values.get("type") or "application/octet-stream"
    return name, content_type


def _int_header(request: Request, name: str) -> int | None:
    value = request.headers.get(name)
    if value is None:
        return None
    if not value.isdigit():
        raise TusError(400, "invalid_header", f"{name} must be a non-negative integer.")
    return int(value)


async def _in_session(ctx_request: Request, work: Callable[[Any], T]) -> T:
    """Run `work(db)` in a worker thread inside its own committed unit of work."""

    def run() -> T:
        with ctx_request.app.state.db.session() as db:
            return work(db)

    return await run_in_threadpool(run)


async def _receive(request: Request, ctx: AppContext, upload: Upload, file: File, at: int) -> uploads.AppendResult:
    """Stream the PATCH body into the store at offset `at`, verifying Upload-Checksum when one is sent."""
    room = upload.length - at
    declared = _int_header(request, "content-length")
    if declared is not None and declared > room:
        raise TusError(413, "upload_too_large", "This chunk goes past the upload's declared length.")
    checksum = request.headers.get("upload-checksum")
    if checksum is None:
        try:
            # What arrived before a client went away is kept: it resumes from there.
            return await pump_body(
                request,
                lambda chunks: uploads.append(ctx, upload=upload, file=file, at=at, chunks=chunks),
                limit=room,
                keep_partial=True,
            )
        except BodyTooLarge as exc:
            raise TusError(413, "upload_too_large", "This chunk goes past the upload's declared length.") from exc
    algorithm, _, expected = checksum.partition(" ")
    if algorithm not in CHECKSUMS:
        raise TusError(400, "checksum_algorithm_unsupported", f"Use one of: {', '.join(CHECKSUMS)}.")
    # The chunk is spooled and checked before any of it is appended, so a corrupt chunk leaves no trace.
    digest = CHECKSUMS[algorithm]()
    with tempfile.TemporaryFile() as spool:

        def spool_chunks(chunks: Iterator[bytes]) -> None:
            for chunk in chunks:
                digest.update(chunk)
                spool.write(chunk)

        try:
            await pump_body(request, spool_chunks, limit=room)
        except BodyTooLarge as exc:
            raise TusError(413, "upload_too_large", "This chunk goes past the upload's declared length.") from exc
        actual = base64.b64encode(digest.digest()).decode()
        if not same(actual, expected.strip()):
            raise TusError(460, "checksum_mismatch", "The chunk's checksum does not match Upload-Checksum.")

        def append_spooled() -> uploads.AppendResult:
            spool.seek(0)
            return uploads.append(
                ctx, upload=upload, file=file, at=at, chunks=iter(lambda: spool.read(1024 * 1024), b"")
            )

        return await run_in_threadpool(append_spooled)


async def _write(
    request: Request, ctx: AppContext, access: WorkspaceAccess, upload_id: str, at: int
) -> tuple[int, File | None, str]:
    """Take the upload's lease, append the body, record the offset, and finish the upload when it is complete.
    Returns the new offset, the finished File (or None) and the Upload-Expires value. Two short transactions
    per chunk: one to take the lease, one to record the offset and release it."""
    workspace_id = access.workspace_id

    def lease(db: Any) -> tuple[Upload, File]:
        upload, file = uploads.get(db, workspace_id=workspace_id, upload_id=upload_id, protocol=UploadProtocol.TUS)
        uploads.take_lease(db, upload=upload)
        return upload, file

    upload, file = await _in_session(request, lease)
    expires = _expires(upload)
    try:
        result = await _receive(request, ctx, upload, file, at)
    except BaseException:
        await _in_session(request, lambda db: uploads.release_lease(db, upload_id=upload_id))
        raise

    def settle(db: Any) -> None:
        uploads.record_offset(db, upload_id=upload_id, new_offset=result.offset)
        uploads.release_lease(db, upload_id=upload_id)

    def finish(db: Any) -> File:
        fresh_upload, fresh_file = uploads.get(
            db, workspace_id=workspace_id, upload_id=upload_id, protocol=UploadProtocol.TUS
        )
        return uploads.finish_tus(db, ctx=ctx, access=access, upload=fresh_upload, file=fresh_file)

    await _in_session(request, settle)
    if not result.complete and await request.is_disconnected():
        raise ClientDisconnect()  # answered as such (499), once the bytes that did arrive are recorded
    return result.offset, await _in_session(request, finish) if result.complete else None, expires


@router.options(
    "/",
    status_code=204,
    response_class=Response,
    summary="tus: discover capabilities",
    responses={**BARE, 403: {"description": "Not allowed to upload"}},
)
@router.options("/{upload_id}", include_in_schema=False)
def tus_options(access: SpenderAccess, db: DbSession, ctx: Ctx) -> Response:
    """The tus versions, extensions, checksum algorithms and the largest upload this workspace's plan allows."""
    max_size = files.max_upload_bytes(db, ctx=ctx, workspace_id=access.workspace_id)
    return Response(
        status_code=204,
        headers=_headers(
            {
                "Tus-Version": TUS_VERSION,
                "Tus-Extension": EXTENSIONS,
                "Tus-Checksum-Algorithm": ",".join(CHECKSUMS),
                "Tus-Max-Size": str(max_size),
            }
        ),
    )


@router.post(
    "/",
    status_code=201,
    summary="tus: create an upload",
    response_class=Response,
    responses={**responses(401, 403, 404, 413), **TUS_ERRORS, 402: {"description": "Storage quota exceeded"}},
)
async def tus_create(request: Request, ctx: Ctx, access: SpenderAccess) -> Response:
    """Create an upload of `Upload-Length` bytes (metadata `filename`, `filetype`); the body may carry the first
    bytes (creation-with-upload). Size and quota are checked before any byte is stored."""
    try:
        _check_version(request)
        length = _int_header(request, "upload-length")
        if length is None:
            raise TusError(400, "upload_length_required", "Send Upload-Length (deferred length is not supported).")
        raw_metadata = request.headers.get("upload-metadata")
        filename, content_type = _metadata_filename(raw_metadata)

        def create(db: Any) -> tuple[Upload, File]:
            return uploads.start(
                db,
                ctx=ctx,
                access=access,
                protocol=UploadProtocol.TUS,
                filename=filename,
                content_type=content_type,
                length=length,
                tus_metadata=raw_metadata,
            )

        upload, _file = await _in_session(request, create)
        location = str(request.url_for("tus_upload_head", workspace_id=access.workspace_id, upload_id=upload.id))
        headers = _headers({"Location": location, "Upload-Expires": _expires(upload)})
        has_body = request.headers.get("content-type", "").startswith(OFFSET_STREAM) and (
            _int_header(request, "content-length") or request.headers.get("transfer-encoding")
        )
        if has_body:
            new_offset, done, _expiry = await _write(request, ctx, access, upload.id, 0)
            headers["Upload-Offset"] = str(new_offset)
            if done is not None:
                headers["Voxhub-File-Id"] = done.id
        elif length == 0:
            _offset, done, _expiry = await _write(request, ctx, access, upload.id, 0)
        return Response(status_code=201, headers=headers)
    except VoxhubError as exc:
        return _tus_error(exc)


@router.head(
    "/{upload_id}",
    response_class=Response,
    summary="tus: how much has arrived",
    responses={**BARE, 403: {"description": "Not allowed to upload"}},
)
def tus_upload_head(upload_id: str, db: DbSession, ctx: Ctx, access: SpenderAccess) -> Response:
    """The upload's current offset, length and metadata."""
    try:
        upload, file = uploads.get(
            db, workspace_id=access.workspace_id, upload_id=upload_id, protocol=UploadProtocol.TUS, completed_too=True
        )
        done = upload.status == UploadStatus.COMPLETED.value
        headers = _headers(
            {
                "Upload-Offset": str(upload.length if done else uploads.offset(ctx, upload, file)),
                "Upload-Length": str(upload.length),
                "Upload-Expires": _expires(upload),
            }
        )
        if upload.tus_metadata:
            headers["Upload-Metadata"] = upload.tus_metadata
        if done:
            headers["Voxhub-File-Id"] = file.id
        return Response(status_code=200, headers=headers)
    except VoxhubError as exc:
        return Response(status_code=exc.status_code, headers=_headers())


@router.patch(
    "/{upload_id}",
    status_code=204,
    summary="tus: send bytes",
    response_class=Response,
    responses={
        **responses(401, 403, 404, 409, 413, 422),
        **TUS_ERRORS,
        415: {"model": ErrorOut, "description": "The body is not application/offset+octet-stream"},
        460: {"model": ErrorOut, "description": "Checksum mismatch"},
    },
)
async def tus_upload_patch(upload_id: str, request: Request, ctx: Ctx, access: SpenderAccess) -> Response:
    """Append the body at `Upload-Offset`. The last chunk completes the upload: the file is probed and the response
    carries `Voxhub-File-Id` (422 with the reason when the media is unusable)."""
    try:
        _check_version(request)
        if not request.headers.get("content-type", "").startswith(OFFSET_STREAM):
            raise TusError(415, "unsupported_media_type", f"PATCH bodies must be {OFFSET_STREAM}.")
        at = _int_header(request, "upload-offset")
        if at is None:
            raise TusError(400, "upload_offset_required", "Send Upload-Offset.")
        new_offset, done, expires = await _write(request, ctx, access, upload_id, at)
        headers = _headers({"Upload-Offset": str(new_offset), "Upload-Expires": expires})
        if done is not None:
            headers["Voxhub-File-Id"] = done.id
        return Response(status_code=204, headers=headers)
    except VoxhubError as exc:
        return _tus_error(exc)


@router.delete(
    "/{upload_id}",
    status_code=204,
    response_class=Response,
    summary="tus: terminate an upload",
    responses=responses(401, 403, 404),
)
def tus_terminate(upload_id: str, db: DbSession, ctx: Ctx, access: SpenderAccess) -> Response:
    """Stop the upload and remove what was received."""
    upload, file = uploads.get(db, workspace_id=access.workspace_id, upload_id=upload_id, protocol=UploadProtocol.TUS)
    uploads.terminate(db, ctx=ctx, access=access, upload=upload, file=file)
    return Response(status_code=204, headers=_headers())
