"""Every benchmark in bench/ runs in its smoke mode (`--smoke`: seconds, tiny sizes, the whole path once), so none
can silently stop working. A benchmark fails here when it exits non-zero: an error, a failed job or upload, a
wrong answer; never because a speed target was missed (smoke runs are far too short to measure anything).

They start their own servers and databases, so they run once, in the SQLite pass of `make test`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
# Modules the benchmarks run or import, not benchmarks themselves.
HELPERS = {"bare_app.py", "bare_auth_app.py", "profile_server.py"}
BENCHMARKS = sorted(path.name for path in BENCH.glob("*.py") if path.name not in HELPERS)
# Far above a smoke run's few seconds: only a hung benchmark gets near it.
HANG_S = 300

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("VOXHUB_TEST_DATABASE_URL")),
    reason="benchmarks bring their own databases: their smoke runs belong to the SQLite pass",
)


def test_every_benchmark_is_listed() -> None:
    listed = {"api.py", "jobs.py", "upload.py", "billing.py", "asr.py", "tts.py", "diarize.py", "podcast.py", "load.py"}
    assert listed <= set(BENCHMARKS)


@pytest.mark.parametrize("script", BENCHMARKS)
def test_benchmark_smoke(script: str) -> None:
    # None of the suite's VOXHUB_ settings leak in (each benchmark removes its own temp dir).
    env = {key: value for key, value in os.environ.items() if not key.startswith("VOXHUB_")}
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--smoke"],
        cwd=BENCH.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG_S,
    )
    output = f"{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    assert done.returncode == 0, f"bench/{script} --smoke exited {done.returncode}:\n{output}"
