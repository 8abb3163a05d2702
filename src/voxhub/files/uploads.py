"""Uploads in progress: resumable (tus) and direct-to-store multipart. Each ends in a probed File."""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from voxhub.audit import service as audit
from voxhub.clock import as_utc, utcnow
from voxhub.context import AppContext
from voxhub.db import affected
from voxhub.errors import Conflict, NotFound, VoxhubError
from voxhub.files import service as files
from voxhub.files.models import File, FileStatus, Upload, UploadProtocol, UploadStatus
from voxhub.storage import BlobNotFound, OffsetMismatch
from voxhub.workspaces.models import Role
from voxhub.workspaces.service import WorkspaceAccess

MIN_PART_SIZE = 8 * 1024 * 1024
MAX_PARTS = 10_000
LEASE = timedelta(minutes=10)


class UploadGone(VoxhubError):
    status_code = 410
    code = "upload_expired"
    message = "This upload has expired or was ended; start a new one."


class WrongOffset(Conflict):
    code = "offset_mismatch"


class UploadBusy(VoxhubError):
    status_code = 423
    code = "upload_locked"
    message = "Another request is writing to this upload; retry shortly."


def start(
    db: Session,
    *,
    ctx: AppContext,
    access: WorkspaceAccess,
    protocol: UploadProtocol,
    filename: str | None,
    content_type: str,
    length: int,
    tus_metadata: str | None = None,
) -> tuple[Upload, File]:
    """Open an upload of `length` bytes. Capacity is checked now, before any byte is stored."""
    access.require(Role.MEMBER)
    files.check_capacity(db, ctx=ctx, workspace_id=access.workspace_id, size=length)
    file = files.new_file(db, access=access, filename=filename, declared_size=length, content_type=content_type)
    part_size = part_count = None
    if protocol == UploadProtocol.TUS:
        store_upload_id = ctx.store.begin_append(file.storage_key, content_type=content_type)
    else:
        part_size = choose_part_size(length)
        part_count = max(1, math.ceil(length / part_size))
        store_upload_id = ctx.store.create_multipart(file.storage_key, content_type=content_type)
    upload = Upload(
        workspace_id=access.workspace_id,
        file_id=file.id,
        protocol=protocol.value,
        length=length,
        store_upload_id=store_upload_id,
        part_size=part_size,
        part_count=part_count,
        tus_metadata=tus_metadata,
        created_by=access.user.id if access.user else None,
        expires_at=utcnow() + timedelta(hours=ctx.settings.upload_expiry_h),
    )
    db.add(upload)
    db.flush()
    audit.record(
        db,
        actor=access.actor,
        action="upload.started",
        workspace_id=access.workspace_id,
        target_type="upload",
        target_id=upload.id,
        summary={"protocol": protocol.value, "length": length, "filename": file.filename},
    )
    return upload, file


def choose_part_size(length: int) -> int:
    """Parts of at least 8 MiB, whole MiB, and few enough to stay under S3's 10,000-part limit."""
    mib = 1024 * 1024
    return max(MIN_PART_SIZE, math.ceil(length / MAX_PARTS / mib) * mib)


def get(
    db: Session, *, workspace_id: str, upload_id: str, protocol: UploadProtocol, completed_too: bool = False
) -> tuple[Upload, File]:
    """An upload that can still take bytes (or a completed one, if asked). Another workspace's upload looks like
    no upload at all."""
    upload = db.get(Upload, upload_id)
    if upload is None or upload.workspace_id != workspace_id or upload.protocol != protocol.value:
        raise NotFound("Upload not found.", code="upload_not_found")
    completed = completed_too and upload.status == UploadStatus.COMPLETED.value
    if not completed and (upload.status != UploadStatus.OPEN.value or as_utc(upload.expires_at) <= utcnow()):
        raise UploadGone()
    file = db.get(File, upload.file_id)
    assert file is not None
    return upload, file


def offset(ctx: AppContext, upload: Upload, file: File) -> int:
    """How many bytes the store holds: the truth even after a crash mid-request."""
    try:
        return ctx.store.appended_length(file.storage_key, upload.store_upload_id)
    except BlobNotFound as exc:
        raise UploadGone() from exc


# ---- tus: bytes appended in order ----


def take_lease(db: Session, *, upload: Upload) -> None:
    """One writer at a time per upload, across processes: a conditional update on the row."""
    now = utcnow()
    taken = affected(
        db,
        update(Upload)
        .where(Upload.id == upload.id, or_(Upload.lease_until.is_(None), Upload.lease_until < now))
        .values(lease_until=now + LEASE),
    )
    if not taken:
        raise UploadBusy()


def release_lease(db: Session, *, upload_id: str) -> None:
    """Let the next writer append to the upload (the end of a tus PATCH, whatever its outcome)."""
    db.execute(update(Upload).where(Upload.id == upload_id).values(lease_until=None))


