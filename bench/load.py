"""Benchmark: voxhub held under mixed load, stepped up until its latency doubles, plus slow and idle clients.

For each setup, in the same run: `sqlite` (SQLite, the local disk store, jobs on worker threads inside `voxhub serve`)
and `postgresql` (PostgreSQL from scripts/test-postgres.sh, Redis, jobs on a `voxhub worker` Celery process; the store
is still the local disk, shared by server and worker):
- mixed traffic: `--levels` concurrent users (1, 2, 4, …), each for `--duration` seconds, every user sending one
  request after another, picked at random by weight: sign-ins (argon2id, as shipped), listing files and jobs (20 a
  page), small WAV uploads, `synthesize` jobs (one short line with espeak-ng) of which every second one is followed
  over `GET …/jobs/{id}/events` (SSE) to its final event, and `/v1/audio/speech` calls (a short line, voice `alloy`:
  piper's joe). After each level every job created must reach `succeeded` (`--drain-s` at most): a job not
  finished by then is lost.
- the baseline is level 1 in the same run: the point where latency doubles is the first level whose p50 over all
  requests is more than twice level 1's (the same per endpoint). Below it there must be no 5xx and no lost job.
- slow clients: `--slow-clients` connections reading an 8 MB download at 5 KB/s, then as many sending an upload body
  at 5 KB/s; a simple request (`GET /api/v1/me`, `--probe-requests` one after another) is timed without and with
  them: the ratio is printed (1.0: they block nothing).
- many SSE connections: `--sse-clients` (default 500) idle followers of a job that stays queued; the same probe with
  and without them, and the ratio.

Prints requests/s, p50/p95/p99 and errors per endpoint and level, the doubling point, job counts, and the three
ratios. Any 5xx, connection error, unexpected status, lost or failed job makes the run exit 1 (after printing);
a ratio never does. The load generator runs on the same machine (its CPU per request is printed). Subprocesses and
the temp dir are removed on exit, Ctrl-C and the --timeout-s limit included.

    .venv/bin/python bench/load.py [--setups sqlite,postgresql] [--levels 1,2,4,8,16,32] [--duration 10]
                                   [--slow-clients 32] [--sse-clients 500] [--probe-requests 40] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import struct
import sys
import tempfile
import time
import wave
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

# `api` and `jobs` are bench/api.py and bench/jobs.py (the script's folder is on sys.path).
from api import EMAIL, HOST, PASSWORD, Server, free_port, percentile, use_bench_plan, voxhub_command, voxhub_env
from sqlalchemy import create_engine, insert

from jobs import PostgreSQL, Process, load_average, log, redis_server, run_cli
from voxhub.clock import utcnow
from voxhub.config import Settings
from voxhub.jobs.models import Job, JobStatus

SETUPS = ("sqlite", "postgresql")
SPEECH_LINE = "The meeting starts at nine."
JOB_LINE = "Your file is ready."
ESPEAK_VOICE = "espeak:en-us"
FINAL_STATES = {"succeeded", "failed", "canceled"}
# What each user picks next, by weight: reads dominate, as on a real API.
WEIGHTS = {"sign-in": 1, "list files": 4, "list jobs": 4, "upload": 2, "create job": 3, "speech": 1}
FOLLOW_EVERY = 2  # every second job created is followed over SSE to its final event
SLOW_RATE_BPS = 5000  # slow clients read or send this many bytes a second
BIG_FILE_BYTES = 8 * 1024 * 1024  # more than the kernel buffers on both sides: the server must wait for the reader
SLOW_UPLOAD_BYTES = 512 * 1024
LOGGED_ERROR = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Timeout\w*)\b:")
PROBE_TIMEOUT_S = 40.0  # one probe request; longer than the database pool's 30-s wait, so a timeout there shows as 5xx
PROBE_LIMIT_S = 120.0  # all of one probe's requests: past it the rest count as failed


# ---- what a run records ----


@dataclass
class Sample:
    endpoint: str
    seconds: float
    status: int  # 0: the connection failed or timed out


@dataclass
class Level:
    users: int
    seconds: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    created: list[str] = field(default_factory=list)  # ids of the jobs answered 202
    followed: int = 0
    follow_seconds: list[float] = field(default_factory=list)  # POST → final event, for followed jobs
    jobs_by_status: dict[str, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    client_cpu_s: float = 0.0

    def by_endpoint(self) -> dict[str, list[Sample]]:
        grouped: dict[str, list[Sample]] = {}
        for sample in self.samples:
            grouped.setdefault(sample.endpoint, []).append(sample)
        return grouped

    def p50(self, endpoint: str | None = None) -> float:
        chosen = [s.seconds for s in self.samples if endpoint is None or s.endpoint == endpoint]
        return percentile(sorted(chosen), 50)

    @property
    def server_errors(self) -> int:
        return sum(1 for s in self.samples if s.status >= 500)

    @property
    def errors(self) -> int:
        return sum(1 for s in self.samples if not 200 <= s.status < 300)

    @property
    def failed_jobs(self) -> int:
        return sum(count for status, count in self.jobs_by_status.items() if status != "succeeded")


@dataclass
class Probe:
    """A simple request timed one after another, alone and beside `case`."""

    case: str
    alone: list[float]
    beside: list[float]
    errors: int
    note: str

    @property
    def ratio(self) -> float:
        return (
            statistics.median(self.beside) / statistics.median(self.alone) if self.alone and self.beside else math.nan
        )


@dataclass
class SetupResult:
    setup: str
    levels: list[Level]
    probes: list[Probe]
    load_before: str
    load_after: str
    server_errors: list[str] = field(default_factory=list)  # the errors voxhub's processes logged, with counts


# ---- one voxhub ----


@dataclass
class Stack:
    """voxhub for one setup, with a signed-in superuser, its workspace on the bench plan, an API key and a big file."""

    setup: str
    server: Server
    processes: list[Server]
    database_url: str
    workspace_id: str = ""
    token: str = ""
    api_key: str = ""
    big_file_path: str = ""  # the signed /blobs/… path of an 8 MB file

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def workspace(self) -> str:
        return f"/api/v1/workspaces/{self.workspace_id}"

    def check_alive(self) -> None:
        for process in self.processes:
            if process.process is not None and process.process.poll() is not None:
                raise RuntimeError(f"{process.name} exited with {process.process.returncode}:\n{process.log_tail()}")


def tone_wav(seconds: float, rate: int = 16000) -> bytes:
    """A 400 Hz tone, 16-bit mono WAV, in memory."""
    period = rate // 400
    cycle = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * n / period))) for n in range(period))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(cycle * (int(seconds * rate) // period))
    return buffer.getvalue()


def start_stack(
    setup: str, workdir: Path, *, workers: int, processes: list[Server], cleanups: list[Callable[[], None]]
) -> Stack:
    """Start voxhub for `setup` on a fresh data dir and database; every process started goes into `processes`."""
    home = workdir / setup
    home.mkdir()
    env = {**voxhub_env(home / "data", token_ttl_s=24 * 3600), "VOXHUB_WORKERS": str(workers)}
    mine: list[Server] = []
    if setup == "postgresql":
        postgres = PostgreSQL(home / "postgres")
        cleanups.append(postgres.stop)
        env["VOXHUB_DATABASE_URL"] = postgres.start()
        broker = redis_server(home)
        processes.append(broker)
        mine.append(broker)
        broker.start()
        env["VOXHUB_QUEUE_URL"] = f"redis://{HOST}:{broker.port}/0"
    run_cli(env, home, "migrate")
    run_cli(env, home, "admin", "create-user", EMAIL, "--password", PASSWORD, "--superuser")
    port = free_port()
    server = Server(
        f"voxhub-{setup}",
        [*voxhub_command(), "serve", "--host", HOST, "--port", str(port)],
        env=env,
        workdir=home,
        port=port,
    )
    processes.append(server)
    mine.append(server)
    server.start("/healthz")
    if setup == "postgresql":
        worker_log = home / "voxhub-worker.log"
        worker = Process(
            "voxhub-worker",
            [*voxhub_command(), "worker", "--concurrency", str(workers)],
            env={**env, "VOXHUB_LOG_LEVEL": "INFO"},  # Celery says " ready." at INFO
            workdir=home,
            ready=lambda: worker_log.exists() and " ready." in worker_log.read_text(errors="replace"),
        )
        processes.append(worker)
        mine.append(worker)
        worker.start(timeout_s=120)
    database_url = env.get("VOXHUB_DATABASE_URL") or Settings(data_dir=home / "data").resolved_database_url
    stack = Stack(setup, server, mine, database_url)
    with httpx.Client(base_url=server.url, timeout=60.0) as client:
        tokens = client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
        tokens.raise_for_status()
        stack.token = tokens.json()["access_token"]
        client.headers.update(stack.headers)
        workspaces = client.get("/api/v1/workspaces")
        workspaces.raise_for_status()
        stack.workspace_id = workspaces.json()["items"][0]["id"]
        use_bench_plan(server.url, stack.headers, stack.workspace_id)
        key = client.post(f"{stack.workspace}/api-keys", json={"name": "load", "scopes": ["write"]})
        key.raise_for_status()
        stack.api_key = key.json()["secret"]
        big = tone_wav(BIG_FILE_BYTES / 2 / 16000)
        uploaded = client.post(f"{stack.workspace}/files", files={"file": ("big.wav", big, "audio/wav")})
        uploaded.raise_for_status()
        link = client.get(f"{stack.workspace}/files/{uploaded.json()['id']}/download", follow_redirects=False)
        if link.status_code != 302:
            raise RuntimeError(f"download answered {link.status_code}: {link.text}")
        location = httpx.URL(link.headers["location"])
        stack.big_file_path = location.raw_path.decode()
    return stack


# ---- the mixed traffic ----


class Traffic:
    """The requests users send, each recorded into the current level."""

    def __init__(self, stack: Stack, client: httpx.AsyncClient, level: Level, small_wav: bytes) -> None:
        self.stack = stack
        self.client = client
        self.level = level
        self.small_wav = small_wav
        self.ops: dict[str, Callable[[random.Random], Awaitable[None]]] = {
            "sign-in": self.sign_in,
            "list files": self.list_files,
            "list jobs": self.list_jobs,
            "upload": self.upload,
            "create job": self.create_job,
            "speech": self.speech,
        }

    async def timed(self, endpoint: str, send: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            answer = await send()
        except httpx.HTTPError:
            self.level.samples.append(Sample(endpoint, time.perf_counter() - started, 0))
            return None
        self.level.samples.append(Sample(endpoint, time.perf_counter() - started, answer.status_code))
        return answer

    async def sign_in(self, _rng: random.Random) -> None:
        await self.timed(
            "POST /auth/login",
            lambda: self.client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD}),
        )

    async def list_files(self, _rng: random.Random) -> None:
        await self.timed(
            "GET /files",
            lambda: self.client.get(f"{self.stack.workspace}/files", params={"limit": 20}, headers=self.stack.headers),
        )

    async def list_jobs(self, _rng: random.Random) -> None:
        await self.timed(
            "GET /jobs",
            lambda: self.client.get(f"{self.stack.workspace}/jobs", params={"limit": 20}, headers=self.stack.headers),
        )

    async def upload(self, _rng: random.Random) -> None:
        await self.timed(
            "POST /files",
            lambda: self.client.post(
                f"{self.stack.workspace}/files",
                files={"file": ("tone.wav", self.small_wav, "audio/wav")},
                headers=self.stack.headers,
            ),
        )

    async def speech(self, _rng: random.Random) -> None:
        answer = await self.timed(
            "POST /v1/audio/speech",
            lambda: self.client.post(
                "/v1/audio/speech",
                json={"model": "tts-1", "input": SPEECH_LINE, "voice": "alloy"},
                headers={"Authorization": f"Bearer {self.stack.api_key}"},
            ),
        )
        if answer is not None and answer.status_code == 200 and len(answer.content) < 1000:
            self.level.samples[-1].status = 0  # 200 without the audio: a wrong answer
            log(f"speech answered {len(answer.content)} bytes")

    async def create_job(self, _rng: random.Random) -> None:
        posted = time.perf_counter()
        answer = await self.timed(
            "POST /jobs",
            lambda: self.client.post(
                f"{self.stack.workspace}/jobs",
                json={"type": "synthesize", "input": {"text": JOB_LINE}, "params": {"voice": ESPEAK_VOICE}},
                headers=self.stack.headers,
            ),
        )
        if answer is None or answer.status_code != 202:
            return
        job_id = answer.json()["id"]
        self.level.created.append(job_id)
        if len(self.level.created) % FOLLOW_EVERY == 0:
            await self.follow(job_id, posted)

    async def follow(self, job_id: str, posted: float) -> None:
        """Follow the job's events until its final state; the sample is the time to the first line of the stream."""
        url = f"{self.stack.workspace}/jobs/{job_id}/events"
        started = time.perf_counter()
        endpoint = "GET /jobs/{id}/events"
        try:
            async with self.client.stream("GET", url, headers=self.stack.headers) as stream:
                first = True
                final = False
                async for line in stream.aiter_lines():
                    if first:
                        self.level.samples.append(Sample(endpoint, time.perf_counter() - started, stream.status_code))
                        first = False
                    if line.startswith("data:") and json.loads(line[5:]).get("final"):
                        final = True
                if first:  # no line at all: a 204 or an error
                    self.level.samples.append(Sample(endpoint, time.perf_counter() - started, stream.status_code))
        except httpx.HTTPError:
            self.level.samples.append(Sample(endpoint, time.perf_counter() - started, 0))
            return
        if final:
            self.level.followed += 1
            self.level.follow_seconds.append(time.perf_counter() - posted)


