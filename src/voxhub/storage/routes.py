"""/blobs/{token}: the local store's signed URLs, served by voxhub (downloads with Range, part and object PUTs)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from voxhub.deps import Ctx
from voxhub.errors import Forbidden, NotFound, responses
from voxhub.storage import BlobNotFound, LocalBlobStore
from voxhub.storage.streaming import pump_body

router = APIRouter(tags=["files"])

BINARY = {"type": "string", "format": "binary"}


def _local_store(ctx: Ctx) -> LocalBlobStore:
    if not isinstance(ctx.store, LocalBlobStore):
        raise NotFound("Signed blob URLs are served by the object store, not by voxhub.", code="not_found")
    return ctx.store


def _claims(ctx: Ctx, token: str, op: str) -> dict[str, object]:
    store = _local_store(ctx)
    claims = store.signer.read(token)
    if claims is None or claims.get("op") != op:
        raise Forbidden("This link is not valid or has expired.", code="invalid_signature")
    return claims


@router.get(
    "/blobs/{token}",
    summary="Download through a signed link",
    response_class=FileResponse,
    responses={
        200: {"description": "The bytes, typed as stored", "content": {"*/*": {"schema": BINARY}}},
        206: {"description": "The bytes a Range header asked for", "content": {"*/*": {"schema": BINARY}}},
        **responses(403, 404),
    },
)
def get_blob(token: str, ctx: Ctx) -> FileResponse:
    """Serve the bytes a signed link names; supports Range requests."""
    claims = _claims(ctx, token, "get")
    path = _local_store(ctx).local_path(str(claims["key"]))
    if path is None or not path.is_file():
        raise NotFound("The file is no longer stored.", code="blob_not_found")
    return FileResponse(
        path,
        media_type=str(claims.get("type") or "application/octet-stream"),
        filename=str(claims.get("name") or "download"),
        content_disposition_type="inline" if claims.get("inline") else "attachment",
    )


@router.put(
    "/blobs/{token}",
    summary="Upload through a signed link",
    response_class=Response,
    responses={200: {"description": "Stored; a part's ETag header names it"}, **responses(403, 404)},
)
async def put_blob(token: str, request: Request, ctx: Ctx) -> Response:
    """Receive a part of a multipart upload, or a whole object, sent to a signed link."""
    store = _local_store(ctx)
    claims = store.signer.read(token)
    if claims is None or claims.get("op") not in ("part", "put"):
        raise Forbidden("This link is not valid or has expired.", code="invalid_signature")
    key = str(claims["key"])
    try:
        if claims["op"] == "part":
            part = await pump_body(
                request,
                lambda chunks: store.upload_part_stream(key, str(claims["upload"]), int(str(claims["part"])), chunks),
            )
            return Response(status_code=200, headers={"ETag": f'"{part.etag}"'})
        await pump_body(request, lambda chunks: store.put_stream(key, chunks))
        return Response(status_code=200)
    except BlobNotFound as exc:
        raise NotFound("This upload no longer exists.", code="upload_not_found") from exc
