"""Serve voxhub the way `voxhub serve` does (uvicorn, one process), with cProfile on every thread once told to start
(SIGUSR1, sent after a warm-up, so start-up and first-request work are left out): the event loop and each worker
thread the request path hops to, timed in per-thread CPU time (so waits cost nothing). On SIGTERM or Ctrl-C uvicorn
shuts down and the merged profile is written to OUT (pstats format), and the number of HTTP requests served while
profiling to OUT.requests. bench/api.py --profile runs it; on its own:

    .venv/bin/python bench/profile_server.py OUT.prof --host 127.0.0.1 --port 8000   # then kill -USR1, load, kill
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import pstats
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()
_started = threading.Event()


def _profile_this_thread(*_: Any) -> None:
    """threading's profile hook, called on every event of each thread started after it is set: once profiling has
    started, it starts that thread's own profiler (which replaces the hook)."""
    if not _started.is_set():
        return
    profile = cProfile.Profile(time.thread_time)
    with _lock:
        _profiles.append(profile)
    profile.enable()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=Path, help="Where to write the merged profile (pstats).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--app", default="voxhub.asgi:app", help="The ASGI app, module:attribute (bench/ is on the path)."
    )
    args = parser.parse_args()

    import uvicorn

    # Imports and the app's construction are left out of the profile.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    module, _, attribute = args.app.partition(":")
    app = getattr(importlib.import_module(module), attribute)

    main_profile = cProfile.Profile(time.thread_time)
    _profiles.append(main_profile)
    requests = 0

    async def profiled(scope: Any, receive: Any, send: Any) -> None:
        nonlocal requests
        if scope["type"] == "http" and _started.is_set():
            requests += 1
        await app(scope, receive, send)

    def start(*_: Any) -> None:
        if not _started.is_set():
            _started.set()
            main_profile.enable()  # the handler runs on the main thread: the event loop's

    signal.signal(signal.SIGUSR1, start)
    # uvicorn raises the signal that stopped it again once it has shut down: exit through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    threading.setprofile(_profile_this_thread)
    try:
        uvicorn.run(profiled, host=args.host, port=args.port, log_config=None, proxy_headers=False)
    finally:
        main_profile.disable()
        threading.setprofile(None)
        with _lock:
            profiles = list(_profiles)
        stats: pstats.Stats | None = None
        for profile in profiles:
            try:
                stats = pstats.Stats(profile) if stats is None else stats.add(profile)
            except TypeError:  # a profiler that never saw a call
                continue
        if stats is not None:
            stats.dump_stats(args.out)
        Path(f"{args.out}.requests").write_text(str(requests))


if __name__ == "__main__":
    main()
