"""HTTP route for the insights of a recording: summary, chapters, key phrases and action items."""

from __future__ import annotations

from fastapi import APIRouter

from voxhub.deps import DbSession, ViewerAccess
from voxhub.errors import responses
from voxhub.insights import service
from voxhub.insights.schemas import InsightsOut

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/jobs/{job_id}/insights", tags=["insights"])


@router.get("", summary="Insights of a recording", responses=responses(401, 403, 404, 409))
def get_insights(job_id: str, db: DbSession, access: ViewerAccess) -> InsightsOut:
    """By an insights job's id, or a transcription's (its newest insights); `stale` once the transcript was edited."""
    return service.get(db, workspace_id=access.workspace_id, job_id=job_id)
