"""HTTP routes for conversations over a workspace's recordings: create, list, read, rename, delete, ask (answers
streamed as server-sent events, or whole as JSON), and suggested questions."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from voxhub.deps import Ctx, DbSession, MemberAccess, SpenderAccess, ViewerAccess
from voxhub.errors import VoxhubError, error_body, responses
from voxhub.pagination import Cursor, Page
from voxhub.search import chat
from voxhub.search.chat_schemas import (
    CitationsEvent,
    ConversationCreate,
    ConversationOut,
    ConversationSummaryOut,
    ConversationUpdate,
    DeltaEvent,
    DoneEvent,
    MessageCreate,
    MessageOut,
    StatusEvent,
)

log = logging.getLogger("voxhub.search.chat")

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/conversations", tags=["search"])

EVENT_NAMES: dict[type[BaseModel], str] = {
    StatusEvent: "status",
    CitationsEvent: "citations",
    DeltaEvent: "delta",
    DoneEvent: "done",
}
_MESSAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events `status`, `citations`, `delta` (the answer's pieces), then `done` (the "
        "stored answer) or `error`; with `Accept: application/json`, the stored answer as JSON",
        "content": {"text/event-stream": {}},
    },
    **responses(401, 402, 403, 404, 422, 429),
}


@router.post("", status_code=201, summary="Start a conversation", responses=responses(401, 403, 404, 422))
def create_conversation(body: ConversationCreate, db: DbSession, ctx: Ctx, access: MemberAccess) -> ConversationOut:
    """Over the whole workspace, or a `scope` of files and transcriptions."""
    conversation = chat.create(db, access=access, request=body)
    return chat.out(db, ctx=ctx, conversation=conversation)


@router.get("", summary="List conversations", responses=responses(401, 403, 404, 422))
def list_conversations(
    db: DbSession,
    access: ViewerAccess,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Page[ConversationSummaryOut]:
    """The workspace's conversations, the one last spoken in first."""
    rows, next_cursor = chat.list_conversations(db, workspace_id=access.workspace_id, cursor=cursor, limit=limit)
    return Page(items=[chat.summary_out(row) for row in rows], next_cursor=next_cursor)


@router.get("/{conversation_id}", summary="A conversation", responses=responses(401, 403, 404))
def get_conversation(conversation_id: str, db: DbSession, ctx: Ctx, access: ViewerAccess) -> ConversationOut:
    """With its messages, oldest first, and their citations."""
    conversation = chat.get(db, workspace_id=access.workspace_id, conversation_id=conversation_id)
    return chat.out(db, ctx=ctx, conversation=conversation)


@router.patch("/{conversation_id}", summary="Rename a conversation", responses=responses(401, 403, 404, 422))
def rename_conversation(
    conversation_id: str, body: ConversationUpdate, db: DbSession, ctx: Ctx, access: MemberAccess
) -> ConversationOut:
    """A new title."""
    conversation = chat.rename(db, access=access, conversation_id=conversation_id, title=body.title)
    return chat.out(db, ctx=ctx, conversation=conversation)


@router.delete(
    "/{conversation_id}", status_code=204, summary="Delete a conversation", responses=responses(401, 403, 404)
)
def delete_conversation(conversation_id: str, db: DbSession, access: MemberAccess) -> Response:
    """With all its messages."""
    chat.delete(db, access=access, conversation_id=conversation_id)
    return Response(status_code=204)


@router.post(
    "/{conversation_id}/messages", summary="Ask a question", response_model=MessageOut, responses=_MESSAGE_RESPONSES
)
async def send_message(
    conversation_id: str,
    body: MessageCreate,
    request: Request,
    ctx: Ctx,
    access: SpenderAccess,
    accept: Annotated[str | None, Header(max_length=1000)] = None,
) -> Response:
    """The answer from the recordings, citing the seconds it comes from as [n]; streamed as server-sent events
    unless `Accept: application/json` asks for it whole. Charged per message by the tokens the model reads and
    writes."""
    database = request.app.state.db
    turn = await run_in_threadpool(
        chat.ask, database, ctx=ctx, access=access, conversation_id=conversation_id, content=body.content
    )
    if _wants_json(accept):
        done = await run_in_threadpool(chat.answer_whole, database, ctx, turn)
        return JSONResponse(done.message.model_dump(mode="json"))
    return StreamingResponse(
        _server_sent(chat.answer(database, ctx, turn)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/{conversation_id}/suggestions", summary="Questions to ask", responses=responses(401, 403, 404))
def suggest_questions(conversation_id: str, db: DbSession, access: ViewerAccess) -> Page[str]:
    """From the chapters and key phrases of the conversation's recordings; one page."""
    return Page(items=chat.suggestions(db, workspace_id=access.workspace_id, conversation_id=conversation_id))


def _wants_json(accept: str | None) -> bool:
    kinds = [part.split(";")[0].strip().lower() for part in (accept or "").split(",")]
    return "application/json" in kinds and "text/event-stream" not in kinds


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


def _server_sent(events: Iterator[BaseModel]) -> Iterator[bytes]:
    """Each event as `event: name` and its JSON; a failure as an `error` event in the one error shape."""
    try:
        for event in events:
            yield _event(EVENT_NAMES[type(event)], event.model_dump(mode="json"))
    except VoxhubError as exc:
        yield _event("error", error_body(exc.code, exc.message, exc.details))
    except Exception:
        log.exception("a chat answer failed")
        yield _event("error", error_body("internal_error", "Something went wrong on our side; it has been logged."))
