"""Feeding an async request body to synchronous storage code in a worker thread, with backpressure."""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from typing import TypeVar

import anyio
from starlette.requests import ClientDisconnect, Request

T = TypeVar("T")

BATCH = 1024 * 1024
_END = object()


class BodyTooLarge(Exception):
    pass


async def pump_body(
    request: Request, consume: Callable[[Iterator[bytes]], T], *, limit: int | None = None, keep_partial: bool = False
) -> T:
    """Run `consume(chunks)` in a thread while the request body streams in, in batches of about 1 MiB.

    Memory stays bounded (a few batches queued). If the client disconnects, `consume` sees the chunks end early and
    keeps what arrived when `keep_partial` (a resumable upload); otherwise the chunks raise ClientDisconnect, so that
    a store writing them keeps nothing, and it comes out of pump_body. Past `limit` bytes the stream is cut there and
    BodyTooLarge raised after `consume` returns.
    """
    pipe: queue.Queue[object] = queue.Queue(maxsize=8)
    stopped = False
    overflow = False
    disconnected = False

    async def put(item: object) -> None:
        while True:
            try:
                pipe.put_nowait(item)
                return
            except queue.Full:
                if stopped:
                    return
                await anyio.sleep(0.001)

    async def produce() -> None:
        nonlocal overflow, disconnected
        received = 0
        batch = bytearray()
        try:
            async for chunk in request.stream():
                if limit is not None and received + len(chunk) > limit:
                    batch += chunk[: limit - received]
                    overflow = True
                    break
                received += len(chunk)
                batch += chunk
                if len(batch) >= BATCH:
                    await put(bytes(batch))
                    batch.clear()
        except ClientDisconnect:
            disconnected = True
        finally:
            if batch:
                await put(bytes(batch))
            await put(_END)

    def chunks() -> Iterator[bytes]:
        while (item := pipe.get()) is not _END:
            yield item  # type: ignore[misc]
        if disconnected and not keep_partial:
            raise ClientDisconnect()

    def run() -> T:
        nonlocal stopped
        try:
            return consume(chunks())
        finally:
            stopped = True

    failure: Exception | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(produce)
        try:
            result = await anyio.to_thread.run_sync(run)
        except Exception as exc:  # raised below: inside the task group it would come out wrapped in an ExceptionGroup
            failure = exc
    if failure is not None:
        raise failure
    if overflow:
        raise BodyTooLarge()
    return result
