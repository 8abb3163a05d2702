"""A job's time limit kept even when its pipeline stops answering: the pipeline runs in a thread of its own, and a
worker whose pipeline hangs (an engine call that never returns and never checks the clock) walks away from it."""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
from typing import Any

from voxhub.jobs.context import JobContext
from voxhub.jobs.registry import JobTimedOut

log = logging.getLogger("voxhub.jobs")

# How long past its deadline a pipeline gets to reach a checkpoint (pipelines check at least every 2 s) and stop
# by itself, cleaning up as it goes, before the worker leaves it behind.
HANG_GRACE_S = 5.0
WAIT_SLICE_S = 1.0


def run_within_deadline(context: JobContext, run: Callable[[], Any]) -> Any:
    """`run()`'s result (or its exception), run in a thread of its own with this thread's context variables.
    A pipeline still running `HANG_GRACE_S` after the job's deadline raises JobTimedOut here: the worker settles the
    job and goes on to its next one. The stuck thread ends whenever its call returns; the job is no longer its own by
    then, so whatever it tries to record is refused (JobContext.write_output) and its scratch dir is already gone."""
    outcome: dict[str, Any] = {}
    finished = threading.Event()
    variables = contextvars.copy_context()

    def pipeline() -> None:
        try:
            outcome["result"] = variables.run(run)
        except BaseException as error:  # handed to the worker's thread, which decides what it means
            outcome["error"] = error
        finally:
            finished.set()

    thread = threading.Thread(target=pipeline, name=f"pipeline-{context.job_id[:8]}", daemon=True)
    thread.start()
    while not finished.wait(max(0.05, min(WAIT_SLICE_S, context.seconds_left + HANG_GRACE_S))):
        if context.seconds_left + HANG_GRACE_S <= 0:
            log.error("job %s did not stop at its deadline; leaving its pipeline thread behind", context.job_id)
            raise JobTimedOut()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")
