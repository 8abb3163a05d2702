"""Conversations over a workspace's recordings: kept, renamed and deleted like any workspace resource, and answered
turn by turn — the question made standalone, the recordings searched, the best passages read around their cited
segment, and an answer written by the language model citing them as [n] (or, without one, the passages quoted).

A question is stored and held for before anything is searched (`ask`), each in a short transaction of its own; the
answer (`answer`) is made outside them, in short sessions that read, and one at the end that stores the answer and
settles its charge: a minute of generation holds no lock."""

from __future__ import annotations

import logging
import re
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np
import yake
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from voxhub import engines
from voxhub.audit import service as audit
from voxhub.billing import service as billing
from voxhub.clock import utcnow
from voxhub.context import AppContext
from voxhub.db import Database
from voxhub.engines import llm
from voxhub.engines.base import EngineError
from voxhub.engines.embed import passage_vectors
from voxhub.engines.llm import TEMPLATE_TOKENS, TOKENS_PER_MESSAGE, Generation, TextGenerator, engine_failure
from voxhub.errors import NotFound, TooManyRequests, Unprocessable, VoxhubError, field_errors
from voxhub.files import service as files
from voxhub.insights.models import Insights
from voxhub.insights.schemas import InsightsDocument, InsightsEngine
from voxhub.jobs import service as jobs
from voxhub.pagination import paginate_by
from voxhub.pipelines.speech import remote_for
from voxhub.search import index
from voxhub.search import service as search
from voxhub.search.chat_schemas import (
    ChatEngine,
    CitationOut,
    CitationsEvent,
    ConversationCreate,
    ConversationOut,
    ConversationSummaryOut,
    DeltaEvent,
    DoneEvent,
    MessageOut,
    Scope,
    Stage,
    StatusEvent,
    Usage,
)
from voxhub.search.models import ChatMessage, Conversation, SearchChunk, SearchSource
from voxhub.transcripts import service as transcripts
from voxhub.workspaces.service import WorkspaceAccess

log = logging.getLogger("voxhub.search.chat")

PRICE = "chat_message"  # its price in the billing catalog: tokens the language model reads and writes
MESSAGES_PER_MINUTE = 20  # per caller and workspace: each answer keeps a model busy for seconds
DEFAULT_TITLE = "New conversation"
TITLE_FROM_QUESTION_CHARS = 80

CANDIDATES = 10  # passages retrieved per question
PASSAGES = 6  # the most the model reads
EXTRACTIVE_QUOTES = 3  # the most an answer without a model quotes
NEIGHBOURS = 1  # segments read either side of the cited one
QUOTE_CHARS = 400
ANSWER_TOKENS = 512  # at most; a quarter of a smaller window
MEMORY_SHARE = 8  # the recent turns get a window's 1/8
SUMMARY_TOKENS = 200
REWRITE_TOKENS = 64
QUERY_MAX_CHARS = 400
FOLLOW_UP_TERMS = 8
# A passage is relevant when its cited segment shares a term with the question, or is this close to it by the
# index's embeddings: multilingual-e5's cosines run high (small talk scores up to 0.82 with any question, answers
# 0.77 to 0.90), wordllama's and hosted models' from 0 (unrelated below 0.2, answers 0.35 and up). Without a language
# model, only relevant passages are quoted; with one, it reads the best passages once any is relevant.
SEMANTIC_FLOOR = {"multilingual-e5-small": 0.82}
DEFAULT_SEMANTIC_FLOOR = 0.30

NOT_COVERED = "The recordings do not cover this: nothing in them answers the question."
EXTRACTIVE_INTRO = "Here is what the recordings say:"
SYSTEM_PROMPT = (
    "You answer questions about recordings from the numbered passages of their transcripts that come with each "
    "question, and from nothing else. Write a short answer in full sentences, and after each fact the number of the "
    "passage it comes from in square brackets. For example: The launch moved to June 3rd [2], and Ana announces it "
    "[1][4]. If the passages do not say, answer only: "
    f'"{NOT_COVERED}" Answer in the language of the question.'
)
ANSWER_CUE = "Answer in a sentence or two, citing the passages as [1], [2]…"
REWRITE_PROMPT = (
    "Rewrite the user's last question as one standalone search query that names everything it refers to (people, "
    "projects, products, dates), using the conversation. Answer with the query only, on one line."
)
SUMMARY_PROMPT = (
    "Summarise this conversation between a user and an assistant about some recordings in at most 120 words. Keep "
    "names, numbers, dates and decisions. Answer with the summary only."
)

# Words that point back at an earlier turn: a question holding one is read with the last turn's terms.
_ANAPHORS = frozenset(
    {"it", "its", "it's", "this", "that", "these", "those", "they", "them", "their", "theirs", "he", "him", "his"}
    | {"she", "her", "hers", "there", "then", "same"}
)
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
_MARKER = re.compile(
    r"(?P<space>\s*)\[\s*(?:passages?\s*)?(?P<numbers>\d{1,3}(?:\s*(?:,|;|&|and)\s*(?:passages?\s*)?\d{1,3})*)\s*\]",
    re.IGNORECASE,
)
_MAYBE_MARKER = re.compile(r"\[[\sA-Za-z\d,;&]{0,40}")

Event = StatusEvent | CitationsEvent | DeltaEvent | DoneEvent


# ---- conversations ----


def get(db: Session, *, workspace_id: str, conversation_id: str) -> Conversation:
    """The workspace's conversation, or 404 `conversation_not_found` (another workspace's too)."""
    conversation = db.get(Conversation, conversation_id)
    if conversation is None or conversation.workspace_id != workspace_id:
        raise NotFound("Conversation not found.", code="conversation_not_found")
    return conversation


