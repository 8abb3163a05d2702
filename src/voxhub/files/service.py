"""Files: quotas, turning stored bytes into probed File records, listing, download links, deletion, retention."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from voxhub.audit import service as audit
from voxhub.audit.service import Actor
from voxhub.billing import service as billing
from voxhub.clock import as_utc, utcnow
from voxhub.context import AppContext
from voxhub.db import on_commit
from voxhub.errors import NotFound, Unprocessable, VoxhubError
from voxhub.files.models import File, FileKind, FileStatus, Upload, UploadStatus
from voxhub.files.schemas import FileOut
from voxhub.hooks import Hook
from voxhub.ids import new_id
from voxhub.labels.models import TargetType
from voxhub.labels.service import LabelFilter, forget, narrow
from voxhub.media.probe import MediaInfo, MediaRejected, probe
from voxhub.notify import delivery
from voxhub.pagination import Sort, created_between, paginate
from voxhub.storage import BlobNotFound, DownloadOptions, cdn
from voxhub.workspaces.models import Role, Workspace
from voxhub.workspaces.service import WorkspaceAccess

log = logging.getLogger("voxhub.files")

# A file was deleted (by a user, retention or its expiry): what was made from it (search passages) goes too.
file_removed: Hook[File] = Hook("file.removed")

# What a container really is, by ffprobe's format name; the declared type is never trusted.
_AUDIO_TYPES = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "aac": "audio/aac",
    "matroska,webm": "audio/webm",
    "mov,mp4,m4a,3gp,3g2,mj2": "audio/mp4",
    "aiff": "audio/aiff",
    "amr": "audio/amr",
    "caf": "audio/x-caf",
    "w64": "audio/wav",
    "asf": "audio/x-ms-wma",
}
_VIDEO_TYPES = {
    "matroska,webm": "video/webm",
    "mov,mp4,m4a,3gp,3g2,mj2": "video/mp4",
    "avi": "video/x-msvideo",
    "asf": "video/x-ms-wmv",
    "mpegts": "video/mp2t",
    "flv": "video/x-flv",
}


# Notes and documents (a podcast's notes, say) are kept as text when the name says text and the bytes agree: UTF-8
# throughout, no control characters but whitespace. Anything else still has to be media.
TEXT_SUFFIXES = {".txt": "text/plain", ".text": "text/plain", ".md": "text/markdown", ".markdown": "text/markdown"}
TEXT_MAX_BYTES = 1024 * 1024
_TEXT_INFO = MediaInfo(duration_s=0.0, container="text", audio_codec="", sample_rate=0, channels=0, bit_rate=None)


class FileTooLarge(VoxhubError):
    status_code = 413
    code = "file_too_large"
    message = "The file is larger than allowed."


class StorageQuotaExceeded(VoxhubError):
    status_code = 402
    code = "storage_quota_exceeded"
    message = "The workspace's storage is full."


class MediaUnusable(Unprocessable):
    """The upload is not usable media. The rejected File row is kept (so clients can see why); its bytes are not."""

    keep_changes = True


def storage_key(workspace_id: str, file_id: str) -> str:
    """Where a file's bytes live in the blob store: by workspace and id, never the user's file name."""
    return f"ws/{workspace_id}/files/{file_id}"


def display_name(filename: str | None) -> str:
    """A file name for display only: no directories, no control characters, bounded length."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return (name or "upload")[:255]


# ---- capacity ----


def used_bytes(db: Session, *, workspace_id: str) -> int:
    """Bytes held by live files, counting uploads in progress at their declared size."""
    return int(
        db.scalar(
            select(func.coalesce(func.sum(File.size_bytes), 0)).where(
                File.workspace_id == workspace_id, File.status.in_([FileStatus.PENDING.value, FileStatus.READY.value])
            )
        )
        or 0
    )


def _file_limit(ctx: AppContext, limits: billing.PlanLimits, one_request: bool) -> int:
    if one_request:  # one request cannot resume: VOXHUB_MAX_SIMPLE_UPLOAD_MB bounds it below the file limit
        return min(limits.max_file_bytes, ctx.settings.max_simple_upload_mb * 2**20)
    return limits.max_file_bytes


def max_upload_bytes(db: Session, *, ctx: AppContext, workspace_id: str, one_request: bool = False) -> int:
    """The largest file the workspace may upload: its plan's limit within the server's (lower for one request)."""
    return _file_limit(ctx, billing.limits(db, ctx=ctx, workspace_id=workspace_id), one_request)


