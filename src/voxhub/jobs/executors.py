"""Executors decide where jobs run: threads inside `voxhub serve` (local), or Celery workers on Redis. This room only
sends job ids to Celery; the task bodies that run them live in `voxhub.worker`."""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from celery import Celery
from kombu import Queue
from sqlalchemy.exc import SQLAlchemyError

from voxhub.config import Settings
from voxhub.context import AppContext
from voxhub.db import Database
from voxhub.jobs import service
from voxhub.jobs.registry import QUEUES
from voxhub.jobs.runner import new_worker_id, run_job

log = logging.getLogger("voxhub.jobs")

POLL_S = 1.0
RUN_JOB_TASK = "voxhub.run_job"
# A broker that is down is given about a second, not Celery's default of several: a request waits on it.
SEND_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.25, "interval_max": 0.5}


class Executor(Protocol):
    def enqueue(self, job_id: str, queue: str, *, delay_s: float = 0) -> None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


class LocalExecutor:
    """Worker threads that take queued jobs straight from the database (the queue is the jobs table).

    `enqueue` only wakes them; a restart finds queued jobs where they were, and requeues the ones that were running.
    `stop` hands running jobs back to the queue at their next checkpoint, so a restart resumes them.
    """

    def __init__(self, database: Database, ctx: AppContext, workers: int) -> None:
        self.database = database
        self.ctx = ctx
        self.workers = max(1, workers)
        self._wake = threading.Condition()
        self._pending = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def enqueue(self, job_id: str, queue: str, *, delay_s: float = 0) -> None:
        with self._wake:
            self._pending += 1
            self._wake.notify()

    def start(self) -> None:
        try:
            with self.database.session() as db:
                requeued = service.requeue_running_on_start(db, ctx=self.ctx)
        except SQLAlchemyError:
            # An unmigrated database: /readyz says so; the workers start anyway and pick up jobs once it is.
            log.warning("could not requeue interrupted jobs; is the database migrated?", exc_info=True)
            requeued = 0
        if requeued:
            log.info("requeued %d job(s) that were running when voxhub stopped", requeued)
        for number in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"voxhub-worker-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout=30)

    def _work(self) -> None:
        worker_id = new_worker_id("local")
        while not self._stop.is_set():
            ran = False
            try:
                with self.database.session() as db:
                    candidates = service.next_claimable(db)
                for job_id in candidates:
                    if self._stop.is_set():
                        return
                    if run_job(self.database, self.ctx, job_id, worker_id, stopping=self._stop) is not None:
                        ran = True
                        break
            except Exception:
                log.exception("local worker loop failed; continuing")
            if not ran:
                with self._wake:
                    if self._pending == 0:
                        self._wake.wait(POLL_S)
                    self._pending = max(0, self._pending - 1)


def make_celery(settings: Settings) -> Celery:
    """The Celery app as both sides see it: queues asr, tts, media and default on Redis; tasks carry only a job id."""
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
    )
    return app


class CeleryExecutor:
    """Sends job ids to Celery queues on Redis; `voxhub worker` processes run them."""

    def __init__(self, settings: Settings, celery: Celery | None = None) -> None:
        self.celery = celery or make_celery(settings)

    def enqueue(self, job_id: str, queue: str, *, delay_s: float = 0) -> None:
        """Send the job id; when the broker cannot take it, log and go on: the job's row is committed and queued,
        and `resend_queued` sends it again. A request that accepted a job must not fail because Redis is down."""
        try:
            self.celery.send_task(
                RUN_JOB_TASK, args=[job_id], queue=queue, countdown=delay_s or None, retry_policy=SEND_RETRY
            )
        except Exception:
            log.warning("could not send job %s to queue %s; it will be sent again", job_id, queue, exc_info=True)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


def make_executor(settings: Settings, database: Database, ctx: AppContext) -> Executor:
    if settings.queue_url:
        return CeleryExecutor(settings)
    return LocalExecutor(database, ctx, settings.resolved_workers)
