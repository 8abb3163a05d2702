"""Benchmark: job creations/s with billing on against billing off, in the same run.

Two `voxhub serve` processes share one database (PostgreSQL from scripts/test-postgres.sh, or SQLite with
`--database sqlite`) and one Redis that no worker listens on, so jobs are queued and never run and only creating
them is measured: one server runs with VOXHUB_BILLING_ENABLED=true, the other with false. Every workspace is on the
`bench-credits` plan (bench/api.py's catalog: no allowances, so every job is held in credits, and limits no
benchmark reaches) with credits that never run out, and every client has an API key of its own, so billing's
checks all run but never refuse (the plan's rate limit counts per key). `--clients` keep-alive clients POST `translate`
jobs (5 credits each when billed) as fast as they are answered, for `--duration` seconds per server and round; the
rounds alternate which server goes first. Two layouts:
- spread: the clients spread over `--workspaces` workspaces (the usual case);
- one workspace: every client on the same workspace, whose credit account each creation locks in turn (the worst
  case).
It prints creations/s, p50/p99 latency, the CPU per creation of the server (and of PostgreSQL), and the ratio
billing on / off for each layout (target >= 0.7). Afterwards each workspace's held credits must be 5 per job the
billing server created in it; that, or any answer other than 202, makes the run exit 1. Subprocesses and the temp
dir are removed on exit, Ctrl-C and the --timeout-s limit included.

    .venv/bin/python bench/billing.py [--duration 10] [--rounds 3] [--warmup 2] [--clients 16] [--workspaces 16]
                                      [--database postgresql|sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

# `api` and `jobs` are bench/api.py and bench/jobs.py (the script's folder is on sys.path).
from api import (
    CREDITS_PLAN,
    EMAIL,
    HOST,
    PASSWORD,
    Server,
    _one_client,
    free_port,
    percentile,
    voxhub_command,
    voxhub_env,
)

from jobs import PostgreSQL, load_average, log, redis_server, run_cli

JOB_BODY = {
    "type": "translate",
    "input": {"text": "The quarterly report is ready; please read it before the meeting on Thursday."},
    "params": {"source_language": "en", "target_language": "pt"},
}
CREDITS_PER_JOB = 5  # billing.toml: [prices.translate]
TARGET_RATIO = 0.7
SECRET_KEY = "bench-billing-secret-key-" + "k" * 32  # both servers sign and read the same tokens
MODES = ("on", "off")


@dataclass
class Seat:
    """One client: the workspace it creates jobs in, and an API key of its own there."""

    workspace_id: str
    api_key: str

    def request(self, port: int) -> bytes:
        body = json.dumps(JOB_BODY).encode()
        head = (
            f"POST /api/v1/workspaces/{self.workspace_id}/jobs HTTP/1.1\r\n"
            f"Host: {HOST}:{port}\r\n"
            f"Authorization: Bearer {self.api_key}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body


@dataclass
class Tally:
    """What one layout and mode added up to over its measured rounds."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    server_cpu_s: float = 0.0
    database_cpu_s: float = 0.0  # NaN on SQLite

    @property
    def jobs(self) -> int:
        return len(self.latencies) - self.errors

    @property
    def per_second(self) -> float:
        return self.jobs / self.seconds if self.seconds else math.nan

    def cpu_ms_per_job(self, cpu_s: float) -> float:
        return cpu_s / self.jobs * 1000 if self.jobs else math.nan


# ---- load ----


def post_jobs(server: Server, seats: list[Seat], seconds: float) -> tuple[list[list[float]], int, float]:
    """Every seat POSTs jobs back to back on its own connection for `seconds`: each seat's latencies (one per
    answer), the failures (non-2xx answers and broken connections), and the wall time."""
    requests = [seat.request(server.port) for seat in seats]
    latencies: list[list[float]] = [[] for _ in seats]
    errors = [[0] for _ in seats]

    async def load() -> float:
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(
            *(
                _one_client(server.port, request, stop_at, latencies[number], errors[number])
                for number, request in enumerate(requests)
            )
        )
        return time.perf_counter() - started

    elapsed = asyncio.run(load())
    return latencies, sum(count[0] for count in errors), elapsed


class DatabaseCpu:
    """CPU seconds so far of the PostgreSQL server: the postmaster, its processes (each in a session of its own),
    and those it has reaped."""

    def __init__(self, postgres: PostgreSQL | None) -> None:
        self.postmaster = 0
        if postgres is not None:
            dataroot = Path((postgres.directory / "dataroot").read_text().strip())
            self.postmaster = int((dataroot / "data" / "postmaster.pid").read_text().split()[0])

    def seconds(self) -> float:
        if not self.postmaster:
            return math.nan
        ticks = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                pid, rest = stat.read_text().split(" ", 1)
                fields = rest.rsplit(")", 1)[1].split()
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
            if int(pid) == self.postmaster:
                ticks += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
            elif int(fields[1]) == self.postmaster:
                ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")


# ---- setting up ----


