"""An engine that hangs: a remote speech engine that takes the request and never answers (its own HTTP timeout is
minutes away). The job's timeout fires all the same, what it held is released, and the same worker goes on to run
the next job."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import People
from tests.faults.conftest import GRANTED, account, settled_once
from tests.jobs_helpers import attempts_of, convert_body, jobs_url, output_files, run_job, upload
from voxhub.config import Settings

TIMEOUT_S = 2


@pytest.fixture
def silent_engine() -> Iterator[str]:
    """A server that accepts connections and never answers: the kernel completes the handshake, nobody reads."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"


@pytest.fixture
def settings(settings: Settings, silent_engine: str) -> Settings:
    return settings.model_copy(
        update={
            "workers": 1,  # one worker thread: the next job runs only if the hung one let it go
            "queue_url": None,
            "asr_engine": "remote",
            "remote_asr_url": silent_engine,
            "remote_api_key": "sk-test",
            "remote_timeout_s": 600.0,
            "job_timeouts": {"transcribe": TIMEOUT_S},
        }
    )


def test_a_hung_engine_times_out_and_the_worker_runs_the_next_job(
    client: TestClient, people: People, media: dict[str, Path], nothing_left_running: None
) -> None:
    owner = people.create()
    people.grant(owner.workspace_id, GRANTED)
    source = upload(client, owner, media["tone.wav"])

    hung = run_job(client, owner, {"type": "transcribe", "input": {"file_id": source}}, timeout=120)
    after = run_job(client, owner, convert_body(source, format="wav"), timeout=120)

    assert hung["status"] == "failed", hung
    assert hung["error"]["code"] == "timeout", hung["error"]
    assert f"{TIMEOUT_S} s" in hung["error"]["message"]
    assert [a["outcome"] for a in attempts_of(client, owner, hung["id"])] == ["failed"]  # a timeout is not retried
    assert hung["outputs"] == []
    assert after["status"] == "succeeded", after  # the worker thread was not lost to the hung call
    assert [f["id"] for f in output_files(client, owner)] == after["outputs"]
    credits = account(client, owner)
    assert credits["held"] == 0
    assert all(not allowance["held"] for allowance in credits["allowances"].values()), credits["allowances"]
    settled_once(client, owner, [after])
    listed = client.get(jobs_url(owner), headers=owner.headers)
    assert listed.status_code == 200
