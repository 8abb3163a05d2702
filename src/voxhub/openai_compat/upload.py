"""One file from a multipart/form-data request, streamed to disk as it arrives and refused as soon as it passes the
limit, with the small text fields sent beside it."""

from __future__ import annotations

import codecs
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import anyio
from fastapi import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from voxhub.errors import BadRequest
from voxhub.files.service import FileTooLarge

FORM_OVERHEAD = 64 * 1024  # what the text fields and part headers may add to the file's size
MAX_FIELDS = 32
MAX_FIELD_BYTES = 64 * 1024
FLUSH_BYTES = 1 << 20  # file bytes gathered in memory before one write to disk (in a worker thread)


@dataclass
class Upload:
    """What the form held: the file on disk (None when there was none) and the text fields by name, repeated ones in
    order; `name[]` counts as `name`."""

    path: Path | None = None
    filename: str = ""
    size: int = 0
    fields: dict[str, list[str]] = field(default_factory=dict)

    def values(self, *, lists: Collection[str] = ()) -> dict[str, str | list[str]]:
        """The fields as a model reads them: every value of the fields named in `lists`, the first of the others."""
        return {name: values if name in lists else values[0] for name, values in self.fields.items()}


def _too_large(size: int, max_bytes: int) -> FileTooLarge:
    return FileTooLarge(
        f"The file is larger than this route accepts ({max_bytes // (1024 * 1024)} MB); upload it with the files API "
        "(POST /api/v1/workspaces/{id}/files, or tus for large files) and run a job instead.",
        details={"param": "file", "size": size, "max_bytes": max_bytes},
    )


class _Parts:
    """python-multipart's callbacks: text fields into the Upload, the file's bytes into `pending` for the caller to
    write out (callbacks cannot await)."""

    def __init__(self, upload: Upload, *, file_field: str, charset: str, max_bytes: int) -> None:
        self.upload = upload
        self.file_field = file_field
        self.charset = charset
        self.max_bytes = max_bytes
        self.header_name = self.header_value = self.disposition = b""
        self.name = ""
        self.is_file = False
        self.files = 0
        self.text = bytearray()
        self.pending = bytearray()

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    def on_part_begin(self) -> None:
        self.disposition, self.name, self.is_file, self.text = b"", "", False, bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        if self.header_name.lower() == b"content-disposition":
            self.disposition = self.header_value
        self.header_name = self.header_value = b""

    def on_headers_finished(self) -> None:
        _kind, options = parse_options_header(self.disposition)
        if b"name" not in options:
            raise BadRequest("Each form part needs a name.", code="invalid_multipart")
        self.name = options[b"name"].decode(self.charset, errors="replace").removesuffix("[]")
        self.is_file = b"filename" in options
        if self.is_file:
            self.files += 1
            if self.name != self.file_field or self.files > 1:
                raise BadRequest(
                    f"Send one file, as the form field '{self.file_field}'.",
                    code="invalid_multipart",
                    details={"param": self.file_field},
                )
            self.upload.filename = options[b"filename"].decode(self.charset, errors="replace")
        elif sum(len(values) for values in self.upload.fields.values()) >= MAX_FIELDS:
            raise BadRequest(f"The form has more than {MAX_FIELDS} fields.", code="invalid_multipart")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.is_file:
            self.upload.size += end - start
            if self.upload.size > self.max_bytes:
                raise _too_large(self.upload.size, self.max_bytes)
            self.pending += data[start:end]
            return
        self.text += data[start:end]
        if len(self.text) > MAX_FIELD_BYTES:
            raise BadRequest(
                f"The form field '{self.name}' is too long.", code="invalid_multipart", details={"param": self.name}
            )

    def on_part_end(self) -> None:
        if not self.is_file:
            self.upload.fields.setdefault(self.name, []).append(self.text.decode(self.charset, errors="replace"))


async def receive_upload(request: Request, target: Path, *, max_bytes: int, file_field: str = "file") -> Upload:
    """Stream the request's form: the file to `target`, the fields to memory. A body declared larger than the limit is
    refused before it is read; one that grows past it, as soon as it does."""
    kind, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise BadRequest("Send the request as multipart/form-data.", code="invalid_content_type")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes + FORM_OVERHEAD:
        raise _too_large(int(declared), max_bytes)
    upload = Upload()
    parts = _Parts(upload, file_field=file_field, charset=_charset(params), max_bytes=max_bytes)
    parser = MultipartParser(boundary, parts.callbacks())  # type: ignore[arg-type]
    handle: IO[bytes] | None = None

    async def write_pending(at_least: int) -> None:
        nonlocal handle
        if len(parts.pending) < max(at_least, 1):
            return
        if handle is None:
            handle = target.open("wb")
        await anyio.to_thread.run_sync(handle.write, bytes(parts.pending))
        parts.pending.clear()

    try:
        async for chunk in request.stream():
            parser.write(chunk)
            await write_pending(FLUSH_BYTES)
        parser.finalize()
        await write_pending(1)
    except FormParserError as exc:
        raise BadRequest("The multipart/form-data body could not be parsed.", code="invalid_multipart") from exc
    finally:
        if handle is not None:
            handle.close()
    if parts.files:
        upload.path = target
        target.touch()  # an empty file part still names a file: the probe says it is empty
    return upload


def _charset(params: dict[bytes, Any]) -> str:
    try:
        return codecs.lookup(params.get(b"charset", b"utf-8").decode("latin-1")).name
    except LookupError:
        return "utf-8"
