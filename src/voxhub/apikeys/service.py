"""API keys (hashed, scoped to one workspace) and the vault of customers' own provider keys (encrypted)."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from voxhub.apikeys.models import ApiKey, ProviderKey
from voxhub.audit import service as audit
from voxhub.audit.service import Actor
from voxhub.clock import as_utc, utcnow
from voxhub.errors import NotFound, Unauthorized, Unprocessable, field_errors
from voxhub.security import Keyring, hash_token, same
from voxhub.workspaces import service as workspaces
from voxhub.workspaces.models import Role
from voxhub.workspaces.service import ROLE_FOR_SCOPE, WorkspaceAccess

KEY_PREFIX = "vx_"
SCOPES = tuple(ROLE_FOR_SCOPE)
_KEY_SHAPE = re.compile(r"^vx_([0-9a-f]{16})_([A-Za-z0-9_-]{20,})$")
_LAST_USED_GRANULARITY = timedelta(seconds=60)


def role_for_scopes(scopes: list[str]) -> Role:
    """The workspace role a key with these scopes acts with: the highest any of its scopes needs."""
    return max((ROLE_FOR_SCOPE[scope] for scope in scopes), key=lambda role: role.rank)


def create_key(
    db: Session, *, access: WorkspaceAccess, name: str, scopes: list[str], expires_at: datetime | None
) -> tuple[ApiKey, str]:
    """Returns the key and its secret; the secret is shown this once and only its hash is kept."""
    access.require(Role.ADMIN)
    if expires_at is not None and as_utc(expires_at) <= utcnow():
        raise Unprocessable(
            "expires_at must be in the future.",
            code="validation_error",
            details=field_errors(("expires_at", "in the past")),
        )
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        workspace_id=access.workspace_id,
        name=name.strip(),
        key_id=key_id,
        secret_hash=hash_token(secret),
        scopes=sorted(set(scopes), key=SCOPES.index),
        created_by=access.user.id if access.user else None,
        expires_at=as_utc(expires_at) if expires_at else None,
    )
    db.add(key)
    db.flush()
    audit.record(
        db,
        actor=access.actor,
        action="api_key.created",
        workspace_id=access.workspace_id,
        target_type="api_key",
        target_id=key.id,
        summary={"name": key.name, "scopes": key.scopes},
    )
    if access.user is not None:
        audit.security_event(
            db,
            user_id=access.user.id,
            kind="api_key.created",
            actor=access.actor,
            details={"api_key_id": key.id, "workspace_id": access.workspace_id},
        )
    return key, f"{KEY_PREFIX}{key_id}_{secret}"


def list_keys(db: Session, *, workspace_id: str) -> list[ApiKey]:
    """Every API key of the workspace, revoked ones too, newest first."""
    return list(db.scalars(select(ApiKey).where(ApiKey.workspace_id == workspace_id).order_by(ApiKey.id.desc())))


def revoke_key(db: Session, *, access: WorkspaceAccess, api_key_id: str) -> ApiKey:
    """Revoke a key of the workspace (admins only) so it is refused from now on; revoking twice is harmless."""
    access.require(Role.ADMIN)
    key = db.get(ApiKey, api_key_id)
    if key is None or key.workspace_id != access.workspace_id:
        raise NotFound("API key not found.", code="api_key_not_found")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.record(
            db,
            actor=access.actor,
            action="api_key.revoked",
            workspace_id=access.workspace_id,
            target_type="api_key",
            target_id=key.id,
            summary={"name": key.name},
        )
        if access.user is not None:
            audit.security_event(
                db,
                user_id=access.user.id,
                kind="api_key.revoked",
                actor=access.actor,
                details={"api_key_id": key.id, "workspace_id": access.workspace_id},
            )
    return key


def looks_like_api_key(token: str) -> bool:
    """Whether a bearer token has an API key's prefix (rather than being a login JWT)."""
    return token.startswith(KEY_PREFIX)


def authenticate(db: Session, *, token: str, actor: Actor) -> ApiKey:
    """The live key a bearer token names; 401 for anything unknown, revoked or expired."""
    match = _KEY_SHAPE.match(token)
    key = db.scalar(select(ApiKey).where(ApiKey.key_id == match.group(1))) if match else None
    # Compare even when no key matched, so a wrong key id and a wrong secret take the same time.
    valid = same(key.secret_hash if key else "0" * 64, hash_token(match.group(2) if match else token))
    if key is None or not valid:
        raise Unauthorized("The API key is not valid.", code="invalid_api_key")
    now = utcnow()
    _require_live(key, now=now)
    if (
        key.last_used_at is None
        or now - as_utc(key.last_used_at) > _LAST_USED_GRANULARITY
        or key.last_used_ip != actor.ip
    ):
        _record_use(db, key=key, at=now, ip=actor.ip[:64])
    return key


def live_key(db: Session, *, api_key_id: str) -> ApiKey:
    """A key by its row id while it is neither revoked nor expired (for credentials derived from it); else 401."""
    key = db.get(ApiKey, api_key_id)
    if key is None:
        raise Unauthorized("The API key is not valid.", code="invalid_api_key")
    _require_live(key, now=utcnow())
    return key


def _require_live(key: ApiKey, *, now: datetime) -> None:
    if key.revoked_at is not None:
        raise Unauthorized("This API key has been revoked.", code="api_key_revoked")
    if key.expires_at is not None and as_utc(key.expires_at) <= now:
        raise Unauthorized("This API key has expired.", code="api_key_expired")