async def run_level(stack: Stack, level: Level, seconds: float, small_wav: bytes) -> None:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=stack.server.url, timeout=120.0, limits=limits) as client:
        traffic = Traffic(stack, client, level, small_wav)
        names, weights = list(WEIGHTS), list(WEIGHTS.values())
        started = time.perf_counter()
        stop_at = started + seconds

        async def user(number: int) -> None:
            rng = random.Random(number)
            while time.perf_counter() < stop_at:
                await traffic.ops[rng.choices(names, weights)[0]](rng)

        await asyncio.gather(*(user(number) for number in range(level.users)))
        level.seconds = time.perf_counter() - started


def warm_up(stack: Stack, small_wav: bytes) -> None:
    """Each request once (piper's model loaded, espeak-ng and ffmpeg run once); their answers must be right."""
    level = Level(users=1)

    async def once() -> None:
        async with httpx.AsyncClient(base_url=stack.server.url, timeout=120.0) as client:
            traffic = Traffic(stack, client, level, small_wav)
            rng = random.Random(0)
            for op in traffic.ops.values():
                await op(rng)
            await traffic.follow(level.created[0], time.perf_counter())  # one job is followed, whatever its number

    asyncio.run(once())
    wrong = [sample for sample in level.samples if not 200 <= sample.status < 300]
    if wrong:
        raise RuntimeError(f"warm-up requests failed: {wrong}")
    check_jobs(stack, level, drain_s=120)
    if level.lost or level.failed_jobs:
        raise RuntimeError(f"warm-up jobs did not succeed: {level.jobs_by_status}, lost {level.lost}")


