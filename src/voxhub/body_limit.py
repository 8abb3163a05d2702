"""A cap on request bodies, so one request cannot fill memory or the database (VOXHUB_MAX_REQUEST_BODY_KB).

Uploads stream files under the larger file-size limits they enforce themselves, so their routes are exempt.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxhub.errors import RequestTooLarge


class BodySizeLimitMiddleware:
    """Refuses a body over `max_bytes` with 413 `request_too_large`: before any byte is read when Content-Length
    declares more, else as soon as the bytes streamed in pass the limit. Plain ASGI: a request that never reads its
    body costs nothing."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, exempt: Collection[Callable[..., Any]] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = frozenset(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = 0
        first = True

        async def receive_within_limit() -> Message:
            nonlocal received, first
            # Asked when the body is read, which is after routing: the endpoint is known by then.
            if scope.get("endpoint") in self.exempt:
                return await receive()
            if first:
                first = False
                if _declared_length(scope) > self.max_bytes:
                    raise RequestTooLarge(self.max_bytes)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise RequestTooLarge(self.max_bytes)
            return message

        await self.app(scope, receive_within_limit, send)


def _declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0
