"""BlobStore on local disk: atomic writes, keys that cannot escape the root, URLs signed and served by voxhub."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from voxhub.security import Keyring
from voxhub.storage.base import COPY_CHUNK, BlobNotFound, DownloadOptions, Part, check_key

_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
URL_PURPOSE = "blob-url"


class OffsetMismatch(Exception):
    def __init__(self, expected: int) -> None:
        super().__init__(f"append expected offset {expected}")
        self.expected = expected


class UrlSigner:
    """Tokens for /blobs/{token}: a payload saying what may be done to which key until when, and its HMAC."""

    def __init__(self, keyring: Keyring, base_url: str) -> None:
        self.keyring = keyring
        self.base_url = base_url.rstrip("/")

    def url(self, payload: dict[str, Any], ttl_s: int) -> str:
        body = (
            base64.urlsafe_b64encode(
                json.dumps({**payload, "exp": int(time.time()) + ttl_s}, separators=(",", ":")).encode()
            )
            .decode()
            .rstrip("=")
        )
        return f"{self.base_url}/blobs/{body}.{self.keyring.sign(body, purpose=URL_PURPOSE)}"

    def read(self, token: str) -> dict[str, Any] | None:
        """The payload of a genuine, unexpired token; None for anything else."""
        body, _, signature = token.rpartition(".")
        if not body or not self.keyring.verify(body, signature, purpose=URL_PURPOSE):
            return None
        try:
            payload: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except ValueError:
            return None
        if int(payload.get("exp", 0)) < time.time():
            return None
        return payload


def _write_atomically(target: Path, chunks: Iterator[bytes] | BinaryIO) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    written = 0
    try:
        with temp.open("wb") as handle:
            # Files are iterators too (of lines), so test for read() first: binary is copied in bounded chunks.
            if hasattr(chunks, "read"):
                while chunk := chunks.read(COPY_CHUNK):
                    handle.write(chunk)
                    written += len(chunk)
            else:
                for chunk in chunks:
                    handle.write(chunk)
                    written += len(chunk)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return written


class LocalBlobStore:
    name = "local"

    def __init__(self, root: Path, signer: UrlSigner) -> None:
        self.root = root.resolve()
        self.objects = self.root / "objects"
        self.multipart = self.root / ".multipart"
        self.appends = self.root / ".appends"
        self.signer = signer
        for directory in (self.objects, self.multipart, self.appends):
            directory.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.objects / check_key(key)).resolve()
        if not path.is_relative_to(self.objects):
            raise ValueError(f"key escapes the store: {key!r}")
        return path

    def _upload_dir(self, base: Path, upload_id: str) -> Path:
        if not _UPLOAD_ID.match(upload_id):
            raise BlobNotFound(f"no upload {upload_id!r}")
        return base / upload_id

    # ---- objects ----

    def put(self, key: str, stream: BinaryIO, *, content_type: str = "application/octet-stream") -> int:
        return _write_atomically(self._path(key), stream)

    def put_stream(self, key: str, chunks: Iterator[bytes]) -> int:
        return _write_atomically(self._path(key), chunks)

    def open(self, key: str, *, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        path = self._path(key)
        if not path.is_file():
            raise BlobNotFound(key)
        return self._read(path, start, end)

    @staticmethod
    def _read(path: Path, start: int, end: int | None) -> Iterator[bytes]:
        with path.open("rb") as handle:
            handle.seek(start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                chunk = handle.read(COPY_CHUNK if remaining is None else min(COPY_CHUNK, remaining))
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        directory = self._path(prefix.rstrip("/"))
        if not directory.exists():
            return 0
        count = sum(1 for p in directory.rglob("*") if p.is_file())
        shutil.rmtree(directory, ignore_errors=True)
        return count

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def iter_keys(self) -> Iterator[str]:
        for path in self.objects.rglob("*"):
            relative = path.relative_to(self.objects)
            # A name starting with a dot is a write in progress (_write_atomically), never a key.
            if path.is_file() and not any(part.startswith(".") for part in relative.parts):
                yield relative.as_posix()

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def signed_get_url(self, key: str, *, ttl_s: int, download: DownloadOptions) -> str:
        payload = {
            "op": "get",
            "key": check_key(key),
            "name": download.filename,
            "type": download.content_type,
            "inline": download.inline,
        }
        return self.signer.url(payload, ttl_s)

    def signed_put_url(self, key: str, *, ttl_s: int, content_type: str) -> str:
        return self.signer.url({"op": "put", "key": check_key(key)}, ttl_s)

    # ---- multipart ----

    def create_multipart(self, key: str, *, content_type: str) -> str:
        check_key(key)
        upload_id = secrets.token_hex(16)
        (self.multipart / upload_id).mkdir(parents=True)
        return upload_id

    def part_url(self, key: str, upload_id: str, part_number: int, *, ttl_s: int) -> str:
        return self.signer.url({"op": "part", "key": check_key(key), "upload": upload_id, "part": part_number}, ttl_s)

    def upload_part_stream(self, key: str, upload_id: str, part_number: int, chunks: Iterator[bytes]) -> Part:
        directory = self._upload_dir(self.multipart, upload_id)
        if not directory.is_dir():
            raise BlobNotFound(f"no upload {upload_id}")
        path = directory / f"{part_number:05d}"
        size = _write_atomically(path, chunks)
        return Part(number=part_number, size=size, etag=f"{part_number}-{size}")

    def upload_part(self, key: str, upload_id: str, part_number: int, data: bytes) -> Part:
        return self.upload_part_stream(key, upload_id, part_number, iter([data]))

    def list_parts(self, key: str, upload_id: str) -> list[Part]:
        directory = self._upload_dir(self.multipart, upload_id)
        if not directory.is_dir():
            raise BlobNotFound(f"no upload {upload_id}")
        parts = []
        for path in sorted(directory.iterdir()):
            if path.name.isdigit():
                size = path.stat().st_size
                parts.append(Part(number=int(path.name), size=size, etag=f"{int(path.name)}-{size}"))
        return parts

    def complete_multipart(self, key: str, upload_id: str, parts: list[Part]) -> None:
        directory = self._upload_dir(self.multipart, upload_id)
        paths = [directory / f"{part.number:05d}" for part in sorted(parts, key=lambda p: p.number)]

        def chunks() -> Iterator[bytes]:
            for path in paths:
                yield from self._read(path, 0, None)

        _write_atomically(self._path(key), chunks())
        shutil.rmtree(directory, ignore_errors=True)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        shutil.rmtree(self._upload_dir(self.multipart, upload_id), ignore_errors=True)

    # ---- appendable uploads: one file grows in place, then is renamed into the object ----

    def begin_append(self, key: str, *, content_type: str) -> str:
        check_key(key)
        upload_id = secrets.token_hex(16)
        (self.appends / upload_id).touch()
        return upload_id

    def append(self, key: str, upload_id: str, offset: int, chunks: Iterator[bytes]) -> int:
        path = self._upload_dir(self.appends, upload_id)
        if not path.is_file():
            raise BlobNotFound(f"no upload {upload_id}")
        with path.open("r+b") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() != offset:
                raise OffsetMismatch(handle.tell())
            try:
                for chunk in chunks:
                    handle.write(chunk)
            finally:
                handle.flush()
            return handle.tell()

    def appended_length(self, key: str, upload_id: str) -> int:
        path = self._upload_dir(self.appends, upload_id)
        try:
            return path.stat().st_size
        except FileNotFoundError as exc:
            raise BlobNotFound(f"no upload {upload_id}") from exc

    def finish_append(self, key: str, upload_id: str) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._upload_dir(self.appends, upload_id), target)

    def abort_append(self, key: str, upload_id: str) -> None:
        self._upload_dir(self.appends, upload_id).unlink(missing_ok=True)
