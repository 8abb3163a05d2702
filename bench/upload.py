"""Benchmark: a large media file through voxhub's tus upload, against writing the same bytes straight to the store.

For each store, in the same run, on the same disk:
- local: the baseline reads the file in chunks and writes it to a new file from Python, then fsyncs it. voxhub does
  not fsync tus appends, so the benchmark fsyncs the file the server wrote before the last PATCH and counts that
  time too: on both sides the measured bytes have reached the disk.
- s3 (SeaweedFS started here, `weed mini`): the baseline is boto3's upload_file to the same server, multipart in
  8 MiB parts (voxhub's part size), with boto3's default 10 threads and with one thread (a tus upload is sequential).
The tus client is a plain httpx loop of PATCH requests on one keep-alive connection (one read per chunk, nothing
else), cheaper than tuspy. The last PATCH also makes the server finish the upload (ffprobe, a full decode of the
audio with ffmpeg, sha256 of the stored bytes), so the transfer rate is measured up to the last PATCH and the last
PATCH is timed on its own. The server's RSS, and its children's (ffprobe, ffmpeg), is sampled every 50 ms, and the
CPU seconds the server and the client spend on the transfer are printed: on a busy machine they vary far less than
the rates do. --profile records the server with py-spy (pip install py-spy).

    .venv/bin/python bench/upload.py [--size-mb 1024] [--chunk-mb 10] [--store local|s3|both] [--profile DIR]
                                     [--smoke]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# `api` is bench/api.py (the script's folder is on sys.path): its way of running a server in its own process group.
import boto3
import httpx
from api import EMAIL, HOST, PASSWORD, Server, free_port, use_bench_plan, voxhub_command, voxhub_env
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

MIB = 1024 * 1024
S3_PART_SIZE = 8 * MIB  # voxhub's APPEND_PART_SIZE
TARGET_RATIO = 0.8  # issue 11: tus >= 0.8 of the raw disk write and of boto3
TARGET_RSS_MIB = 100
SAMPLE_RATE = 48_000
CHANNELS = 2
WAV_HEADER = 44
S3_ACCESS_KEY = "benchaccesskey"
S3_SECRET_KEY = "bench-secret-key-not-for-production"
BUCKET = "bench"


# ---- the file ----


def make_wav(path: Path, size_bytes: int) -> None:
    """A 48 kHz stereo 16-bit WAV of about `size_bytes` (ffmpeg's sine generator), the kind of file users upload."""
    frames = (size_bytes - WAV_HEADER) // (CHANNELS * 2)
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
            f"sine=frequency=440:sample_rate={SAMPLE_RATE}",
            "-ac",
            str(CHANNELS),
            "-t",
            f"{frames / SAMPLE_RATE:.6f}",
            "-c:a",
            "pcm_s16le",
            "-fflags",
            "+bitexact",
            "-flags:a",
            "+bitexact",
            str(path),
        ],
        check=True,
    )


def read_chunks(path: Path, chunk_size: int) -> Iterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(chunk_size):
            yield chunk


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    for chunk in read_chunks(path, 8 * MIB):
        digest.update(chunk)
    return digest.hexdigest()


# ---- measuring the server ----


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def _cpu_s(pid: int) -> float:
    """User plus system CPU seconds a process has used (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return found
    for tid in tids:
        try:
            children = Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        for child in map(int, children):
            found += [child, *_descendants(child)]
    return found


class RssSampler:
    """Samples the resident memory of a process, and of its descendants together, every `interval_s` in a thread."""

    def __init__(self, pid: int, interval_s: float = 0.05) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.samples: list[tuple[float, int, int]] = []  # (monotonic time, process RSS, descendants' RSS)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            children = sum(_rss_bytes(child) for child in _descendants(self.pid))
            self.samples.append((time.monotonic(), _rss_bytes(self.pid), children))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, start: float, end: float) -> tuple[int, int]:
        """Highest process RSS and highest descendants' RSS sampled between `start` and `end`."""
        window = [(rss, children) for at, rss, children in self.samples if start <= at <= end] or [(0, 0)]
        return max(rss for rss, _ in window), max(children for _, children in window)


