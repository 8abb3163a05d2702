"""The files room's periodic work: upload expiry, retention, and the daily reading of stored bytes for billing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from voxhub.billing import service as billing
from voxhub.context import AppContext
from voxhub.files import service
from voxhub.periodic import PeriodicTask


def record_storage_usage(db: Session, ctx: AppContext, now: datetime | None = None) -> int:
    """Each workspace's stored bytes as today's reading of billing's `storage_bytes` meter."""
    return billing.record_storage(db, stored_bytes=service.stored_bytes_by_workspace(db), now=now)


PERIODIC = (
    PeriodicTask("expire_uploads", 600, lambda db, ctx: service.expire_uploads(db, ctx=ctx)),
    PeriodicTask("delete_expired_files", 3600, lambda db, ctx: service.delete_expired_files(db, ctx=ctx)),
    PeriodicTask("record_storage_usage", 3600, record_storage_usage),
)