def start_servers(
    workdir: Path, database: str, servers: list[Server], cleanups: list[Callable[[], None]]
) -> tuple[dict[str, Server], PostgreSQL | None]:
    """Redis (parked), the database, a superuser, and one voxhub per mode; every process started goes into
    `servers`."""
    env = {**voxhub_env(workdir / "data", token_ttl_s=24 * 3600), "VOXHUB_SECRET_KEY": SECRET_KEY}
    postgres = None
    if database == "postgresql":
        postgres = PostgreSQL(workdir / "postgres")
        cleanups.append(postgres.stop)
        env["VOXHUB_DATABASE_URL"] = postgres.start()
    broker = redis_server(workdir)
    servers.append(broker)
    broker.start()
    env["VOXHUB_QUEUE_URL"] = f"redis://{HOST}:{broker.port}/0"
    run_cli(env, workdir, "migrate")
    run_cli(env, workdir, "admin", "create-user", EMAIL, "--password", PASSWORD, "--superuser")
    by_mode: dict[str, Server] = {}
    for mode in MODES:
        port = free_port()
        server = Server(
            f"voxhub-billing-{mode}",
            [*voxhub_command(), "serve", "--host", HOST, "--port", str(port)],
            env={**env, "VOXHUB_BILLING_ENABLED": "true" if mode == "on" else "false"},
            workdir=workdir,
            port=port,
        )
        servers.append(server)
        server.start("/healthz")
        by_mode[mode] = server
    return by_mode, postgres


def make_workspace(client: httpx.Client, number: int) -> str:
    """A workspace of the superuser on the `bench-credits` plan (no allowances: every job is held in credits; no
    limit reached), with credits that never run out in a run (10**9, the most one grant may give; a refused job
    would be an error)."""
    made = client.post("/api/v1/workspaces", json={"name": f"Bench {number}"})
    made.raise_for_status()
    workspace_id = str(made.json()["id"])
    plan = client.put(f"/api/v1/admin/workspaces/{workspace_id}/plan", json={"plan": CREDITS_PLAN})
    plan.raise_for_status()
    granted = client.post(
        f"/api/v1/admin/workspaces/{workspace_id}/credits", json={"credits": 10**9, "reason": "benchmark"}
    )
    granted.raise_for_status()
    return workspace_id


def make_seats(client: httpx.Client, workspace_ids: list[str], clients: int) -> list[Seat]:
    """`clients` seats spread over the workspaces in turn, each with an API key of its own: the plan's rate limit
    counts per key, and is then checked on every billed request but never reached."""
    seats = []
    for number in range(clients):
        workspace_id = workspace_ids[number % len(workspace_ids)]
        key = client.post(f"/api/v1/workspaces/{workspace_id}/api-keys", json={"name": "bench", "scopes": ["write"]})
        key.raise_for_status()
        seats.append(Seat(workspace_id, key.json()["secret"]))
    return seats


def check_holds(client: httpx.Client, billed: dict[str, int]) -> list[str]:
    """Each workspace holds 5 credits for every job the billing server created in it (none has run)."""
    problems = []
    for workspace_id, jobs in billed.items():
        answer = client.get(f"/api/v1/workspaces/{workspace_id}/billing")
        answer.raise_for_status()
        held = answer.json()["held"]
        if held != jobs * CREDITS_PER_JOB:
            problems.append(f"workspace {workspace_id} holds {held} credits for {jobs} billed jobs")
    return problems


# ---- the run ----


@dataclass
class Layout:
    name: str
    seats: list[Seat]
    tallies: dict[str, Tally] = field(default_factory=lambda: {mode: Tally() for mode in MODES})


def run_layout(
    layout: Layout,
    servers: dict[str, Server],
    database_cpu: DatabaseCpu,
    billed: dict[str, int],
    args: argparse.Namespace,
) -> None:
    def count_billed(mode: str, latencies: list[list[float]]) -> None:
        if mode == "on":
            for seat, answered in zip(layout.seats, latencies, strict=True):
                billed[seat.workspace_id] = billed.get(seat.workspace_id, 0) + len(answered)

    for number in range(args.rounds):
        # Alternate who goes first, so neither mode always runs on a warmer (or more throttled) machine.
        for mode in MODES if number % 2 == 0 else tuple(reversed(MODES)):
            server, tally = servers[mode], layout.tallies[mode]
            if number == 0 and args.warmup > 0:
                latencies, _errors, _elapsed = post_jobs(server, layout.seats, args.warmup)
                count_billed(mode, latencies)
            cpu, database = server.cpu_seconds(), database_cpu.seconds()
            latencies, errors, elapsed = post_jobs(server, layout.seats, args.duration)
            tally.server_cpu_s += server.cpu_seconds() - cpu
            tally.database_cpu_s += database_cpu.seconds() - database
            tally.seconds += elapsed
            tally.errors += errors
            for answered in latencies:
                tally.latencies += answered
            count_billed(mode, latencies)
            jobs = sum(len(answered) for answered in latencies) - errors
            log(
                f"[{layout.name}] round {number + 1}, billing {mode}: {jobs / elapsed:7.1f} jobs/s "
                f"({errors} errors; load average {load_average()})"
            )


