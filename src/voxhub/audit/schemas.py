"""Response bodies for the audit log and security events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    workspace_id: str | None
    actor_user_id: str | None
    actor_api_key_id: str | None
    action: str
    target_type: str | None
    target_id: str | None
    ip: str
    user_agent: str
    summary: dict[str, Any]
    created_at: datetime


class SecurityEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    ip: str
    user_agent: str
    details: dict[str, Any]
    created_at: datetime
