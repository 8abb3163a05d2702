"""JobContext: what every pipeline gets — progress, cancellation, inputs, outputs, a scratch dir and a logger."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select, update

from voxhub.context import AppContext
from voxhub.db import Database, affected
from voxhub.files import service as files
from voxhub.files.models import File, FileStatus
from voxhub.jobs import events
from voxhub.jobs.models import EventKind, Job, JobStatus
from voxhub.jobs.registry import JobCanceled, JobTimedOut, PipelineError, WorkerStopping
from voxhub.media.probe import MediaInfo
from voxhub.telemetry import stage_begins

PROGRESS_EVERY_S = 0.5  # at most two progress writes a second per job
CANCEL_CHECK_EVERY_S = 0.5
# A disk with less room than this left is full for a job's purposes: no media file of note fits in it.
DISK_FULL_BELOW_BYTES = 1024 * 1024
DISK_FULL_MESSAGE = "The worker's disk is full; the job's files were removed. It runs again where there is room."


class _EventHandler(logging.Handler):
    """Turns a job's log lines into events its watchers see."""

    def __init__(self, context: JobContext) -> None:
        super().__init__(level=logging.INFO)
        self.context = context

    def emit(self, record: logging.LogRecord) -> None:
        try:
            with self.context.database.session() as db:
                events.emit(
                    db,
                    job_id=self.context.job_id,
                    kind=EventKind.LOG,
                    data={"level": record.levelname.lower(), "message": record.getMessage()},
                )
        except Exception:  # a log line must never break the job
            self.handleError(record)


@dataclass(frozen=True)
class InputFile:
    """What a pipeline knows of its input file before opening it."""

    id: str
    filename: str
    duration_s: float
    storage_key: str

    @property
    def stem(self) -> str:
        return self.filename.rsplit(".", 1)[0] or "output"


