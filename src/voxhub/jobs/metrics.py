"""Job metrics: durations and outcomes observed where jobs run, states and queue depth read from the database."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from voxhub.clock import as_utc, utcnow
from voxhub.db import Database
from voxhub.jobs.models import Job, JobStatus
from voxhub.jobs.registry import QUEUES
from voxhub.observability import PROCESS_REGISTRY

log = logging.getLogger("voxhub.metrics")

REGISTRY = PROCESS_REGISTRY
_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
JOB_DURATION = Histogram(
    "voxhub_job_duration_seconds", "Time jobs spent running, by type.", ["type"], registry=REGISTRY, buckets=_BUCKETS
)
JOB_WAIT = Histogram(
    "voxhub_job_wait_seconds",
    "Time jobs waited in the queue before running, by type.",
    ["type"],
    registry=REGISTRY,
    buckets=_BUCKETS,
)
JOBS_FINISHED = Counter(
    "voxhub_jobs_finished_total", "Job attempts that ended, by type and outcome.", ["type", "status"], registry=REGISTRY
)


def observe_finished(job_type: str, status: str | None, elapsed_s: float) -> None:
    JOB_DURATION.labels(job_type).observe(elapsed_s)
    JOBS_FINISHED.labels(job_type, status or "lost").inc()


def observe_started(job_type: str, wait_s: float) -> None:
    JOB_WAIT.labels(job_type).observe(max(0.0, wait_s))


class JobStateCollector(Collector):
    """Jobs by type and state, and queue depth, read from the database at scrape time (true across workers)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterator[GaugeMetricFamily]:
        by_state = GaugeMetricFamily("voxhub_jobs", "Jobs by type and state.", labels=["type", "state"])
        depth = GaugeMetricFamily("voxhub_queue_depth", "Queued jobs per queue.", labels=["queue"])
        oldest = GaugeMetricFamily(
            "voxhub_queue_oldest_seconds", "Age of the oldest queued job per queue.", labels=["queue"]
        )
        try:
            self._read(by_state, depth, oldest)
        except SQLAlchemyError:
            log.warning("job metrics unavailable: the database cannot be read", exc_info=True)
            return
        yield by_state
        yield depth
        yield oldest

    def _read(self, by_state: GaugeMetricFamily, depth: GaugeMetricFamily, oldest: GaugeMetricFamily) -> None:
        with self.database.session() as db:
            for job_type, state, count in db.execute(
                select(Job.type, Job.status, func.count())
                .where(Job.deleted_at.is_(None))
                .group_by(Job.type, Job.status)
            ):
                by_state.add_metric([job_type, state], count)
            now = utcnow()
            # An idle queue reads 0 rather than disappearing from the scrape.
            queued: dict[str, tuple[int, datetime | None]] = {queue: (0, None) for queue in QUEUES}
            for queue, count, first in db.execute(
                select(Job.queue, func.count(), func.min(Job.queued_at))
                .where(Job.status == JobStatus.QUEUED.value)
                .group_by(Job.queue)
            ):
                queued[queue] = (count, first)
        for queue, (count, since) in queued.items():
            depth.add_metric([queue], count)
            oldest.add_metric([queue], (now - as_utc(since)).total_seconds() if since else 0)
