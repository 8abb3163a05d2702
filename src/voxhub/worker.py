"""The distributed entry point: the Celery app that `voxhub worker` and `voxhub beat` run, with its task bodies, the
beat schedule, and the state each worker process makes once (after the fork)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from celery import Celery

from voxhub.config import Settings
from voxhub.context import AppContext
from voxhub.db import Database
from voxhub.jobs.executors import RUN_JOB_TASK, CeleryExecutor, make_celery
from voxhub.jobs.runner import new_worker_id, run_job
from voxhub.pipelines import register_all
from voxhub.tasks import PERIODIC_TASKS
from voxhub.telemetry import configure as configure_telemetry

PERIODIC_TASK = "voxhub.periodic"


@dataclass(frozen=True)
class WorkerState:
    pid: int
    database: Database
    ctx: AppContext
    worker_id: str


_state: WorkerState | None = None


def worker_state() -> WorkerState:
    """Database, AppContext and worker id of this worker process, made on first use (after fork)."""
    global _state
    if _state is None or _state.pid != os.getpid():
        settings = Settings()
        configure_telemetry(settings, process="worker")  # after the fork: the exporter's thread is this process's
        register_all()
        ctx = AppContext.from_settings(settings)
        ctx.queue = CeleryExecutor(settings)
        _state = WorkerState(os.getpid(), Database(settings), ctx, new_worker_id("celery"))
    return _state


def make_worker_celery(settings: Settings) -> Celery:
    """The Celery app with voxhub's task bodies and every domain's periodic work on the beat schedule."""
    app = make_celery(settings)
    app.conf.beat_schedule = {
        task.name: {
            "task": PERIODIC_TASK,
            "schedule": float(task.every_s),
            "args": [task.name],
            "options": {"queue": "default"},
        }
        for task in PERIODIC_TASKS
    }

    @app.task(name=RUN_JOB_TASK)
    def run_job_task(job_id: str) -> str | None:
        state = worker_state()
        return run_job(state.database, state.ctx, job_id, state.worker_id)

    @app.task(name=PERIODIC_TASK)
    def periodic_task(name: str) -> int:
        state = worker_state()
        task = next(t for t in PERIODIC_TASKS if t.name == name)
        with state.database.session() as db:
            return task.run(db, state.ctx)

    return app


def celery_for_cli() -> Celery:
    settings = Settings()
    if not settings.queue_url:
        raise SystemExit("Set VOXHUB_QUEUE_URL=redis://… to run Celery workers; without it voxhub serve runs jobs.")
    return make_worker_celery(settings)
