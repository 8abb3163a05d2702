"""The jobs room's periodic work."""

from __future__ import annotations

from voxhub.jobs import service
from voxhub.periodic import PeriodicTask

PERIODIC = (
    PeriodicTask("reap_stale_jobs", 15, lambda db, ctx: service.reap_stale(db, ctx=ctx)),
    PeriodicTask("resend_queued_jobs", 60, lambda db, ctx: service.resend_queued(db, ctx=ctx)),
)
