"""The Celery application: queues asr, tts, media and default on Redis; tasks carry only a job id."""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery
from kombu import Queue

from voxhub.config import Settings
from voxhub.jobs.registry import QUEUES

log = logging.getLogger("voxhub.jobs")

_state: dict[str, Any] = {}


def _worker_state() -> tuple[Any, Any, str]:
    """Database, AppContext and worker id of this worker process, made on first use (after fork)."""
    if _state.get("pid") != os.getpid():
        from voxhub.context import AppContext
        from voxhub.db import Database
        from voxhub.jobs.executors import CeleryExecutor
        from voxhub.jobs.runner import new_worker_id

        settings = Settings()
        ctx = AppContext.from_settings(settings)
        ctx.executor = CeleryExecutor(settings)
        _state.update(pid=os.getpid(), database=Database(settings), ctx=ctx, worker_id=new_worker_id("celery"))
    return _state["database"], _state["ctx"], _state["worker_id"]


def make_celery(settings: Settings) -> Celery:
    app = Celery("voxhub", broker=settings.queue_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,  # a job id is acknowledged once its run is over; a killed worker's job is redelivered
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue="default",
        task_queues=[Queue(name) for name in QUEUES],
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": 24 * 3600},
        worker_hijack_root_logger=False,
        beat_schedule=_beat_schedule(),
    )

    @app.task(name="voxhub.run_job")
    def run_job_task(job_id: str) -> str | None:
        from voxhub.jobs.runner import run_job

        database, ctx, worker_id = _worker_state()
        return run_job(database, ctx, job_id, worker_id)

    @app.task(name="voxhub.periodic")
    def periodic_task(name: str) -> int:
        from voxhub.periodic import TASKS

        database, ctx, _ = _worker_state()
        task = next(t for t in TASKS if t.name == name)
        with database.session() as db:
            return task.run(db, ctx)

    return app


def _beat_schedule() -> dict[str, Any]:
    from voxhub.periodic import TASKS

    return {
        task.name: {
            "task": "voxhub.periodic",
            "schedule": float(task.every_s),
            "args": [task.name],
            "options": {"queue": "default"},
        }
        for task in TASKS
    }


def celery_for_cli() -> Celery:
    settings = Settings()
    if not settings.queue_url:
        raise SystemExit("Set VOXHUB_QUEUE_URL=redis://… to run Celery workers; without it voxhub serve runs jobs.")
    return make_celery(settings)
