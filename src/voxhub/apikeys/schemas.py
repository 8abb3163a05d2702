"""Request and response bodies for API keys and provider keys."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from voxhub.fields import StoredUrl

Scope = Literal["read", "write", "admin"]


class ApiKeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[Scope] = Field(
        min_length=1, max_length=10, description="read: GET; write: uploads and jobs; admin: management."
    )
    expires_at: datetime | None = None


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    prefix: str = Field(description="The non-secret start of the key, to recognise it.")
    scopes: list[Scope]
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    last_used_ip: str | None


class ApiKeyCreatedOut(ApiKeyOut):
    secret: str = Field(description="The whole key. Shown only now; store it safely.")


class ProviderKeyIn(BaseModel):
    api_key: str = Field(min_length=8, max_length=4096, pattern=r"^[^\x00-\x1f\x7f]+$")  # printable text
    base_url: StoredUrl | None = Field(default=None, description="For OpenAI-compatible providers other than OpenAI.")


class ProviderKeyOut(BaseModel):
    provider: str
    last4: str
    base_url: str | None
    updated_by: str | None
    updated_at: datetime
