"""The BlobStore promises, kept by both stores (local disk and a real S3 server): streaming reads with byte ranges,
atomic writes, keys that cannot escape, multipart and appendable uploads, and signed links that expire."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.storage.stores import S3Server
from voxhub.config import Settings
from voxhub.security import Keyring
from voxhub.storage import BlobNotFound, BlobStore, DownloadOptions, OffsetMismatch, StorageError, open_store
from voxhub.storage.base import COPY_CHUNK
from voxhub.storage.s3 import APPEND_PART_SIZE, S3BlobStore

KEY = "ws/w1/files/f1"
MiB = 1024 * 1024


def payload(size: int) -> bytes:
    return os.urandom(size)


def read(store: BlobStore, key: str, **kwargs: Any) -> bytes:
    return b"".join(store.open(key, **kwargs))


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def broken_after(data: bytes, size: int, chunks: int) -> Iterator[bytes]:
    """The first `chunks` chunks of `data`, then the connection drops."""
    for index, chunk in enumerate(chunked(data, size)):
        if index == chunks:
            raise ConnectionResetError("client went away")
        yield chunk


class FailingStream(io.RawIOBase):
    """A file whose reading fails after `good` bytes, like an upload whose client disconnects."""

    def __init__(self, data: bytes, good: int) -> None:
        self.data = io.BytesIO(data)
        self.good = good

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.data.tell() >= self.good:
            raise ConnectionResetError("client went away")
        return self.data.read(min(size if size >= 0 else self.good, self.good - self.data.tell()))

    def readinto(self, buffer: Any) -> int:
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def poll_until(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.1)


# ---- objects ----


def test_put_then_read_whole_object_and_byte_ranges(store: BlobStore) -> None:
    data = payload(2 * COPY_CHUNK + 123)

    assert store.put(KEY, io.BytesIO(data), content_type="audio/wav") == len(data)

    assert store.exists(KEY)
    assert store.size(KEY) == len(data)
    assert read(store, KEY) == data
    assert read(store, KEY, start=10, end=19) == data[10:20]
    assert read(store, KEY, start=COPY_CHUNK - 3, end=COPY_CHUNK + 3) == data[COPY_CHUNK - 3 : COPY_CHUNK + 4]
    assert read(store, KEY, start=len(data) - 5) == data[-5:]
    assert read(store, KEY, start=0, end=0) == data[:1]


def test_put_replaces_an_existing_object(store: BlobStore) -> None:
    store.put(KEY, io.BytesIO(b"first version"))
    store.put(KEY, io.BytesIO(b"second"))

    assert read(store, KEY) == b"second"
    assert store.size(KEY) == len(b"second")


def test_delete_removes_the_object_and_a_missing_object_is_not_found(store: BlobStore) -> None:
    store.put(KEY, io.BytesIO(b"bytes"))

    store.delete(KEY)
    store.delete(KEY)  # deleting twice is not an error

    assert not store.exists(KEY)
    with pytest.raises(BlobNotFound):
        store.size(KEY)
    with pytest.raises(BlobNotFound):
        read(store, KEY)


def test_delete_prefix_removes_only_that_prefix(store: BlobStore) -> None:
    for key in ("ws/a/files/1", "ws/a/files/2", "ws/b/files/1"):
        store.put(key, io.BytesIO(key.encode()))

    assert store.delete_prefix("ws/a") == 2

    assert not store.exists("ws/a/files/1")
    assert not store.exists("ws/a/files/2")
    assert read(store, "ws/b/files/1") == b"ws/b/files/1"


def test_a_put_whose_stream_fails_leaves_no_object(store: BlobStore, stored: Callable[[], list[str]]) -> None:
    data = payload(3 * MiB)

    with pytest.raises((ConnectionResetError, StorageError)):
        store.put(KEY, FailingStream(data, good=2 * MiB))  # type: ignore[arg-type]

    assert not store.exists(KEY)
    assert stored() == []


def test_a_failed_overwrite_keeps_the_previous_object_whole(store: BlobStore) -> None:
    store.put(KEY, io.BytesIO(b"the original"))

    with pytest.raises((ConnectionResetError, StorageError)):
        store.put(KEY, FailingStream(payload(3 * MiB), good=MiB))  # type: ignore[arg-type]

    assert read(store, KEY) == b"the original"


@pytest.mark.parametrize(
    "key",
    [
        "../escape",
        "ws/../../etc/passwd",
        "/etc/passwd",
        "ws//files",
        "ws/./x",
        "",
        "ws/x/",
        "ws\\..\\x",
        "ws/files/\x00",
    ],
)
def test_keys_that_could_escape_are_refused(store: BlobStore, stored: Callable[[], list[str]], key: str) -> None:
    with pytest.raises(ValueError):
        store.put(key, io.BytesIO(b"sneaky"))
    with pytest.raises(ValueError):
        store.open(key)
    with pytest.raises(ValueError):
        store.exists(key)
    with pytest.raises(ValueError):
        store.delete(key)
    with pytest.raises(ValueError):
        store.signed_get_url(key, ttl_s=60, download=DownloadOptions(filename="x", content_type="audio/wav"))
    with pytest.raises(ValueError):
        store.create_multipart(key, content_type="audio/wav")
    with pytest.raises(ValueError):
        store.begin_append(key, content_type="audio/wav")

    assert stored() == []


# ---- multipart ----


def test_multipart_parts_are_listed_then_joined_in_order(store: BlobStore, stored: Callable[[], list[str]]) -> None:
    first, second, third = payload(5 * MiB), payload(5 * MiB), payload(1000)
    upload_id = store.create_multipart(KEY, content_type="audio/wav")

    # sent out of order, as parallel clients do
    store.upload_part(KEY, upload_id, 3, third)
    store.upload_part(KEY, upload_id, 1, first)
    store.upload_part(KEY, upload_id, 2, second)
    parts = store.list_parts(KEY, upload_id)

    assert [(p.number, p.size) for p in parts] == [(1, 5 * MiB), (2, 5 * MiB), (3, 1000)]
    assert not store.exists(KEY)

    store.complete_multipart(KEY, upload_id, parts)

    assert read(store, KEY) == first + second + third
    assert stored() == [stored_name(store, KEY)]


def test_aborting_a_multipart_upload_removes_its_parts(store: BlobStore, stored: Callable[[], list[str]]) -> None:
    upload_id = store.create_multipart(KEY, content_type="audio/wav")
    store.upload_part(KEY, upload_id, 1, payload(5 * MiB))

    store.abort_multipart(KEY, upload_id)
    store.abort_multipart(KEY, upload_id)  # aborting twice is not an error

    with pytest.raises(BlobNotFound):
        store.list_parts(KEY, upload_id)
    assert not store.exists(KEY)
    assert stored() == []


def stored_name(store: BlobStore, key: str) -> str:
    """How `key` shows up in the store's listing (under the test's prefix on S3, under objects/ on disk)."""
    if isinstance(store, S3BlobStore):
        return f"{store.prefix}/{key}"
    return f"objects/{key}"


# ---- appendable uploads (what tus uses) ----


def test_appends_grow_the_upload_until_it_is_finished(store: BlobStore, stored: Callable[[], list[str]]) -> None:
    data = payload(300_000)
    upload_id = store.begin_append(KEY, content_type="audio/wav")

    assert store.appended_length(KEY, upload_id) == 0
    assert store.append(KEY, upload_id, 0, chunked(data[:100_000], 30_000)) == 100_000
    assert store.append(KEY, upload_id, 100_000, iter([data[100_000:]])) == len(data)
    assert store.appended_length(KEY, upload_id) == len(data)
    assert not store.exists(KEY)

    store.finish_append(KEY, upload_id)

    assert read(store, KEY) == data
    assert stored() == [stored_name(store, KEY)]


def test_an_append_at_the_wrong_offset_is_refused_and_changes_nothing(store: BlobStore) -> None:
    upload_id = store.begin_append(KEY, content_type="audio/wav")
    store.append(KEY, upload_id, 0, iter([b"12345"]))

    for wrong in (0, 3, 6):
        with pytest.raises(OffsetMismatch) as refused:
            store.append(KEY, upload_id, wrong, iter([b"xx"]))
        assert refused.value.expected == 5

    assert store.appended_length(KEY, upload_id) == 5
    store.finish_append(KEY, upload_id)
    assert read(store, KEY) == b"12345"


def test_an_interrupted_append_keeps_what_arrived_and_resumes_there(store: BlobStore) -> None:
    data = payload(600_000)
    upload_id = store.begin_append(KEY, content_type="audio/wav")

    with pytest.raises(ConnectionResetError):
        store.append(KEY, upload_id, 0, broken_after(data, 100_000, chunks=3))

    kept = store.appended_length(KEY, upload_id)
    assert kept == 300_000
    assert store.append(KEY, upload_id, kept, chunked(data[kept:], 100_000)) == len(data)
    store.finish_append(KEY, upload_id)
    assert read(store, KEY) == data


def test_appends_crossing_part_boundaries_keep_every_byte(store: BlobStore) -> None:
    """On S3 appends are cut into 8 MiB parts plus a tail; a chunk that crosses a boundary, and a connection lost
    just after one, must neither lose nor repeat a byte."""
    data = payload(2 * APPEND_PART_SIZE + 3 * MiB)
    upload_id = store.begin_append(KEY, content_type="audio/wav")

    at = store.append(KEY, upload_id, 0, chunked(data[: 6 * MiB], MiB))  # a tail short of one part
    assert at == 6 * MiB
    with pytest.raises(ConnectionResetError):  # 5 MiB more arrive (crossing 8 MiB), then the connection drops
        store.append(KEY, upload_id, at, broken_after(data[at:], MiB, chunks=5))
    assert store.appended_length(KEY, upload_id) == 11 * MiB
    at = store.append(KEY, upload_id, 11 * MiB, iter([data[11 * MiB : -1]]))  # one chunk crossing 16 MiB
    assert at == len(data) - 1
    assert store.append(KEY, upload_id, at, iter([data[-1:]])) == len(data)
    assert store.appended_length(KEY, upload_id) == len(data)

    store.finish_append(KEY, upload_id)

    assert store.size(KEY) == len(data)
    assert read(store, KEY) == data


def test_an_empty_append_upload_finishes_as_an_empty_object(store: BlobStore) -> None:
    upload_id = store.begin_append(KEY, content_type="audio/wav")

    store.finish_append(KEY, upload_id)

    assert store.exists(KEY)
    assert store.size(KEY) == 0


def test_aborting_an_append_upload_removes_its_bytes(store: BlobStore, stored: Callable[[], list[str]]) -> None:
    upload_id = store.begin_append(KEY, content_type="audio/wav")
    store.append(KEY, upload_id, 0, chunked(payload(APPEND_PART_SIZE + MiB), MiB))

    store.abort_append(KEY, upload_id)

    with pytest.raises(BlobNotFound):
        store.appended_length(KEY, upload_id)
    assert not store.exists(KEY)
    assert stored() == []


# ---- signed links ----


def test_a_signed_link_serves_the_bytes_with_ranges_type_and_name(
    store: BlobStore, store_kind: str, request: pytest.FixtureRequest
) -> None:
    data = payload(200_000)
    store.put(KEY, io.BytesIO(data), content_type="audio/wav")
    http = _http_for(store_kind, request)

    url = store.signed_get_url(
        KEY, ttl_s=600, download=DownloadOptions(filename="réunion 1.wav", content_type="audio/wav")
    )
    whole = http.get(url)
    part = http.get(url, headers={"Range": "bytes=100-199"})
    inline = http.get(
        store.signed_get_url(
            KEY, ttl_s=600, download=DownloadOptions(filename="a.wav", content_type="audio/wav", inline=True)
        )
    )

    assert whole.status_code == 200
    assert whole.content == data
    assert whole.headers["content-type"].startswith("audio/wav")
    disposition = whole.headers["content-disposition"]
    assert disposition.startswith("attachment")
    assert "r%C3%A9union%201.wav" in disposition.replace("utf-8''", "UTF-8''")
    assert part.status_code == 206
    assert part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    assert inline.status_code == 200
    assert inline.headers["content-disposition"].startswith("inline")


def test_an_expired_signed_link_is_refused(store: BlobStore, store_kind: str, request: pytest.FixtureRequest) -> None:
    store.put(KEY, io.BytesIO(b"secret audio"))
    http = _http_for(store_kind, request)
    options = DownloadOptions(filename="a.wav", content_type="audio/wav")
    url = store.signed_get_url(KEY, ttl_s=1, download=options)

    poll_until(lambda: http.get(url).status_code != 200)

    refused = http.get(url)
    assert refused.status_code == 403
    assert b"secret audio" not in refused.content
    assert http.get(store.signed_get_url(KEY, ttl_s=600, download=options)).content == b"secret audio"


def test_a_tampered_signed_link_is_refused(store: BlobStore, store_kind: str, request: pytest.FixtureRequest) -> None:
    store.put(KEY, io.BytesIO(b"secret audio"))
    store.put("ws/w2/files/other", io.BytesIO(b"someone else's audio"))
    http = _http_for(store_kind, request)
    url = store.signed_get_url(KEY, ttl_s=600, download=DownloadOptions(filename="a.wav", content_type="audio/wav"))
    other = store.signed_get_url(
        "ws/w2/files/other", ttl_s=600, download=DownloadOptions(filename="a.wav", content_type="audio/wav")
    )

    for tampered in (_flip_signature_char(url), _swap_key(url, other)):
        refused = http.get(tampered)
        assert refused.status_code == 403, tampered
        assert b"audio" not in refused.content
    assert http.get(url).content == b"secret audio"


def test_a_signed_put_link_stores_an_object(store: BlobStore, store_kind: str, request: pytest.FixtureRequest) -> None:
    http = _http_for(store_kind, request)
    url = store.signed_put_url(KEY, ttl_s=600, content_type="audio/wav")

    answer = http.put(url, content=b"uploaded through a link", headers={"Content-Type": "audio/wav"})

    assert answer.status_code == 200, answer.text
    assert read(store, KEY) == b"uploaded through a link"


def test_a_signed_part_link_takes_one_part(store: BlobStore, store_kind: str, request: pytest.FixtureRequest) -> None:
    http = _http_for(store_kind, request)
    upload_id = store.create_multipart(KEY, content_type="audio/wav")

    answer = http.put(store.part_url(KEY, upload_id, 1, ttl_s=600), content=b"the only part")

    assert answer.status_code == 200, answer.text
    assert answer.headers.get("etag")
    parts = store.list_parts(KEY, upload_id)
    assert [(p.number, p.size) for p in parts] == [(1, len(b"the only part"))]
    store.complete_multipart(KEY, upload_id, parts)
    assert read(store, KEY) == b"the only part"


def test_a_get_link_cannot_be_used_to_upload(store: BlobStore, store_kind: str, request: pytest.FixtureRequest) -> None:
    store.put(KEY, io.BytesIO(b"original"))
    http = _http_for(store_kind, request)
    url = store.signed_get_url(KEY, ttl_s=600, download=DownloadOptions(filename="a.wav", content_type="audio/wav"))

    answer = http.put(url, content=b"overwritten")

    assert answer.status_code == 403
    assert read(store, KEY) == b"original"


@pytest.mark.parametrize("store_kind", ["s3"])
def test_s3_refuses_a_client_with_the_wrong_secret(s3_server: S3Server, settings: Settings, store: BlobStore) -> None:
    impostor = open_store(
        settings.model_copy(update={"storage_secret_access_key": "not-the-secret"}),
        Keyring(settings.resolved_secret_key),
    )
    genuine = store
    genuine.put(KEY, io.BytesIO(b"private"))

    with pytest.raises(StorageError):
        impostor.put("ws/w1/files/forged", io.BytesIO(b"forged"))
    with pytest.raises(StorageError):
        read(impostor, KEY)
    forged_link = impostor.signed_get_url(KEY, ttl_s=600, download=DownloadOptions(filename="a", content_type="a/b"))
    assert httpx.get(forged_link).status_code == 403
    assert not genuine.exists("ws/w1/files/forged")
    with pytest.raises(Exception, match=r"SignatureDoesNotMatch|InvalidAccessKeyId|AccessDenied"):
        s3_server.client(secret_access_key="not-the-secret").list_objects_v2(Bucket=s3_server.bucket)


# ---- helpers ----


def _http_for(store_kind: str, request: pytest.FixtureRequest) -> httpx.Client:
    """Local links are served by voxhub itself (through a TestClient on the app); S3 links by the S3 server."""
    if store_kind == "local":
        client: TestClient = request.getfixturevalue("client")
        return client
    outside = httpx.Client()
    request.addfinalizer(outside.close)
    return outside


def _flip_signature_char(url: str) -> str:
    if "X-Amz-Signature=" in url:
        at = url.index("X-Amz-Signature=") + len("X-Amz-Signature=") + 5
    else:
        at = url.rindex(".") + 5  # /blobs/{payload}.{signature}
    return url[:at] + ("0" if url[at] != "0" else "1") + url[at + 1 :]


def _swap_key(url: str, other: str) -> str:
    """`url`'s signature on the link for another object."""
    if "X-Amz-Signature=" in url:
        signature = url.split("X-Amz-Signature=")[1].split("&")[0]
        other_signature = other.split("X-Amz-Signature=")[1].split("&")[0]
        return other.replace(other_signature, signature)
    return other.rpartition(".")[0] + "." + url.rpartition(".")[2]
