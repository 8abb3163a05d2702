"""Response bodies of the activity feed."""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import BaseModel, Field

from voxhub.activity.service import ActivityEntry


class ActorKind(enum.StrEnum):
    USER = "user"
    API_KEY = "api_key"
    SYSTEM = "system"


class ActivityActor(BaseModel):
    kind: ActorKind = Field(description="A person, an API key, or voxhub itself (a job finishing, a file expiring).")
    id: str | None
    name: str | None = Field(description="The person's name or the key's name, as it is now.")


class ActivityOut(BaseModel):
    id: str
    created_at: datetime
    text: str = Field(description='What happened, in words: "Ana uploaded interview.mp3".')
    action: str = Field(description="The audit log's action, for programs: `file.uploaded`.")
    actor: ActivityActor
    target_type: str | None
    target_id: str | None

    @classmethod
    def of(cls, entry: ActivityEntry) -> ActivityOut:
        event = entry.event
        if event.actor_user_id:
            actor = ActivityActor(kind=ActorKind.USER, id=event.actor_user_id, name=entry.actor_name)
        elif event.actor_api_key_id:
            actor = ActivityActor(kind=ActorKind.API_KEY, id=event.actor_api_key_id, name=entry.actor_name)
        else:
            actor = ActivityActor(kind=ActorKind.SYSTEM, id=None, name=None)
        return cls(
            id=event.id,
            created_at=event.created_at,
            text=entry.text,
            action=event.action,
            actor=actor,
            target_type=event.target_type,
            target_id=event.target_id,
        )
