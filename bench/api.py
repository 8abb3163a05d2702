"""Benchmark: voxhub's authenticated GET /api/v1/me and GET /api/v1/workspaces against a bare FastAPI app.

Both run under uvicorn in subprocesses in the same run; each endpoint is loaded with N concurrent keep-alive
clients (wrk when installed, else a small asyncio client), and the voxhub/bare ratio of requests/s is printed.

    .venv/bin/python bench/api.py [--duration 10] [--clients 16] [--warmup 2] [--client auto|wrk|python]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

BENCH_DIR = Path(__file__).resolve().parent
ENDPOINTS = ("/api/v1/me", "/api/v1/workspaces")
TARGET_RATIO = 0.5
EMAIL = "bench@example.com"
PASSWORD = "bench-password-not-common"
HOST = "127.0.0.1"

# wrk's Lua hooks: count every non-2xx response (wrk itself only counts >= 400) and print one JSON line.
WRK_SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) non_2xx = 0 end
function response(status, headers, body)
  if status < 200 or status > 299 then non_2xx = non_2xx + 1 end
end
function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do failed = failed + thread:get("non_2xx") end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    failed + e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass(frozen=True)
class Result:
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    server_cpu_s: float = math.nan

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_request(self) -> float:
        """The server's own CPU time per request: unlike requests/s, barely moved by other load on the machine."""
        return self.server_cpu_s / self.requests * 1e6 if self.requests else math.nan


class Server:
    """A uvicorn server in its own process group, so stopping it stops everything it started."""

    def __init__(self, name: str, command: list[str], *, env: dict[str, str], workdir: Path, port: int) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.workdir = workdir
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self.log_path = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready_path: str, timeout_s: float = 60.0) -> None:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + ready_path, timeout=1.0).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer on {self.url} within {timeout_s:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process (all its threads) so far; NaN where /proc is missing."""
        try:
            fields = Path(f"/proc/{self.process.pid if self.process else 0}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return math.nan
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def voxhub_command() -> list[str]:
    script = Path(sys.executable).with_name("voxhub")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from voxhub.cli import main; main()"]


def voxhub_env(data_dir: Path, token_ttl_s: int) -> dict[str, str]:
    """A fresh SQLite voxhub: none of the caller's VOXHUB_ settings leak in. Its billing catalog is the shipped one
    plus the `bench` plan (see `use_bench_plan`), written beside the data dir."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("VOXHUB_")}
    env.update(
        {
            "VOXHUB_DATA_DIR": str(data_dir),
            "VOXHUB_LOG_LEVEL": "WARNING",
            "VOXHUB_ACCESS_TOKEN_TTL_S": str(token_ttl_s),
            "VOXHUB_BILLING_CATALOG": str(bench_catalog(data_dir.parent / f"{data_dir.name}-billing.toml")),
        }
    )
    return env


# A plan that limits nothing a benchmark does (requests a minute, jobs at once, file size, storage, allowances):
# benchmarks measure voxhub's path with billing on, not the free plan's refusals. The server's own limits still apply.
BENCH_PLAN = "bench"
BENCH_PLAN_TOML = f"""

[plans.{BENCH_PLAN}]
name = "Benchmark"
monthly_price_cents = 0
yearly_price_cents = 0
max_file_size_mb = 1048576
storage_quota_mb = 1048576
concurrent_jobs = 1000000
requests_per_minute = 1000000000
retention_days = 3650
features = ["transcription", "synthesis", "translation", "diarization", "webhooks", "dubbing", "priority_queue"]

[plans.{BENCH_PLAN}.allowances]
audio_minutes = "unlimited"
tts_characters = "unlimited"
podcasts = "unlimited"
translations = "unlimited"
"""


def bench_catalog(path: Path) -> Path:
    """Write the shipped billing catalog plus the `bench` plan to `path`, checked the way voxhub checks it."""
    from voxhub.billing.catalog import DEFAULT_CATALOG, load_catalog

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DEFAULT_CATALOG.read_text() + BENCH_PLAN_TOML)
    if load_catalog(path).plan(BENCH_PLAN).id != BENCH_PLAN:
        raise RuntimeError(f"{path} has no {BENCH_PLAN!r} plan")
    return path


