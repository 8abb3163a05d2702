"""The notify room's periodic work."""

from __future__ import annotations

from voxhub.notify import delivery
from voxhub.periodic import PeriodicTask

PERIODIC = (PeriodicTask("deliver_webhooks", 5, lambda db, ctx: delivery.deliver_due(db, ctx=ctx)),)
