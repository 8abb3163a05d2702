"""HTTP routes of the OpenAI-compatible audio API, under /v1, authenticated by voxhub API keys."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from voxhub.accounts import service as accounts
from voxhub.apikeys import service as apikeys
from voxhub.db import scope_to_workspace
from voxhub.deps import Ctx, CurrentPrincipal, DbSession, limit_requests
from voxhub.errors import NotFound, Unauthorized, openai_responses
from voxhub.files import service as files
from voxhub.openai_compat import chat, service
from voxhub.openai_compat.schemas import (
    ChatCompletionIn,
    ChatCompletionOut,
    ModelList,
    ModelOut,
    SpeechIn,
    TranscriptionForm,
    TranslationForm,
    form_schema,
)
from voxhub.openai_compat.service import Task
from voxhub.openai_compat.upload import Upload, receive_upload
from voxhub.workspaces.models import Role
from voxhub.workspaces.service import WorkspaceAccess

router = APIRouter(prefix="/v1", tags=["openai-compatible"])


def get_key_access(principal: CurrentPrincipal, db: DbSession, ctx: Ctx, request: Request) -> WorkspaceAccess:
    """The API key's own workspace: these routes take voxhub API keys only, as OpenAI's clients send one."""
    key = principal.api_key
    if key is None:
        raise Unauthorized(
            "The OpenAI-compatible API takes a voxhub API key: 'Authorization: Bearer vx_…'.", code="invalid_api_key"
        )
    try:
        access = apikeys.access_for_key(db, key=key, workspace_id=key.workspace_id, actor=principal.actor)
    except NotFound as exc:
        raise Unauthorized("The API key's workspace no longer exists.", code="invalid_api_key") from exc
    scope_to_workspace(db, access.workspace_id)
    limit_requests(db, ctx, access, request=request)
    return access


KeyAccess = Annotated[WorkspaceAccess, Depends(get_key_access)]


async def require_spending_key(access: KeyAccess, ctx: Ctx) -> WorkspaceAccess:
    """A key allowed to spend: the `write` scope or more; the same rule as deps.SpenderAccess."""
    access.require(Role.MEMBER)
    accounts.require_verified_email(ctx, access.user)
    return access


SpendingKey = Annotated[WorkspaceAccess, Depends(require_spending_key)]

_TRANSCRIPT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "json and verbose_json: a JSON object; text, srt and vtt: text/plain"},
    **openai_responses(400, 401, 402, 403, 404, 413, 429, 503),
}
_SPEECH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The audio, streamed as it is made", "content": {"audio/mpeg": {}}},
    **openai_responses(400, 401, 402, 403, 404, 413, 429, 503),
}


@router.post(
    "/audio/transcriptions",
    summary="Transcribe audio",
    response_model=None,
    responses=_TRANSCRIPT_RESPONSES,
    openapi_extra=form_schema(TranscriptionForm),
)
async def create_transcription(request: Request, db: DbSession, ctx: Ctx, access: SpendingKey) -> Response:
    """Audio or video → text in its own language, as OpenAI's `audio.transcriptions.create` answers."""
    return await _transcribe(request, db, ctx, access, task="transcribe")


@router.post(
    "/audio/translations",
    summary="Translate audio into English",
    response_model=None,
    responses=_TRANSCRIPT_RESPONSES,
    openapi_extra=form_schema(TranslationForm),
)
async def create_translation(request: Request, db: DbSession, ctx: Ctx, access: SpendingKey) -> Response:
    """Audio or video in any language → English text, as OpenAI's `audio.translations.create` answers."""
    return await _transcribe(request, db, ctx, access, task="translate")


async def _transcribe(request: Request, db: DbSession, ctx: Ctx, access: WorkspaceAccess, *, task: Task) -> Response:
    scratch = _scratch_dir(ctx.settings.data_dir)
    try:
        max_bytes = await run_in_threadpool(
            files.max_upload_bytes, db, ctx=ctx, workspace_id=access.workspace_id, one_request=True
        )
        upload = await receive_upload(request, scratch / "upload", max_bytes=max_bytes)
        form = _read_form(TranscriptionForm if task == "transcribe" else TranslationForm, upload)
        assert upload.path is not None  # _read_form insists on the file
        answer = await service.transcribe_call(
            request.app.state.db, db, ctx=ctx, access=access, source=upload.path, size=upload.size, form=form,
            task=task, scratch=scratch,
        )  # fmt: skip
    finally:
        await run_in_threadpool(shutil.rmtree, scratch, True)
    if isinstance(answer, dict):
        return JSONResponse(answer)
    return PlainTextResponse(answer)


def _scratch_dir(data_dir: Path) -> Path:
    root = data_dir / "scratch"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="v1-audio-", dir=root))


def _read_form(model: type[TranscriptionForm] | type[TranslationForm], upload: Upload) -> Any:
    """The form's fields as `model`; a missing file or a bad field is a validation error naming the field."""
    errors: list[Any] = []
    if upload.path is None:
        errors.append({"type": "missing", "loc": ("body", "file"), "msg": "Field required", "input": None})
    try:
        form = model.model_validate(upload.values(lists={"timestamp_granularities"}))
    except ValidationError as exc:
        errors += [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
    if errors:
        raise RequestValidationError(errors)
    return form


@router.post(
    "/audio/speech",
    summary="Generate speech",
    response_class=StreamingResponse,
    responses=_SPEECH_RESPONSES,
)
async def create_speech(
    request: Request, body: SpeechIn, db: DbSession, ctx: Ctx, access: SpendingKey
) -> StreamingResponse:
    """Text → speech in mp3, opus, aac, flac, wav or pcm (24 kHz, 16-bit, mono), streamed while it is spoken, as
    OpenAI's `audio.speech.create` answers."""
    audio = await service.speech_call(request.app.state.db, db, ctx=ctx, access=access, body=body)
    return StreamingResponse(audio, media_type=service.speech_media_type(body.response_format))


_CHAT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A chat completion; with `stream`, server-sent events of chat.completion.chunk objects, "
        "ending `data: [DONE]`",
        "content": {"text/event-stream": {}},
    },
    **openai_responses(400, 401, 402, 403, 404, 413, 429, 503),
}


@router.post(
    "/chat/completions", summary="Create a chat completion", response_model=ChatCompletionOut, responses=_CHAT_RESPONSES
)
async def create_chat_completion(
    request: Request, body: ChatCompletionIn, db: DbSession, ctx: Ctx, access: SpendingKey
) -> Response:
    """Chat messages → the language model's answer, whole or streamed as server-sent events, as OpenAI's
    `chat.completions.create` answers; `response_format` json_schema holds the answer to a JSON schema."""
    answer = await chat.chat_call(request.app.state.db, db, ctx=ctx, access=access, body=body)
    if isinstance(answer, ChatCompletionOut):
        return JSONResponse(answer.model_dump(mode="json"))
    return StreamingResponse(answer, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.get("/models", summary="List models", responses=openai_responses(401))
def list_models(ctx: Ctx, access: KeyAccess) -> ModelList:
    """The installed Whisper models, and OpenAI's model names voxhub answers to."""
    return ModelList(data=service.list_models(ctx.settings))


@router.get("/models/{model_id}", summary="Get a model", responses=openai_responses(401, 404))
def get_model(model_id: str, ctx: Ctx, access: KeyAccess) -> ModelOut:
    """One model of the list; 404 model_not_found for any other id."""
    return service.get_model(ctx.settings, model_id)
