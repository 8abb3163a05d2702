"""Benchmark: voxhub's authenticated GET /api/v1/me and GET /api/v1/workspaces against two bare FastAPI apps.

The baselines: bare_app.py answers the same JSON as constants (target: voxhub >= 0.5 of it); bare_auth_app.py checks
the token and reads the row the way the least app would (one PyJWT decode, one indexed ORM SELECT: the floor for
an authenticated read, target >= 0.8 of it). All three run under uvicorn in subprocesses in the same run; each
endpoint is loaded with N concurrent keep-alive clients (wrk when installed, else a small asyncio client), and
voxhub's ratio to each baseline is printed, by requests/s and by server CPU per request. --profile DIR then
profiles voxhub and bare_auth_app.py (profile_server.py) and prints where the CPU per request goes.

    .venv/bin/python bench/api.py [--duration 10] [--clients 16] [--warmup 2] [--client auto|wrk|python]
                                  [--profile DIR] [--smoke]
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
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

BENCH_DIR = Path(__file__).resolve().parent
ENDPOINTS = ("/api/v1/me", "/api/v1/workspaces")
# voxhub's requests/s at least this share of each baseline's: the bare app answering constant JSON (bare_app.py),
# and the bare app that checks the token and reads the row (bare_auth_app.py, the floor for an authenticated read).
TARGETS = {"bare": 0.5, "bare-auth": 0.8}
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
# The same without allowances: every priced job is paid in credits (bench/billing.py measures those holds).
CREDITS_PLAN = "bench-credits"


def bench_catalog(path: Path) -> Path:
    """Write the shipped billing catalog plus the `bench` and `bench-credits` plans to `path`, checked the way voxhub
    checks it. `bench` lists every feature any shipped plan lists, and every allowance meter voxhub has is unlimited
    on it; `bench-credits` lists none and allows none."""
    from voxhub.billing.catalog import ALLOWANCE_METERS, DEFAULT_CATALOG, load_catalog

    shipped = load_catalog(DEFAULT_CATALOG)
    features = sorted({feature for plan in shipped.plans.values() for feature in plan.features})
    allowances = ", ".join(f'{meter} = "unlimited"' for meter in ALLOWANCE_METERS)
    limits = """monthly_price_cents = 0
yearly_price_cents = 0
max_file_size_mb = 1048576
storage_quota_mb = 1048576
concurrent_jobs = 1000000
requests_per_minute = 1000000000
retention_days = 3650"""
    plans = f"""

[plans.{BENCH_PLAN}]
name = "Benchmark"
{limits}
features = {json.dumps(features)}
allowances = {{ {allowances} }}

[plans.{CREDITS_PLAN}]
name = "Benchmark, paid in credits"
{limits}
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DEFAULT_CATALOG.read_text() + plans)
    catalog = load_catalog(path)
    for plan_id in (BENCH_PLAN, CREDITS_PLAN):
        if catalog.plan(plan_id).id != plan_id:
            raise RuntimeError(f"{path} has no {plan_id!r} plan")
    return path


def use_bench_plan(url: str, headers: dict[str, str], workspace_id: str, plan: str = BENCH_PLAN) -> None:
    """Put a workspace on the `bench` plan through the admin API (`headers` authenticate a superuser)."""
    answer = httpx.put(f"{url}/api/v1/admin/workspaces/{workspace_id}/plan", json={"plan": plan}, headers=headers)
    if answer.status_code != 200 or answer.json().get("plan") != plan:
        raise RuntimeError(f"setting the {plan} plan answered {answer.status_code}: {answer.text}")


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


# ---- servers ----


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


