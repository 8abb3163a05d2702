"""BlobStore on any S3-compatible service (AWS S3, R2, Spaces, MinIO, SeaweedFS) through boto3."""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, quote, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from voxhub.storage.base import COPY_CHUNK, BlobNotFound, DownloadOptions, Part, StorageError, check_key
from voxhub.storage.local import OffsetMismatch

# Appended bytes become parts of 5 to 16 MiB; S3 wants every part but the last to be at least 5 MiB.
APPEND_PART_SIZE = 16 * 1024 * 1024
MIN_PART_SIZE = 5 * 1024 * 1024


def _content_disposition(download: DownloadOptions) -> str:
    kind = "inline" if download.inline else "attachment"
    ascii_name = download.filename.encode("ascii", "ignore").decode().replace('"', "") or "download"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(download.filename)}"


class S3BlobStore:
    name = "s3"

    def __init__(self, url: str, *, access_key_id: str | None = None, secret_access_key: str | None = None) -> None:
        parts = urlsplit(url)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        endpoint = query.get("endpoint")
        addressing = query.get("addressing", "path" if endpoint else "auto")
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=query.get("region", "us-east-1"),
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": addressing},
                retries={"max_attempts": 3, "mode": "standard"},
                # Checksums only where S3 requires them: signing already protects the payload.
                request_checksum_calculation="when_required",
            ),
        )

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def object_key(self, key: str) -> str:
        """The object's key in the bucket (under the store's prefix): its path behind a CDN serving the bucket."""
        return self._key(key)

    def _call(self, method: str, **params: Any) -> Any:
        try:
            return getattr(self.client, method)(Bucket=self.bucket, **params)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound", "NoSuchUpload"):
                raise BlobNotFound(params.get("Key", "")) from exc
            raise StorageError(f"S3 {method} failed: {code or exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"S3 {method} failed: {exc}") from exc

    # ---- objects ----

    def put(self, key: str, stream: BinaryIO, *, content_type: str = "application/octet-stream") -> int:
        counter = _CountingReader(stream)
        try:
            self.client.upload_fileobj(counter, self.bucket, self._key(key), ExtraArgs={"ContentType": content_type})
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"S3 upload failed: {exc}") from exc
        return counter.count

    def open(self, key: str, *, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        params: dict[str, Any] = {"Key": self._key(key)}
        if start or end is not None:
            params["Range"] = f"bytes={start}-{'' if end is None else end}"
        body = self._call("get_object", **params)["Body"]
        return iter(lambda: body.read(COPY_CHUNK), b"")

    def delete(self, key: str) -> None:
        self._call("delete_object", Key=self._key(key))

    def delete_prefix(self, prefix: str) -> int:
        count = 0
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix.rstrip("/")) + "/"):
            objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if objects:
                self._call("delete_objects", Delete={"Objects": objects, "Quiet": True})
                count += len(objects)
        return count

    def exists(self, key: str) -> bool:
        try:
            self._call("head_object", Key=self._key(key))
        except BlobNotFound:
            return False
        return True

    def iter_keys(self) -> Iterator[str]:
        start = f"{self.prefix}/" if self.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=start):
                for item in page.get("Contents", []):
                    yield str(item["Key"])[len(start) :]
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"S3 list_objects_v2 failed: {exc}") from exc

    def size(self, key: str) -> int:
        return int(self._call("head_object", Key=self._key(key))["ContentLength"])

    def local_path(self, key: str) -> Path | None:
        return None

    def signed_get_url(self, key: str, *, ttl_s: int, download: DownloadOptions) -> str:
        return str(
            self.client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": self._key(key),
                    "ResponseContentType": download.content_type,
                    "ResponseContentDisposition": _content_disposition(download),
                },
                ExpiresIn=ttl_s,
            )
        )

    def signed_put_url(self, key: str, *, ttl_s: int, content_type: str) -> str:
        return str(
            self.client.generate_presigned_url(
                "put_object",
                Params={"Bucket": self.bucket, "Key": self._key(key), "ContentType": content_type},
                ExpiresIn=ttl_s,
            )
        )

    # ---- multipart ----

    def create_multipart(self, key: str, *, content_type: str) -> str:
        return str(self._call("create_multipart_upload", Key=self._key(key), ContentType=content_type)["UploadId"])

    def part_url(self, key: str, upload_id: str, part_number: int, *, ttl_s: int) -> str:
        return str(
            self.client.generate_presigned_url(
                "upload_part",
                Params={"Bucket": self.bucket, "Key": self._key(key), "UploadId": upload_id, "PartNumber": part_number},
                ExpiresIn=ttl_s,
            )
        )

    def upload_part(self, key: str, upload_id: str, part_number: int, data: bytes) -> Part:
        answer = self._call("upload_part", Key=self._key(key), UploadId=upload_id, PartNumber=part_number, Body=data)
        return Part(number=part_number, size=len(data), etag=str(answer["ETag"]))

    def list_parts(self, key: str, upload_id: str) -> list[Part]:
        parts: list[Part] = []
        marker = 0
        while True:
            page = self._call("list_parts", Key=self._key(key), UploadId=upload_id, PartNumberMarker=marker)
            parts += [
                Part(number=int(p["PartNumber"]), size=int(p["Size"]), etag=str(p["ETag"]))
                for p in page.get("Parts", [])
            ]
            if not page.get("IsTruncated"):
                return sorted(parts, key=lambda p: p.number)
            marker = int(page["NextPartNumberMarker"])

    def complete_multipart(self, key: str, upload_id: str, parts: list[Part]) -> None:
        ordered = sorted(parts, key=lambda p: p.number)
        self._call(
            "complete_multipart_upload",
            Key=self._key(key),
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": p.number, "ETag": p.etag} for p in ordered]},
        )

    def abort_multipart(self, key: str, upload_id: str) -> None:
        with contextlib.suppress(BlobNotFound):
            self._call("abort_multipart_upload", Key=self._key(key), UploadId=upload_id)

    # ---- appendable uploads: a multipart upload plus a "tail" object holding the bytes short of a part ----
    # The tail is named after the part it will start, so a crash between writing a part and replacing the
    # tail leaves a stale tail that is simply ignored: no byte is counted twice.

    @staticmethod
    def _append_dir(upload_id: str) -> str:
        # Upload ids are the store's own strings (any characters); their hash makes a valid key.
        return f"appends/{hashlib.sha256(upload_id.encode()).hexdigest()[:40]}"

    def _tail_key(self, upload_id: str, next_part: int) -> str:
        return f"{self._append_dir(upload_id)}/tail-{next_part:05d}"

    def _append_state(self, key: str, upload_id: str) -> tuple[list[Part], bytes]:
        parts = self.list_parts(key, upload_id)
        try:
            tail = b"".join(self.open(self._tail_key(upload_id, len(parts) + 1)))
        except BlobNotFound:
            tail = b""
        return parts, tail

    def begin_append(self, key: str, *, content_type: str) -> str:
        return self.create_multipart(key, content_type=content_type)

    def appended_length(self, key: str, upload_id: str) -> int:
        parts = self.list_parts(key, upload_id)
        try:
            tail = self.size(self._tail_key(upload_id, len(parts) + 1))
        except BlobNotFound:
            tail = 0
        return sum(p.size for p in parts) + tail

    def append(self, key: str, upload_id: str, offset: int, chunks: Iterator[bytes]) -> int:
        parts, tail = self._append_state(key, upload_id)
        length = sum(p.size for p in parts) + len(tail)
        if length != offset:
            raise OffsetMismatch(length)
        pending: list[bytes] = [tail] if tail else []
        pending_size = len(tail)
        next_part = first_tail = len(parts) + 1
        uploaded = 0

        def flush() -> None:
            nonlocal pending, pending_size, next_part, uploaded
            self.upload_part(key, upload_id, next_part, b"".join(pending))
            uploaded += pending_size
            pending, pending_size = [], 0
            next_part += 1

        try:
            for chunk in chunks:
                pending.append(chunk)
                pending_size += len(chunk)
                if pending_size >= APPEND_PART_SIZE:
                    flush()
            # Parts need not be equal: a request's bytes become one part when they can; only a piece shorter
            # than S3's minimum waits in the tail for the next request.
            if pending_size >= MIN_PART_SIZE:
                flush()
        finally:
            if pending_size:
                self._call("put_object", Key=self._key(self._tail_key(upload_id, next_part)), Body=b"".join(pending))
            if next_part != first_tail:
                self.delete(self._tail_key(upload_id, first_tail))
        return sum(p.size for p in parts) + uploaded + pending_size

    def finish_append(self, key: str, upload_id: str) -> None:
        parts, tail = self._append_state(key, upload_id)
        if not parts and not tail:
            self.abort_multipart(key, upload_id)
            self.put(key, io.BytesIO(b""))
            return
        if tail:
            parts.append(self.upload_part(key, upload_id, len(parts) + 1, tail))
        self.complete_multipart(key, upload_id, parts)
        self.delete_prefix(self._append_dir(upload_id))

    def abort_append(self, key: str, upload_id: str) -> None:
        self.abort_multipart(key, upload_id)
        self.delete_prefix(self._append_dir(upload_id))


class _CountingReader(io.RawIOBase):
    """Counts the bytes boto3 reads from a stream."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.count += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