def check_capacity(db: Session, *, ctx: AppContext, workspace_id: str, size: int, one_request: bool = False) -> int:
    """Refuse a file before any byte is stored: too large for one file, or past the workspace's quota (the plan's
    limits within the server's). Returns the largest size the upload may still grow to."""
    limits = billing.limits(db, ctx=ctx, workspace_id=workspace_id)
    limit = _file_limit(ctx, limits, one_request)
    if size > limit:
        raise FileTooLarge(
            f"The file is {size} bytes; the limit is {limit} bytes.", details={"size": size, "max_bytes": limit}
        )
    quota = limits.storage_quota_bytes
    used = used_bytes(db, workspace_id=workspace_id)
    if used + size > quota:
        raise StorageQuotaExceeded(
            "This file does not fit in the workspace's storage; delete files or raise the quota.",
            details={"size": size, "used_bytes": used, "quota_bytes": quota},
        )
    return limit


# ---- creating and finishing files ----


def new_file(
    db: Session,
    *,
    access: WorkspaceAccess,
    filename: str | None,
    declared_size: int,
    kind: FileKind = FileKind.UPLOAD,
    content_type: str = "application/octet-stream",
) -> File:
    """Add a file row for bytes about to arrive (members and up), with its storage key."""
    access.require(Role.MEMBER)
    file = File(
        workspace_id=access.workspace_id,
        kind=kind.value,
        filename=display_name(filename),
        content_type=content_type[:120],
        size_bytes=declared_size,
        storage_key="",
        created_by=access.user.id if access.user else None,
        created_by_api_key=access.api_key_id,
    )
    db.add(file)
    db.flush()
    file.storage_key = storage_key(access.workspace_id, file.id)
    return file


class _HashingReader:
    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.digest = hashlib.sha256()
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.digest.update(data)
        self.count += len(data)
        return data


def store_simple_upload(
    db: Session, *, ctx: AppContext, access: WorkspaceAccess, filename: str | None, stream: BinaryIO, max_bytes: int
) -> File:
    """Stream one request's file into the store, then probe it."""
    file = new_file(db, access=access, filename=filename, declared_size=0)
    reader = _HashingReader(stream)
    ctx.store.put(file.storage_key, reader)  # type: ignore[arg-type]
    if reader.count > max_bytes:
        ctx.store.delete(file.storage_key)
        raise FileTooLarge(
            f"The file is {reader.count} bytes; the limit is {max_bytes} bytes.",
            details={"size": reader.count, "max_bytes": max_bytes},
        )
    return finalize(db, ctx=ctx, file=file, actor=access.actor, sha256=reader.digest.hexdigest())


def _sha256_of(ctx: AppContext, key: str) -> str:
    digest = hashlib.sha256()
    for chunk in ctx.store.open(key):
        digest.update(chunk)
    return digest.hexdigest()


def _content_type(media: dict[str, Any]) -> str:
    container = str(media.get("container", ""))
    if media.get("video_codec"):
        return _VIDEO_TYPES.get(container, "video/octet-stream")
    return _AUDIO_TYPES.get(container, "audio/octet-stream")


def finalize(
    db: Session,
    *,
    ctx: AppContext,
    file: File,
    actor: Actor,
    sha256: str | None = None,
    decode: bool = True,
    known: MediaInfo | None = None,
) -> File:
    """Probe stored bytes: the File becomes `ready` with its media facts, or `rejected` with its bytes removed.
    Uploads are decoded to the end (`decode`); a job's own ffmpeg output needs only its container read, and output
    whose facts the job already knows (`known`: raw PCM, which has no container to read) is not probed at all."""
    store, settings = ctx.store, ctx.settings
    file.size_bytes = store.size(file.storage_key)
    if known is not None:
        return _ready(db, ctx=ctx, file=file, actor=actor, info=known, sha256=sha256, trust_type=True)
    text_type = _text_type(ctx, file)
    if text_type is not None:
        file.content_type = text_type
        return _ready(db, ctx=ctx, file=file, actor=actor, info=_TEXT_INFO, sha256=sha256, trust_type=True)
    local = store.local_path(file.storage_key)
    source = (
        str(local)
        if local
        else store.signed_get_url(
            file.storage_key,
            ttl_s=3600,
            download=DownloadOptions(filename=file.filename, content_type=file.content_type),
        )
    )
    try:
        info = probe(
            source,
            ffprobe=settings.ffprobe_path,
            ffmpeg=settings.ffmpeg_path,
            size_bytes=file.size_bytes,
            decode=decode,
        )
        if info.duration_s > settings.max_media_duration_s:
            raise MediaRejected(
                "media_too_long",
                "too_long",
                f"The media lasts {info.duration_s:.0f} s; the limit is {settings.max_media_duration_s} s.",
            )
    except MediaRejected as rejected:
        _reject(db, ctx=ctx, file=file, actor=actor, rejected=rejected)
        raise MediaUnusable(
            rejected.message, code=rejected.code, details={"file_id": file.id, "reason": rejected.reason}
        ) from rejected
    return _ready(db, ctx=ctx, file=file, actor=actor, info=info, sha256=sha256, trust_type=False)