def _record_use(db: Session, *, key: ApiKey, at: datetime, ip: str) -> None:
    """Note the key's last use in its own short transaction. Left in the request's session, the write would hold
    SQLite's single write lock for the whole request, and routes that write through other sessions (tus
    uploads) would wait on it until they fail."""
    with Session(db.get_bind()) as own:
        own.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=at, last_used_ip=ip))
        own.commit()
    set_committed_value(key, "last_used_at", at)
    set_committed_value(key, "last_used_ip", ip)


def access_for_key(db: Session, *, key: ApiKey, workspace_id: str, actor: Actor) -> WorkspaceAccess:
    """A key reaches only its own workspace; any other id looks like a workspace that does not exist."""
    if key.workspace_id != workspace_id:
        raise NotFound("Workspace not found.", code="workspace_not_found")
    workspace = workspaces.get_live(db, workspace_id=workspace_id)
    return WorkspaceAccess(workspace=workspace, role=role_for_scopes(key.scopes), actor=actor, api_key_id=key.id)


# ---- provider-key vault ----


def _vault_context(workspace_id: str, provider: str) -> str:
    return f"provider-key:{workspace_id}:{provider}"


def set_provider_key(
    db: Session, *, keyring: Keyring, access: WorkspaceAccess, provider: str, api_key: str, base_url: str | None
) -> ProviderKey:
    """Store or replace the workspace's key for a provider, sealed at rest (admins only)."""
    access.require(Role.ADMIN)
    row = db.scalar(
        select(ProviderKey).where(ProviderKey.workspace_id == access.workspace_id, ProviderKey.provider == provider)
    )
    ciphertext = keyring.encrypt(api_key, context=_vault_context(access.workspace_id, provider))
    action = "provider_key.updated"
    if row is None:
        row = ProviderKey(
            workspace_id=access.workspace_id, provider=provider, ciphertext=ciphertext, last4=api_key[-4:]
        )
        db.add(row)
        action = "provider_key.created"
    row.ciphertext = ciphertext
    row.last4 = api_key[-4:]
    row.base_url = base_url
    row.updated_by = access.user.id if access.user else None
    row.updated_at = utcnow()
    db.flush()
    audit.record(
        db,
        actor=access.actor,
        action=action,
        workspace_id=access.workspace_id,
        target_type="provider_key",
        target_id=provider,
        summary={"last4": row.last4, "base_url": base_url},
    )
    return row


def get_provider_key(db: Session, *, workspace_id: str, provider: str) -> ProviderKey:
    """The workspace's stored key row for a provider, or 404 `provider_key_not_found`."""
    row = db.scalar(
        select(ProviderKey).where(ProviderKey.workspace_id == workspace_id, ProviderKey.provider == provider)
    )
    if row is None:
        raise NotFound("No key is stored for this provider.", code="provider_key_not_found")
    return row


def list_provider_keys(db: Session, *, workspace_id: str) -> list[ProviderKey]:
    """The workspace's stored provider keys, ordered by provider name."""
    return list(
        db.scalars(select(ProviderKey).where(ProviderKey.workspace_id == workspace_id).order_by(ProviderKey.provider))
    )


def reveal_provider_key(db: Session, *, keyring: Keyring, workspace_id: str, provider: str) -> str:
    """The plaintext key, for engines calling the provider; never returned by the API."""
    row = get_provider_key(db, workspace_id=workspace_id, provider=provider)
    return keyring.decrypt(row.ciphertext, context=_vault_context(workspace_id, provider))


def provider_credentials(
    db: Session, *, keyring: Keyring, workspace_id: str, provider: str
) -> tuple[str, str | None] | None:
    """(plaintext key, base URL) the workspace stored for `provider`, or None: for engines calling the provider."""
    row = db.scalar(
        select(ProviderKey).where(ProviderKey.workspace_id == workspace_id, ProviderKey.provider == provider)
    )
    if row is None:
        return None
    return keyring.decrypt(row.ciphertext, context=_vault_context(workspace_id, provider)), row.base_url


def delete_provider_key(db: Session, *, access: WorkspaceAccess, provider: str) -> None:
    """Forget the workspace's key for a provider (admins only); audited."""
    access.require(Role.ADMIN)
    row = get_provider_key(db, workspace_id=access.workspace_id, provider=provider)
    db.delete(row)
    audit.record(
        db,
        actor=access.actor,
        action="provider_key.deleted",
        workspace_id=access.workspace_id,
        target_type="provider_key",
        target_id=provider,
        summary={"last4": row.last4},
    )


def reencrypt_all(db: Session, *, keyring: Keyring, batch_size: int = 500) -> int:
    """Re-seal every stored secret under the keyring's current key; safe to run while the service serves."""
    count = 0
    last_id = ""
    while True:
        rows = list(
            db.scalars(select(ProviderKey).where(ProviderKey.id > last_id).order_by(ProviderKey.id).limit(batch_size))
        )
        if not rows:
            return count
        for row in rows:
            if not keyring.is_current(row.ciphertext):
                context = _vault_context(row.workspace_id, row.provider)
                row.ciphertext = keyring.encrypt(keyring.decrypt(row.ciphertext, context=context), context=context)
                count += 1
        last_id = rows[-1].id
        db.flush()
