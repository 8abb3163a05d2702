"""Jobs tests run on both executors: worker threads inside the app ("local"), and a real `voxhub worker` process
(Celery) on a real Redis ("celery"), with real media made by ffmpeg. "parked" is Celery mode with no worker
listening: jobs stay queued until a test runs them itself."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from tests.conftest import Person
from tests.storage.stores import call_link
from voxhub.clock import utcnow
from voxhub.config import Settings
from voxhub.jobs.models import Job, JobStatus

SECRET_KEY = "jobs-test-secret-key-" + "k" * 32
STALE_AFTER_S = 3  # a job whose heartbeat is older than this is requeued by the reaper
START_TIMEOUT_S = 90.0
FINAL = ("succeeded", "failed", "canceled")

SHORT_S = 5  # the everyday clip
MEDIUM_S = 90  # normalised, it runs a few seconds: long enough to interrupt, short enough to finish
LONG_S = 600  # normalised, it runs far longer than any test waits for it

local_only = pytest.mark.parametrize("executor_kind", ["local"])
parked_only = pytest.mark.parametrize("executor_kind", ["parked"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], Any], *, timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


# ---- a real Redis ----


def parked_queue_url(url: str) -> str:
    """Another database of the same Redis: no worker listens there."""
    parts = urlsplit(url)
    db = 2 if parts.path.strip("/") == "1" else 1
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


@pytest.fixture(scope="package")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """redis-server on a free port for these tests, or the server named by VOXHUB_TEST_REDIS_URL."""
    given = os.environ.get("VOXHUB_TEST_REDIS_URL")
    if given:
        yield given
        return
    program = shutil.which("redis-server")
    if not program:
        pytest.fail(
            "redis-server is not installed (Debian: apt-get install redis-server; `make programs` does it), "
            "or point VOXHUB_TEST_REDIS_URL at a Redis server"
        )
    directory = tmp_path_factory.mktemp("redis")
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with (directory / "redis.log").open("wb") as log:
        process = subprocess.Popen(
            [
                program,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(directory),
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    client = redis.Redis.from_url(url)

    def answers() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"redis-server exited: {(directory / 'redis.log').read_text()[-2000:]}")
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    try:
        wait_until(answers, timeout=30, what="redis-server to answer PING")
        yield url
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---- real Celery workers (and beat) ----


def voxhub_env(**settings: object) -> dict[str, str]:
    """The environment of a voxhub program started by a test: ours without VOXHUB_*, then `settings` and what
    every test app shares (secret key, stale-job limit, public URL)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("VOXHUB_")}
    shared: dict[str, object] = {
        "secret_key": SECRET_KEY,
        "job_stale_after_s": STALE_AFTER_S,
        "log_level": "INFO",
        "public_url": "http://voxhub.test",
        "webhooks_allow_private": "true",
    }
    env.update({f"VOXHUB_{name.upper()}": str(value) for name, value in {**shared, **settings}.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _voxhub_command(*args: str) -> list[str]:
    script = Path(sys.executable).parent / "voxhub"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-c", "from voxhub.cli import main; main()", *args]


@dataclass
class Process:
    """A voxhub program started by a test, in its own process group (so its pool children and ffmpeg go with it)."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, name: str, args: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> Process:
        """`voxhub ARGS…` with its output in `log`."""
        with log.open("wb") as handle:
            popen = subprocess.Popen(
                _voxhub_command(*args),
                env=env,
                cwd=cwd,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(name, popen, log)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: the whole group, no chance to clean up."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            self.popen.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=20)
        self.kill()


@dataclass
class CeleryCluster:
    """`voxhub worker` processes (and `voxhub beat`) sharing the tests' database, data dir and Redis."""

    redis_url: str
    data_dir: Path
    env: dict[str, str]
    logs: Path
    processes: list[Process] = field(default_factory=list)

    def _start(self, name: str, *args: str) -> Process:
        process = Process.start(
            name, list(args), env=self.env, cwd=self.data_dir, log=self.logs / f"{name}-{len(self.processes)}.log"
        )
        self.processes.append(process)
        return process

    def start_worker(self, concurrency: int = 1, *, wait: bool = True) -> Process:
        """A worker taking every queue; with `wait`, once it is consuming."""
        worker = self._start("worker", "worker", "--queues", "asr,tts,media,default", "--concurrency", str(concurrency))
        if wait:
            self.wait_ready(worker)
        return worker

    def wait_ready(self, worker: Process) -> None:
        def ready() -> bool:
            if not worker.alive():
                raise AssertionError(f"voxhub worker exited:\n{worker.log_tail()}")
            return " ready." in worker.log_tail(20000)

        wait_until(ready, timeout=START_TIMEOUT_S, what="voxhub worker to be ready", every=0.1)

    def start_beat(self) -> Process:
        return self._start("beat", "beat")

    def workers(self) -> list[Process]:
        return [p for p in self.processes if p.name == "worker" and p.alive()]

    def ensure_worker(self) -> None:
        if not self.workers():
            self.start_worker()

    def running(self, worker_id: str) -> Process:
        """The worker process whose pool runs as `worker_id` (`celery:host:pid:…`)."""
        pid = int(worker_id.split(":")[-2])
        group = os.getpgid(pid)
        return next(p for p in self.workers() if p.pid == group)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()


@pytest.fixture(scope="package")
def celery_cluster(
    redis_url: str, database_url: str, smtp_server: tuple[Any, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CeleryCluster]:
    """One worker to start with (more on demand). The data dir is shared with every celery-mode app of this package,
    so the worker reads the uploads those apps store on local disk."""
    data_dir = tmp_path_factory.mktemp("jobs-var")
    _collector, smtp_port = smtp_server
    env = voxhub_env(
        database_url=database_url, data_dir=data_dir, queue_url=redis_url, smtp_url=f"smtp://127.0.0.1:{smtp_port}"
    )
    cluster = CeleryCluster(redis_url=redis_url, data_dir=data_dir, env=env, logs=tmp_path_factory.mktemp("celery"))
    try:
        yield cluster
    finally:
        cluster.stop()


# ---- apps on each executor ----


@pytest.fixture(params=["local", "celery"])
def executor_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(settings: Settings, executor_kind: str, request: pytest.FixtureRequest) -> Settings:
    # One job at a time on either executor, so a long job keeps the next one queued.
    common: dict[str, Any] = {
        "secret_key": SECRET_KEY,
        "job_stale_after_s": STALE_AFTER_S,
        "workers": 1,
        "webhooks_allow_private": True,
    }
    if executor_kind == "local":
        return settings.model_copy(update=common)
    if executor_kind == "parked":
        url = parked_queue_url(request.getfixturevalue("redis_url"))
        return settings.model_copy(update={**common, "queue_url": url})
    assert executor_kind == "celery", executor_kind
    cluster: CeleryCluster = request.getfixturevalue("celery_cluster")
    cluster.ensure_worker()
    return settings.model_copy(update={**common, "queue_url": cluster.redis_url, "data_dir": cluster.data_dir})


@pytest.fixture(autouse=True)
def _nothing_left_running(client: TestClient, app: Any) -> Iterator[None]:
    """After each test, stop what it left queued or running, so no worker writes into the next test's tables."""
    yield
    database = app.state.db
    now = utcnow()
    with database.session() as db:
        db.execute(
            update(Job)
            .where(Job.status == JobStatus.QUEUED.value)
            .values(status=JobStatus.CANCELED.value, finished_at=now, cancel_requested_at=now)
        )
        db.execute(update(Job).where(Job.status == JobStatus.RUNNING.value).values(cancel_requested_at=now))

    def settled() -> bool:
        with database.session() as db:
            return not db.scalar(select(func.count()).select_from(Job).where(Job.status == JobStatus.RUNNING.value))

    wait_until(settled, timeout=60, what="running jobs to stop after the test", every=0.1)


# ---- real media ----


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="package")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("jobs-media")
    made = {name: root / name for name in ("tone.wav", "quiet.wav", "medium.flac", "long.flac")}
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=440:duration={SHORT_S}:sample_rate=44100",
        "-c:a",
        "pcm_s16le",
        str(made["tone.wav"]),
    )
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=440:duration={SHORT_S}:sample_rate=44100",
        "-af",
        "volume=0.05",
        "-c:a",
        "pcm_s16le",
        str(made["quiet.wav"]),
    )
    for name, seconds in (("medium.flac", MEDIUM_S), ("long.flac", LONG_S)):
        ffmpeg(
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=330:duration={seconds}:sample_rate=44100",
            "-c:a",
            "flac",
            str(made[name]),
        )
    return made