def create(db: Session, *, access: WorkspaceAccess, request: ConversationCreate) -> Conversation:
    """A conversation over the whole workspace, or over the recordings of some files and transcriptions (each must
    be this workspace's: 404 otherwise)."""
    scope = _checked_scope(db, workspace_id=access.workspace_id, scope=request.scope)
    conversation = Conversation(
        workspace_id=access.workspace_id,
        created_by=access.user.id if access.user else None,
        title=request.title or DEFAULT_TITLE,
        scope=scope.model_dump(),
        summary="",
        summarized_upto=0,
    )
    db.add(conversation)
    db.flush()
    _audit(db, access, "conversation.created", conversation, {"files": len(scope.file_ids), "jobs": len(scope.job_ids)})
    return conversation


def _checked_scope(db: Session, *, workspace_id: str, scope: Scope) -> Scope:
    for index_, file_id in enumerate(scope.file_ids):
        try:
            files.get_file(db, workspace_id=workspace_id, file_id=file_id)
        except NotFound as exc:
            exc.details = {"field": f"scope.file_ids[{index_}]"}
            raise
    for index_, job_id in enumerate(scope.job_ids):
        try:
            job = jobs.get(db, workspace_id=workspace_id, job_id=job_id)
        except NotFound as exc:
            exc.details = {"field": f"scope.job_ids[{index_}]"}
            raise
        if job.type not in transcripts.TRANSCRIPT_JOB_TYPES:
            raise Unprocessable(
                "A conversation's scope names transcriptions: transcribe or translate jobs.",
                code="validation_error",
                details=field_errors((f"scope.job_ids[{index_}]", f"a {job.type} job")),
            )
    return Scope(file_ids=list(dict.fromkeys(scope.file_ids)), job_ids=list(dict.fromkeys(scope.job_ids)))


def list_conversations(
    db: Session, *, workspace_id: str, cursor: str | None, limit: int
) -> tuple[list[Conversation], str | None]:
    """One page of the workspace's conversations, the last one spoken in first, and the next page's cursor."""
    query: Select[Any] = select(Conversation).where(Conversation.workspace_id == workspace_id)
    return paginate_by(
        db, query, Conversation, column=Conversation.updated_at, descending=True, cursor=cursor, limit=limit,
        workspace_id=workspace_id,
    )  # fmt: skip


def rename(db: Session, *, access: WorkspaceAccess, conversation_id: str, title: str) -> Conversation:
    conversation = get(db, workspace_id=access.workspace_id, conversation_id=conversation_id)
    conversation.title = title
    conversation.updated_at = utcnow()
    _audit(db, access, "conversation.renamed", conversation, {})
    return conversation


def delete(db: Session, *, access: WorkspaceAccess, conversation_id: str) -> None:
    """The conversation and its messages."""
    conversation = get(db, workspace_id=access.workspace_id, conversation_id=conversation_id)
    messages = db.scalar(select(func.count(ChatMessage.id)).where(ChatMessage.conversation_id == conversation.id))
    _audit(db, access, "conversation.deleted", conversation, {"messages": int(messages or 0)})
    db.delete(conversation)


def messages_of(db: Session, *, conversation_id: str) -> list[ChatMessage]:
    """Oldest first."""
    return list(
        db.scalars(
            select(ChatMessage)
            .where(ChatMessage.conversation_id == conversation_id)
            .order_by(ChatMessage.created_at, ChatMessage.id)
        )
    )


def summary_out(conversation: Conversation) -> ConversationSummaryOut:
    return ConversationSummaryOut(
        id=conversation.id,
        title=conversation.title,
        scope=Scope.model_validate(conversation.scope or {}),
        created_at=conversation.created_at,
        updated_at=conversation.updated_at,
    )


def out(db: Session, *, ctx: AppContext, conversation: Conversation) -> ConversationOut:
    """The conversation with its messages, citations playable (links are signed afresh on each read)."""
    messages = messages_of(db, conversation_id=conversation.id)
    return ConversationOut(
        **summary_out(conversation).model_dump(),
        messages=[message_out(db, ctx=ctx, message=message) for message in messages],
    )


def message_out(db: Session, *, ctx: AppContext, message: ChatMessage) -> MessageOut:
    return MessageOut(
        id=message.id,
        role="assistant" if message.role == "assistant" else "user",
        content=message.content,
        citations=[_citation_out(db, ctx, message.workspace_id, stored) for stored in message.citations or []],
        engine=ChatEngine(message.engine) if message.engine else None,
        usage=Usage.model_validate(message.usage) if message.role == "assistant" else None,
        query=message.query,
        created_at=message.created_at,
    )


def _citation_out(db: Session, ctx: AppContext, workspace_id: str, stored: dict[str, Any]) -> CitationOut:
    url = search.play_url(db, ctx, workspace_id=workspace_id, file_id=stored.get("file_id"), start=stored["start"])
    return CitationOut.model_validate({**stored, "url": url})


def _audit(
    db: Session, access: WorkspaceAccess, action: str, conversation: Conversation, summary: dict[str, Any]
) -> None:
    # Never the words of a question or an answer: the audit log is read by admins who may not read the recordings.
    audit.record(
        db,
        actor=access.actor,
        action=action,
        workspace_id=access.workspace_id,
        target_type="conversation",
        target_id=conversation.id,
        summary=summary,
    )


# ---- asking: the question stored and paid for ----


@dataclass(frozen=True)
class Turn:
    """A question stored and held for, with what answering it needs."""

    conversation_id: str
    workspace_id: str
    question: str
    user_message_id: str
    charge_id: str | None
    generator: TextGenerator | None  # None: the passages are quoted


