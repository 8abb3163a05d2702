"""The BlobStore protocol: where file bytes live, local disk or any S3-compatible store."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from voxhub.errors import ServiceUnavailable

# Keys are built by voxhub (ws/{workspace_id}/files/{file_id}), never from user input; this shape is enforced.
_KEY_SHAPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")

COPY_CHUNK = 1024 * 1024


class StorageError(ServiceUnavailable):
    """The store failed in a way that may pass (network, server); callers may retry. A request it ends is answered
    503 `storage_unavailable` with Retry-After, and its transaction is rolled back (no file row without its bytes)."""

    code = "storage_unavailable"
    message = "The file store is not reachable right now; try again shortly."

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        # The client reads the class's message; what the store said (endpoints, keys) stays in logs and str(exc).
        super().__init__(None, **kwargs)
        self.args = (detail or self.message,)


class BlobNotFound(StorageError):
    """No object under this key (a file row whose bytes are gone, an upload already finished or aborted)."""

    status_code = 404
    code = "blob_not_found"
    message = "The file's bytes are not in the store."

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {})
        super().__init__(detail, **kwargs)


def check_key(key: str) -> str:
    if not _KEY_SHAPE.match(key) or ".." in key.split("/"):
        raise ValueError(f"not a valid blob key: {key!r}")
    return key


@dataclass(frozen=True)
class Part:
    number: int
    size: int
    etag: str


@dataclass(frozen=True)
class DownloadOptions:
    filename: str
    content_type: str
    inline: bool = False


class BlobStore(Protocol):
    """Streaming byte storage addressed by key. Both implementations keep these promises:
    a `put` is atomic (readers see all of the object or none), and memory does not grow with object size."""

    name: str

    def put(self, key: str, stream: BinaryIO, *, content_type: str = "application/octet-stream") -> int:
        """Store the stream's bytes under `key`; returns the number of bytes written."""
        ...

    def open(self, key: str, *, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The object's bytes from `start` up to and including `end`, in chunks."""
        ...

    def delete(self, key: str) -> None: ...

    def delete_prefix(self, prefix: str) -> int: ...

    def exists(self, key: str) -> bool: ...

    def iter_keys(self) -> Iterator[str]:
        """Every object's key, in no promised order (unfinished uploads are not objects yet)."""
        ...

    def size(self, key: str) -> int: ...

    def local_path(self, key: str) -> Path | None:
        """A path on this machine's disk holding the object, when the store is local."""
        ...

    def signed_get_url(self, key: str, *, ttl_s: int, download: DownloadOptions) -> str: ...

    def signed_put_url(self, key: str, *, ttl_s: int, content_type: str) -> str: ...

    # ---- multipart: parts uploaded separately (possibly straight from the client), then joined ----

    def create_multipart(self, key: str, *, content_type: str) -> str:
        """Start a multipart upload; returns the store's upload id."""
        ...

    def part_url(self, key: str, upload_id: str, part_number: int, *, ttl_s: int) -> str: ...

    def upload_part(self, key: str, upload_id: str, part_number: int, data: bytes) -> Part: ...

    def list_parts(self, key: str, upload_id: str) -> list[Part]: ...

    def complete_multipart(self, key: str, upload_id: str, parts: list[Part]) -> None: ...

    def abort_multipart(self, key: str, upload_id: str) -> None: ...

    # ---- appendable uploads: what tus needs — bytes arrive in order, in chunks of any size ----

    def begin_append(self, key: str, *, content_type: str) -> str:
        """Start an upload that grows by appends; returns its upload id."""
        ...

    def append(self, key: str, upload_id: str, offset: int, chunks: Iterator[bytes]) -> int:
        """Add bytes at `offset` (which must be the current length). Keeps whatever arrived even if the
        chunks stop early, and returns the new length."""
        ...

    def appended_length(self, key: str, upload_id: str) -> int: ...

    def finish_append(self, key: str, upload_id: str) -> None:
        """Turn the appended bytes into the object `key`."""
        ...

    def abort_append(self, key: str, upload_id: str) -> None: ...