def check_jobs(stack: Stack, level: Level, *, drain_s: float) -> None:
    """Wait until every job the level created is final (at most `drain_s`), then count them by status."""
    wanted = set(level.created)
    statuses: dict[str, str] = {}
    deadline = time.monotonic() + drain_s
    with httpx.Client(base_url=stack.server.url, headers=stack.headers, timeout=60.0) as client:
        while True:
            statuses.clear()
            cursor: str | None = None
            while True:
                params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
                page = client.get(f"{stack.workspace}/jobs", params=params)
                page.raise_for_status()
                body = page.json()
                statuses.update((job["id"], job["status"]) for job in body["items"] if job["id"] in wanted)
                cursor = body.get("next_cursor")
                if not cursor or len(statuses) == len(wanted):
                    break
            if all(statuses.get(job_id) in FINAL_STATES for job_id in wanted) or time.monotonic() > deadline:
                break
            stack.check_alive()
            time.sleep(0.5)
    level.jobs_by_status = {}
    for job_id in wanted:
        status = statuses.get(job_id)
        if status not in FINAL_STATES:
            level.lost.append(job_id)
        else:
            level.jobs_by_status[status] = level.jobs_by_status.get(status, 0) + 1


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---- slow and idle clients ----


async def raw_connection(port: int, *, receive_buffer: int = 0) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP connection to the server; with `receive_buffer`, a small kernel buffer, so a slow reader holds the sender
    back instead of the kernel swallowing the response."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (HOST, port))
    return await asyncio.open_connection(sock=sock, limit=2**16)


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def probe(stack: Stack, count: int) -> tuple[list[float], int]:
    """`GET /api/v1/me` `count` times, one after another, on a fresh keep-alive connection: seconds, and errors."""
    seconds: list[float] = []
    errors = 0
    give_up_at = time.monotonic() + PROBE_LIMIT_S
    async with httpx.AsyncClient(base_url=stack.server.url, headers=stack.headers, timeout=PROBE_TIMEOUT_S) as client:
        for _ in range(count):
            if time.monotonic() > give_up_at:
                errors += 1  # a blocked server: the requests not sent count as failed
                continue
            started = time.perf_counter()
            try:
                answer = await client.get("/api/v1/me")
            except httpx.HTTPError:
                errors += 1
                continue
            if answer.status_code != 200:
                errors += 1
                log(f"probe answered {answer.status_code} after {time.perf_counter() - started:.1f} s")
                continue
            seconds.append(time.perf_counter() - started)
    return seconds, errors