def use_bench_plan(env: dict[str, str], workdir: Path, workspace_id: str) -> None:
    """Put a workspace on the `bench` plan with `voxhub admin set-plan` (read by the server on the next request)."""
    done = subprocess.run(
        [*voxhub_command(), "admin", "set-plan", workspace_id, BENCH_PLAN],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 or f"on the {BENCH_PLAN} plan" not in done.stdout:
        raise RuntimeError(f"voxhub admin set-plan failed:\n{done.stdout}{done.stderr}")


# ---- load generators ----


def run_wrk(url: str, headers: dict[str, str], *, clients: int, seconds: float, script: Path) -> Result:
    command = [
        "wrk",
        "--threads",
        "1",
        "--connections",
        str(clients),
        "--duration",
        f"{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "--script",
        str(script),
    ]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("BENCH_JSON "))
    data = json.loads(line.removeprefix("BENCH_JSON "))
    return Result(
        requests=data["requests"],
        errors=data["errors"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
    )


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise RuntimeError("response without Content-Length; the Python client does not read chunked bodies")


async def _one_client(port: int, request: bytes, stop_at: float, latencies: list[float], errors: list[int]) -> None:
    """One keep-alive connection sending requests back to back: far cheaper per request than a full HTTP client,
    so the load generator leaves as much CPU as it can to the server."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        while (started := time.perf_counter()) < stop_at:
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(_content_length(head))
            except (ConnectionError, asyncio.IncompleteReadError):
                errors[0] += 1
                writer.close()
                reader, writer = await asyncio.open_connection(HOST, port)
                continue
            latencies.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 2"):
                errors[0] += 1
    finally:
        writer.close()


def run_python(url: str, headers: dict[str, str], *, clients: int, seconds: float) -> Result:
    parsed = httpx.URL(url)
    lines = [
        f"GET {parsed.raw_path.decode()} HTTP/1.1",
        f"Host: {parsed.host}:{parsed.port}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    latencies: list[float] = []
    errors = [0]

    async def load() -> float:
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(
            *(_one_client(parsed.port or 80, request, stop_at, latencies, errors) for _ in range(clients))
        )
        return time.perf_counter() - started

    elapsed = asyncio.run(load())
    latencies.sort()
    return Result(
        requests=len(latencies),
        errors=errors[0],
        seconds=elapsed,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
    )


def percentile(ordered: list[float], pct: float) -> float:
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


# ---- the run ----


def voxhub_server(workdir: Path, token_ttl_s: int) -> Server:
    """voxhub on a fresh SQLite database holding one verified user (made with the CLI), not yet started."""
    data_dir = workdir / "data"
    env = voxhub_env(data_dir, token_ttl_s)
    made = subprocess.run(
        [*voxhub_command(), "admin", "create-user", EMAIL, "--password", PASSWORD, "--name", "Bench User"],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        raise RuntimeError(f"voxhub admin create-user failed:\n{made.stdout}{made.stderr}")
    port = free_port()
    server = Server(
        "voxhub", [*voxhub_command(), "serve", "--host", HOST, "--port", str(port)], env=env, workdir=workdir, port=port
    )
    return server


def login(server: Server) -> str:
    response = httpx.post(server.url + "/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
    response.raise_for_status()
    return str(response.json()["access_token"])


def fetch_bodies(server: Server, headers: dict[str, str]) -> dict[str, object]:
    bodies: dict[str, object] = {}
    for path in ENDPOINTS:
        response = httpx.get(server.url + path, headers=headers)
        response.raise_for_status()
        bodies[path] = response.json()
    return bodies


def report(results: dict[tuple[str, str], Result], *, client: str, clients: int, seconds: float) -> int:
    print(
        f"\n{clients} concurrent clients, {seconds:g} s per endpoint and server, load from {client}, "
        f"{os.cpu_count()} CPU(s)\n"
    )
    print(f"{'endpoint':24} {'server':7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'CPU us/req':>11}")
    for (path, name), result in results.items():
        print(
            f"{'GET ' + path:24} {name:7} {result.per_second:9.1f} {result.p50_ms:8.2f} {result.p99_ms:8.2f} "
            f"{result.errors:7d} {result.cpu_us_per_request:11.0f}"
        )
    print()
    for path in ENDPOINTS:
        voxhub, bare = results[(path, "voxhub")], results[(path, "bare")]
        ratio = voxhub.per_second / bare.per_second
        verdict = "ok" if ratio >= TARGET_RATIO else "BELOW TARGET"
        print(
            f"ratio GET {path}: {ratio:.2f} (target >= {TARGET_RATIO}) {verdict}; "
            f"by server CPU per request: {bare.cpu_us_per_request / voxhub.cpu_us_per_request:.2f}"
        )
    errors = sum(result.errors for result in results.values())
    if errors:
        print(f"\n{errors} request(s) failed (non-2xx or connection errors): the figures above are not valid.")
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=10.0, help="Measured seconds per endpoint and server.")
    parser.add_argument("--warmup", type=float, default=2.0, help="Unmeasured seconds before each measurement.")
    parser.add_argument("--clients", type=int, default=16, help="Concurrent keep-alive connections.")
    parser.add_argument(
        "--client",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="Load generator: wrk when installed (auto), or the built-in asyncio client.",
    )
    args = parser.parse_args()
    client = "wrk" if args.client == "wrk" or (args.client == "auto" and shutil.which("wrk")) else "python"
    if client == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not installed (apt-get install wrk), or use --client python")

    # SIGTERM takes the same way out as Ctrl-C, through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="voxhub-bench-"))
    servers: list[Server] = []
    try:
        total_s = len(ENDPOINTS) * 2 * (args.warmup + args.duration)
        voxhub = voxhub_server(workdir, token_ttl_s=max(900, int(total_s * 2) + 300))
        servers.append(voxhub)
        voxhub.start("/healthz")
        headers = {"Authorization": f"Bearer {login(voxhub)}"}
        bodies = fetch_bodies(voxhub, headers)

        bodies_path = workdir / "bodies.json"
        bodies_path.write_text(json.dumps(bodies))
        port = free_port()
        bare_env = {**voxhub_env(workdir / "unused", 900), "BENCH_BODIES": str(bodies_path)}
        bare = Server(
            "bare",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bare_app:app",
                "--app-dir",
                str(BENCH_DIR),
                "--host",
                HOST,
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=bare_env,
            workdir=workdir,
            port=port,
        )
        servers.append(bare)
        bare.start(ENDPOINTS[0])
        if fetch_bodies(bare, headers) != bodies:
            raise RuntimeError("the bare app does not answer the same JSON as voxhub")

        script = workdir / "count_errors.lua"
        script.write_text(WRK_SCRIPT)

        def load(server: Server, path: str, seconds: float) -> Result:
            cpu_before = server.cpu_seconds()
            if client == "wrk":
                result = run_wrk(server.url + path, headers, clients=args.clients, seconds=seconds, script=script)
            else:
                result = run_python(server.url + path, headers, clients=args.clients, seconds=seconds)
            return replace(result, server_cpu_s=server.cpu_seconds() - cpu_before)

        results: dict[tuple[str, str], Result] = {}
        for index, path in enumerate(ENDPOINTS):
            # Alternate who goes first, so neither server always runs on a warmer (or more throttled) machine.
            for server in (voxhub, bare) if index % 2 == 0 else (bare, voxhub):
                print(
                    f"GET {path} on {server.name}: {args.warmup:g} s warm-up, {args.duration:g} s measured …",
                    file=sys.stderr,
                    flush=True,
                )
                if args.warmup > 0:
                    load(server, path, args.warmup)
                results[(path, server.name)] = load(server, path, args.duration)
        ordered = {(path, name): results[(path, name)] for path in ENDPOINTS for name in ("voxhub", "bare")}
        return report(ordered, client=client, clients=args.clients, seconds=args.duration)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
