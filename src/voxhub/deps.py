"""Typed FastAPI dependencies: the database session, settings, and who is calling with what access."""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from voxhub.accounts import service as accounts
from voxhub.accounts.models import LoginSession, User
from voxhub.apikeys import service as apikeys
from voxhub.apikeys.models import ApiKey
from voxhub.audit.service import Actor
from voxhub.billing import service as billing
from voxhub.clock import utcnow
from voxhub.context import AppContext
from voxhub.db import Database, finish, scope_to_workspace
from voxhub.errors import Forbidden, TooManyRequests, Unauthorized
from voxhub.workspaces import service as workspaces
from voxhub.workspaces.models import Role
from voxhub.workspaces.service import WorkspaceAccess

T = TypeVar("T")

# Dependencies that do no I/O are `async def`: FastAPI then runs them on the event loop instead of handing each
# one to a worker thread and back, which costs more than the work itself.


async def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


_ENDING: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = weakref.WeakKeyDictionary()


def _ending_limiter() -> anyio.CapacityLimiter:
    """Threads for ending sessions, apart from the request threads (one limiter per event loop)."""
    loop = asyncio.get_running_loop()
    limiter = _ENDING.get(loop)
    if limiter is None:
        limiter = _ENDING[loop] = anyio.CapacityLimiter(64)
    return limiter


async def get_db(request: Request) -> AsyncIterator[Session]:
    """One session per request, committed once when the endpoint returns, before the response is sent.
    Opening a session does no I/O; ending it (commit, or nothing for a read-only request) runs in a worker thread."""
    database = request.app.state.db
    db: Session = database.sessions()
    try:
        yield db
    except BaseException as exc:
        if _ends_on_the_loop(database, db):
            finish(db, exc)
        else:
            await anyio.to_thread.run_sync(finish, db, exc, limiter=_ending_limiter())
        raise
    if _ends_on_the_loop(database, db):
        finish(db, None)
    else:
        await anyio.to_thread.run_sync(finish, db, None, limiter=_ending_limiter())


def _ends_on_the_loop(database: Database, db: Session) -> bool:
    """A request that holds a lock (SQLite's one write lock, a locked account row) must never wait for a thread to
    commit while every request thread waits for that lock: under many concurrent writers they all do, and none would
    move until a timeout. So sessions end outside the request threads: in threads of their own for a networked
    database (a round trip), on the event loop for SQLite when that cannot wait (a read, or a commit of rows already
    flushed under the write lock this session holds). A SQLite session with rows still to write ends in a thread
    too: its INSERT may wait for the write lock, and the loop must not wait with it, since the lock's holder may
    need the loop to commit."""
    return database.is_sqlite and not (db.new or db.dirty or db.deleted)


Ctx = Annotated[AppContext, Depends(get_ctx)]
DbSession = Annotated[Session, Depends(get_db, scope="function")]


def client_ip(request: Request, ctx: AppContext) -> str:
    """The caller's address: the connection's peer, or behind a trusted proxy the address that proxy saw. A proxy
    appends its peer to X-Forwarded-For, after whatever the client sent: the last entry is the proxy's word, the
    ones before it are the client's own claims (which must not decide lockouts, places or sign-in alerts)."""
    if ctx.settings.trust_proxy_headers:
        forwarded = request.headers.get("x-forwarded-for")
        if forwarded:
            return forwarded.rsplit(",", 1)[-1].strip()
    return request.client.host if request.client else ""


async def get_anonymous_actor(request: Request, ctx: Ctx) -> Actor:
    return Actor(ip=client_ip(request, ctx), user_agent=request.headers.get("user-agent", ""))


AnonymousActor = Annotated[Actor, Depends(get_anonymous_actor)]


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a user with a login session, or an API key."""

    actor: Actor
    user: User | None = None
    session: LoginSession | None = None
    api_key: ApiKey | None = None


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send an access token or API key as 'Authorization: Bearer …'.", code="not_authenticated")
    return token.strip()


async def read_db(request: Request, read: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run a short read of the request's database: inline on SQLite, where a read in WAL mode never waits for a
    lock and the hop to a worker thread and back costs more than the read; in a worker thread for a networked
    database, whose round trip must not hold the event loop. Never for writes (SQLite's write lock can wait)."""
    if request.app.state.db.is_sqlite:
        return read(*args, **kwargs)
    return await anyio.to_thread.run_sync(functools.partial(read, *args, **kwargs))