async def beside(stack: Stack, case: str, count: int, start: Callable[[asyncio.Event], Awaitable[str]]) -> Probe:
    """The probe alone, then again while `start`'s clients are connected (`start` returns once they are, with a
    note on what they did); they are stopped afterwards."""
    alone, errors = await probe(stack, count)
    stop = asyncio.Event()
    note = await start(stop)
    await asyncio.sleep(0.5)
    with_them, more_errors = await probe(stack, count)
    stop.set()
    await asyncio.sleep(0.2)
    return Probe(case, alone, with_them, errors + more_errors, note)


async def slow_readers(stack: Stack, clients: int, stop: asyncio.Event) -> str:
    """`clients` downloads of the big file, each read at SLOW_RATE_BPS until `stop`."""
    received = [0] * clients
    started_ok = [False] * clients

    async def reader(number: int) -> None:
        reader, writer = await raw_connection(stack.server.port, receive_buffer=4096)
        try:
            writer.write(request_head("GET", stack.big_file_path, {}))
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            started_ok[number] = head.startswith(b"HTTP/1.1 200")
            chunk = max(1, SLOW_RATE_BPS // 10)
            while not stop.is_set():
                data = await reader.read(chunk)
                if not data:
                    return
                received[number] += len(data)
                await asyncio.sleep(0.1)
        finally:
            writer.close()

    tasks = [asyncio.create_task(reader(number)) for number in range(clients)]
    await asyncio.sleep(1.0)  # every download started, and the kernel buffers filled
    asyncio.get_running_loop().create_task(_reap(tasks, stop))
    return (
        f"{sum(started_ok)}/{clients} downloads answered 200, "
        f"{statistics.mean(received) / 1024 if received else 0:.0f} KiB read each of {BIG_FILE_BYTES // 2**20} MiB"
    )


async def slow_uploaders(stack: Stack, clients: int, stop: asyncio.Event) -> str:
    """`clients` uploads of a SLOW_UPLOAD_BYTES file, the body sent at SLOW_RATE_BPS until `stop` (then dropped)."""
    sent = [0] * clients
    boundary = "loadbenchboundary"
    preamble = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    closing = f"\r\n--{boundary}--\r\n".encode()
    length = len(preamble) + SLOW_UPLOAD_BYTES + len(closing)

    async def uploader(number: int) -> None:
        _reader, writer = await raw_connection(stack.server.port)
        try:
            headers = {
                **stack.headers,
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(length),
            }
            writer.write(request_head("POST", f"{stack.workspace}/files", headers) + preamble)
            chunk = b"\0" * max(1, SLOW_RATE_BPS // 10)
            while not stop.is_set() and sent[number] < SLOW_UPLOAD_BYTES:
                writer.write(chunk)
                await writer.drain()
                sent[number] += len(chunk)
                await asyncio.sleep(0.1)
        except ConnectionError:
            return
        finally:
            writer.close()

    tasks = [asyncio.create_task(uploader(number)) for number in range(clients)]
    await asyncio.sleep(1.0)
    asyncio.get_running_loop().create_task(_reap(tasks, stop))
    sent_kib = statistics.mean(sent) / 1024
    return f"{clients} uploads of {SLOW_UPLOAD_BYTES // 1024} KiB under way, {sent_kib:.0f} KiB sent each"


async def idle_followers(stack: Stack, job_id: str, clients: int, batch: int, stop: asyncio.Event) -> str:
    """`clients` SSE streams of a job that stays queued, each reading whatever comes (heartbeats) until `stop`."""
    opened = [False] * clients
    status = [0] * clients  # 0: no answer
    path = f"{stack.workspace}/jobs/{job_id}/events"
    begun = time.perf_counter()

    async def follower(number: int, ready: asyncio.Event) -> None:
        try:
            reader, writer = await raw_connection(stack.server.port)
        except OSError:
            ready.set()
            return
        try:
            writer.write(request_head("GET", path, {**stack.headers, "Accept": "text/event-stream"}))
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), PROBE_LIMIT_S)
            status[number] = int(head.split(b" ", 2)[1])
            opened[number] = head.startswith(b"HTTP/1.1 200")
            ready.set()
            while not stop.is_set():
                if not await reader.read(4096):
                    return
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            return
        finally:
            ready.set()
            writer.close()

    readies = [asyncio.Event() for _ in range(clients)]
    tasks: list[asyncio.Task[None]] = []
    for first in range(0, clients, batch):  # each batch open before the next connects
        numbers = range(first, min(clients, first + batch))
        tasks += [asyncio.create_task(follower(number, readies[number])) for number in numbers]
        await asyncio.gather(*(readies[number].wait() for number in numbers))
    asyncio.get_running_loop().create_task(_reap(tasks, stop))
    answers = ", ".join(f"{count} x {code or 'none'}" for code, count in sorted(Counter(status).items()))
    return f"{sum(opened)}/{clients} streams open after {time.perf_counter() - begun:.1f} s (answers: {answers})"


