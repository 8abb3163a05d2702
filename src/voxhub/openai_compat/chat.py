"""The rules of the OpenAI-compatible chat API: which language model a name means, what a call holds and costs in
tokens, and how a generation is written as OpenAI's chat completion, whole or as server-sent events. Nothing here
knows HTTP."""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from voxhub import engines
from voxhub.audit import service as audit
from voxhub.billing import service as billing
from voxhub.context import AppContext
from voxhub.db import Database
from voxhub.engines.base import EngineError
from voxhub.engines.llm import (
    TEMPLATE_TOKENS,
    TOKENS_PER_MESSAGE,
    Generation,
    TextGenerator,
    TextStream,
    engine_failure,
    local_model_id,
    local_models,
)
from voxhub.errors import NotFound
from voxhub.openai_compat.schemas import (
    ChatChoice,
    ChatCompletionIn,
    ChatCompletionOut,
    ChatMessageOut,
    ResponseFormat,
    Usage,
)
from voxhub.openai_compat.service import held
from voxhub.pipelines.speech import remote_for
from voxhub.workspaces.service import WorkspaceAccess

DEFAULT_MAX_TOKENS = 1024  # when the request names none: OpenAI's "up to the window" would hold a window's price
# What a chat template adds, counted into what a call holds: markers around each message, and a default system
# prompt some models' templates insert (Qwen's is about 20 tokens). A hold too small would leave tokens unpaid.
CHAT_JOB_TYPE = "chat"  # its price in the billing catalog


def chat_generator(db: Session, ctx: AppContext, *, workspace_id: str, model: str) -> TextGenerator:
    """The generator for the model a request names (for a worker thread): a local model that is installed, or any
    name the remote engine is asked for (the workspace's own provider key first); 404 otherwise."""
    settings = ctx.settings
    if settings.llm_engine == "remote":
        remote = remote_for(db, ctx, workspace_id, "llm")
        generator = engines.text_generator(settings, engine="remote", model=model, remote=remote)
    elif settings.llm_engine == "local" and model in local_models(settings):
        configured = model == local_model_id(settings.llm_model)
        generator = engines.text_generator(settings, model=None if configured else model)
    else:
        generator = None
    if generator is None:
        off = " Text generation is off here (VOXHUB_LLM_ENGINE=none)." if settings.llm_engine == "none" else ""
        raise NotFound(
            f"The model '{model}' does not exist here; GET /v1/models lists the models.{off}",
            code="model_not_found",
            details={"param": "model"},
        )
    return generator


@dataclass(frozen=True)
class ChatRequest:
    """A request as the engine takes it."""

    messages: list[dict[str, str]]
    max_tokens: int
    temperature: float
    stop: list[str]
    schema: dict[str, Any] | None  # None: free text


def chat_request(body: ChatCompletionIn) -> ChatRequest:
    # `developer` is OpenAI's newer name for the system role; chat templates know only `system`.
    messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text} for m in body.messages]
    return ChatRequest(
        messages=messages,
        max_tokens=body.max_completion_tokens or body.max_tokens or DEFAULT_MAX_TOKENS,
        temperature=body.temperature,
        stop=body.stops,
        schema=response_schema(body.response_format),
    )


def response_schema(response_format: ResponseFormat | None) -> dict[str, Any] | None:
    """The JSON schema an answer must follow: the one given, any JSON object for json_object, None for text."""
    if response_format is None or response_format.type == "text":
        return None
    if response_format.type == "json_object" or response_format.json_schema is None:
        return {"type": "object"}
    return response_format.json_schema.schema_ or {"type": "object"}


def tokens_to_hold(generator: TextGenerator, request: ChatRequest) -> tuple[int, int]:
    """What the call may use at most, for the hold (for a worker thread): the prompt's tokens, counted by the model
    where it is local, and the completion's limit within the model's window."""
    prompt = TEMPLATE_TOKENS + sum(generator.count_tokens(m["content"]) + TOKENS_PER_MESSAGE for m in request.messages)
    completion = request.max_tokens
    if generator.engine == "local":  # a remote model's window is its own; the local one's is known
        completion = max(1, min(completion, generator.context_tokens - prompt))
    return prompt, completion


def _generate(generator: TextGenerator, request: ChatRequest) -> Generation:
    try:
        return generator.generate(
            request.messages,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            json_schema=request.schema,
            stop=request.stop,
        )
    except EngineError as exc:
        raise engine_failure(exc) from exc


def _tokens_to_hold(generator: TextGenerator, request: ChatRequest) -> tuple[int, int]:
    try:
        return tokens_to_hold(generator, request)
    except EngineError as exc:  # counting loads a local model: one that is not installed fails here
        raise engine_failure(exc) from exc


def _start_stream(generator: TextGenerator, request: ChatRequest) -> tuple[TextStream, str | None]:
    """The stream and its first piece (None when the answer is empty), so that an engine's refusal is an error
    response rather than a broken stream. An answer held to a schema is generated whole and sent as one piece."""
    try:
        if request.schema is not None:
            stream = TextStream(_whole(_generate(generator, request)))
        else:
            stream = generator.stream(
                request.messages, max_tokens=request.max_tokens, temperature=request.temperature, stop=request.stop
            )
        return stream, next(stream, None)
    except EngineError as exc:
        raise engine_failure(exc) from exc