def loudness_lufs(path: Path) -> float:
    """Integrated loudness (EBU R128) as ffmpeg's ebur128 filter measures it."""
    answer = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-i", str(path), "-af", "ebur128", "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = answer.stderr[answer.stderr.rindex("Integrated loudness:") :]
    return float(summary.split("I:", 1)[1].split("LUFS", 1)[0])


def probe(path: Path) -> dict[str, Any]:
    """The first audio stream and the container, as ffprobe sees them."""
    answer = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(answer.stdout)
    audio = [s for s in found["streams"] if s["codec_type"] == "audio"]
    assert len(audio) == 1, found
    return {"stream": audio[0], "format": found["format"]}


def decoded_seconds(path: Path) -> float:
    """How long the audio really lasts: decoded to 8 kHz mono 16-bit PCM and counted (no header estimates)."""
    answer = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-i",
            str(path),
            "-ac",
            "1",
            "-ar",
            "8000",
            "-f",
            "s16le",
            "-",
        ],
        capture_output=True,
        check=True,
    )
    return len(answer.stdout) / 16000


# ---- the API, as a client uses it ----


def jobs_url(person: Person, workspace_id: str | None = None) -> str:
    return f"/api/v1/workspaces/{workspace_id or person.workspace_id}/jobs"


def job_url(person: Person, job_id: str, workspace_id: str | None = None) -> str:
    return f"{jobs_url(person, workspace_id)}/{job_id}"


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


def get_job(client: httpx.Client, person: Person, job_id: str) -> dict[str, Any]:
    answer = client.get(job_url(person, job_id), headers=person.headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def wait_for(
    client: httpx.Client,
    person: Person,
    job_id: str,
    until: Callable[[dict[str, Any]], bool] | None = None,
    *,
    timeout: float = 60.0,
    what: str = "",
) -> dict[str, Any]:
    """Poll GET …/jobs/{id} until `until(job)` (default: a final state); the job as it was then."""
    check = until or (lambda job: job["status"] in FINAL)
    seen: dict[str, Any] = {}

    def done() -> dict[str, Any] | None:
        seen.update(get_job(client, person, job_id))
        return dict(seen) if check(seen) else None

    try:
        return wait_until(done, timeout=timeout, what=what or f"job {job_id}")  # type: ignore[no-any-return]
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last seen: {seen}") from None


def converting(job: dict[str, Any]) -> bool:
    """ffmpeg is at work on the job."""
    return job["status"] == "running" and job["stage"] == "converting"


def wait_until_converting(client: httpx.Client, person: Person, job_id: str) -> dict[str, Any]:
    return wait_for(client, person, job_id, converting, timeout=60, what="the job to be converting")


def attempts_of(client: httpx.Client, person: Person, job_id: str) -> list[dict[str, Any]]:
    answer = client.get(f"{job_url(person, job_id)}/attempts", headers=person.headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json())


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
