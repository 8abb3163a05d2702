"""Benchmark: `media.convert` jobs through voxhub's executors, against calling the convert work directly.

In the same run, on a 5-s clip made with ffmpeg (48 kHz stereo WAV):
- baseline: `voxhub.media.convert.convert()` with the jobs' ConvertSpec (mp3, default params), called N times in a
  loop from one thread, then N times from `--workers` threads (voxhub runs that many jobs at once: the fair
  comparison). A third line adds the probe that storing an output runs (`probe(decode=False)`: ffprobe reads the
  container, as `voxhub.files.service.store_output` does), to tell that cost apart from the engine's own.
- each executor: `voxhub serve` on a fresh data dir and database (SQLite, or PostgreSQL with
  `--database postgresql`), with `--workers` worker threads (local) or Redis plus one `voxhub worker --concurrency
  --workers` (celery). One clip is uploaded, N jobs are posted from 4 client threads as fast as the server takes
  them, and jobs/min runs from the first POST to the last job's `finished_at`. The parallel baseline is run again
  just before each executor, so both see the same load on a shared machine.
- POST → running: one job at a time on an otherwise idle voxhub, `--latency-runs` times, from just before the POST
  to the job's `started_at` (set when a worker claims it); p50 and p99.

Wall-clock rates move with whatever else runs on the machine; the CPU seconds per job (the process trees of
voxhub's server, workers and Redis against the baseline's own) barely do, so an overhead is printed for both.
Progress goes to stderr, the summary to stdout. Any job that does not succeed makes the run exit 1. --profile
records the server and workers with py-spy (pip install py-spy) during the N jobs. Subprocesses and the temp dir
are removed on exit, Ctrl-C and the --timeout-s limit included.

    .venv/bin/python bench/jobs.py [--jobs 500] [--executor local|celery|both] [--workers CPUs]
                                   [--latency-runs 30] [--database sqlite|postgresql] [--profile DIR] [--smoke]
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import redis

# `api` is bench/api.py (the script's folder is on sys.path): its way of running a server in its own process group.
from api import EMAIL, HOST, PASSWORD, Server, free_port, percentile, use_bench_plan, voxhub_command, voxhub_env

from voxhub.media.convert import ConvertSpec, convert
from voxhub.media.probe import probe

REPO_ROOT = Path(__file__).resolve().parent.parent
CLIP_S = 5.0
SPEC = ConvertSpec(format="mp3")  # what media.convert builds from {"format": "mp3"} and default params
JOB_BODY = {"type": "media.convert", "params": {"format": "mp3"}}
POST_CLIENTS = 4
TARGET_OVERHEAD = 0.10  # issue 11: dispatch overhead at most 10% over calling the pipeline directly
POLL_S = 0.5

T = TypeVar("T")


# ---- measuring ----


@dataclass(frozen=True)
class Rate:
    """`jobs` done in `seconds` of wall time, using `cpu_s` CPU seconds."""

    name: str
    jobs: int
    seconds: float
    cpu_s: float

    @property
    def per_minute(self) -> float:
        return self.jobs / self.seconds * 60 if self.seconds else math.nan

    @property
    def cpu_ms_per_job(self) -> float:
        return self.cpu_s / self.jobs * 1000 if self.jobs else math.nan


def own_cpu_s() -> float:
    """This process and its waited-for children (ffmpeg): user + system seconds."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


@dataclass(frozen=True)
class GroupCpu:
    """CPU seconds of a process group: its live processes' own, and the children they have reaped (ffmpeg, ffprobe).

    Each process counts once: a live child is not yet in its parent's figures, an exited one only there."""

    own_s: float
    children_s: float

    @property
    def total_s(self) -> float:
        return self.own_s + self.children_s

    def __sub__(self, earlier: GroupCpu) -> GroupCpu:
        return GroupCpu(self.own_s - earlier.own_s, self.children_s - earlier.children_s)