def _whole(generation: Generation) -> Generator[str, None, Generation]:
    if generation.text:
        yield generation.text
    return generation


async def chat_call(
    database: Database, db: Session, *, ctx: AppContext, access: WorkspaceAccess, body: ChatCompletionIn
) -> ChatCompletionOut | Iterator[bytes]:
    """One `/v1/chat/completions` call: the model chosen, its tokens held, the answer generated, charged and
    audited; whole, or (`stream`) as server-sent events charged when the stream ends."""
    generator = await run_in_threadpool(chat_generator, db, ctx, workspace_id=access.workspace_id, model=body.model)
    request = chat_request(body)
    prompt_tokens, completion_tokens = await run_in_threadpool(_tokens_to_hold, generator, request)
    measure = billing.Measure(tokens=prompt_tokens + completion_tokens)
    completion_id, created = f"chatcmpl-{secrets.token_urlsafe(18)}", int(time.time())
    if body.stream:
        async with held(database, ctx=ctx, access=access, job_type=CHAT_JOB_TYPE, measure=measure) as charge_id:
            stream, first = await run_in_threadpool(_start_stream, generator, request)
        record_chat(db, access=access, body=body, model=generator.model_id, generation=None)
        include_usage = body.stream_options is not None and body.stream_options.include_usage
        chunk = ChunkWriter(completion_id, created, generator.model_id)
        return charged_events(
            database, ctx, stream, first, chunk,
            charge_id=charge_id, prompt_tokens=prompt_tokens, include_usage=include_usage,
        )  # fmt: skip
    async with held(database, ctx=ctx, access=access, job_type=CHAT_JOB_TYPE, measure=measure) as charge_id:
        generation = await run_in_threadpool(_generate, generator, request)
    used = generation.prompt_tokens + generation.completion_tokens
    await run_in_threadpool(billing.end_sync_charge, db, ctx=ctx, charge_id=charge_id, result={"tokens": used})
    record_chat(db, access=access, body=body, model=generator.model_id, generation=generation)
    return ChatCompletionOut(
        id=completion_id,
        created=created,
        model=generator.model_id,
        choices=[
            ChatChoice(
                message=ChatMessageOut(content=generation.text),
                finish_reason="length" if generation.finish_reason == "length" else "stop",
            )
        ],
        usage=_usage(generation),
    )


def _usage(generation: Generation) -> Usage:
    return Usage(
        prompt_tokens=generation.prompt_tokens,
        completion_tokens=generation.completion_tokens,
        total_tokens=generation.prompt_tokens + generation.completion_tokens,
    )


@dataclass(frozen=True)
class ChunkWriter:
    """Server-sent events of one completion, as OpenAI streams them: `data: {chunk}` and a blank line each."""

    completion_id: str
    created: int
    model: str

    def event(self, choices: Sequence[dict[str, Any]], **extra: Any) -> bytes:
        chunk = {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": list(choices),
            **extra,
        }
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode()

    def delta(self, delta: dict[str, str], finish_reason: str | None = None) -> bytes:
        return self.event([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}])


def charged_events(
    database: Database,
    ctx: AppContext,
    stream: TextStream,
    first: str | None,
    chunk: ChunkWriter,
    *,
    charge_id: str | None,
    prompt_tokens: int,
    include_usage: bool,
) -> Iterator[bytes]:
    """The answer as server-sent events, ending `data: [DONE]`. The call is charged for the tokens used when the
    stream ends, or for the prompt and the pieces sent when the client goes away (the generation stops then); a
    failure mid-stream is sent as an error event and releases the hold."""
    used: int | None = None
    sent, failed = 0, False
    try:
        yield chunk.delta({"role": "assistant", "content": ""})
        try:
            for piece in itertools.chain([first] if first is not None else [], stream):
                sent += 1  # a piece is a token as llama.cpp and OpenAI stream them
                yield chunk.delta({"content": piece})
        except EngineError as exc:
            failed = True
            failure = engine_failure(exc)
            yield f"data: {json.dumps({'error': {'message': failure.message, 'code': failure.code}})}\n\n".encode()
            return
        generation = stream.result
        assert generation is not None  # the stream ended
        used = generation.prompt_tokens + generation.completion_tokens
        finish = "length" if generation.finish_reason == "length" else "stop"
        yield chunk.delta({}, finish_reason=finish)
        if include_usage:
            yield chunk.event([], usage=_usage(generation).model_dump())
        yield b"data: [DONE]\n\n"
    finally:
        stream.close()
        if used is None and not failed:
            used = prompt_tokens + sent
        with database.session() as session:
            billing.end_sync_charge(
                session, ctx=ctx, charge_id=charge_id, result={"tokens": used} if used is not None else None
            )


# ---- audit ----


def record_chat(
    db: Session, *, access: WorkspaceAccess, body: ChatCompletionIn, model: str, generation: Generation | None
) -> None:
    """Every call is in the workspace's audit log, with the tokens it used (a stream's are known only at its end,
    and are on its charge)."""
    summary: dict[str, Any] = {
        "model": model,
        "messages": len(body.messages),
        "stream": body.stream,
        "response_format": body.response_format.type if body.response_format else "text",
    }
    if generation is not None:
        summary.update(prompt_tokens=generation.prompt_tokens, completion_tokens=generation.completion_tokens)
    audit.record(db, actor=access.actor, action="openai.chat", workspace_id=access.workspace_id, summary=summary)