def ask(database: Database, *, ctx: AppContext, access: WorkspaceAccess, conversation_id: str, content: str) -> Turn:
    """Store a question (for a worker thread): 404 for an unknown conversation, 429 past the caller's messages a
    minute, 402 when the plan and credits cannot pay for an answer. Each write commits at once, in a transaction of
    its own: the answer that follows must not wait on a lock the request holds."""
    with database.session() as db:
        get(db, workspace_id=access.workspace_id, conversation_id=conversation_id)
        generator = _generator(db, ctx, access.workspace_id)
    _limit(ctx, access)
    charge_id = billing.begin_sync_charge(
        database,
        ctx=ctx,
        workspace_id=access.workspace_id,
        job_type=PRICE,
        measure=billing.Measure(tokens=_tokens_to_hold(generator)),
        actor=access.actor,
    )
    try:
        with database.session() as db:
            conversation = get(db, workspace_id=access.workspace_id, conversation_id=conversation_id)
            if conversation.title == DEFAULT_TITLE and not _has_messages(db, conversation.id):
                conversation.title = _title_from(content)
            message = ChatMessage(
                conversation_id=conversation.id,
                workspace_id=access.workspace_id,
                role="user",
                content=content.strip(),
                citations=[],
                usage={},
            )
            db.add(message)
            conversation.updated_at = utcnow()
            db.flush()
            _audit(db, access, "conversation.message", conversation, {"message_id": message.id, "chars": len(content)})
            user_message_id = message.id
    except BaseException:
        billing.abandon_sync_charge(database, ctx=ctx, charge_id=charge_id)
        raise
    return Turn(
        conversation_id=conversation_id,
        workspace_id=access.workspace_id,
        question=content.strip(),
        user_message_id=user_message_id,
        charge_id=charge_id,
        generator=generator,
    )


def _has_messages(db: Session, conversation_id: str) -> bool:
    return db.scalar(select(ChatMessage.id).where(ChatMessage.conversation_id == conversation_id).limit(1)) is not None


def _title_from(question: str) -> str:
    words = " ".join(question.split())
    if len(words) <= TITLE_FROM_QUESTION_CHARS:
        return words
    return words[:TITLE_FROM_QUESTION_CHARS].rsplit(" ", 1)[0] + "…"


def _limit(ctx: AppContext, access: WorkspaceAccess) -> None:
    who = f"key:{access.api_key_id}" if access.api_key_id else f"user:{access.user.id if access.user else ''}"
    decision = ctx.rate_limiter.hit(f"chat:{who}:{access.workspace_id}", MESSAGES_PER_MINUTE)
    if not decision.allowed:
        raise TooManyRequests(
            f"More than {MESSAGES_PER_MINUTE} chat messages a minute; try again in {decision.reset_s} s.",
            code="rate_limited",
            retry_after_s=decision.reset_s,
            headers={**decision.headers, "Retry-After": str(decision.reset_s)},
        )


def _generator(db: Session, ctx: AppContext, workspace_id: str) -> TextGenerator | None:
    """The configured language model; None without one, or when the local one is not installed (the passages are
    quoted then rather than nothing answered)."""
    settings = ctx.settings
    if settings.llm_engine == "remote":
        return engines.text_generator(settings, remote=remote_for(db, ctx, workspace_id, "llm"))
    if settings.llm_engine == "local" and llm.not_installed(settings) is not None:
        log.warning("chat answers quote passages: %s", llm.not_installed(settings))
        return None
    return engines.text_generator(settings)


def _tokens_to_hold(generator: TextGenerator | None) -> int:
    """The most one answer may read and write: its window, plus a rewritten question and a summary of older turns."""
    if generator is None:
        return 0
    window = generator.context_tokens
    return window + window // MEMORY_SHARE + REWRITE_TOKENS + window // 2 + SUMMARY_TOKENS


# ---- answering: outside any transaction ----


@dataclass
class _Spent:
    """Tokens the language model read and wrote for one answer, over all its calls."""

    prompt: int = 0
    completion: int = 0

    def add(self, generation: Generation) -> None:
        self.prompt += generation.prompt_tokens
        self.completion += generation.completion_tokens

    @property
    def total(self) -> int:
        return self.prompt + self.completion


@dataclass(frozen=True)
class Said:
    """One segment of a transcript: who said what, when."""

    id: int
    start: float
    end: float
    speaker: str | None
    text: str


@dataclass(frozen=True)
class Passage:
    """What the model reads for one hit: the hit's segments and one either side; `cited` is the segment among them
    that answers the question best, where an answer without a model points."""

    n: int
    job_id: str
    variant: str
    file_id: str | None
    file_name: str | None
    cited: Said
    around: tuple[Said, ...]  # in order of time, `cited` among them
    score: float  # how well `cited` answers: its closeness in meaning (standardised) plus the share of terms
    relevant: bool

    @property
    def text(self) -> str:
        return "\n".join(f"{said.speaker}: {said.text}" if said.speaker else said.text for said in self.around)

    def citation(self, said: Said | None = None) -> dict[str, Any]:
        said = said or self.cited
        return {
            "n": self.n,
            "job_id": self.job_id,
            "file_id": self.file_id,
            "file_name": self.file_name,
            "start": round(said.start, 3),
            "end": round(said.end, 3),
            "speaker": said.speaker,
            "quote": _shortened(said.text, QUOTE_CHARS),
        }


@dataclass
class _History:
    summary: str
    summarized_upto: int
    recent: list[ChatMessage]  # the turns the model reads word for word, oldest first
    to_fold: list[ChatMessage]  # older turns not yet in the summary
    last_query: str | None  # the standalone question of the last answer
    last_quote: str | None  # the words the last answer cited first
    scope: Scope