async def _reap(tasks: list[asyncio.Task[None]], stop: asyncio.Event) -> None:
    await stop.wait()
    await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def park_job(stack: Stack) -> str:
    """A `synthesize` job that stays queued (due in a day: no worker claims it), written straight into the
    database, for the idle followers; the benchmark cancels it afterwards through the API."""
    engine = create_engine(stack.database_url)
    try:
        with engine.begin() as connection:
            job_id = connection.execute(
                insert(Job.__table__)
                .values(
                    workspace_id=stack.workspace_id,
                    type="synthesize",
                    queue="tts",
                    status=JobStatus.QUEUED.value,
                    input={"text": JOB_LINE},
                    params={"voice": ESPEAK_VOICE},
                    run_after=utcnow() + timedelta(days=1),
                )
                .returning(Job.__table__.c.id)
            ).scalar_one()
    finally:
        engine.dispose()
    return str(job_id)


def run_clients_cases(stack: Stack, args: argparse.Namespace) -> list[Probe]:
    job_id = park_job(stack)

    async def cases() -> list[Probe]:
        probes = []
        if args.slow_clients:  # 0 leaves the slow cases out
            probes += [
                await beside(
                    stack, f"{args.slow_clients} slow readers", args.probe_requests,
                    lambda stop: slow_readers(stack, args.slow_clients, stop),
                ),
                await beside(
                    stack, f"{args.slow_clients} slow uploads", args.probe_requests,
                    lambda stop: slow_uploaders(stack, args.slow_clients, stop),
                ),
            ]  # fmt: skip
        if args.sse_clients:
            probes.append(
                await beside(
                    stack, f"{args.sse_clients} idle SSE clients", args.probe_requests,
                    lambda stop: idle_followers(stack, job_id, args.sse_clients, args.sse_batch, stop),
                )
            )  # fmt: skip
        return probes

    try:
        return asyncio.run(cases())
    finally:
        try:
            canceled = httpx.post(
                f"{stack.server.url}{stack.workspace}/jobs/{job_id}/cancel", headers=stack.headers, timeout=60.0
            )
            if canceled.status_code != 200:
                log(f"canceling the parked job answered {canceled.status_code}: {canceled.text}")
        except httpx.HTTPError as exc:
            log(f"canceling the parked job failed: {exc!r}")