class _RunningHashes:
    """The sha256 of each tus upload in progress, fed as its chunks arrive, so a finished upload is not read back
    to hash it. Kept per process: an upload whose chunks reach other processes, or whose count of hashed bytes
    disagrees with what the store kept, loses its entry and is hashed from the store at the end instead."""

    def __init__(self, most: int = 256) -> None:
        self.most = most
        self._lock = threading.Lock()
        self._hashes: OrderedDict[str, tuple[int, Any]] = OrderedDict()

    def feed(self, upload_id: str, at: int, chunks: Iterator[bytes]) -> tuple[Iterator[bytes], Callable[[int], None]]:
        """Chunks to append at `at`, hashed on their way, and what to call with the offset the store reached."""
        with self._lock:
            known = self._hashes.pop(upload_id, None)
        if at == 0:
            digest: Any = hashlib.sha256()
        elif known is not None and known[0] == at:
            digest = known[1]
        else:
            return chunks, lambda _offset: None  # this process did not see the bytes before `at`
        hashed = at

        def hashing() -> Iterator[bytes]:
            nonlocal hashed
            for chunk in chunks:
                digest.update(chunk)
                hashed += len(chunk)
                yield chunk

        def reached(offset: int) -> None:
            if offset == hashed:
                with self._lock:
                    self._hashes[upload_id] = (offset, digest)
                    while len(self._hashes) > self.most:
                        self._hashes.popitem(last=False)

        return hashing(), reached

    def take(self, upload_id: str, length: int) -> str | None:
        """The finished upload's sha256 when every byte of it was hashed here; forgets the upload either way."""
        with self._lock:
            known = self._hashes.pop(upload_id, None)
        return known[1].hexdigest() if known is not None and known[0] == length else None


RUNNING_HASHES = _RunningHashes()


@dataclass(frozen=True)
class AppendResult:
    offset: int
    complete: bool


def append(ctx: AppContext, *, upload: Upload, file: File, at: int, chunks: Iterator[bytes]) -> AppendResult:
    """Append at `at`, which must be the current offset. Keeps whatever arrived if the client goes away."""
    hashed, reached = RUNNING_HASHES.feed(upload.id, at, chunks)
    try:
        new_offset = ctx.store.append(file.storage_key, upload.store_upload_id, at, hashed)
    except OffsetMismatch as exc:
        raise WrongOffset(
            f"Upload-Offset {at} does not match the upload's offset {exc.expected}.", details={"offset": exc.expected}
        ) from exc
    except BlobNotFound as exc:
        raise UploadGone() from exc
    reached(new_offset)
    return AppendResult(offset=new_offset, complete=new_offset >= upload.length)


def record_offset(db: Session, *, upload_id: str, new_offset: int) -> None:
    """Store how many bytes of the tus upload have arrived."""
    db.execute(update(Upload).where(Upload.id == upload_id).values(offset=new_offset))


def finish_tus(db: Session, *, ctx: AppContext, access: WorkspaceAccess, upload: Upload, file: File) -> File:
    """Seal a tus upload whose bytes have all arrived, then probe it into a ready or rejected file."""
    ctx.store.finish_append(file.storage_key, upload.store_upload_id)
    sha256 = RUNNING_HASHES.take(upload.id, upload.length)
    return _complete(db, ctx=ctx, access=access, upload=upload, file=file, sha256=sha256)


def _complete(
    db: Session, *, ctx: AppContext, access: WorkspaceAccess, upload: Upload, file: File, sha256: str | None = None
) -> File:
    upload.status = UploadStatus.COMPLETED.value
    upload.completed_at = utcnow()
    upload.offset = upload.length
    return files.finalize(db, ctx=ctx, file=file, actor=access.actor, sha256=sha256)


def terminate(db: Session, *, ctx: AppContext, access: WorkspaceAccess, upload: Upload, file: File) -> None:
    """Abort an unfinished upload (members and up): its bytes are dropped and its file marked deleted."""
    access.require(Role.MEMBER)
    files.abort_store_upload(ctx, upload, file.storage_key)
    upload.status = UploadStatus.ABORTED.value
    file.status = FileStatus.DELETED.value
    file.deleted_at = utcnow()
    file.size_bytes = 0
    audit.record(
        db,
        actor=access.actor,
        action="upload.aborted",
        workspace_id=access.workspace_id,
        target_type="upload",
        target_id=upload.id,
        summary={"protocol": upload.protocol},
    )


# ---- multipart: the client sends parts straight to the store through presigned URLs ----


@dataclass(frozen=True)
class PartTarget:
    part_number: int
    url: str
    size: int


def part_targets(ctx: AppContext, *, upload: Upload, file: File) -> list[PartTarget]:
    """A signed PUT URL and size for each part of a multipart upload, valid until the upload expires."""
    assert upload.part_size and upload.part_count
    ttl = int((as_utc(upload.expires_at) - utcnow()).total_seconds())
    targets = []
    for number in range(1, upload.part_count + 1):
        size = min(upload.part_size, upload.length - (number - 1) * upload.part_size)
        url = ctx.store.part_url(file.storage_key, upload.store_upload_id, number, ttl_s=max(60, ttl))
        targets.append(PartTarget(part_number=number, url=url, size=size))
    return targets


def complete_multipart(db: Session, *, ctx: AppContext, access: WorkspaceAccess, upload: Upload, file: File) -> File:
    """Join a multipart upload whose parts all arrived (409 otherwise) and probe it into a file."""
    access.require(Role.MEMBER)
    try:
        parts = ctx.store.list_parts(file.storage_key, upload.store_upload_id)
    except BlobNotFound as exc:
        raise UploadGone() from exc
    expected = set(range(1, (upload.part_count or 0) + 1))
    received = {part.number for part in parts}
    total = sum(part.size for part in parts if part.number in expected)
    if received != expected or total != upload.length:
        raise Conflict(
            "Not every part has arrived, or the parts do not add up to the declared size.",
            code="upload_incomplete",
            details={
                "missing_parts": sorted(expected - received),
                "received_bytes": total,
                "declared_bytes": upload.length,
            },
        )
    ctx.store.complete_multipart(file.storage_key, upload.store_upload_id, parts)
    return _complete(db, ctx=ctx, access=access, upload=upload, file=file)
