"""A worker whose disk is full: the job's scratch dir sits on a tmpfs too small for its output, so ffmpeg meets
ENOSPC for real. The job fails with `worker_disk_full`, leaves no output and no scratch behind, and its credits are
released."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import People
from tests.faults.conftest import GRANTED, settled_once
from tests.jobs_helpers import output_files, run_job, start, upload, wait_for_job
from voxhub.config import Settings

TMPFS_BYTES = 2 * 1024 * 1024  # medium.flac as WAV is about 8 MB


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"workers": 1, "queue_url": None, "job_max_attempts": 1})


@pytest.fixture
def small_scratch_disk(settings: Settings) -> Iterator[Path]:
    """The worker's scratch dir on a 2 MB tmpfs (needs root or CAP_SYS_ADMIN, as the test machines have)."""
    scratch = Path(settings.data_dir) / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(scratch)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here to fill a disk for real: {mounted.stderr.strip()}")
    try:
        yield scratch
    finally:
        subprocess.run(["umount", "--lazy", str(scratch)], capture_output=True)


def test_a_job_on_a_full_disk_fails_clearly_and_leaves_nothing_behind(
    client: TestClient, people: People, media: dict[str, Path], small_scratch_disk: Path, nothing_left_running: None
) -> None:
    owner = people.create()
    people.grant(owner.workspace_id, GRANTED)
    source = upload(client, owner, media["medium.flac"])

    job = wait_for_job(client, owner, start(client, owner, source, format="wav")["id"], timeout=120)
    small = run_job(client, owner, {"type": "media.convert", "input": {"file_id": source}, "params": {"format": "mp3"}})

    assert job["status"] == "failed", job
    assert job["error"]["code"] == "worker_disk_full", job["error"]
    assert "disk is full" in job["error"]["message"]
    assert job["outputs"] == []
    assert list(small_scratch_disk.iterdir()) == []  # the attempt's scratch dir went with it
    # The disk had room again at once: a job whose output fits ran next.
    assert small["status"] == "succeeded", small
    assert [f["id"] for f in output_files(client, owner)] == small["outputs"]
    settled_once(client, owner, [job, small])
