"""Request and response bodies for outgoing webhooks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StrictBool, StringConstraints

from voxhub.fields import StoredUrl
from voxhub.notify.endpoints import EVENT_TYPES

# The schema lists the known event types; the service refuses others itself (422 naming them).
EventType = Annotated[str, StringConstraints(max_length=64), Field(json_schema_extra={"enum": list(EVENT_TYPES)})]


class WebhookIn(BaseModel):
    url: StoredUrl
    events: list[EventType] = Field(min_length=1, max_length=50, examples=[["job.succeeded", "job.failed"]])
    description: str = Field(default="", max_length=500)
    enabled: StrictBool = True


class WebhookPatch(BaseModel):
    url: StoredUrl | None = None
    events: list[EventType] | None = Field(default=None, min_length=1, max_length=50)
    description: str | None = Field(default=None, max_length=500)
    enabled: StrictBool | None = None


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(description="Standard Webhooks signing secret (whsec_…). Shown only now.")


class SecretOut(BaseModel):
    secret: str


class AttemptOut(BaseModel):
    number: int
    attempted_at: datetime
    status_code: int | None
    response_ms: int | None
    response_body: str | None
    error: str | None


class DeliveryOut(BaseModel):
    id: str
    event_type: str
    status: str = Field(description="pending, succeeded or failed")
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    created_at: datetime
    finished_at: datetime | None
    payload: dict[str, Any]
    attempt_log: list[AttemptOut]
