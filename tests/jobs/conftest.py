"""Jobs tests run on both executors: worker threads inside the app ("local"), and a real `voxhub worker` process
(Celery) on a real Redis ("celery"), with real media made by ffmpeg. "parked" is Celery mode with no worker
listening: jobs stay queued until a test runs them itself (tests/fixtures/workers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.workers import STALE_AFTER_S, on_executor
from voxhub.config import Settings


@pytest.fixture(params=["local", "celery"])
def executor_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(settings: Settings, executor_kind: str, request: pytest.FixtureRequest) -> Settings:
    # One job at a time on either executor, so a long job keeps the next one queued.
    return on_executor(
        settings,
        executor_kind,
        request,
        job_stale_after_s=STALE_AFTER_S,
        workers=1,
        webhooks_allow_private=True,
    )


@pytest.fixture(autouse=True)
def _nothing_left_running(nothing_left_running: None) -> None:
    """No jobs test leaves a job queued or running for the next one."""


@pytest.fixture(scope="session")
def media(job_media: dict[str, Path]) -> dict[str, Path]:
    """The jobs' clips (tests/fixtures/media.py)."""
    return job_media