def answer(database: Database, ctx: AppContext, turn: Turn) -> Iterator[Event]:
    """The answer to a stored question as it is made: status, the passages given (numbered), the text in pieces,
    and the stored answer. The charge is settled when it is stored — or, when the client goes away first, for what
    the model had read and written by then; released when the answer fails (a VoxhubError is raised)."""
    spent = _Spent()
    settled = False
    writing: Iterator[str] | None = None
    try:
        yield StatusEvent(stage=Stage.SEARCHING)
        history = _history(database, ctx, turn)
        summary = _fold(turn.generator, history, spent)
        query = _standalone(turn.generator, turn.question, history, summary, spent)
        found = _retrieve(database, ctx, turn.workspace_id, query, history.scope)
        yield StatusEvent(stage=Stage.READING)
        with database.session() as db:
            passages = _passages(db, ctx, turn.workspace_id, query, found)
        if not any(passage.relevant for passage in passages):
            relevant = []
        elif turn.generator is not None:  # the model judges what answers better than a threshold does
            relevant = _pack(turn.generator, passages, turn.question, history, summary)
        else:
            relevant = [passage for passage in passages if passage.relevant][:EXTRACTIVE_QUOTES]
        relevant = [replace(passage, n=n) for n, passage in enumerate(relevant, start=1)]
        with database.session() as db:
            given = [_citation_out(db, ctx, turn.workspace_id, passage.citation()) for passage in relevant]
        yield CitationsEvent(citations=given)
        yield StatusEvent(stage=Stage.WRITING)
        if not relevant:
            engine, writing = ChatEngine.EXTRACTIVE, iter([NOT_COVERED])
        elif turn.generator is None:
            engine, writing = ChatEngine.EXTRACTIVE, _extractive(relevant)
        else:
            engine = ChatEngine(turn.generator.engine)
            writing = _written(turn.generator, turn.question, relevant, history, summary, spent)
        pieces: list[str] = []
        for piece in writing:
            pieces.append(piece)
            yield DeltaEvent(text=piece)
        content = "".join(pieces)
        with database.session() as db:
            message = _store(
                db,
                turn=turn,
                history=history,
                summary=summary,
                content=content,
                citations=_cited(content, relevant, written=engine not in (ChatEngine.EXTRACTIVE,)),
                engine=engine,
                spent=spent,
                query=query,
            )
            billing.end_sync_charge(db, ctx=ctx, charge_id=turn.charge_id, result={"tokens": spent.total})
            settled = True
            done = DoneEvent(message=message_out(db, ctx=ctx, message=message), user_message_id=turn.user_message_id)
        yield done
    except EngineError as exc:
        raise engine_failure(exc) from exc
    except GeneratorExit:
        # The client went away: the generation stops, and what the model read and wrote so far is paid.
        if not settled:
            if isinstance(writing, Generator):
                writing.close()
            with database.session() as db:
                billing.end_sync_charge(db, ctx=ctx, charge_id=turn.charge_id, result={"tokens": spent.total})
            settled = True
        raise
    finally:
        if not settled:
            billing.abandon_sync_charge(database, ctx=ctx, charge_id=turn.charge_id)


def _retrieve(database: Database, ctx: AppContext, workspace_id: str, query: str, scope: Scope) -> list[search.Hit]:
    """The passages best for `query` within the conversation's scope: the transcriptions it names and those of the
    files it names (nothing while none of them is transcribed)."""
    with database.session() as db:
        job_ids = _scope_jobs(db, workspace_id=workspace_id, scope=scope)
        if job_ids == []:
            return []
        filters = search.Filters(job_ids=job_ids or ())
        return search.retrieve(
            db, ctx, workspace_id=workspace_id, q=query, mode="hybrid", filters=filters, limit=CANDIDATES
        ).hits


def answer_whole(database: Database, ctx: AppContext, turn: Turn) -> DoneEvent:
    """The answer, once stored (for a worker thread)."""
    done: DoneEvent | None = None
    for event in answer(database, ctx, turn):
        if isinstance(event, DoneEvent):
            done = event
    assert done is not None  # answer() ends with it or raises
    return done


def _history(database: Database, ctx: AppContext, turn: Turn) -> _History:
    """The conversation before this question: the turns the model reads word for word (newest first, within the
    memory's share of the window) and the older ones not yet folded into its summary."""
    with database.session() as db:
        conversation = get(db, workspace_id=turn.workspace_id, conversation_id=turn.conversation_id)
        earlier = [m for m in messages_of(db, conversation_id=conversation.id) if m.id != turn.user_message_id]
        summary, upto = conversation.summary or "", conversation.summarized_upto or 0
        scope = Scope.model_validate(conversation.scope or {})
        db.expunge_all()
    budget = _window(turn.generator, ctx) // MEMORY_SHARE
    kept = len(earlier)
    used = 0
    while kept > upto:
        cost = _count_tokens(turn.generator, earlier[kept - 1].content) + TOKENS_PER_MESSAGE
        if used + cost > budget:
            break
        used += cost
        kept -= 1
    last_answer = next((m for m in reversed(earlier) if m.role == "assistant"), None)
    last_query = last_answer.query if last_answer is not None else None
    quotes = [str(c.get("quote") or "") for c in (last_answer.citations or [])] if last_answer is not None else []
    return _History(
        summary=summary,
        summarized_upto=upto,
        recent=earlier[kept:],
        to_fold=earlier[upto:kept],
        last_query=last_query,
        last_quote=quotes[0] if quotes else None,
        scope=scope,
    )