def _text_type(ctx: AppContext, file: File) -> str | None:
    """`text/plain` or `text/markdown` for an upload named as text whose bytes are readable UTF-8 text."""
    content_type = TEXT_SUFFIXES.get(PurePosixPath(file.filename.lower()).suffix)
    if content_type is None or not 0 < file.size_bytes <= TEXT_MAX_BYTES:
        return None
    data = b"".join(ctx.store.open(file.storage_key))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any(ord(char) < 32 and char not in "\t\n\r\f" for char in text) or "\x7f" in text:
        return None
    return content_type


def _ready(
    db: Session, *, ctx: AppContext, file: File, actor: Actor, info: MediaInfo, sha256: str | None, trust_type: bool
) -> File:
    """Mark a probed file ready. Its type comes from the probe, never from what a client declared, except for
    output whose facts the job supplied (`trust_type`)."""
    file.sha256 = sha256 or _sha256_of(ctx, file.storage_key)
    file.media = info.as_dict()
    if not trust_type:
        file.content_type = _content_type(file.media)
    file.status = FileStatus.READY.value
    db.flush()
    _announce_ready(db, file=file, actor=actor, info=info)
    return file


def _announce_ready(db: Session, *, file: File, actor: Actor, info: MediaInfo) -> None:
    """The `file.ready` webhook and the audit record of a file that became ready."""
    delivery.emit(
        db,
        workspace_id=file.workspace_id,
        event_type="file.ready",
        data=FileOut.model_validate(file).model_dump(mode="json"),
    )
    audit.record(
        db,
        actor=actor,
        action="file.uploaded",
        workspace_id=file.workspace_id,
        target_type="file",
        target_id=file.id,
        summary={"filename": file.filename, "size_bytes": file.size_bytes, "duration_s": info.duration_s},
    )


def _reject(db: Session, *, ctx: AppContext, file: File, actor: Actor, rejected: MediaRejected) -> None:
    file.status = FileStatus.REJECTED.value
    file.reject_reason = rejected.reason
    file.reject_message = rejected.message[:500]
    _delete_bytes_after_commit(db, ctx=ctx, key=file.storage_key)
    file.size_bytes = 0
    db.flush()
    delivery.emit(
        db,
        workspace_id=file.workspace_id,
        event_type="file.rejected",
        data=FileOut.model_validate(file).model_dump(mode="json"),
    )
    audit.record(
        db,
        actor=actor,
        action="file.rejected",
        workspace_id=file.workspace_id,
        target_type="file",
        target_id=file.id,
        summary={"filename": file.filename, "reason": rejected.reason},
    )


# ---- reading, renaming, deleting ----


def get_file(db: Session, *, workspace_id: str, file_id: str) -> File:
    """The workspace's file unless deleted, or 404 `file_not_found`."""
    file = db.get(File, file_id)
    if file is None or file.workspace_id != workspace_id or file.status == FileStatus.DELETED.value:
        raise NotFound("File not found.", code="file_not_found")
    return file


def list_files(
    db: Session,
    *,
    workspace_id: str,
    cursor: str | None,
    limit: int,
    kind: str | None = None,
    status: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    sort: Sort = "newest",
    labels: LabelFilter | None = None,
) -> tuple[list[File], str | None]:
    """One page of the workspace's files, filtered by kind, status, creation time, tags and custom fields, and the
    next cursor."""
    query: Select[Any] = select(File).where(File.workspace_id == workspace_id, File.status != FileStatus.DELETED.value)
    if kind:
        query = query.where(File.kind == kind)
    if status:
        query = query.where(File.status == status)
    query = created_between(query, File.created_at, created_after, created_before)
    query = narrow(db, query, File.id, workspace_id=workspace_id, target_type=TargetType.FILE, wanted=labels)
    return paginate(db, query, File.id, cursor=cursor, limit=limit, sort=sort)


