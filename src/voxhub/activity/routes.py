"""HTTP route of the activity feed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from voxhub.activity import service
from voxhub.activity.schemas import ActivityOut
from voxhub.deps import DbSession, ViewerAccess
from voxhub.errors import responses
from voxhub.pagination import Cursor, Page

router = APIRouter(tags=["activity"])


@router.get(
    "/api/v1/workspaces/{workspace_id}/activity",
    summary="What happened in the workspace",
    responses=responses(401, 403, 404, 422),
)
def activity(
    db: DbSession, access: ViewerAccess, cursor: Cursor = None, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> Page[ActivityOut]:
    """The workspace's recent activity in words, newest first: only what the caller may read elsewhere."""
    entries, next_cursor = service.feed(db, access=access, cursor=cursor, limit=limit)
    return Page(items=[ActivityOut.of(entry) for entry in entries], next_cursor=next_cursor)
