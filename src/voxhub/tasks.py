"""Every domain's periodic work in one list: what `voxhub serve` runs in a thread and `voxhub beat` schedules."""

from __future__ import annotations

from voxhub.billing import tasks as billing
from voxhub.files import tasks as files
from voxhub.jobs import tasks as jobs
from voxhub.notify import tasks as notify
from voxhub.periodic import PeriodicTask
from voxhub.search import tasks as search

PERIODIC_TASKS: tuple[PeriodicTask, ...] = (
    *jobs.PERIODIC,
    *notify.PERIODIC,
    *files.PERIODIC,
    *billing.PERIODIC,
    *search.PERIODIC,
)
