"""The README stays true: it shows the two commands, documents every setting, and its walk-through works."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from voxhub.config import Settings

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_readme_opens_with_run_and_test_commands() -> None:
    opening = README[:600]
    assert "make run" in opening and "make test" in opening


def test_every_setting_is_documented_in_readme() -> None:
    missing = [f"VOXHUB_{name.upper()}" for name in Settings.model_fields if f"`VOXHUB_{name.upper()}`" not in README]
    assert missing == []


# ---- the walk-through, run as written ----


def walk_through() -> str:
    """The shell block under "A walk-through with curl"."""
    section = README.split("### A walk-through with curl", 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


def json_documents(text: str) -> list[Any]:
    """The JSON documents printed one after another."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(text.rstrip()):
        document, end = decoder.raw_decode(text, at)
        found.append(document)
        at = end + len(text[end:]) - len(text[end:].lstrip())
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def voxhub_serving(checkout: Path, env: dict[str, str], port: int) -> Iterator[Path]:
    """`voxhub serve` on `port`, started in `checkout` as `make run` would, with its log; stopped afterwards."""
    log = checkout / "serve.log"
    with log.open("wb") as handle:
        server = subprocess.Popen(
            [str(checkout / ".venv" / "bin" / "voxhub"), "serve", "--port", str(port)],
            cwd=checkout,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"voxhub serve did not answer within 120 s:\n{log.read_text()}"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield log
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_the_walk_through_works_as_written(tmp_path: Path) -> None:
    """The commands of "A walk-through with curl", unchanged but for the port, in a fresh checkout's shape: a
    `.venv` with voxhub in it, the default settings (SQLite and mail in ./var) and no mail server."""
    (tmp_path / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith("VOXHUB_")}
    port = _free_port()
    script = walk_through()
    assert "http://127.0.0.1:8000" in script

    with voxhub_serving(tmp_path, env, port) as log:
        ran = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script.replace("http://127.0.0.1:8000", f"http://127.0.0.1:{port}")],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )

    assert ran.returncode == 0, f"{ran.stdout}\n{ran.stderr}\n{log.read_text()[-4000:]}"
    signed_up, verified, members = json_documents(ran.stdout)  # curl prints each answer without a newline
    assert signed_up["email"] == "ada@example.com" and signed_up["email_verified"] is False
    assert verified["email"] == "ada@example.com" and verified["email_verified"] is True, verified
    listed = members["items"]
    assert [member["email"] for member in listed] == ["ada@example.com"]