def uvicorn_server(name: str, app: str, *, env: dict[str, str], workdir: Path) -> Server:
    """One of the baseline apps in bench/ under uvicorn (one process, no access log), not yet started."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", app, "--app-dir", str(BENCH_DIR), "--host", HOST, "--port", str(port)]
    command += ["--log-level", "warning", "--no-access-log"]
    return Server(name, command, env=env, workdir=workdir, port=port)


def report(results: dict[tuple[str, str], Result], *, client: str, clients: int, seconds: float) -> int:
    print(
        f"\n{clients} concurrent clients, {seconds:g} s per endpoint and server, load from {client}, "
        f"{os.cpu_count()} CPU(s)\n"
    )
    print(f"{'endpoint':24} {'server':9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'CPU us/req':>11}")
    for (path, name), result in results.items():
        print(
            f"{'GET ' + path:24} {name:9} {result.per_second:9.1f} {result.p50_ms:8.2f} {result.p99_ms:8.2f} "
            f"{result.errors:7d} {result.cpu_us_per_request:11.0f}"
        )
    print()
    for path in ENDPOINTS:
        voxhub = results[(path, "voxhub")]
        parts, by_cpu = [], []
        for name, target in TARGETS.items():
            baseline = results[(path, name)]
            ratio = voxhub.per_second / baseline.per_second if baseline.per_second else math.nan
            verdict = "ok" if ratio >= target else "BELOW TARGET"
            parts.append(f"{ratio:.2f} of {name} (target >= {target}) {verdict}")
            by_cpu.append(f"{baseline.cpu_us_per_request / voxhub.cpu_us_per_request:.2f}")
        print(f"ratio GET {path}: {'; '.join(parts)}; by server CPU per request: {' and '.join(by_cpu)}")
    errors = sum(result.errors for result in results.values())
    if errors:
        print(f"\n{errors} request(s) failed (non-2xx or connection errors): the figures above are not valid.")
        return 1
    return 0


# ---- profiling (--profile) ----

# Where a function's own CPU time goes, by the first pattern found in "file:function" (built-ins have file "~").
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "thread hops (anyio/starlette threadpool, locks, queues)",
        ("anyio/to_thread", "starlette/concurrency", "threading.py", "concurrent/futures", "/queue.py", "_thread"),
    ),
    ("JWT (PyJWT, hmac, base64, voxhub.security)", ("/jwt/", "hmac", "hashlib", "security.py", "base64", "binascii")),
    ("database (SQLAlchemy, sqlite3, voxhub.db)", ("sqlalchemy/", "sqlite3", "voxhub/db.py")),
    ("rate limit (voxhub.ratelimit)", ("voxhub/ratelimit.py",)),
    ("metrics (prometheus_client)", ("prometheus_client",)),
    ("middleware (voxhub.observability, starlette middleware)", ("voxhub/observability.py", "/middleware/")),
    ("logging", ("logging/",)),
    (
        "voxhub auth and access code (deps, accounts, workspaces)",
        ("voxhub/deps.py", "voxhub/accounts/", "voxhub/workspaces/", "voxhub/apikeys/"),
    ),
    ("validation and JSON (pydantic, json, encoders)", ("pydantic", "json/", "fastapi/encoders", "fastapi/_compat")),
    ("FastAPI/Starlette routing and dependency solving", ("fastapi/", "starlette/")),
    ("HTTP server (uvicorn, httptools, h11)", ("uvicorn/", "h11", "httptools")),
    ("asyncio event loop and sockets", ("asyncio/", "selectors", "uvloop", "epoll", "socket", "anyio/")),
    ("other voxhub code", ("voxhub/",)),
)

# Calls worth counting per request: (label, pattern in "file:function"). Only plain functions: cProfile counts each
# resumption of a coroutine as a call.
COUNTED = (
    (
        "thread hops (functions run in a worker thread: anyio's _report_result)",
        "anyio/_backends/_asyncio.py:_report_result",
    ),
    ("sessions opened (sessionmaker())", "sqlalchemy/orm/session.py:__call__"),
    ("ORM executes (Session.execute)", "sqlalchemy/orm/session.py:execute"),
    ("SQL statements (sqlite3 Cursor.execute)", "~:<method 'execute' of 'sqlite3.Cursor' objects>"),
    ("commits (Session.commit)", "sqlalchemy/orm/session.py:commit"),
    ("JWT decodes (jwt.api_jwt decode)", "jwt/api_jwt.py:decode"),
    ("log records made (Logger._log)", "logging/__init__.py:_log"),
)


def _where(func: tuple[str, int, str]) -> str:
    filename, _, name = func
    return f"{filename}:{name}"


def _short(func: tuple[str, int, str]) -> str:
    filename, line, name = func
    if filename == "~":
        return name
    for marker in ("/site-packages/", "/src/", "/lib/python3."):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            if marker == "/lib/python3.":
                filename = "stdlib/" + filename.split("/", 1)[1]
            break
    return f"{filename}:{line} {name}"


def profile_summary(stats_path: Path, requests: int) -> list[str]:
    """Where the server's CPU per request went, from a profile_server.py profile: by category, the functions with
    the most own time, voxhub's own functions by cumulative time, and a few calls counted per request."""
    import pstats

    raw = dict(pstats.Stats(str(stats_path)).stats)  # type: ignore[attr-defined]
    per = 1e6 / max(requests, 1)
    # An idle worker thread waits for work in Condition.wait's lock acquire; on a busy machine its wake-ups (and
    # the GIL taken back) can show there as CPU time, far more in one run than the next: counted apart.
    idle = 0.0
    for func, (cc, calls, own, cumulative, callers) in list(raw.items()):
        if func[0] == "~" and "acquire' of '_thread.lock" in func[2]:
            waits = {caller: edge for caller, edge in callers.items() if caller[2].endswith("wait")}
            idle = sum(edge[2] for edge in waits.values())
            rest = {caller: edge for caller, edge in callers.items() if caller not in waits}
            raw[func] = (cc, calls, own - idle, cumulative - idle, rest)
    total = sum(entry[2] for entry in raw.values())

    def category(func: tuple[str, int, str]) -> str:
        where = _where(func)
        return next((name for name, patterns in CATEGORIES if any(p in where for p in patterns)), "other")

    by_category: dict[str, float] = {}
    for func, (_, _, own, _, callers) in raw.items():
        if func[0] == "~" and category(func) == "other":
            # A built-in (isinstance, dict.get, __new__ …) counts for whoever called it, by the time spent for each.
            spent = sum(edge[2] for edge in callers.values()) or 1.0
            for caller, edge in callers.items():
                label = category(caller)
                by_category[label] = by_category.get(label, 0.0) + own * edge[2] / spent
            if callers:
                continue
        label = category(func)
        by_category[label] = by_category.get(label, 0.0) + own
    lines = [
        f"{requests} requests; {total * per:.0f} us of CPU per request under cProfile (per-thread CPU time), "
        f"besides {idle * per:.0f} us/req in idle worker threads' lock waits"
    ]
    lines.append("  by category (own time):")
    for label, own in sorted(by_category.items(), key=lambda item: -item[1]):
        lines.append(f"    {own * per:7.0f} us/req {own / total:6.1%}  {label}")
    lines.append("  functions with the most own time:")
    lines.append(f"    {'us/req':>7} {'calls/req':>9}  function")
    for func, (_, calls, own, _, _) in sorted(raw.items(), key=lambda item: -item[1][2])[:20]:
        lines.append(f"    {own * per:7.1f} {calls / max(requests, 1):9.2f}  {_short(func)}")
    lines.append("  voxhub's functions by cumulative time (coroutines count each resume):")
    voxhub = [(func, entry) for func, entry in raw.items() if "/voxhub/" in func[0]]
    for func, (_, calls, _, cumulative, _) in sorted(voxhub, key=lambda item: -item[1][3])[:15]:
        lines.append(f"    {cumulative * per:7.1f} {calls / max(requests, 1):9.2f}  {_short(func)}")
    lines.append("  calls per request:")
    for label, pattern in COUNTED:
        calls = sum(entry[1] for func, entry in raw.items() if _where(func).endswith(pattern))
        lines.append(f"    {calls / max(requests, 1):6.2f}  {label}")
    return lines


