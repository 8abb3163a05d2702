"""The billing room's periodic work."""

from __future__ import annotations

from voxhub.billing import eway, payments, service
from voxhub.periodic import PeriodicTask

PERIODIC = (
    PeriodicTask("roll_billing_periods", 300, lambda db, ctx: service.roll_periods(db, ctx=ctx)),
    PeriodicTask("process_billing_events", 60, lambda db, ctx: payments.process_pending(db, ctx=ctx)),
    PeriodicTask("charge_eway_renewals", 300, lambda db, ctx: eway.charge_renewals(db, ctx=ctx)),
    PeriodicTask("release_stale_sync_charges", 600, lambda db, ctx: service.release_stale_sync_charges(db, ctx=ctx)),
)
