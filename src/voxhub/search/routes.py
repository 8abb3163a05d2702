"""HTTP routes for searching a workspace's recordings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from voxhub.deps import Ctx, DbSession, ViewerAccess
from voxhub.errors import responses
from voxhub.search import service
from voxhub.search.schemas import SearchPage, SearchStatus
from voxhub.search.service import Filters, Mode

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/search", tags=["search"])


@router.get("", summary="Search recordings", responses=responses(401, 403, 404, 422))
def search(
    db: DbSession,
    ctx: Ctx,
    access: ViewerAccess,
    q: Annotated[str, Query(min_length=1, max_length=500, description="Words or a question.")],
    mode: Mode = "hybrid",
    file_id: Annotated[str | None, Query(max_length=36)] = None,
    job_id: Annotated[str | None, Query(max_length=36)] = None,
    speaker: Annotated[str | None, Query(max_length=100, description="A speaker's label or name.")] = None,
    language: Annotated[str | None, Query(max_length=16)] = None,
    from_: Annotated[float | None, Query(alias="from", ge=0, le=1e7, description="Seconds into a recording.")] = None,
    to: Annotated[float | None, Query(ge=0, le=1e7, description="Seconds into a recording.")] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> SearchPage:
    """Passages of the workspace's transcripts, best first: by words, by meaning, or both fused (`hybrid`)."""
    filters = Filters(
        file_ids=[file_id] if file_id else [],
        job_ids=[job_id] if job_id else [],
        speaker=speaker,
        language=language,
        start=from_,
        end=to,
    )
    return service.search(db, ctx, access=access, q=q, mode=mode, filters=filters, limit=limit, cursor=cursor)


@router.get("/status", summary="The search index's state", responses=responses(401, 403, 404))
def search_status(db: DbSession, ctx: Ctx, access: ViewerAccess) -> SearchStatus:
    """How many transcripts are indexed and how many wait (new, edited, or to be embedded by a new model)."""
    return service.status(db, ctx, workspace_id=access.workspace_id)
