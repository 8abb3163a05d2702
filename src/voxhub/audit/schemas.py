"""Response bodies for the audit log and security events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from voxhub import geo
from voxhub.audit.models import SecurityEvent


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


class PlaceOut(BaseModel):
    """Where an IP address was, looked up offline: null for private, reserved and unknown addresses."""

    country: str = Field(description="ISO 3166-1 alpha-2 code.", examples=["PT"])
    country_name: str = Field(examples=["Portugal"])
    city: str | None = Field(default=None, description="Only where the configured database has cities.")

    @classmethod
    def of(cls, country: str | None, city: str | None) -> PlaceOut | None:
        return cls(country=country, country_name=geo.country_name(country), city=city) if country else None


class SecurityEventOut(BaseModel):
    id: str
    kind: str
    ip: str
    user_agent: str
    place: PlaceOut | None
    details: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, event: SecurityEvent) -> SecurityEventOut:
        return cls(
            id=event.id,
            kind=event.kind,
            ip=event.ip,
            user_agent=event.user_agent,
            place=PlaceOut.of(event.country, event.city),
            details=event.details,
            created_at=event.created_at,
        )