# ---- a setup ----


def bench_setup(
    setup: str, workdir: Path, args: argparse.Namespace, processes: list[Server], cleanups: list[Callable[[], None]]
) -> SetupResult:
    log(f"[{setup}] starting voxhub ({args.workers} job workers)")
    stack = start_stack(setup, workdir, workers=args.workers, processes=processes, cleanups=cleanups)
    try:
        small_wav = tone_wav(0.5)
        warm_up(stack, small_wav)
        load_before = load_average()
        levels = []
        for users in args.levels:
            level = Level(users=users)
            cpu = own_cpu_s()
            asyncio.run(run_level(stack, level, args.duration, small_wav))
            level.client_cpu_s = own_cpu_s() - cpu
            check_jobs(stack, level, drain_s=args.drain_s)
            stack.check_alive()
            levels.append(level)
            log(
                f"[{setup}] {users:3d} users: {len(level.samples) / level.seconds:6.1f} requests/s, "
                f"p50 {level.p50() * 1000:6.0f} ms, {level.errors} errors ({level.server_errors} 5xx), "
                f"jobs {len(level.created)} created {level.jobs_by_status} lost {len(level.lost)} "
                f"(load average {load_average()})"
            )
        log(f"[{setup}] slow clients and idle SSE clients")
        probes = run_clients_cases(stack, args)
        stack.check_alive()
        return SetupResult(setup, levels, probes, load_before, load_average(), logged_errors(stack))
    finally:
        for process in reversed(stack.processes):
            process.stop()
        if args.keep_logs:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            for process in stack.processes:
                if process.log_path.exists():
                    shutil.copy(process.log_path, args.keep_logs / f"{setup}-{process.name}.log")