def group_cpu(process_group: int) -> GroupCpu:
    tick = os.sysconf("SC_CLK_TCK")
    own = children = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[2]) == process_group:
            own += int(fields[11]) + int(fields[12])  # utime, stime
            children += int(fields[13]) + int(fields[14])  # cutime, cstime
    return GroupCpu(own / tick, children / tick)


def load_average() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def in_threads(call: Callable[[int], T], count: int, threads: int) -> list[T]:
    """call(0) … call(count - 1) from `threads` threads, in order."""
    pool = ThreadPoolExecutor(threads)
    try:
        return list(pool.map(call, range(count)))
    finally:
        # On an error, Ctrl-C or the time limit, the calls not yet started are dropped instead of waited for.
        pool.shutdown(wait=True, cancel_futures=True)


# ---- the baseline ----


def make_clip(path: Path) -> None:
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-ac",
            "2",
            "-t",
            f"{CLIP_S:g}",
            "-c:a",
            "pcm_s16le",
            str(path),
        ],
        check=True,
    )


def run_baseline(name: str, source: Path, scratch: Path, *, jobs: int, threads: int, with_probe: bool = False) -> Rate:
    """convert() `jobs` times from `threads` threads, each to its own output file (removed afterwards)."""
    scratch.mkdir(parents=True, exist_ok=True)

    def one(number: int) -> None:
        target = scratch / f"{number}.mp3"
        convert(source, target, SPEC, expected_s=CLIP_S, on_progress=lambda _fraction: None)
        if with_probe:
            probe(str(target), size_bytes=target.stat().st_size, decode=False)  # as store_output probes
        target.unlink()

    cpu = own_cpu_s()
    started = time.perf_counter()
    if threads == 1:
        for number in range(jobs):
            one(number)
    else:
        in_threads(one, jobs, threads)
    return Rate(name, jobs, time.perf_counter() - started, own_cpu_s() - cpu)


# ---- voxhub ----


class Process(Server):
    """A subprocess that answers no HTTP (Redis, a Celery worker), stopped like the servers: by process group."""

    def __init__(
        self,
        name: str,
        command: list[str],
        *,
        env: dict[str, str],
        workdir: Path,
        port: int = 0,
        ready: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(name, command, env=env, workdir=workdir, port=port)
        self.ready = ready

    def start(self, ready_path: str = "", timeout_s: float = 60.0) -> None:
        with self.log_path.open("wb") as output:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=self.workdir,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while self.ready is not None and not self.ready():
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} was not ready within {timeout_s:.0f} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")


