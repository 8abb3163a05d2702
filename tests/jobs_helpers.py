"""The jobs API as a client uses it: create a job, wait for it with a deadline, read what it made and what it said."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Person
from tests.storage.stores import call_link
from voxhub.config import Settings

FINAL = ("succeeded", "failed", "canceled")
POLL_EVERY_S = 0.05


def jobs_url(person: Person, workspace_id: str | None = None) -> str:
    return f"/api/v1/workspaces/{workspace_id or person.workspace_id}/jobs"


def job_url(person: Person, job_id: str, workspace_id: str | None = None) -> str:
    return f"{jobs_url(person, workspace_id)}/{job_id}"


def get_job(client: httpx.Client, person: Person, job_id: str) -> dict[str, Any]:
    answer = client.get(job_url(person, job_id), headers=person.headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def is_final(job: dict[str, Any]) -> bool:
    """The job is over: succeeded, failed or canceled."""
    return job["status"] in FINAL


def converting(job: dict[str, Any]) -> bool:
    """ffmpeg is at work on the job."""
    return job["status"] == "running" and job["stage"] == "converting"


def wait_for_job(
    client: httpx.Client,
    person: Person,
    job_id: str,
    until: Callable[[dict[str, Any]], bool] = is_final,
    *,
    timeout: float = 60.0,
    what: str = "",
) -> dict[str, Any]:
    """Poll GET …/jobs/{id} as `person` until `until(job)` (by default: the job is over); the job as it was then.
    Fails after `timeout` seconds, saying what it waited for and the job's last state."""
    deadline = time.monotonic() + timeout
    while True:
        job = get_job(client, person, job_id)
        if until(job):
            return job
        if time.monotonic() > deadline:
            wanted = what or ("the job to be over" if until is is_final else getattr(until, "__name__", "until"))
            raise AssertionError(
                f"timed out after {timeout}s waiting for {wanted}: job {job_id} is {job['status']} "
                f"at stage {job.get('stage')!r}; its last state: {job}"
            )
        time.sleep(POLL_EVERY_S)


def wait_until_converting(client: httpx.Client, person: Person, job_id: str) -> dict[str, Any]:
    return wait_for_job(client, person, job_id, converting, timeout=60, what="the job to be converting")


def run_job(client: httpx.Client, person: Person, body: dict[str, Any], *, timeout: float = 60.0) -> dict[str, Any]:
    """POST a job (it must be accepted: 202) and wait until it is over; the job as it ended."""
    answer = client.post(jobs_url(person), headers=person.headers, json=body)
    assert answer.status_code == 202, answer.text
    return wait_for_job(client, person, answer.json()["id"], timeout=timeout)


def upload(client: httpx.Client, person: Person, path: Path) -> str:
    """Upload a file in one request; its id once it is ready."""
    with path.open("rb") as handle:
        answer = client.post(
            f"/api/v1/workspaces/{person.workspace_id}/files",
            headers=person.headers,
            files={"file": (path.name, handle, "application/octet-stream")},
        )
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "ready", answer.json()
    return str(answer.json()["id"])


def convert_body(file_id: str, **params: Any) -> dict[str, Any]:
    return {"type": "media.convert", "input": {"file_id": file_id}, "params": params}


def start(client: httpx.Client, person: Person, file_id: str, **params: Any) -> dict[str, Any]:
    """POST a media.convert job; it must be accepted (202)."""
    answer = client.post(jobs_url(person), headers=person.headers, json=convert_body(file_id, **params))
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


def attempts_of(client: httpx.Client, person: Person, job_id: str) -> list[dict[str, Any]]:
    answer = client.get(f"{job_url(person, job_id)}/attempts", headers=person.headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def output_files(client: httpx.Client, person: Person) -> list[dict[str, Any]]:
    """The workspace's files of kind `output`, as the files API lists them."""
    answer = client.get(
        f"/api/v1/workspaces/{person.workspace_id}/files", headers=person.headers, params={"kind": "output"}
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def download(client: httpx.Client, person: Person, settings: Settings, file_id: str, target: Path) -> Path:
    """Follow the download link as a user would, and keep the bytes in `target`."""
    link = client.get(
        f"/api/v1/workspaces/{person.workspace_id}/files/{file_id}/download",
        headers=person.headers,
        follow_redirects=False,
    )
    assert link.status_code == 302, link.text
    served = call_link(client, settings, "GET", link.headers["location"])
    assert served.status_code == 200, served.text
    target.write_bytes(served.content)
    return target


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    data: dict[str, Any]


def read_events(
    client: httpx.Client,
    person: Person,
    job_id: str,
    *,
    last_event_id: int | None = None,
    url: str | None = None,
    timeout: float = 90.0,
) -> list[Event]:
    """Read the job's SSE stream until the server closes it: as `person`, or from `url` (an events URL with a token)
    with no Authorization header, as a browser's EventSource does."""
    headers = dict(person.headers) if url is None else {}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    deadline = time.monotonic() + timeout
    events: list[Event] = []
    with client.stream("GET", url or f"{job_url(person, job_id)}/events", headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        for line in response.iter_lines():
            assert time.monotonic() < deadline, f"the stream did not end within {timeout}s: {events[-3:]}"
            if line == "":
                if "data" in fields:
                    events.append(Event(int(fields["id"]), fields["event"], json.loads(fields["data"])))
                fields = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(":")
                fields[key] = value.removeprefix(" ")
    return events