PROFILED = {"voxhub": "voxhub.asgi:app", "bare-auth": "bare_auth_app:app"}


def profile_servers(env: dict[str, str], workdir: Path, out_dir: Path, *, load: Callable[..., Result]) -> list[str]:
    """Each endpoint on a fresh profiled process of voxhub, then of the bare authenticated app (same database):
    warm it up, profile it under load, stop it, summarise the profile."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        "\nProfiles (bench/profile_server.py: cProfile on every thread, in per-thread CPU time; cProfile's own cost "
        "inflates call-heavy code several times, so compare shares and the two servers, not absolute times)"
    ]
    for path in ENDPOINTS:
        for name, app in PROFILED.items():
            stats_path = out_dir / f"{name}-{path.rsplit('/', 1)[1]}.prof"
            port = free_port()
            command = [sys.executable, str(BENCH_DIR / "profile_server.py"), str(stats_path), "--app", app]
            command += ["--host", HOST, "--port", str(port)]
            server = Server(f"{name}-profiled", command, env=env, workdir=workdir, port=port)
            try:
                server.start(path if name != "voxhub" else "/healthz")
                load(server, path, warmup=True)
                assert server.process is not None
                server.process.send_signal(signal.SIGUSR1)  # start profiling
                time.sleep(0.2)
                load(server, path, warmup=False)
            finally:
                server.stop()
            requests = int(Path(f"{stats_path}.requests").read_text())
            lines += [f"\nGET {path} on {name}: {stats_path}", *profile_summary(stats_path, requests)]
    (out_dir / "summary.txt").write_text("\n".join(lines) + "\n")
    return lines


# ---- the run ----


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
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="Afterwards, profile voxhub and the bare authenticated app (cProfile) under the same load; "
        "profiles and summary.txt go to DIR.",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="A few seconds: every server and endpoint once, briefly; no figures."
    )
    args = parser.parse_args()
    if args.smoke:
        args.duration, args.warmup, args.clients, args.client = 0.3, 0.0, 2, "python"
    client = "wrk" if args.client == "wrk" or (args.client == "auto" and shutil.which("wrk")) else "python"
    if client == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not installed (apt-get install wrk), or use --client python")

    # SIGTERM takes the same way out as Ctrl-C, through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="voxhub-bench-"))
    servers: list[Server] = []
    try:
        total_s = len(ENDPOINTS) * 4 * (args.warmup + args.duration)
        voxhub = voxhub_server(workdir, token_ttl_s=max(900, int(total_s * 2) + 300))
        servers.append(voxhub)
        voxhub.start("/healthz")
        headers = {"Authorization": f"Bearer {login(voxhub)}"}
        bodies = fetch_bodies(voxhub, headers)

        bodies_path = workdir / "bodies.json"
        bodies_path.write_text(json.dumps(bodies))
        # The constant app has no database; the authenticated one reads voxhub's (same settings, same secret key).
        bare_env = {**voxhub_env(workdir / "unused", 900), "BENCH_BODIES": str(bodies_path)}
        bare = uvicorn_server("bare", "bare_app:app", env=bare_env, workdir=workdir)
        bare_auth = uvicorn_server("bare-auth", "bare_auth_app:app", env=voxhub.env, workdir=workdir)
        for baseline in (bare, bare_auth):
            servers.append(baseline)
            baseline.start("/docs")
            if fetch_bodies(baseline, headers) != bodies:
                raise RuntimeError(f"{baseline.name} does not answer the same JSON as voxhub")

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
        trio = [voxhub, bare, bare_auth]
        for index, path in enumerate(ENDPOINTS):
            # Rotate who goes first, so no server always runs on a warmer (or more throttled) machine.
            for server in trio[index % 3 :] + trio[: index % 3]:
                print(
                    f"GET {path} on {server.name}: {args.warmup:g} s warm-up, {args.duration:g} s measured …",
                    file=sys.stderr,
                    flush=True,
                )
                if args.warmup > 0:
                    load(server, path, args.warmup)
                results[(path, server.name)] = load(server, path, args.duration)
        ordered = {(path, server.name): results[(path, server.name)] for path in ENDPOINTS for server in trio}
        status = report(ordered, client=client, clients=args.clients, seconds=args.duration)
        if args.profile:
            for server in servers:
                server.stop()  # the profiled server runs alone

            def profiled_load(server: Server, path: str, *, warmup: bool) -> Result:
                result = load(server, path, max(args.warmup, 0.5) if warmup else args.duration)
                if result.errors:
                    raise RuntimeError(f"{result.errors} request(s) to the profiled voxhub failed")
                return result

            print("\n".join(profile_servers(voxhub.env, workdir, args.profile, load=profiled_load)))
        return status
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