async def get_principal(request: Request, db: DbSession) -> Principal:
    """Who is calling: an API key (its use is recorded, so it runs in a worker thread) or a signed-in user (one
    read, run by `read_db`). One dependency reading the app's state itself, to keep per-request work small."""
    ctx: AppContext = request.app.state.ctx
    token = _bearer(request)
    ip, user_agent = client_ip(request, ctx), request.headers.get("user-agent", "")
    if apikeys.looks_like_api_key(token):
        anonymous = Actor(ip=ip, user_agent=user_agent)
        key = await run_in_threadpool(apikeys.authenticate, db, token=token, actor=anonymous)
        return Principal(actor=Actor(api_key_id=key.id, ip=ip, user_agent=user_agent), api_key=key)
    user, session = await read_db(request, accounts.authenticate_access_token, db, ctx=ctx, token=token)
    return Principal(actor=Actor(user_id=user.id, ip=ip, user_agent=user_agent), user=user, session=session)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


@dataclass(frozen=True)
class SignedIn:
    """A caller signed in as a person (not an API key)."""

    user: User
    session: LoginSession
    actor: Actor


async def get_signed_in(principal: CurrentPrincipal) -> SignedIn:
    if principal.user is None or principal.session is None:
        raise Forbidden("This needs a signed-in user, not an API key.", code="user_token_required")
    return SignedIn(user=principal.user, session=principal.session, actor=principal.actor)


CurrentUser = Annotated[SignedIn, Depends(get_signed_in)]


async def get_superuser(me: CurrentUser) -> SignedIn:
    if not me.user.is_superuser:
        raise Forbidden("This needs a superuser.", code="superuser_required")
    return me


SuperUser = Annotated[SignedIn, Depends(get_superuser)]


def get_workspace_access(
    workspace_id: str, principal: CurrentPrincipal, db: DbSession, ctx: Ctx, request: Request
) -> WorkspaceAccess:
    if principal.api_key is not None:
        access = apikeys.access_for_key(db, key=principal.api_key, workspace_id=workspace_id, actor=principal.actor)
    else:
        assert principal.user is not None
        access = workspaces.access_for_user(db, workspace_id=workspace_id, user=principal.user, actor=principal.actor)
    # Past this point the request is this workspace's alone, down to the database's own row-level security.
    scope_to_workspace(db, access.workspace_id)
    limit_requests(db, ctx, access, request=request)
    return access


def limit_requests(db: Session, ctx: AppContext, access: WorkspaceAccess, *, request: Request) -> None:
    """The plan's requests per minute, per API key (or per user in this workspace): 429 `rate_limited` past it,
    and `RateLimit-*` headers on every answer. Each request also counts on the workspace's `api_requests` meter."""
    if not ctx.settings.billing_enabled:
        return
    per_minute = billing.limits(db, ctx=ctx, workspace_id=access.workspace_id).requests_per_minute
    assert per_minute is not None
    key = f"key:{access.api_key_id}" if access.api_key_id else f"user:{access.user.id if access.user else ''}"
    decision = ctx.rate_limiter.hit(f"{key}:{access.workspace_id}", per_minute)
    if not decision.allowed:
        raise TooManyRequests(
            f"More than {per_minute} requests a minute for this plan; try again in {decision.reset_s} s.",
            code="rate_limited",
            retry_after_s=decision.reset_s,
            headers={**decision.headers, "Retry-After": str(decision.reset_s)},
        )
    request.state.response_headers = decision.headers
    ctx.rate_limiter.count_request(access.workspace_id, utcnow().strftime("%Y-%m-%d"))
    counted = ctx.rate_limiter.take_usage()
    if counted:
        billing.record_api_requests(request.app.state.db, counted)


def require_role(role: Role) -> Callable[..., Awaitable[WorkspaceAccess]]:
    async def dependency(access: Annotated[WorkspaceAccess, Depends(get_workspace_access)]) -> WorkspaceAccess:
        access.require(role)
        return access

    dependency.__name__ = f"require_{role.value}"
    return dependency


ViewerAccess = Annotated[WorkspaceAccess, Depends(require_role(Role.VIEWER))]
MemberAccess = Annotated[WorkspaceAccess, Depends(require_role(Role.MEMBER))]
AdminAccess = Annotated[WorkspaceAccess, Depends(require_role(Role.ADMIN))]
OwnerAccess = Annotated[WorkspaceAccess, Depends(require_role(Role.OWNER))]


async def require_spender(access: MemberAccess, ctx: Ctx) -> WorkspaceAccess:
    """Member access by someone allowed to spend resources (a verified email, unless turned off)."""
    accounts.require_verified_email(ctx, access.user)
    return access


SpenderAccess = Annotated[WorkspaceAccess, Depends(require_spender)]