def report(layouts: list[Layout], args: argparse.Namespace) -> int:
    print(
        f"\n{args.clients} concurrent clients POSTing translate jobs ({CREDITS_PER_JOB} credits each when billed), "
        f"{args.database}, {args.rounds} rounds of {args.duration:g} s per mode and layout, {os.cpu_count()} CPU(s)\n"
    )
    print(
        f"{'layout':24} {'billing':7} {'jobs/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'server CPU ms/job':>18} {'db CPU ms/job':>14}"
    )
    for layout in layouts:
        for mode in MODES:
            tally = layout.tallies[mode]
            ordered = sorted(tally.latencies)
            print(
                f"{layout.name:24} {mode:7} {tally.per_second:8.1f} {percentile(ordered, 50) * 1000:8.1f} "
                f"{percentile(ordered, 99) * 1000:8.1f} {tally.errors:7d} "
                f"{tally.cpu_ms_per_job(tally.server_cpu_s):18.2f} {tally.cpu_ms_per_job(tally.database_cpu_s):14.2f}"
            )
    print()
    for layout in layouts:
        on, off = layout.tallies["on"], layout.tallies["off"]
        ratio = on.per_second / off.per_second
        verdict = "ok" if ratio >= TARGET_RATIO else "BELOW TARGET"
        by_cpu = off.cpu_ms_per_job(off.server_cpu_s) / on.cpu_ms_per_job(on.server_cpu_s)
        print(
            f"ratio billing on/off, {layout.name}: {ratio:.2f} (target >= {TARGET_RATIO}) {verdict}; "
            f"by server CPU per job: {by_cpu:.2f}"
        )
    errors = sum(tally.errors for layout in layouts for tally in layout.tallies.values())
    if errors:
        print(f"\n{errors} request(s) failed (non-2xx or connection errors): the figures above are not valid.")
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=10.0, help="Measured seconds per mode, layout and round.")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds per layout, alternating which mode goes first.")
    parser.add_argument("--warmup", type=float, default=2.0, help="Unmeasured seconds before each first round.")
    parser.add_argument("--clients", type=int, default=16, help="Concurrent keep-alive clients.")
    parser.add_argument("--workspaces", type=int, default=16, help="Workspaces the clients spread over.")
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--timeout-s", type=int, default=1800, help="Give up (and clean up) after this long.")
    parser.add_argument("--smoke", action="store_true", help="A few seconds, tiny sizes: fails on errors, not targets.")
    args = parser.parse_args()
    if args.smoke:  # SQLite, two clients over two workspaces, one short round per layout
        args.database, args.duration, args.rounds, args.warmup = "sqlite", 0.5, 1, 0.0
        args.clients, args.workspaces = 2, 2
        args.timeout_s = min(args.timeout_s, 300)
    if not 1 <= args.workspaces <= args.clients:
        parser.error("--workspaces is between 1 and --clients")

    def give_up(signum: int, _frame: object) -> None:
        if signum == signal.SIGALRM:
            raise TimeoutError(f"the benchmark ran past --timeout-s {args.timeout_s}")
        raise SystemExit(143)

    # SIGTERM and the time limit take the same way out as Ctrl-C, through the finally below.
    signal.signal(signal.SIGTERM, give_up)
    signal.signal(signal.SIGALRM, give_up)
    signal.alarm(args.timeout_s)
    workdir = Path(tempfile.mkdtemp(prefix="voxhub-bench-billing-"))
    servers: list[Server] = []
    cleanups: list[Callable[[], None]] = []
    try:
        log(f"starting Redis, {args.database} and two voxhub servers in {workdir}")
        by_mode, postgres = start_servers(workdir, args.database, servers, cleanups)
        client = httpx.Client(base_url=by_mode["on"].url, timeout=60.0)
        cleanups.append(client.close)
        tokens = client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
        tokens.raise_for_status()
        client.headers["Authorization"] = f"Bearer {tokens.json()['access_token']}"
        spread = [make_workspace(client, number) for number in range(args.workspaces)]
        layouts = [
            Layout(f"spread ({args.workspaces} workspaces)", make_seats(client, spread, args.clients)),
            Layout("one workspace", make_seats(client, [make_workspace(client, args.workspaces)], args.clients)),
        ]
        database_cpu = DatabaseCpu(postgres)
        billed: dict[str, int] = {}
        for layout in layouts:
            run_layout(layout, by_mode, database_cpu, billed, args)
        status = report(layouts, args)
        problems = check_holds(client, billed) if status == 0 else []
        for problem in problems:
            print(f"held credits do not match the jobs billed: {problem}")
        log(f"load average at the end {load_average()}")
        return 1 if problems else status
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except Exception:
        for server in servers:
            log(f"---- last lines of {server.name}'s log ----\n{server.log_tail()}")
        raise
    finally:
        signal.alarm(0)
        # Cleanup is bounded (each stop escalates to SIGKILL); a second Ctrl-C or SIGTERM must not cut it short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for server in reversed(servers):
            server.stop()
        for cleanup in reversed(cleanups):
            cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