def rename(db: Session, *, access: WorkspaceAccess, file_id: str, filename: str) -> File:
    """Change a file's display name (members and up); audited."""
    access.require(Role.MEMBER)
    file = get_file(db, workspace_id=access.workspace_id, file_id=file_id)
    old, file.filename = file.filename, display_name(filename)
    audit.record(
        db,
        actor=access.actor,
        action="file.renamed",
        workspace_id=access.workspace_id,
        target_type="file",
        target_id=file.id,
        summary={"from": old, "to": file.filename},
    )
    return file


def download_url(db: Session, *, ctx: AppContext, access: WorkspaceAccess, file_id: str, inline: bool) -> str:
    """A signed, expiring link to a ready file's bytes, as attachment or inline; audited. An inline link (what the
    console's players load) goes through the CDN when one is set; a download keeps the store's own link."""
    file = get_file(db, workspace_id=access.workspace_id, file_id=file_id)
    if file.status != FileStatus.READY.value:
        raise NotFound("This file has no bytes to download.", code="file_not_ready", details={"status": file.status})
    options = DownloadOptions(filename=file.filename, content_type=file.content_type, inline=inline)
    ttl_s = ctx.settings.download_url_ttl
    url = (
        cdn.delivery_url(ctx.settings, ctx.store, file.storage_key, ttl_s=ttl_s, download=options)
        if inline
        else ctx.store.signed_get_url(file.storage_key, ttl_s=ttl_s, download=options)
    )
    audit.record(
        db,
        actor=access.actor,
        action="file.download_link_issued",
        workspace_id=access.workspace_id,
        target_type="file",
        target_id=file.id,
        summary={"inline": inline},
    )
    return url


def _delete_bytes_after_commit(db: Session, *, ctx: AppContext, key: str) -> None:
    """Delete stored bytes once the change that let go of them is durable: a rolled-back request keeps its file
    and the bytes behind it."""

    on_commit(db, lambda: _delete_quietly(ctx, key))


def _remove(db: Session, *, ctx: AppContext, file: File, actor: Actor, action: str) -> None:
    _delete_bytes_after_commit(db, ctx=ctx, key=file.storage_key)
    file_removed.send(db, file)
    file.status = FileStatus.DELETED.value
    file.deleted_at = utcnow()
    file.size_bytes = 0
    forget(db, workspace_id=file.workspace_id, target_type=TargetType.FILE, target_id=file.id)
    audit.record(
        db,
        actor=actor,
        action=action,
        workspace_id=file.workspace_id,
        target_type="file",
        target_id=file.id,
        summary={"filename": file.filename},
    )


def delete_file(db: Session, *, ctx: AppContext, access: WorkspaceAccess, file_id: str) -> None:
    """Delete a file (members and up): its row is marked deleted and its bytes removed after commit."""
    access.require(Role.MEMBER)
    file = get_file(db, workspace_id=access.workspace_id, file_id=file_id)
    _remove(db, ctx=ctx, file=file, actor=access.actor, action="file.deleted")


# ---- periodic work ----


def stored_bytes_by_workspace(db: Session) -> dict[str, int]:
    """Bytes of ready files, per workspace that has any."""
    rows = db.execute(
        select(File.workspace_id, func.sum(File.size_bytes))
        .where(File.status == FileStatus.READY.value)
        .group_by(File.workspace_id)
    ).all()
    return {workspace_id: int(total or 0) for workspace_id, total in rows}


def delete_expired_files(db: Session, *, ctx: AppContext, now: datetime | None = None) -> int:
    """Delete files past their workspace's retention period, or past their own expires_at."""
    now = now or utcnow()
    count = 0
    live = [FileStatus.READY.value, FileStatus.REJECTED.value]
    rows = db.execute(
        select(File, Workspace.retention_days)
        .join(Workspace, Workspace.id == File.workspace_id)
        .where(File.status.in_(live))
        .where((Workspace.retention_days.is_not(None)) | (File.expires_at.is_not(None)))
    )
    for file, retention_days in rows:
        expired = file.expires_at is not None and as_utc(file.expires_at) <= now
        if retention_days is not None and as_utc(file.created_at) <= now - timedelta(days=retention_days):
            expired = True
        if expired:
            _remove(db, ctx=ctx, file=file, actor=Actor.system(), action="file.expired")
            count += 1
    return count


