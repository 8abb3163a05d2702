"""The baseline for bench/api.py: a bare FastAPI app answering voxhub's JSON with no auth, no database, no middleware.

It serves the bodies voxhub returned for the benchmark user (read from the file named by BENCH_BODIES), through
voxhub's own response models, so both servers serialise exactly the same JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from fastapi import FastAPI

from voxhub.accounts.schemas import UserOut
from voxhub.pagination import Page
from voxhub.workspaces.schemas import WorkspaceOut

_bodies = json.loads(Path(os.environ["BENCH_BODIES"]).read_text())
ME = UserOut.model_validate(_bodies["/api/v1/me"])
WORKSPACES = Page[WorkspaceOut].model_validate(_bodies["/api/v1/workspaces"])

app = FastAPI(title="bare baseline")


@app.get("/api/v1/me")
async def get_me() -> UserOut:
    """The benchmark user, as voxhub returns it."""
    return ME


@app.get("/api/v1/workspaces")
async def list_workspaces() -> Page[WorkspaceOut]:
    """The benchmark user's workspaces, as voxhub returns them."""
    return WORKSPACES
