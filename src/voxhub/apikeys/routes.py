"""HTTP routes for API keys and the provider-key vault."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from voxhub.apikeys import service
from voxhub.apikeys.models import ApiKey, ProviderKey
from voxhub.apikeys.schemas import ApiKeyCreatedOut, ApiKeyIn, ApiKeyOut, ProviderKeyIn, ProviderKeyOut
from voxhub.deps import AdminAccess, Ctx, DbSession
from voxhub.errors import responses
from voxhub.pagination import Page

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}", tags=["api keys"])

ProviderName = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", description="e.g. openai, groq")]


def key_out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        name=key.name,
        prefix=f"{service.KEY_PREFIX}{key.key_id}",
        scopes=key.scopes,
        created_by=key.created_by,
        created_at=key.created_at,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        last_used_at=key.last_used_at,
        last_used_ip=key.last_used_ip,
    )


def provider_key_out(row: ProviderKey) -> ProviderKeyOut:
    return ProviderKeyOut(
        provider=row.provider,
        last4=row.last4,
        base_url=row.base_url,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


@router.post("/api-keys", status_code=201, summary="Create an API key", responses=responses(401, 403, 404, 422))
def create_api_key(body: ApiKeyIn, db: DbSession, access: AdminAccess) -> ApiKeyCreatedOut:
    """Create a key for this workspace. The secret is in this response only; voxhub keeps a hash."""
    key, secret = service.create_key(
        db, access=access, name=body.name, scopes=list(body.scopes), expires_at=body.expires_at
    )
    return ApiKeyCreatedOut(**key_out(key).model_dump(), secret=secret)


@router.get("/api-keys", summary="List API keys", responses=responses(401, 403, 404))
def list_api_keys(db: DbSession, access: AdminAccess) -> Page[ApiKeyOut]:
    """Every key of the workspace, revoked ones included; never the secret."""
    return Page(items=[key_out(key) for key in service.list_keys(db, workspace_id=access.workspace_id)])


@router.delete(
    "/api-keys/{api_key_id}", status_code=204, summary="Revoke an API key", responses=responses(401, 403, 404)
)
def revoke_api_key(api_key_id: str, db: DbSession, access: AdminAccess) -> Response:
    """The key stops working at once."""
    service.revoke_key(db, access=access, api_key_id=api_key_id)
    return Response(status_code=204)


@router.get("/provider-keys", summary="List stored provider keys", responses=responses(401, 403, 404))
def list_provider_keys(db: DbSession, access: AdminAccess) -> Page[ProviderKeyOut]:
    """Providers with a stored key, each with only its last four characters."""
    rows = service.list_provider_keys(db, workspace_id=access.workspace_id)
    return Page(items=[provider_key_out(row) for row in rows])


@router.put("/provider-keys/{provider}", summary="Store a provider key", responses=responses(401, 403, 404, 422))
def put_provider_key(
    provider: ProviderName, body: ProviderKeyIn, db: DbSession, ctx: Ctx, access: AdminAccess
) -> ProviderKeyOut:
    """Store (or replace) this workspace's own key for a hosted engine, encrypted at rest."""
    row = service.set_provider_key(
        db,
        keyring=ctx.keyring,
        access=access,
        provider=provider,
        api_key=body.api_key,
        base_url=str(body.base_url) if body.base_url else None,
    )
    return provider_key_out(row)


@router.get(
    "/provider-keys/{provider}", summary="Get a provider key's summary", responses=responses(401, 403, 404, 422)
)
def get_provider_key(provider: ProviderName, db: DbSession, access: AdminAccess) -> ProviderKeyOut:
    """The stored key's last four characters and base URL — never the key."""
    return provider_key_out(service.get_provider_key(db, workspace_id=access.workspace_id, provider=provider))


@router.delete(
    "/provider-keys/{provider}",
    status_code=204,
    summary="Delete a provider key",
    responses=responses(401, 403, 404, 422),
)
def delete_provider_key(provider: ProviderName, db: DbSession, access: AdminAccess) -> Response:
    """Forget the stored key."""
    service.delete_provider_key(db, access=access, provider=provider)
    return Response(status_code=204)