def expire_uploads(db: Session, *, ctx: AppContext, now: datetime | None = None) -> int:
    """Abort uploads left unfinished past their expiry and remove their bytes."""
    now = now or utcnow()
    count = 0
    uploads = list(db.scalars(select(Upload).where(Upload.status == UploadStatus.OPEN.value, Upload.expires_at <= now)))
    for upload in uploads:
        file = db.get(File, upload.file_id)
        abort_store_upload(ctx, upload, file.storage_key if file else "")
        upload.status = UploadStatus.EXPIRED.value
        if file is not None and file.status == FileStatus.PENDING.value:
            file.status = FileStatus.DELETED.value
            file.deleted_at = now
            file.size_bytes = 0
        audit.record(
            db,
            actor=Actor.system(),
            action="upload.expired",
            workspace_id=upload.workspace_id,
            target_type="upload",
            target_id=upload.id,
            summary={"protocol": upload.protocol},
        )
        count += 1
    return count


def abort_store_upload(ctx: AppContext, upload: Upload, key: str) -> None:
    """Drop the bytes of an unfinished tus or multipart upload from the store, if any are left."""
    try:
        if upload.protocol == "tus":
            ctx.store.abort_append(key, upload.store_upload_id)
        else:
            ctx.store.abort_multipart(key, upload.store_upload_id)
    except BlobNotFound:
        pass


@dataclass(frozen=True)
class StoredOutput:
    """A job's output whose bytes are stored and whose facts are known, before its row is written."""

    file_id: str
    workspace_id: str
    storage_key: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    info: MediaInfo


def put_output(
    ctx: AppContext,
    *,
    workspace_id: str,
    filename: str,
    source: BinaryIO | Path,
    content_type: str,
    known: MediaInfo | None = None,
) -> StoredOutput:
    """Store a job's output and learn its facts (from `known`, else its container read by ffprobe), holding no
    transaction while bytes travel and ffprobe runs; `record_output` then writes its row. Output that is not media
    is removed again and raises MediaUnusable."""
    file_id = new_id()
    key = storage_key(workspace_id, file_id)
    reader = _HashingReader(source.open("rb") if isinstance(source, Path) else source)
    try:
        ctx.store.put(key, reader, content_type=content_type)  # type: ignore[arg-type]
    finally:
        if isinstance(source, Path):
            reader.stream.close()
    info = known
    if info is None:
        local = ctx.store.local_path(key)
        where = (
            str(local)
            if local
            else ctx.store.signed_get_url(
                key, ttl_s=3600, download=DownloadOptions(filename=display_name(filename), content_type=content_type)
            )
        )
        try:
            info = probe(
                where,
                ffprobe=ctx.settings.ffprobe_path,
                ffmpeg=ctx.settings.ffmpeg_path,
                size_bytes=reader.count,
                decode=False,
            )
        except MediaRejected as rejected:
            _delete_quietly(ctx, key)
            raise MediaUnusable(rejected.message, code=rejected.code, details={"reason": rejected.reason}) from rejected
        content_type = _content_type(info.as_dict())
    return StoredOutput(
        file_id=file_id,
        workspace_id=workspace_id,
        storage_key=key,
        filename=display_name(filename),
        content_type=content_type[:120],
        size_bytes=reader.count,
        sha256=reader.digest.hexdigest(),
        info=info,
    )


def discard_output(ctx: AppContext, *, stored: StoredOutput) -> None:
    """Remove the bytes of an output whose row could not be written."""
    _delete_quietly(ctx, stored.storage_key)


def _delete_quietly(ctx: AppContext, key: str) -> None:
    try:
        ctx.store.delete(key)
    except BlobNotFound:
        pass
    except Exception:  # nothing points at these bytes any more; leftovers only cost storage
        log.warning("could not delete the bytes at %s", key, exc_info=True)


def record_output(db: Session, *, stored: StoredOutput, job_id: str) -> File:
    """Write the row of an output `put_output` stored: a ready file of kind `output`, announced like an upload."""
    file = File(
        id=stored.file_id,
        workspace_id=stored.workspace_id,
        kind=FileKind.OUTPUT.value,
        filename=stored.filename,
        content_type=stored.content_type,
        size_bytes=stored.size_bytes,
        storage_key=stored.storage_key,
        sha256=stored.sha256,
        media=stored.info.as_dict(),
        status=FileStatus.READY.value,
    )
    db.add(file)
    db.flush()
    _announce_ready(db, file=file, actor=Actor(user_agent=f"job {job_id}"), info=stored.info)
    return file


def remove_outputs(db: Session, *, ctx: AppContext, file_ids: list[str], actor: Actor) -> None:
    """Delete a job's outputs (a canceled or deleted job leaves nothing behind)."""
    for file_id in file_ids:
        file = db.get(File, file_id)
        if file is not None and file.status != FileStatus.DELETED.value:
            _remove(db, ctx=ctx, file=file, actor=actor, action="file.deleted")