def _window(generator: TextGenerator | None, ctx: AppContext) -> int:
    return generator.context_tokens if generator is not None else ctx.settings.llm_context_tokens


def _count_tokens(generator: TextGenerator | None, text: str) -> int:
    if generator is None:
        return max(1, len(text) // 4)  # about four characters a token: without a model, nothing is read by the token
    return generator.count_tokens(text)


def _fold(generator: TextGenerator | None, history: _History, spent: _Spent) -> str:
    """The summary of every turn older than the recent ones: the stored one, with the turns that just fell out of
    the memory folded in — by the model, or as the questions that were asked."""
    if not history.to_fold:
        return history.summary
    if generator is None:
        asked = [_clean_markers(m.content) for m in history.to_fold if m.role == "user"]
        folded = " ".join(part for part in (history.summary, *(f"Asked: {q}" for q in asked)) if part)
        return folded[-2000:]
    lines = [f"{m.role.capitalize()}: {_clean_markers(m.content)[:1500]}" for m in history.to_fold]
    earlier = f"Summary so far: {history.summary}\n\n" if history.summary else ""
    messages = [
        {"role": "system", "content": SUMMARY_PROMPT},
        {"role": "user", "content": earlier + "\n".join(lines)},
    ]
    messages = _fit(generator, messages, generator.context_tokens // 2)
    generation = generator.generate(messages, max_tokens=SUMMARY_TOKENS, temperature=0)
    spent.add(generation)
    return generation.text.strip() or history.summary


def _fit(generator: TextGenerator, messages: list[dict[str, str]], budget: int) -> list[dict[str, str]]:
    """The last message cut from its start until the messages fit `budget` tokens."""
    while True:
        used = TEMPLATE_TOKENS + sum(generator.count_tokens(m["content"]) + TOKENS_PER_MESSAGE for m in messages)
        last = messages[-1]["content"]
        if used <= budget or len(last) < 200:
            return messages
        messages = [*messages[:-1], {**messages[-1], "content": last[len(last) // 4 :]}]


# ---- the standalone question ----


def _standalone(generator: TextGenerator | None, question: str, history: _History, summary: str, spent: _Spent) -> str:
    """The question as a search query that stands on its own: rewritten by the model from the conversation, or the
    question with the last turn's terms added when it points back at them ("who leads it?")."""
    if not history.recent and not summary:
        return question
    if generator is not None:
        rewritten = _rewrite(generator, question, history, summary, spent)
        if rewritten:
            return rewritten
    return _with_terms(question, history.last_query, history.last_quote)


def _rewrite(generator: TextGenerator, question: str, history: _History, summary: str, spent: _Spent) -> str | None:
    turns = "\n".join(f"{m.role.capitalize()}: {_clean_markers(m.content)[:600]}" for m in history.recent[-4:])
    context = (f"Earlier: {summary}\n" if summary else "") + turns
    messages = [
        {"role": "system", "content": REWRITE_PROMPT},
        {"role": "user", "content": f"Conversation:\n{context}\n\nLast question: {question}\n\nStandalone query:"},
    ]
    budget = generator.context_tokens // MEMORY_SHARE + 200
    generation = generator.generate(_fit(generator, messages, budget), max_tokens=REWRITE_TOKENS, temperature=0)
    spent.add(generation)
    line = next((line for line in generation.text.splitlines() if line.strip()), "")
    line = re.sub(r"^(standalone )?(search )?query\s*:\s*", "", line.strip(), flags=re.IGNORECASE).strip(" \"'`")
    return line if 0 < len(line) <= QUERY_MAX_CHARS else None


def _with_terms(question: str, last_query: str | None, last_quote: str | None) -> str:
    """The question with the terms of the last standalone question it lacks, and the names in the passage the last
    answer cited first ("was there any concern about him?" is about the person that answer named), when it points
    back at an earlier turn: a pronoun, or almost no terms of its own."""
    if not last_query:
        return question
    words = [word.lower() for word in _WORD.findall(question)]
    stop = _stopwords("en")
    if not (set(words) & _ANAPHORS) and len([word for word in words if word not in stop]) > 2:
        return question
    names = [  # capitalised where a sentence does not begin
        match.group() for match in _WORD.finditer(last_quote or "")
        if match.group()[:1].isupper() and (last_quote or "")[: match.start()].rstrip()[-1:] not in ("", ".", "!", "?")
    ]  # fmt: skip
    have = {_stem(word) for word in words}
    added: list[str] = []
    for word in [*names, *_WORD.findall(last_query)]:
        stem = _stem(word.lower())
        if word.lower() in stop or word.lower() in _ANAPHORS or stem in have:
            continue
        have.add(stem)
        added.append(word)
    return " ".join([question, *added[:FOLLOW_UP_TERMS]])


@lru_cache(maxsize=16)
def _stopwords(language: str) -> frozenset[str]:
    try:
        return frozenset(yake.KeywordExtractor(lan=language[:2].lower()).stopword_set)
    except Exception:  # a language YAKE has no list for
        return frozenset(yake.KeywordExtractor(lan="en").stopword_set)


def _stem(word: str) -> str:
    """A crude stem, so that "launched" meets "launch" and "budgets" meets "budget"."""
    return word[:5] if len(word) > 5 else word


def _terms(text: str, language: str = "en") -> set[str]:
    stop = _stopwords(language) | _stopwords("en")
    return {_stem(word) for word in (w.lower() for w in _WORD.findall(text)) if word not in stop}


# ---- the passages ----


@dataclass
class _Transcript:
    said: list[Said]  # segments with words, in order of time
    position: dict[int, int]  # segment id → its place in `said`


def _passages(db: Session, ctx: AppContext, workspace_id: str, query: str, hits: Sequence[search.Hit]) -> list[Passage]:
    """Each hit's segments read with one more either side, and the segment among the hit's own that answers best —
    by the question's terms, and by the index's embeddings. Best first: retrieval ranks passages of about 20 s, this
    ranks the single segments that answer; a hit whose segments another passage already holds is left out."""
    read: dict[tuple[str, str, int], _Transcript | None] = {}
    candidates: list[tuple[search.Hit, _Transcript, list[Said]]] = []
    for hit in hits:
        key = (hit.job_id, hit.variant, hit.transcript_version)
        if key not in read:
            read[key] = _read_transcript(db, workspace_id, hit)
        transcript = read[key]
        if transcript is None:
            continue
        own = [transcript.said[transcript.position[i]] for i in hit.segment_ids if i in transcript.position]
        if own:
            candidates.append((hit, transcript, own))
    if not candidates:
        return []
    wanted = _terms(query)
    cosines, floor = _similarities(ctx, query, [said.text for _hit, _t, own in candidates for said in own])
    standard = _standardised(cosines)
    passages: list[Passage] = []
    offset = 0
    for hit, transcript, own in candidates:
        scored = []
        for number, said in enumerate(own):
            shared = len(wanted & _terms(said.text, hit.language)) / max(len(wanted), 1)
            closeness = float(standard[offset + number]) if standard is not None else 0.0
            cosine = float(cosines[offset + number]) if cosines is not None else 0.0
            scored.append((closeness + shared, said, shared > 0 or cosine >= floor))
        offset += len(own)
        score, cited, relevant = max(scored, key=lambda item: item[0])
        first, last = transcript.position[own[0].id], transcript.position[own[-1].id]
        around = tuple(transcript.said[max(0, first - NEIGHBOURS) : last + NEIGHBOURS + 1])
        passages.append(
            Passage(
                n=0,
                job_id=hit.job_id,
                variant=hit.variant,
                file_id=hit.file_id,
                file_name=hit.file_name,
                cited=cited,
                around=around,
                score=score,
                relevant=relevant,
            )
        )
    passages.sort(key=lambda passage: -passage.score)
    kept: list[Passage] = []
    for passage in passages:
        held = {(p.job_id, p.variant, said.id) for p in kept for said in p.around}
        if (passage.job_id, passage.variant, passage.cited.id) not in held:
            kept.append(passage)
    return kept


def _standardised(cosines: np.ndarray | None) -> np.ndarray | None:
    """Cosines as standard scores among the candidates: how much closer than the others a segment is, which is what
    tells an answer apart when every sentence of a meeting is about equally close to a question."""
    if cosines is None or len(cosines) < 2 or float(cosines.std()) < 1e-6:
        return None if cosines is None else np.zeros_like(cosines)
    return np.asarray((cosines - cosines.mean()) / cosines.std(), dtype=np.float32)


def _read_transcript(db: Session, workspace_id: str, hit: search.Hit) -> _Transcript | None:
    """The transcript version a hit was cut from; None when it is gone (deleted since the index was read)."""
    try:
        row = transcripts.get(
            db, workspace_id=workspace_id, job_id=hit.job_id, lang=hit.variant, version=hit.transcript_version
        )
    except VoxhubError:
        return None
    names = dict(row.data.get("speakers") or {})
    said = []
    for segment in row.data.get("segments") or []:
        text = " ".join(str(segment.get("text") or "").split())
        if not text or segment.get("start") is None:
            continue
        label = str(segment.get("speaker") or "").strip()
        speaker = (names.get(label) or label) if label else None
        start = float(segment["start"])
        said.append(Said(int(segment["id"]), start, float(segment.get("end") or start), speaker, text))
    said.sort(key=lambda item: (item.start, item.id))
    return _Transcript(said=said, position={item.id: place for place, item in enumerate(said)})


def _similarities(ctx: AppContext, query: str, texts: list[str]) -> tuple[np.ndarray | None, float]:
    """Cosines of the question and each segment by the index's embedder, and the cosine that makes a segment
    relevant to the question by meaning; no cosines when it cannot embed now."""
    try:
        embedder = index.embedder(ctx)
        question = embedder.embed([query])
        found = passage_vectors(embedder, texts)
    except EngineError as exc:
        log.warning("chat passages chosen by their words only: %s", exc.message)
        return None, 1.0
    floor = SEMANTIC_FLOOR.get(embedder.model_id, DEFAULT_SEMANTIC_FLOOR)
    return np.asarray(found @ question[0], dtype=np.float32), floor


def _shortened(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def _timestamp(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _heading(passage: Passage) -> str:
    where = passage.file_name or "a recording"
    return f"[{passage.n}] {where}, from {_timestamp(passage.around[0].start)} to {_timestamp(passage.around[-1].end)}"


# ---- the prompt ----


def _memory_messages(history: _History, summary: str) -> list[dict[str, str]]:
    messages = []
    if summary:
        messages.append({"role": "system", "content": f"Earlier in this conversation: {summary}"})
    for message in history.recent:
        messages.append({"role": message.role, "content": _clean_markers(message.content)})
    return messages


def _prompt(question: str, passages: Sequence[Passage], history: _History, summary: str) -> list[dict[str, str]]:
    given = "\n\n".join(f"{_heading(passage)}\n{passage.text}" for passage in passages)
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        *_memory_messages(history, summary),
        {"role": "user", "content": f"Passages:\n\n{given}\n\nQuestion: {question}\n\n{ANSWER_CUE}"},
    ]


def _pack(
    generator: TextGenerator, passages: Sequence[Passage], question: str, history: _History, summary: str
) -> list[Passage]:
    """The best passages that fit the model's window beside the instructions, the memory, the question and the
    answer's room."""
    fixed = _prompt(question, [], history, summary)
    used = TEMPLATE_TOKENS + sum(generator.count_tokens(m["content"]) + TOKENS_PER_MESSAGE for m in fixed)
    room = generator.context_tokens - _answer_tokens(generator) - used
    packed: list[Passage] = []
    for passage in passages[:PASSAGES]:
        cost = generator.count_tokens(f"{_heading(passage)}\n{passage.text}\n\n") + 4
        if cost > room:
            continue
        room -= cost
        packed.append(passage)
    return packed


def _answer_tokens(generator: TextGenerator) -> int:
    return min(ANSWER_TOKENS, generator.context_tokens // 4)


def _written(
    generator: TextGenerator,
    question: str,
    passages: Sequence[Passage],
    history: _History,
    summary: str,
    spent: _Spent,
) -> Generator[str, None, None]:
    """The model's answer in pieces, its markers kept only where they name a passage given. Closed early, it stops
    the generation and counts the prompt and the pieces made so far."""
    messages = _prompt(question, passages, history, summary)
    stream = generator.stream(messages, max_tokens=_answer_tokens(generator), temperature=0)  # facts, not style
    markers = MarkerFilter(len(passages))
    made = 0
    try:
        for piece in stream:
            made += 1  # a piece is a token as llama.cpp and OpenAI stream them
            cleaned = markers.feed(piece)
            if cleaned:
                yield cleaned
        rest = markers.finish()
        if rest:
            yield rest
    finally:
        stream.close()
        if stream.result is not None:
            spent.add(stream.result)
        else:
            prompt = TEMPLATE_TOKENS + sum(generator.count_tokens(m["content"]) + TOKENS_PER_MESSAGE for m in messages)
            spent.add(Generation("", prompt, made, generator.model_id, "length"))
    if not markers.started:
        yield NOT_COVERED


def _extractive(passages: Sequence[Passage]) -> Iterator[str]:
    """The passages quoted, each cited: what an answer is without a language model."""
    yield EXTRACTIVE_INTRO
    for passage in passages:
        said = passage.cited
        who = f"{said.speaker}, " if said.speaker else ""
        where = passage.file_name or "a recording"
        yield f"\n\n“{_shortened(said.text, QUOTE_CHARS)}” ({who}{where}, at {_timestamp(said.start)}) [{passage.n}]"


# ---- citations ----


class MarkerFilter:
    """Streamed text with its citation markers checked as they come: [n] is kept where 1 ≤ n ≤ `count`, a marker
    naming nothing is removed with the space before it, and [1, 2] is written [1][2]. Text that may still become a
    marker is held back until it is known; the pieces given out join to `clean(whole text)`, stripped."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.held = ""
        self.started = False

    def feed(self, piece: str) -> str:
        self.held += piece
        cut = len(self.held)
        opening = self.held.rfind("[")
        if opening >= 0 and "]" not in self.held[opening:] and _MAYBE_MARKER.fullmatch(self.held[opening:]):
            cut = opening
        while cut > 0 and self.held[cut - 1].isspace():
            cut -= 1  # a space may belong to a marker that is removed
        ready, self.held = self.held[:cut], self.held[cut:]
        return self._out(clean_markers(ready, self.count))

    def finish(self) -> str:
        rest, self.held = clean_markers(self.held, self.count).rstrip(), ""
        return self._out(rest)

    def _out(self, text: str) -> str:
        if not self.started:
            text = text.lstrip()
            self.started = bool(text)
        return text


def clean_markers(text: str, count: int) -> str:
    """`text` with each citation marker naming passages 1…`count` only."""

    def keep(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.findall(r"\d+", match.group("numbers"))]
        kept = "".join(f"[{n}]" for n in dict.fromkeys(numbers) if 1 <= n <= count)
        return match.group("space") + kept if kept else ""

    return _MARKER.sub(keep, text)


def _clean_markers(text: str) -> str:
    """Text of an earlier turn without its markers: they point at that turn's passages, not this one's."""
    return _MARKER.sub(lambda match: "", text).strip()


def _cited(content: str, passages: Sequence[Passage], *, written: bool) -> list[dict[str, Any]]:
    """The passages the answer cites, in the order it first cites them, with their numbers. A written answer's
    citation points at the segment of its passage that the sentences citing it take their words from (the passage
    is a few segments long; the model read them all), else at the passage's best segment."""
    by_number = {passage.n: passage for passage in passages}
    numbers: list[int] = []
    for match in _MARKER.finditer(content):
        numbers += [int(n) for n in re.findall(r"\d+", match.group("numbers")) if int(n) in by_number]
    cited = []
    for n in dict.fromkeys(numbers):
        passage = by_number[n]
        cited.append(passage.citation(_source(content, passage) if written else None))
    return cited


_SENTENCE = re.compile(r"[^.!?\n]*(?:[.!?](?!\d)|\n|$)")


def _source(content: str, passage: Passage) -> Said:
    """The segment of `passage` sharing most terms with the sentence that cites it (or, where that sentence names
    nothing the passage says, the sentence before: "… 43 minutes. This is in [1]."); its best segment otherwise."""
    marker = re.compile(rf"\[{passage.n}\]")
    sentences = [sentence for sentence in _SENTENCE.findall(content) if sentence.strip()]
    for place, sentence in enumerate(sentences):
        if not marker.search(sentence):
            continue
        for text in (sentence, sentences[place - 1] if place else ""):
            words = _terms(_clean_markers(text))
            best = max(passage.around, key=lambda said: (len(words & _terms(said.text)), said is passage.cited))
            if words & _terms(best.text):
                return best
    return passage.cited


def _store(
    db: Session,
    *,
    turn: Turn,
    history: _History,
    summary: str,
    content: str,
    citations: list[dict[str, Any]],
    engine: ChatEngine,
    spent: _Spent,
    query: str,
) -> ChatMessage:
    """The answer, and the conversation's summary when older turns were folded into it; 404 when the conversation
    was deleted meanwhile."""
    conversation = get(db, workspace_id=turn.workspace_id, conversation_id=turn.conversation_id)
    message = ChatMessage(
        conversation_id=conversation.id,
        workspace_id=turn.workspace_id,
        role="assistant",
        content=content,
        citations=citations,
        engine=engine.value,
        usage={"prompt_tokens": spent.prompt, "completion_tokens": spent.completion},
        query=query,
    )
    db.add(message)
    if history.to_fold and conversation.summarized_upto == history.summarized_upto:
        conversation.summary = summary
        conversation.summarized_upto = history.summarized_upto + len(history.to_fold)
    conversation.updated_at = utcnow()
    db.flush()
    return message


# ---- suggested questions ----

GENERIC_QUESTIONS = (
    "What were the main topics?",
    "What decisions were made?",
    "What are the next steps, and who owns them?",
)
TEMPLATES = ("What was said about {}?", "Who talked about {}?", "What was decided about {}?")
SUGGESTIONS = 6
SUGGESTION_CHUNKS = 40


def suggestions(db: Session, *, workspace_id: str, conversation_id: str) -> list[str]:
    """Questions worth asking of a conversation's recordings: on the topics of their chapters (as a language model
    named them) and their key phrases; on the phrases of the indexed passages where no insights were made; the
    questions any meeting answers where nothing is indexed yet."""
    conversation = get(db, workspace_id=workspace_id, conversation_id=conversation_id)
    scope = Scope.model_validate(conversation.scope or {})
    job_ids = _scope_jobs(db, workspace_id=workspace_id, scope=scope)
    topics = _insight_topics(db, workspace_id=workspace_id, job_ids=job_ids)
    if not topics:
        topics = _passage_topics(db, workspace_id=workspace_id, job_ids=job_ids)
    questions = [TEMPLATES[number % len(TEMPLATES)].format(topic) for number, topic in enumerate(topics)]
    questions += GENERIC_QUESTIONS
    unique = list({question.lower(): question for question in reversed(questions)}.values())[::-1]
    return unique[:SUGGESTIONS]


def _scope_jobs(db: Session, *, workspace_id: str, scope: Scope) -> list[str] | None:
    """The transcriptions a scope covers; None for the whole workspace."""
    if not scope.file_ids and not scope.job_ids:
        return None
    of_files = db.scalars(
        select(SearchSource.job_id).where(
            SearchSource.workspace_id == workspace_id, SearchSource.file_id.in_(scope.file_ids)
        )
    ).all()
    return list(dict.fromkeys([*scope.job_ids, *of_files]))


def _insight_topics(db: Session, *, workspace_id: str, job_ids: list[str] | None) -> list[str]:
    query = select(Insights).where(Insights.workspace_id == workspace_id, Insights.source_job_id.is_not(None))
    if job_ids is not None:
        query = query.where(Insights.source_job_id.in_(job_ids))
    newest: dict[str, Insights] = {}
    for row in db.scalars(query.order_by(Insights.created_at.desc()).limit(50)):
        assert row.source_job_id is not None
        newest.setdefault(row.source_job_id, row)
    chapters: list[str] = []
    phrases: list[str] = []
    for row in newest.values():
        document = InsightsDocument.model_validate(row.data)
        if document.engine != InsightsEngine.EXTRACTIVE:  # the extractive method's chapter names are first words
            chapters += [chapter.gist.strip().rstrip(".") for chapter in document.chapters or [] if chapter.gist]
        phrases += [phrase.text for phrase in sorted(document.key_phrases or [], key=lambda p: (-p.count, -p.rank))]
    topics = [topic for pair in _alternate(chapters, phrases) for topic in pair if topic]
    return list(dict.fromkeys(topic for topic in topics if 2 <= len(topic) <= 80))[:SUGGESTIONS]


def _alternate(first: list[str], second: list[str]) -> Iterator[tuple[str, str]]:
    for number in range(max(len(first), len(second))):
        yield (first[number] if number < len(first) else "", second[number] if number < len(second) else "")


def _passage_topics(db: Session, *, workspace_id: str, job_ids: list[str] | None) -> list[str]:
    """Key phrases of the scope's indexed passages (YAKE, as insights find them)."""
    query = select(SearchChunk.text, SearchChunk.language).where(SearchChunk.workspace_id == workspace_id)
    if job_ids is not None:
        query = query.where(SearchChunk.job_id.in_(job_ids))
    rows = db.execute(query.order_by(SearchChunk.id).limit(SUGGESTION_CHUNKS)).all()
    if not rows:
        return []
    text = " ".join(row.text for row in rows)[:20_000]
    language = rows[0].language or "en"
    try:
        extractor = yake.KeywordExtractor(lan=language[:2].lower(), n=2, dedupLim=0.7, top=SUGGESTIONS * 2)
        phrases = [phrase for phrase, _score in extractor.extract_keywords(text)]
    except Exception:  # YAKE fails on text it cannot split into words
        log.warning("no key phrases in the passages of workspace %s", workspace_id, exc_info=True)
        return []
    kept: list[str] = []
    for phrase in phrases:
        words = set(phrase.lower().split())
        if any(words <= set(other.lower().split()) or set(other.lower().split()) <= words for other in kept):
            continue
        kept.append(phrase)
    return kept[:SUGGESTIONS]