class JobContext:
    def __init__(
        self,
        *,
        database: Database,
        app: AppContext,
        job: Job,
        worker_id: str,
        scratch_root: Path,
        stopping: threading.Event | None = None,
    ) -> None:
        self.database = database
        self.stopping = stopping  # set when the process running the job shuts down
        self.app = app
        self.job_id = job.id
        self.workspace_id = job.workspace_id
        self.worker_id = worker_id
        self.attempt = job.attempts
        self.deadline = time.monotonic() + job.timeout_s
        self.scratch = scratch_root / f"{job.id}-{job.attempts}"
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.logger = logging.getLogger(f"voxhub.job.{job.id}")
        self.logger.propagate = True
        self._handler = _EventHandler(self)
        self.logger.addHandler(self._handler)
        self.logger.setLevel(logging.INFO)
        self._last_progress = 0.0
        self._last_stage: str | None = None
        self._last_check = 0.0
        self.outputs: list[str] = []

    # ---- progress and cancellation ----

    def progress(self, pct: float, stage: str | None = None, message: str | None = None) -> None:
        """Report progress (0 to 100). Writes are throttled; a new stage is always written."""
        now = time.monotonic()
        stage_changed = stage is not None and stage != self._last_stage
        if not stage_changed and pct < 100 and now - self._last_progress < PROGRESS_EVERY_S:
            return
        self._last_progress = now
        self._last_stage = stage or self._last_stage
        if stage_changed and stage is not None:
            stage_begins(stage)  # a trace span per stage, when telemetry is on
        pct = max(0.0, min(100.0, round(pct, 1)))
        self._check_clock()
        values: dict[str, Any] = {"progress": pct}
        if stage is not None:
            values["stage"] = stage
        if message is not None:
            values["message"] = message[:500]
        # One statement writes the progress and finds out whether the job is still ours to run: it changes no row
        # once the job was canceled or taken over by another worker.
        still_ours = (
            update(Job)
            .where(
                Job.id == self.job_id,
                Job.worker_id == self.worker_id,
                Job.status == JobStatus.RUNNING.value,
                Job.cancel_requested_at.is_(None),
            )
            .values(**values)
        )
        with self.database.session() as db:
            if not affected(db, still_ours):
                raise JobCanceled()
            events.emit(
                db,
                job_id=self.job_id,
                kind=EventKind.STAGE if stage_changed else EventKind.PROGRESS,
                data={"progress": pct, "stage": self._last_stage, "message": message},
            )
        self._last_check = now

    def check_canceled(self, *, force: bool = False) -> None:
        """Raise JobCanceled if the job was canceled (or taken over), JobTimedOut past its timeout, WorkerStopping
        when this process shuts down. Pipelines call this at least every 2 s of work; it reads the database at most
        twice a second."""
        now = self._check_clock()
        if not force and now - self._last_check < CANCEL_CHECK_EVERY_S:
            return
        self._last_check = now
        with self.database.session() as db:
            row = db.execute(
                select(Job.status, Job.worker_id, Job.cancel_requested_at).where(Job.id == self.job_id)
            ).one()
        status, worker_id, cancel_requested_at = row
        if cancel_requested_at is not None or status != JobStatus.RUNNING.value or worker_id != self.worker_id:
            raise JobCanceled()

    def _check_clock(self) -> float:
        """Raise past the deadline or when this process stops; returns the monotonic time."""
        now = time.monotonic()
        if now > self.deadline:
            raise JobTimedOut()
        if self.stopping is not None and self.stopping.is_set():
            raise WorkerStopping()
        return now

    @property
    def seconds_left(self) -> float:
        return self.deadline - time.monotonic()

    # ---- inputs and outputs ----

    def input_file(self, file_id: str) -> InputFile:
        """The facts of an input file: a ready file of this job's workspace, else the job fails."""
        with self.database.session() as db:
            file = db.scalar(
                select(File).where(
                    File.id == file_id, File.workspace_id == self.workspace_id, File.status == FileStatus.READY
                )
            )
            if file is None:
                raise PipelineError("input_not_found", f"Input file {file_id} is not a ready file of this workspace.")
            duration = float((file.media or {}).get("duration_s") or 0.0)
            return InputFile(id=file.id, filename=file.filename, duration_s=duration, storage_key=file.storage_key)

    def open_input(self, file_id: str) -> Path:
        """A path on this machine holding the input file's bytes (downloaded to scratch from a remote store)."""
        facts = self.input_file(file_id)
        key, name = facts.storage_key, facts.filename
        local = self.app.store.local_path(key)
        if local is not None:
            return local
        target = self.scratch / "inputs" / file_id
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as handle:
            for chunk in self.app.store.open(key):
                handle.write(chunk)
        self.logger.info("downloaded input %s (%s)", file_id, name)
        return target

    def write_output(
        self, name: str, stream: BinaryIO | Path, content_type: str, *, known: MediaInfo | None = None
    ) -> File:
        """Store an output file and learn its facts (probed unless `known`) outside any transaction, then attach it
        to the job in one short one (it is removed again if the job is canceled)."""
        stored = files.put_output(
            self.app, workspace_id=self.workspace_id, filename=name, source=stream, content_type=content_type,
            known=known,
        )  # fmt: skip
        try:
            with self.database.session() as db:
                # Locked, and still this worker's running job: a job settled meanwhile (canceled, timed out while its
                # pipeline hung, taken over) gets no output from this attempt.
                job = db.scalar(select(Job).where(Job.id == self.job_id).with_for_update())
                if job is None or job.status != JobStatus.RUNNING.value or job.worker_id != self.worker_id:
                    raise JobCanceled()
                file = files.record_output(db, stored=stored, job_id=self.job_id)
                job.outputs = [*job.outputs, file.id]
                db.expunge(file)
        except BaseException:
            files.discard_output(self.app, stored=stored)
            raise
        self.outputs.append(file.id)
        return file

    def disk_full(self) -> bool:
        """Whether the disk holding this job's scratch dir is full (or as good as): a failed job's likely cause."""
        try:
            return shutil.disk_usage(self.scratch).free < DISK_FULL_BELOW_BYTES
        except OSError:
            return False

    def close(self) -> None:
        self.logger.removeHandler(self._handler)
        shutil.rmtree(self.scratch, ignore_errors=True)
