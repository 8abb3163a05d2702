"""Tokens that let a browser follow one job's events: `EventSource` cannot send an Authorization header, so its URL
carries a short-lived token, signed for this purpose only and bound to the workspace, the job and whoever asked."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from voxhub.accounts import service as accounts
from voxhub.apikeys import service as apikeys
from voxhub.audit.service import Actor
from voxhub.context import AppContext
from voxhub.errors import Unauthorized
from voxhub.jobs import service as jobs
from voxhub.workspaces import service as workspaces
from voxhub.workspaces.models import Role
from voxhub.workspaces.service import WorkspaceAccess

PURPOSE = "job-events"
TTL = timedelta(minutes=5)


def issue(
    db: Session, *, ctx: AppContext, access: WorkspaceAccess, job_id: str, session_id: str | None
) -> tuple[str, datetime]:
    """A token that opens this job's event stream for five minutes, for as long as the caller's login (or API key)
    stays valid; with its expiry."""
    jobs.get(db, workspace_id=access.workspace_id, job_id=job_id)
    if access.api_key_id is not None:
        holder = {"key": access.api_key_id}
    else:
        assert access.user is not None and session_id is not None
        holder = {"sub": access.user.id, "sid": session_id}
    claims = {"ws": access.workspace_id, "job": job_id, **holder}
    return ctx.keyring.sign_purpose_token(claims, purpose=PURPOSE, ttl=TTL)


def access_by_token(
    db: Session, *, ctx: AppContext, token: str, workspace_id: str, job_id: str, actor: Actor
) -> WorkspaceAccess:
    """The holder's access to the workspace, read again now; 401 for a token that is forged, expired or for another
    job, or whose login or key has ended since, and the usual 404 or 403 once the holder may no longer look."""
    claims = ctx.keyring.read_purpose_token(token, purpose=PURPOSE)
    if claims is None or claims.get("ws") != workspace_id or claims.get("job") != job_id:
        raise Unauthorized(
            "This events token is not valid for this job or has expired; ask for a new one.", code="invalid_token"
        )
    if "key" in claims:
        key = apikeys.live_key(db, api_key_id=str(claims["key"]))
        by_key = Actor(api_key_id=key.id, ip=actor.ip, user_agent=actor.user_agent)
        access = apikeys.access_for_key(db, key=key, workspace_id=workspace_id, actor=by_key)
    else:
        user, _login = accounts.signed_in(db, user_id=str(claims.get("sub")), session_id=str(claims.get("sid")))
        by_user = Actor(user_id=user.id, ip=actor.ip, user_agent=actor.user_agent)
        access = workspaces.access_for_user(db, workspace_id=workspace_id, user=user, actor=by_user)
    access.require(Role.VIEWER)
    return access
