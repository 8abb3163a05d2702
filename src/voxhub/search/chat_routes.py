"""HTTP routes for conversations over a workspace's recordings."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/conversations", tags=["search"])
