"""How periodic work runs: a thread inside `voxhub serve` when jobs run locally, Celery beat (`voxhub beat`) when they
run on Celery — never both. Each domain lists its own work in its `tasks.py`; `voxhub.tasks` gathers them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from voxhub.context import AppContext
from voxhub.db import Database

log = logging.getLogger("voxhub.periodic")


@dataclass(frozen=True)
class PeriodicTask:
    """Work a domain wants done every `every_s` seconds, in a transaction of its own; returns how much it did."""

    name: str
    every_s: int
    run: Callable[[Session, AppContext], int]


def run_once(database: Database, ctx: AppContext, tasks: tuple[PeriodicTask, ...]) -> dict[str, int]:
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

    def __init__(self, database: Database, ctx: AppContext, tasks: tuple[PeriodicTask, ...]) -> None:
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