def redis_server(workdir: Path) -> Process:
    port = free_port()

    def answers() -> bool:
        try:
            return bool(redis.Redis(host=HOST, port=port, socket_timeout=1).ping())
        except redis.ConnectionError:
            return False

    return Process(
        "redis",
        [
            "redis-server",
            "--bind",
            HOST,
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        env=dict(os.environ),
        workdir=workdir,
        port=port,
        ready=answers,
    )


class PostgreSQL:
    """A throwaway PostgreSQL from scripts/test-postgres.sh."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.url = ""

    def start(self) -> str:
        script = REPO_ROOT / "scripts" / "test-postgres.sh"
        started = subprocess.run(
            [str(script), "start", str(self.directory)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHON": sys.executable},
        )
        if started.returncode != 0:
            raise RuntimeError(f"scripts/test-postgres.sh start failed:\n{started.stderr}")
        self.url = started.stdout.strip().splitlines()[-1]
        return self.url

    def stop(self) -> None:
        subprocess.run(
            [str(REPO_ROOT / "scripts" / "test-postgres.sh"), "stop", str(self.directory)],
            capture_output=True,
            check=False,
        )


@dataclass
class Stack:
    """One voxhub (server, and for Celery: Redis and a worker) with a signed-in superuser and an uploaded clip."""

    executor: str
    server: Server
    processes: list[Server]
    client: httpx.Client
    workspace_id: str = ""
    file_id: str = ""
    profilers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def jobs_url(self) -> str:
        return f"/api/v1/workspaces/{self.workspace_id}/jobs"

    def cpu_by_process(self) -> dict[str, GroupCpu]:
        """CPU seconds so far of each process this stack started, with everything it started (its process group)."""
        return {
            process.name: group_cpu(process.process.pid) for process in self.processes if process.process is not None
        }

    def check_alive(self) -> None:
        for process in self.processes:
            if process.process is not None and process.process.poll() is not None:
                raise RuntimeError(f"{process.name} exited with {process.process.returncode}:\n{process.log_tail()}")


def run_cli(env: dict[str, str], workdir: Path, *args: str) -> None:
    done = subprocess.run([*voxhub_command(), *args], env=env, cwd=workdir, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"voxhub {' '.join(args[:2])} failed:\n{done.stdout}{done.stderr}")


def start_stack(
    executor: str,
    workdir: Path,
    clip: Path,
    *,
    workers: int,
    database: str,
    processes: list[Server],
    cleanups: list[Callable[[], None]],
) -> Stack:
    """Start voxhub for `executor` on a fresh data dir and database; every process started goes into `processes`."""
    home = workdir / executor
    home.mkdir()
    env = {**voxhub_env(home / "data", token_ttl_s=24 * 3600), "VOXHUB_WORKERS": str(workers)}
    if database == "postgresql":
        postgres = PostgreSQL(home / "postgres")
        cleanups.append(postgres.stop)
        env["VOXHUB_DATABASE_URL"] = postgres.start()
        run_cli(env, home, "migrate")
    mine: list[Server] = []
    if executor == "celery":
        broker = redis_server(home)
        processes.append(broker)
        mine.append(broker)
        broker.start()
        env["VOXHUB_QUEUE_URL"] = f"redis://{HOST}:{broker.port}/0"
    # A superuser, so the benchmark can put its workspace on the bench plan and watch the whole queue with one cheap
    # request (GET /api/v1/admin/queue).
    run_cli(env, home, "admin", "create-user", EMAIL, "--password", PASSWORD, "--superuser")
    port = free_port()
    server = Server(
        f"voxhub-{executor}",
        [*voxhub_command(), "serve", "--host", HOST, "--port", str(port)],
        env=env,
        workdir=home,
        port=port,
    )
    processes.append(server)
    mine.append(server)
    server.start("/healthz")
    if executor == "celery":
        # Started after the server has migrated SQLite, so the two never race to migrate it.
        worker = Process(
            "voxhub-worker", [*voxhub_command(), "worker", "--concurrency", str(workers)], env=env, workdir=home
        )
        processes.append(worker)
        mine.append(worker)
        worker.start()
    client = httpx.Client(base_url=server.url, timeout=60.0)
    cleanups.append(client.close)
    tokens = client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
    tokens.raise_for_status()
    client.headers["Authorization"] = f"Bearer {tokens.json()['access_token']}"
    stack = Stack(executor, server, mine, client)
    workspaces = client.get("/api/v1/workspaces")
    workspaces.raise_for_status()
    stack.workspace_id = workspaces.json()["items"][0]["id"]
    use_bench_plan(server.url, dict(client.headers), stack.workspace_id)
    with clip.open("rb") as handle:
        uploaded = client.post(
            f"/api/v1/workspaces/{stack.workspace_id}/files", files={"file": (clip.name, handle, "audio/wav")}
        )
    uploaded.raise_for_status()
    if uploaded.json()["status"] != "ready":
        raise RuntimeError(f"the uploaded clip is not ready: {uploaded.json()}")
    stack.file_id = uploaded.json()["id"]
    return stack


def submit(stack: Stack) -> dict[str, Any]:
    answer = stack.client.post(stack.jobs_url, json={**JOB_BODY, "input": {"file_id": stack.file_id}})
    if answer.status_code != 202:
        raise RuntimeError(f"POST jobs answered {answer.status_code}: {answer.text}")
    return dict(answer.json())


def job_counts(stack: Stack) -> dict[str, int]:
    answer = stack.client.get("/api/v1/admin/queue")
    answer.raise_for_status()
    counts: dict[str, int] = {}
    for by_state in answer.json()["queues"].values():
        for state, count in by_state.items():
            counts[state] = counts.get(state, 0) + count
    return counts


def wait_for_succeeded(stack: Stack, total: int, *, timeout_s: float, every_s: float = POLL_S) -> None:
    """Poll until `total` jobs of the stack have succeeded; fail at the first failed or canceled one."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts = job_counts(stack)
        if counts.get("failed") or counts.get("canceled"):
            failed = stack.client.get(stack.jobs_url, params={"status": "failed", "limit": 1}).json()["items"]
            raise RuntimeError(f"jobs did not succeed: {counts}; first failed: {failed[:1]}")
        if counts.get("succeeded", 0) >= total:
            return
        stack.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{total} succeeded jobs not reached within {timeout_s:.0f} s: {counts}")
        time.sleep(every_s)


def all_jobs(stack: Stack) -> dict[str, dict[str, Any]]:
    jobs: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = stack.client.get(stack.jobs_url, params=params)
        page.raise_for_status()
        body = page.json()
        jobs.update((job["id"], job) for job in body["items"])
        cursor = body.get("next_cursor")
        if not cursor:
            return jobs


def timestamp(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def warm_up(stack: Stack, workers: int) -> None:
    """One job per worker, so imports and first connections are not measured."""
    done = job_counts(stack).get("succeeded", 0)
    for _ in range(workers):
        submit(stack)
    wait_for_succeeded(stack, done + workers, timeout_s=180, every_s=0.2)


def measure_latency(stack: Stack, runs: int) -> tuple[list[float], list[float]]:
    """POST → running (job claimed), and the POST round trip, in seconds, one job at a time."""
    to_running, round_trip = [], []
    for _ in range(runs):
        time.sleep(0.3)  # let the previous job's last writes and the workers' loops settle
        before = time.time()
        job = submit(stack)
        round_trip.append(time.time() - before)
        deadline = time.monotonic() + 120
        while job["status"] not in ("succeeded", "failed", "canceled"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job['id']} still {job['status']} after 120 s")
            time.sleep(0.1)
            answer = stack.client.get(f"{stack.jobs_url}/{job['id']}")
            answer.raise_for_status()
            job = answer.json()
        if job["status"] != "succeeded":
            raise RuntimeError(f"latency job did not succeed: {job}")
        to_running.append(timestamp(job["timings"]["started_at"]) - before)
    return to_running, round_trip


@dataclass(frozen=True)
class ExecutorResult:
    executor: str
    baseline: Rate
    voxhub: Rate
    cpu_by_process: dict[str, GroupCpu]
    posting_s: float
    client_cpu_s: float
    to_running: list[float]
    round_trip: list[float]
    load_before: str
    load_after: str

    @property
    def overhead(self) -> float:
        return 1 - self.voxhub.per_minute / self.baseline.per_minute

    @property
    def cpu_overhead(self) -> float:
        return 1 - self.baseline.cpu_ms_per_job / self.voxhub.cpu_ms_per_job


def start_profilers(stack: Stack, directory: Path) -> None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    for process in stack.processes:
        if process.process is None or process.name == "redis":
            continue
        output = directory / f"{process.name}.collapsed.txt"
        stack.profilers.append(
            subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(process.process.pid),
                    "--subprocesses",
                    "--rate",
                    "100",
                    "--format",
                    "raw",
                    "--output",
                    str(output),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )


def stop_profilers(stack: Stack) -> None:
    for profiler in stack.profilers:
        profiler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
    for profiler in stack.profilers:
        try:
            profiler.wait(timeout=30)
        except subprocess.TimeoutExpired:
            profiler.kill()
            profiler.wait()
    stack.profilers.clear()


def bench_executor(
    executor: str,
    workdir: Path,
    clip: Path,
    args: argparse.Namespace,
    processes: list[Server],
    cleanups: list[Callable[[], None]],
) -> ExecutorResult:
    log(f"[{executor}] starting voxhub ({args.database}, {args.workers} workers)")
    stack = start_stack(
        executor, workdir, clip, workers=args.workers, database=args.database, processes=processes, cleanups=cleanups
    )
    try:
        warm_up(stack, args.workers)
        log(f"[{executor}] POST → running, {args.latency_runs} jobs one at a time")
        to_running, round_trip = measure_latency(stack, args.latency_runs)

        log(f"[{executor}] parallel baseline again ({args.workers} threads, {args.jobs} conversions)")
        baseline = run_baseline(
            f"convert(), {args.workers} threads", clip, workdir / "scratch", jobs=args.jobs, threads=args.workers
        )
        done = job_counts(stack).get("succeeded", 0)
        load_before = load_average()
        log(f"[{executor}] {args.jobs} jobs (load average {load_before})")
        if args.profile:
            start_profilers(stack, args.profile / executor)
        cpu_before, client_cpu = stack.cpu_by_process(), time.process_time()
        first_post = time.time()
        posted = in_threads(lambda _: submit(stack), args.jobs, POST_CLIENTS)
        posting_s = time.time() - first_post
        wait_for_succeeded(stack, done + args.jobs, timeout_s=120 + args.jobs * 6)
        cpu_by_process = {name: cpu - cpu_before[name] for name, cpu in stack.cpu_by_process().items()}
        client_cpu = time.process_time() - client_cpu
        if args.profile:
            stop_profilers(stack)
        load_after = load_average()
        jobs = all_jobs(stack)
        last_finished = max(timestamp(jobs[job["id"]]["timings"]["finished_at"]) for job in posted)
        voxhub = Rate(
            f"voxhub {executor}",
            args.jobs,
            last_finished - first_post,
            sum(cpu.total_s for cpu in cpu_by_process.values()),
        )
        return ExecutorResult(
            executor=executor,
            baseline=baseline,
            voxhub=voxhub,
            cpu_by_process=cpu_by_process,
            posting_s=posting_s,
            client_cpu_s=client_cpu,
            to_running=sorted(to_running),
            round_trip=sorted(round_trip),
            load_before=load_before,
            load_after=load_after,
        )
    finally:
        stop_profilers(stack)
        for process in reversed(stack.processes):
            process.stop()


# ---- the report ----


def rate_line(rate: Rate) -> str:
    return (
        f"  {rate.name:34} {rate.per_minute:9.0f} jobs/min  ({rate.jobs} in {rate.seconds:6.1f} s; "
        f"CPU {rate.cpu_ms_per_job:5.0f} ms/job)"
    )


def ms(ordered: list[float], pct: float) -> str:
    return f"{percentile(ordered, pct) * 1000:.0f}"


def report(baselines: list[Rate], results: list[ExecutorResult], workers: int) -> None:
    print(f"\nmedia.convert of a {CLIP_S:g}-s clip to mp3; {os.cpu_count()} CPU(s), {workers} parallel workers")
    print("baselines (voxhub.media.convert.convert, called directly):")
    for rate in baselines:
        print(rate_line(rate))
    for result in results:
        print(f"[{result.executor}] load average {result.load_before} before, {result.load_after} after")
        print(rate_line(result.baseline) + "  <- run just before")
        print(
            rate_line(result.voxhub) + f"  posting took {result.posting_s:.1f} s; client CPU "
            f"{result.client_cpu_s * 1000 / result.voxhub.jobs:.0f} ms/job"
        )
        per_job = 1000 / result.voxhub.jobs
        print(
            "  CPU ms/job by process (own + the programs it ran): "
            + ", ".join(
                f"{name} {cpu.own_s * per_job:.0f} + {cpu.children_s * per_job:.0f}"
                for name, cpu in result.cpu_by_process.items()
            )
        )
        verdict = "ok" if result.overhead <= TARGET_OVERHEAD else "ABOVE TARGET"
        print(
            f"  overhead: {result.overhead:6.1%} by jobs/min (target <= {TARGET_OVERHEAD:.0%}) {verdict}; "
            f"{result.cpu_overhead:6.1%} by CPU per job"
        )
        print(
            f"  POST -> running ({len(result.to_running)} jobs, idle): p50 {ms(result.to_running, 50)} ms, "
            f"p99 {ms(result.to_running, 99)} ms (POST round trip p50 {ms(result.round_trip, 50)} ms, "
            f"p99 {ms(result.round_trip, 99)} ms)"
        )
    print(
        f"\n{'executor':9} {'baseline/min':>12} {'voxhub/min':>11} {'overhead':>9} {'by CPU':>7} "
        f"{'running p50':>11} {'p99':>7}"
    )
    for result in results:
        print(
            f"{result.executor:9} {result.baseline.per_minute:12.0f} {result.voxhub.per_minute:11.0f} "
            f"{result.overhead:9.1%} {result.cpu_overhead:7.1%} "
            f"{ms(result.to_running, 50):>9}ms {ms(result.to_running, 99):>5}ms"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=500, help="Jobs per executor, and conversions per baseline.")
    parser.add_argument("--executor", choices=("local", "celery", "both"), default="both")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="Jobs at once: VOXHUB_WORKERS, worker --concurrency, and baseline threads.",
    )
    parser.add_argument(
        "--probe-jobs",
        type=int,
        default=100,
        help="Conversions for the convert() + probe() baseline (a rate: fewer is enough).",
    )
    parser.add_argument("--latency-runs", type=int, default=30, help="Jobs timed one at a time for POST -> running.")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--profile", type=Path, help="Record voxhub's processes with py-spy into this folder.")
    parser.add_argument("--timeout-s", type=int, default=3600, help="Give up (and clean up) after this long.")
    parser.add_argument("--smoke", action="store_true", help="A few seconds, tiny sizes: fails on errors, not targets.")
    args = parser.parse_args()
    if args.smoke:  # both executors, one worker, two jobs each
        args.jobs, args.probe_jobs, args.latency_runs, args.workers = 2, 1, 1, 1
        args.timeout_s = min(args.timeout_s, 300)
    executors = ("local", "celery") if args.executor == "both" else (args.executor,)
    if args.profile:
        for executor in executors:
            (args.profile / executor).mkdir(parents=True, exist_ok=True)

    def give_up(signum: int, _frame: object) -> None:
        if signum == signal.SIGALRM:
            raise TimeoutError(f"the benchmark ran past --timeout-s {args.timeout_s}")
        raise SystemExit(143)

    # SIGTERM and the time limit take the same way out as Ctrl-C, through the finally below.
    signal.signal(signal.SIGTERM, give_up)
    signal.signal(signal.SIGALRM, give_up)
    signal.alarm(args.timeout_s)
    workdir = Path(tempfile.mkdtemp(prefix="voxhub-bench-jobs-"))
    processes: list[Server] = []
    cleanups: list[Callable[[], None]] = []
    try:
        clip = workdir / "clip.wav"
        make_clip(clip)
        log(f"{CLIP_S:g}-s clip in {workdir}; {os.cpu_count()} CPU(s), load average {load_average()}")
        log(
            f"baselines: {args.jobs} conversions sequentially, then from {args.workers} threads; "
            f"{min(args.jobs, args.probe_jobs)} with the probe"
        )
        scratch = workdir / "scratch"
        baselines = [
            run_baseline("convert(), 1 thread", clip, scratch, jobs=args.jobs, threads=1),
            run_baseline(f"convert(), {args.workers} threads", clip, scratch, jobs=args.jobs, threads=args.workers),
            run_baseline(
                f"convert() + probe(), {args.workers} threads",
                clip,
                scratch,
                jobs=min(args.jobs, args.probe_jobs),
                threads=args.workers,
                with_probe=True,
            ),
        ]
        results = [bench_executor(executor, workdir, clip, args, processes, cleanups) for executor in executors]
        report(baselines, results, args.workers)
        log(f"load average at the end {load_average()}")
        return 0
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