class Profiler:
    """py-spy recording the server while the upload runs (--profile): collapsed stacks per thread, idle waits
    included (the handler's time waiting on the store is part of the picture), one file per store. speedscope.app
    and flamegraph tools read them."""

    def __init__(self, pid: int, output: Path) -> None:
        self.command = [
            str(Path(sys.executable).with_name("py-spy")),
            "record",
            "--pid",
            str(pid),
            "--rate",
            "100",
            "--format",
            "raw",
            "--output",
            str(output),
            "--threads",
            "--idle",
            "--nonblocking",
        ]
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Profiler:
        if not Path(self.command[0]).exists():
            raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # py-spy attaches before the first byte is sent
        return self

    def __exit__(self, *_: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# ---- the tus client ----


@dataclass(frozen=True)
class TusRun:
    create_s: float
    patch_s: list[float]  # every PATCH but the last
    before_last_s: float  # what the caller did between the transfer and the last PATCH (the local fsync)
    last_patch_s: float
    transfer_bytes: int  # bytes sent before the last PATCH
    file: dict[str, object]
    rss_before: int
    rss_peak_transfer: int
    rss_peak_last: int
    children_peak: int
    server_cpu_s: float  # CPU the server used for the transfer (up to the last PATCH)
    client_cpu_s: float  # and this process, the client

    @property
    def transfer_s(self) -> float:
        return self.create_s + sum(self.patch_s) + self.before_last_s

    @property
    def finishing_s(self) -> float:
        """The last PATCH less the median time a PATCH takes to carry a chunk: the server finishing the upload."""
        return self.last_patch_s - (statistics.median(self.patch_s) if self.patch_s else 0.0)


def tus_upload(
    server: Server,
    token: str,
    path: Path,
    *,
    chunk_size: int,
    before_last: Callable[[], None],
    profile: Path | None,
) -> TusRun:
    headers = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    assert server.process is not None
    # Generous per-request limits: the whole run is bounded by --timeout-s.
    with httpx.Client(base_url=server.url, headers=headers, timeout=httpx.Timeout(1800.0)) as client:
        workspaces = client.get("/api/v1/workspaces")
        workspaces.raise_for_status()
        workspace_id = workspaces.json()["items"][0]["id"]
        length = path.stat().st_size
        metadata = ",".join(
            f"{key} {base64.b64encode(value.encode()).decode()}"
            for key, value in (("filename", path.name), ("filetype", "audio/wav"))
        )
        chunks = read_chunks(path, chunk_size)
        last_chunk_size = length - (length - 1) // chunk_size * chunk_size
        patch_s: list[float] = []
        with (
            RssSampler(server.process.pid) as sampler,
            Profiler(server.process.pid, profile) if profile else contextlib.nullcontext(),
        ):
            time.sleep(0.2)
            rss_before = _rss_bytes(server.process.pid)
            server_cpu, client_cpu = _cpu_s(server.process.pid), time.process_time()
            started = time.perf_counter()
            created = client.post(
                f"/api/v1/workspaces/{workspace_id}/uploads/tus/",
                headers={"Upload-Length": str(length), "Upload-Metadata": metadata},
            )
            create_s = time.perf_counter() - started
            if created.status_code != 201:
                raise RuntimeError(f"tus create answered {created.status_code}: {created.text}")
            location = created.headers["Location"]
            offset = 0
            transfer_started = time.monotonic()
            while offset + last_chunk_size < length:
                chunk = next(chunks)
                offset = _patch(client, location, offset, chunk, patch_s)
            transfer_ended = time.monotonic()
            server_cpu, client_cpu = _cpu_s(server.process.pid) - server_cpu, time.process_time() - client_cpu
            before = time.perf_counter()
            before_last()
            before_last_s = time.perf_counter() - before
            last: list[float] = []
            _patch(client, location, offset, next(chunks), last, expect_done=True)
            last_ended = time.monotonic()
        rss_peak_transfer, children_transfer = sampler.peak(transfer_started, transfer_ended)
        rss_peak_last, children_last = sampler.peak(transfer_ended, last_ended)
        file_id = client.head(location).headers["Voxhub-File-Id"]
        answer = client.get(f"/api/v1/workspaces/{workspace_id}/files/{file_id}")
        answer.raise_for_status()
    return TusRun(
        create_s=create_s,
        patch_s=patch_s,
        before_last_s=before_last_s,
        last_patch_s=last[0],
        transfer_bytes=length - last_chunk_size,
        file=answer.json(),
        rss_before=rss_before,
        rss_peak_transfer=rss_peak_transfer,
        rss_peak_last=rss_peak_last,
        children_peak=max(children_transfer, children_last),
        server_cpu_s=server_cpu,
        client_cpu_s=client_cpu,
    )


def _patch(
    client: httpx.Client, location: str, offset: int, chunk: bytes, times: list[float], *, expect_done: bool = False
) -> int:
    started = time.perf_counter()
    answer = client.patch(
        location,
        content=chunk,
        headers={"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
    )
    times.append(time.perf_counter() - started)
    if answer.status_code != 204:
        raise RuntimeError(f"PATCH at offset {offset} answered {answer.status_code}: {answer.text}")
    new_offset = int(answer.headers["Upload-Offset"])
    if new_offset != offset + len(chunk):
        raise RuntimeError(f"PATCH at offset {offset} with {len(chunk)} bytes answered offset {new_offset}")
    if expect_done and "Voxhub-File-Id" not in answer.headers:
        raise RuntimeError("the last PATCH did not complete the upload")
    return new_offset


# ---- servers ----


def start_voxhub(workdir: Path, name: str, extra_env: dict[str, str]) -> Server:
    """voxhub on a fresh SQLite database and data dir holding one verified superuser (made with the CLI) whose
    workspace is on the `bench` plan, started."""
    env = {**voxhub_env(workdir / f"{name}-data", token_ttl_s=24 * 3600), **extra_env}
    subprocess.run(
        [*voxhub_command(), "admin", "create-user", EMAIL, "--password", PASSWORD, "--superuser"],
        env=env,
        cwd=workdir,
        check=True,
        capture_output=True,
    )
    port = free_port()
    server = Server(
        name, [*voxhub_command(), "serve", "--host", HOST, "--port", str(port)], env=env, workdir=workdir, port=port
    )
    try:
        server.start("/healthz")
        # On a plan that limits neither the file's size nor the PATCHes a minute (the free plan limits both).
        headers = {"Authorization": f"Bearer {login(server)}"}
        workspaces = httpx.get(server.url + "/api/v1/workspaces", headers=headers)
        workspaces.raise_for_status()
        use_bench_plan(server.url, headers, workspaces.json()["items"][0]["id"])
    except BaseException:
        server.stop()
        raise
    return server


def login(server: Server) -> str:
    answer = httpx.post(server.url + "/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
    answer.raise_for_status()
    return str(answer.json()["access_token"])


class SeaweedFS(Server):
    """`weed mini` (master, volume, filer, S3) on free ports, checking signatures against one identity."""

    PORTS = (
        "master.port",
        "master.port.grpc",
        "volume.port",
        "volume.port.grpc",
        "filer.port",
        "filer.port.grpc",
        "s3.port",
        "s3.port.grpc",
        "admin.port",
        "admin.port.grpc",
    )

    def __init__(self, workdir: Path) -> None:
        home = workdir / "seaweedfs"
        (home / "data").mkdir(parents=True)
        config = home / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "bench",
                            "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        self.ports = {name: free_port() for name in self.PORTS}
        weed = Path(sys.executable).with_name("weed")
        command = [
            str(weed),
            "mini",
            f"-dir={home / 'data'}",
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
            f"-s3.config={config}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            f"-s3.localSocket={home / 's3.sock'}",
            f"-filer.localSocket={home / 'filer.sock'}",
            *(f"-{name}={port}" for name, port in self.ports.items()),
        ]
        super().__init__("seaweedfs", command, env=dict(os.environ), workdir=workdir, port=self.ports["s3.port"])

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=S3_ACCESS_KEY,
            aws_secret_access_key=S3_SECRET_KEY,
            config=Config(signature_version="s3v4"),
        )

    def start_with_bucket(self, timeout_s: float = 90.0) -> None:
        self.start("/", timeout_s=timeout_s)
        deadline = time.monotonic() + timeout_s
        s3 = self.client()
        while True:
            try:
                s3.create_bucket(Bucket=BUCKET)
                return
            except (ClientError, BotoCoreError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def stop(self) -> None:
        super().stop()
        # weed leaves unix sockets named after its ports in /tmp when it is stopped.
        for port in self.ports.values():
            for socket_path in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
                socket_path.unlink(missing_ok=True)


# ---- the run ----


@dataclass(frozen=True)
class StoreResult:
    store: str
    baselines: dict[str, float]  # name -> MiB/s
    baseline_detail: str
    run: TusRun

    @property
    def baseline(self) -> float:
        return next(iter(self.baselines.values()))

    @property
    def voxhub_mib_s(self) -> float:
        return self.run.transfer_bytes / MIB / self.run.transfer_s


def baseline_local(source: Path, target: Path, chunk_size: int) -> tuple[float, str]:
    cpu = time.process_time()
    started = time.perf_counter()
    with target.open("wb") as handle:
        for chunk in read_chunks(source, chunk_size):
            handle.write(chunk)
        handle.flush()
        written = time.perf_counter()
        os.fsync(handle.fileno())
    ended = time.perf_counter()
    cpu = time.process_time() - cpu
    target.unlink()
    size = source.stat().st_size
    return size / MIB / (ended - started), (
        f"write {written - started:.2f} s + fsync {ended - written:.2f} s; CPU {cpu:.2f} s"
    )


def fsync_path(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def bench_local(
    workdir: Path, source: Path, chunk_size: int, profile: Path | None, servers: list[Server]
) -> StoreResult:
    mib_s, detail = baseline_local(source, workdir / "baseline.bin", chunk_size)
    server = start_voxhub(workdir, "voxhub-local", {})
    servers.append(server)
    try:
        appends = workdir / "voxhub-local-data" / "blobs" / ".appends"

        def fsync_server_file() -> None:
            # voxhub does not fsync; the baseline did, so flush what the server wrote before taking the time.
            (pending,) = [path for path in appends.iterdir() if path.is_file()]
            fsync_path(pending)

        run = tus_upload(
            server,
            login(server),
            source,
            chunk_size=chunk_size,
            before_last=fsync_server_file,
            profile=profile / "local.collapsed.txt" if profile else None,
        )
    finally:
        server.stop()
    return StoreResult("local", {"python write+fsync": mib_s}, detail, run)


def bench_s3(workdir: Path, source: Path, chunk_size: int, profile: Path | None, servers: list[Server]) -> StoreResult:
    weed = SeaweedFS(workdir)
    servers.append(weed)
    weed.start_with_bucket()
    s3 = weed.client()
    baselines: dict[str, float] = {}
    details = []
    size = source.stat().st_size
    for threads in (10, 1):
        config = TransferConfig(
            multipart_threshold=S3_PART_SIZE,
            multipart_chunksize=S3_PART_SIZE,
            max_concurrency=threads,
            use_threads=threads > 1,
        )
        started = time.perf_counter()
        s3.upload_file(str(source), BUCKET, f"baseline-{threads}", Config=config)
        elapsed = time.perf_counter() - started
        s3.delete_object(Bucket=BUCKET, Key=f"baseline-{threads}")
        baselines[f"boto3 upload_file, {threads} thread{'s' if threads > 1 else ''}"] = size / MIB / elapsed
        details.append(f"{threads} thread{'s' if threads > 1 else ''} {elapsed:.2f} s")
    server = start_voxhub(
        workdir,
        "voxhub-s3",
        {
            "VOXHUB_STORAGE_URL": f"s3://{BUCKET}?endpoint={weed.url}&region=us-east-1",
            "VOXHUB_STORAGE_ACCESS_KEY_ID": S3_ACCESS_KEY,
            "VOXHUB_STORAGE_SECRET_ACCESS_KEY": S3_SECRET_KEY,
        },
    )
    servers.append(server)
    try:
        run = tus_upload(
            server,
            login(server),
            source,
            chunk_size=chunk_size,
            before_last=lambda: None,
            profile=profile / "s3.collapsed.txt" if profile else None,
        )
    finally:
        server.stop()
    return StoreResult("s3", baselines, ", ".join(details), run)


def describe(result: StoreResult, sha256: str, size: int) -> list[str]:
    run = result.run
    file = run.file
    if file.get("status") != "ready" or file.get("sha256") != sha256 or file.get("size_bytes") != size:
        raise RuntimeError(f"the uploaded file is not the file sent: {file}")
    lines = [f"[{result.store}] file {file['id']} ready, sha256 matches, media {file.get('media')}"]
    for name, mib_s in result.baselines.items():
        lines.append(f"  baseline {name:28} {mib_s:8.1f} MiB/s")
    lines.append(f"    ({result.baseline_detail})")
    ordered = sorted(run.patch_s)
    fsync = f" + fsync {run.before_last_s:.2f} s" if run.before_last_s >= 0.005 else ""
    lines += [
        f"  voxhub tus transfer                {result.voxhub_mib_s:8.1f} MiB/s  "
        f"({run.transfer_bytes / MIB:.0f} MiB in {len(run.patch_s)} PATCHes: create {run.create_s * 1000:.0f} ms + "
        f"{sum(run.patch_s):.2f} s{fsync})",
        f"  CPU for the transfer: server {run.server_cpu_s:.2f} s "
        f"({run.server_cpu_s / (run.transfer_bytes / 1024 / MIB):.1f} s/GiB), client {run.client_cpu_s:.2f} s",
        f"  PATCH time: median {statistics.median(ordered) * 1000:.0f} ms, "
        f"p90 {ordered[int(len(ordered) * 0.9)] * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms",
        f"  last PATCH (completes: ffprobe, ffmpeg decode, sha256) {run.last_patch_s:.2f} s, "
        f"of which finishing ~{run.finishing_s:.2f} s",
        f"  end to end, creation to last response: {size / MIB / (run.transfer_s + run.last_patch_s):.1f} MiB/s",
        f"  server RSS before {run.rss_before / MIB:.1f} MiB; peak growth during transfer "
        f"{(run.rss_peak_transfer - run.rss_before) / MIB:.1f} MiB, during the last PATCH "
        f"{(run.rss_peak_last - run.rss_before) / MIB:.1f} MiB; ffprobe/ffmpeg children peak "
        f"{run.children_peak / MIB:.1f} MiB",
    ]
    return lines


def summary(results: list[StoreResult]) -> int:
    print(
        f"\n{'store':6} {'baseline MiB/s':>15} {'voxhub MiB/s':>13} {'ratio':>6} {'RSS growth MiB':>15} "
        f"{'last PATCH s':>13}  verdict"
    )
    failed = 0
    for result in results:
        ratio = result.voxhub_mib_s / result.baseline
        growth = (max(result.run.rss_peak_transfer, result.run.rss_peak_last) - result.run.rss_before) / MIB
        ok = ratio >= TARGET_RATIO and growth < TARGET_RSS_MIB
        failed += not ok
        verdict = "ok" if ok else "BELOW TARGET"
        print(
            f"{result.store:6} {result.baseline:15.1f} {result.voxhub_mib_s:13.1f} {ratio:6.2f} {growth:15.1f} "
            f"{result.run.last_patch_s:13.2f}  {verdict}"
        )
        for name, mib_s in list(result.baselines.items())[1:]:
            print(f"{'':6} {mib_s:15.1f} {'':13} {result.voxhub_mib_s / mib_s:6.2f}   (against {name})")
    print(f"targets: ratio >= {TARGET_RATIO} of the baseline, server RSS growth < {TARGET_RSS_MIB} MiB")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-mb", type=int, default=1024, help="Size of the uploaded file, MiB.")
    parser.add_argument("--chunk-mb", type=int, default=10, help="tus PATCH size and baseline write size, MiB.")
    parser.add_argument("--store", choices=("local", "s3", "both"), default="both")
    parser.add_argument("--profile", type=Path, help="Record the server with py-spy into this folder.")
    parser.add_argument("--timeout-s", type=int, default=3600, help="Give up (and clean up) after this long.")
    parser.add_argument("--smoke", action="store_true", help="A few seconds, tiny sizes: fails on errors, not targets.")
    args = parser.parse_args()
    if args.smoke:  # both stores, a 3 MiB file in 1 MiB PATCHes
        args.size_mb, args.chunk_mb, args.timeout_s = 3, 1, min(args.timeout_s, 300)
    chunk_size = args.chunk_mb * MIB
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)

    def give_up(signum: int, _frame: object) -> None:
        if signum == signal.SIGALRM:
            raise TimeoutError(f"the benchmark ran past --timeout-s {args.timeout_s}")
        raise SystemExit(143)

    # SIGTERM and the time limit take the same way out as Ctrl-C, through the finally below.
    signal.signal(signal.SIGTERM, give_up)
    signal.signal(signal.SIGALRM, give_up)
    signal.alarm(args.timeout_s)
    workdir = Path(tempfile.mkdtemp(prefix="voxhub-bench-upload-"))
    servers: list[Server] = []
    try:
        source = workdir / "recording.wav"
        make_wav(source, args.size_mb * MIB)
        size = source.stat().st_size
        sha256 = sha256_of(source)
        print(
            f"{size / MIB:.0f} MiB WAV ({size} bytes), {args.chunk_mb} MiB chunks, in {workdir}; "
            f"{os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f}",
            file=sys.stderr,
            flush=True,
        )
        results = []
        if args.store in ("local", "both"):
            results.append(bench_local(workdir, source, chunk_size, args.profile, servers))
            print("\n".join(describe(results[-1], sha256, size)), flush=True)
        if args.store in ("s3", "both"):
            results.append(bench_s3(workdir, source, chunk_size, args.profile, servers))
            print("\n".join(describe(results[-1], sha256, size)), flush=True)
        print(f"load average at the end {os.getloadavg()[0]:.1f}", file=sys.stderr)
        status = summary(results)
        return 0 if args.smoke else status  # describe() has already checked each stored file
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:
        for server in servers:
            print(f"---- last lines of {server.name}'s log ----\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        signal.alarm(0)
        # Cleanup is bounded (each stop escalates to SIGKILL); a second Ctrl-C or SIGTERM must not cut it short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
