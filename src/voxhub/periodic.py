"""Periodic work (stale-job reaper, webhook deliveries, upload expiry, retention): a thread inside `voxhub serve`
when jobs run locally, Celery beat (`voxhub beat`) when they run on Celery — never both."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from voxhub.billing import payments
from voxhub.billing import service as billing
from voxhub.context import AppContext
from voxhub.db import Database
from voxhub.files import service as files
from voxhub.jobs import service as jobs
from voxhub.notify import webhooks

log = logging.getLogger("voxhub.periodic")


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    every_s: int
    run: Callable[[Session, AppContext], int]


TASKS = (
    PeriodicTask("reap_stale_jobs", 15, lambda db, ctx: jobs.reap_stale(db, ctx=ctx)),
    PeriodicTask("deliver_webhooks", 5, lambda db, ctx: webhooks.deliver_due(db, ctx=ctx)),
    PeriodicTask("expire_uploads", 600, lambda db, ctx: files.expire_uploads(db, ctx=ctx)),
    PeriodicTask("delete_expired_files", 3600, lambda db, ctx: files.delete_expired_files(db, ctx=ctx)),
    PeriodicTask("roll_billing_periods", 300, lambda db, ctx: billing.roll_periods(db, ctx=ctx)),
    PeriodicTask("process_billing_events", 60, lambda db, ctx: payments.process_pending(db, ctx=ctx)),
    PeriodicTask("release_stale_sync_charges", 600, lambda db, ctx: billing.release_stale_sync_charges(db, ctx=ctx)),
    PeriodicTask("record_storage_usage", 3600, lambda db, ctx: billing.record_storage(db)),
)


def run_once(database: Database, ctx: AppContext, tasks: tuple[PeriodicTask, ...] = TASKS) -> dict[str, int]:
    """Run every task once, each in its own transaction; one failing does not stop the others."""
    results: dict[str, int] = {}
    for task in tasks:
        try:
            with database.session() as db:
                results[task.name] = task.run(db, ctx)
        except Exception:
            log.exception("periodic task %s failed", task.name)
            results[task.name] = -1
    return results


class PeriodicRunner:
    """A daemon thread that runs each task at its interval until stopped."""

    def __init__(self, database: Database, ctx: AppContext, tasks: tuple[PeriodicTask, ...] = TASKS) -> None:
        self.database = database
        self.ctx = ctx
        self.tasks = tasks
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="voxhub-periodic", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        elapsed = 0
        tick = 5
        while not self._stop.wait(tick if elapsed else 1):
            due = tuple(task for task in self.tasks if elapsed % task.every_s < tick)
            if due:
                results = run_once(self.database, self.ctx, due)
                if any(results.values()):
                    log.info("periodic work done: %s", results)
            elapsed += tick