def logged_errors(stack: Stack) -> list[str]:
    """Each kind of exception voxhub's processes logged (the last line of a traceback), most frequent first."""
    found: Counter[str] = Counter()
    for process in stack.processes:
        if process.log_path.exists():
            for line in process.log_path.read_text(errors="replace").splitlines():
                if LOGGED_ERROR.match(line):
                    found[f"{process.name}: {line[:200]}"] += 1
                elif " WARNING " in line and "unreachable" in line:  # a database error answered 503
                    found[f"{process.name}: {line.split('] ', 1)[-1][:200]}"] += 1
    return [f"{count} x {line}" for line, count in found.most_common(8)]


# ---- the report ----


def doubling_level(levels: list[Level], endpoint: str | None = None) -> int | None:
    """The first level whose p50 is more than twice level 1's (the first level's), or None."""
    baseline = levels[0].p50(endpoint)
    for level in levels[1:]:
        if level.p50(endpoint) > 2 * baseline:
            return level.users
    return None


def report(results: list[SetupResult]) -> int:
    status = 0
    for result in results:
        levels = result.levels
        print(f"\n== {result.setup}: load average {result.load_before} before, {result.load_after} after")
        print(
            f"{'users':>5} {'endpoint':24} {'count':>6} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
            f"{'errors':>6} {'5xx':>4}"
        )
        for level in levels:
            rows = sorted(level.by_endpoint().items())
            rows.append(("all", level.samples))
            for endpoint, samples in rows:
                ordered = sorted(s.seconds for s in samples)
                print(
                    f"{level.users:5d} {endpoint:24} {len(samples):6d} {len(samples) / level.seconds:7.1f} "
                    f"{percentile(ordered, 50) * 1000:8.1f} {percentile(ordered, 95) * 1000:8.1f} "
                    f"{percentile(ordered, 99) * 1000:8.1f} {sum(not 200 <= s.status < 300 for s in samples):6d} "
                    f"{sum(s.status >= 500 for s in samples):4d}"
                )
            follow = sorted(level.follow_seconds)
            print(
                f"{level.users:5d} jobs: {len(level.created)} created, {level.jobs_by_status} found final, "
                f"{len(level.lost)} lost; {level.followed} followed over SSE to the end (POST → final event p50 "
                f"{percentile(follow, 50) * 1000:.0f} ms); load generator CPU "
                f"{level.client_cpu_s / max(1, len(level.samples)) * 1000:.1f} ms/request"
            )
        point = doubling_level(levels)
        below = [level for level in levels if point is None or level.users < point]
        bad_below = sum(level.server_errors for level in below) + sum(len(level.lost) for level in below)
        endpoints = sorted({s.endpoint for level in levels for s in level.samples})
        per_endpoint = ", ".join(f"{endpoint} {doubling_level(levels, endpoint) or '-'}" for endpoint in endpoints)
        print(
            f"latency doubles (p50 of all requests > 2 x {levels[0].p50() * 1000:.0f} ms at 1 user) at: "
            f"{point if point is not None else f'not reached by {levels[-1].users}'} users"
        )
        print(f"  by endpoint: {per_endpoint}")
        print(
            f"below that point: {sum(level.server_errors for level in below)} 5xx, "
            f"{sum(len(level.lost) for level in below)} lost jobs of {sum(len(level.created) for level in below)} "
            f"({'ok' if not bad_below else 'FAILED'})"
        )
        for found in result.probes:
            print(
                f"ratio GET /api/v1/me p50 with {found.case} / without: {found.ratio:.2f} "
                f"({statistics.median(found.beside) * 1000 if found.beside else math.nan:.1f} ms / "
                f"{statistics.median(found.alone) * 1000 if found.alone else math.nan:.1f} ms; "
                f"{found.errors} errors; {found.note})"
            )
        for line in result.server_errors:
            print(f"logged by voxhub: {line}")
        errors = sum(level.errors for level in levels)
        lost = sum(len(level.lost) for level in levels)
        failed = sum(level.failed_jobs for level in levels)
        probe_errors = sum(found.errors for found in result.probes)
        if errors or lost or failed or probe_errors or bad_below:
            print(
                f"{result.setup}: {errors} failed requests, {lost} lost and {failed} failed jobs, {probe_errors} "
                "failed probes: the figures above are not valid."
            )
            status = 1
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--setups", default=",".join(SETUPS), help="Comma-separated: sqlite, postgresql.")
    parser.add_argument("--levels", default="1,2,4,8,16,32", help="Concurrent users, stepped up in this order.")
    parser.add_argument("--duration", type=float, default=10.0, help="Seconds of traffic per level.")
    parser.add_argument("--drain-s", type=float, default=180.0, help="Longest wait for a level's jobs to finish.")
    parser.add_argument("--workers", type=int, default=2, help="Jobs at once: VOXHUB_WORKERS, worker --concurrency.")
    parser.add_argument("--slow-clients", type=int, default=32, help="Slow readers, then slow uploads.")
    parser.add_argument("--sse-clients", type=int, default=500, help="Idle SSE followers.")
    parser.add_argument(
        "--sse-batch",
        type=int,
        default=20,
        help="Idle SSE clients connecting at once (below the database pool: a larger burst can block the server).",
    )
    parser.add_argument("--probe-requests", type=int, default=40, help="GET /api/v1/me per probe.")
    parser.add_argument("--keep-logs", type=Path, help="Copy voxhub's logs into this folder at the end.")
    parser.add_argument("--timeout-s", type=int, default=1800, help="Give up (and clean up) after this long.")
    parser.add_argument("--smoke", action="store_true", help="A few seconds, tiny sizes: fails on errors, not targets.")
    args = parser.parse_args()
    if args.smoke:  # both setups, one short level, a few slow and idle clients
        # One user: concurrent writers can still meet SQLite's lock wait on the event loop (see bench/README.md).
        args.levels, args.duration, args.workers = "1", 1.0, 1
        args.slow_clients, args.sse_clients, args.probe_requests = 2, 5, 3
        args.timeout_s = min(args.timeout_s, 280)
    setups = [name for name in args.setups.split(",") if name]
    if not set(setups) <= set(SETUPS):
        parser.error(f"--setups takes {', '.join(SETUPS)}")
    args.levels = [int(users) for users in args.levels.split(",")]
    if not args.levels or min(args.levels) < 1:
        parser.error("--levels: positive numbers")
    # Hundreds of idle clients need as many descriptors here and in the server, which inherits the limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * (args.sse_clients + args.slow_clients * 2 + max(args.levels)) + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(
            resource.RLIMIT_NOFILE, (min(wanted, hard) if hard != resource.RLIM_INFINITY else wanted, hard)
        )

    def give_up(signum: int, _frame: object) -> None:
        if signum == signal.SIGALRM:
            raise TimeoutError(f"the benchmark ran past --timeout-s {args.timeout_s}")
        raise SystemExit(143)

    # SIGTERM and the time limit take the same way out as Ctrl-C, through the finally below.
    signal.signal(signal.SIGTERM, give_up)
    signal.signal(signal.SIGALRM, give_up)
    signal.alarm(args.timeout_s)
    workdir = Path(tempfile.mkdtemp(prefix="voxhub-bench-load-"))
    processes: list[Server] = []
    cleanups: list[Callable[[], None]] = []
    try:
        log(f"load benchmark in {workdir}; load average {load_average()}")
        results = [bench_setup(setup, workdir, args, processes, cleanups) for setup in setups]
        print(
            f"\nmixed traffic (weights {WEIGHTS}; every {FOLLOW_EVERY}nd job followed over SSE), "
            f"{args.duration:g} s per level, {args.workers} job workers"
        )
        status = report(results)
        log(f"load average at the end {load_average()}")
        return status
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except Exception:
        for process in processes:
            log(f"---- last lines of {process.name}'s log ----\n{process.log_tail()}")
        raise
    finally:
        signal.alarm(0)
        # Cleanup is bounded (each stop escalates to SIGKILL); a second Ctrl-C or SIGTERM must not cut it short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for process in reversed(processes):
            process.stop()
        for cleanup in reversed(cleanups):
            cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
