"""The floor for an authenticated read in bench/api.py: a bare FastAPI app that checks the access token and reads the
row it answers from, and nothing else (no middleware, no login-session check, no rate limit, no metrics or logs).

- the token: one PyJWT decode with the key and algorithm voxhub signs with (HS256 under the key HKDF derives from
  the secret key for "jwt"), requiring `exp` and `sub` and `typ: access`;
- the row: one indexed SELECT with SQLAlchemy's ORM on voxhub's own database and models, in one session, from a
  statement built once — the user by primary key for `/me`, the user's memberships joined to their live workspaces
  for `/workspaces`;
- the answer: serialised through voxhub's own response models, so both servers send exactly the same JSON.

The endpoints are `async def` and query on the event loop (SQLite answers an indexed read in microseconds): the
least a FastAPI app has to do for this answer. It reads voxhub's settings from the same VOXHUB_ environment.
"""

from __future__ import annotations

from typing import Annotated, Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fastapi import FastAPI, Header, HTTPException
from sqlalchemy import bindparam, create_engine, select
from sqlalchemy.orm import Session

from voxhub.accounts.models import User
from voxhub.accounts.schemas import UserOut
from voxhub.config import Settings
from voxhub.pagination import Page
from voxhub.workspaces.models import Membership, Role, Workspace
from voxhub.workspaces.schemas import WorkspaceOut

_settings = Settings()
# voxhub's access-token key: HKDF-SHA256 of the secret key with info "voxhub:jwt" (voxhub.security.Keyring).
KEY = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"voxhub:jwt").derive(
    _settings.resolved_secret_key.encode()
)
engine = create_engine(_settings.resolved_database_url)

app = FastAPI(title="bare authenticated baseline")


def user_id(authorization: str) -> str:
    """The `sub` of a valid, unexpired access token; 401 otherwise."""
    scheme, _, token = authorization.partition(" ")
    try:
        claims: dict[str, Any] = jwt.decode(token, KEY, algorithms=["HS256"], options={"require": ["exp", "sub"]})
    except jwt.PyJWTError as exc:
        raise HTTPException(401, "invalid token") from exc
    if scheme.lower() != "bearer" or claims.get("typ") != "access":
        raise HTTPException(401, "invalid token")
    return str(claims["sub"])


# Statements built once, as voxhub builds its per-request ones (building one costs more than running it).
ME = select(User).where(User.id == bindparam("user_id"), User.deleted_at.is_(None))
MY_WORKSPACES = (
    select(Workspace, Membership.role)
    .join(Membership, Membership.workspace_id == Workspace.id)
    .where(Membership.user_id == bindparam("user_id"), Workspace.deleted_at.is_(None))
    .order_by(Workspace.id)
)


@app.get("/api/v1/me")
async def get_me(authorization: Annotated[str, Header()] = "") -> UserOut:
    """The caller's user row, by primary key."""
    with Session(engine) as db:
        user = db.execute(ME, {"user_id": user_id(authorization)}).scalar_one_or_none()
        if user is None:
            raise HTTPException(401, "unknown user")
        return UserOut.model_validate(user)


@app.get("/api/v1/workspaces")
async def list_workspaces(authorization: Annotated[str, Header()] = "") -> Page[WorkspaceOut]:
    """The caller's memberships with their workspaces (indexed by user id)."""
    with Session(engine) as db:
        rows = db.execute(MY_WORKSPACES, {"user_id": user_id(authorization)})
        return Page(
            items=[
                WorkspaceOut(
                    id=workspace.id,
                    name=workspace.name,
                    personal=workspace.personal,
                    role=Role(role),
                    retention_days=workspace.retention_days,
                    created_at=workspace.created_at,
                )
                for workspace, role in rows
            ]
        )
