"""The model cache: one load per key however many threads ask, nothing unloaded while in use, idle models unloaded."""

from __future__ import annotations

import threading
import time

from voxhub.engines.cache import ModelCache


def test_concurrent_callers_share_one_load() -> None:
    cache = ModelCache(idle_ttl_s=0)
    loads: list[int] = []

    def load() -> object:
        loads.append(1)
        time.sleep(0.05)
        return object()

    seen: list[object] = []

    def use() -> None:
        with cache.use("m", load) as model:
            seen.append(model)

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1
    assert len({id(model) for model in seen}) == 1
    assert cache.loaded() == ["m"]


def test_idle_models_unload_but_not_while_in_use() -> None:
    cache = ModelCache(idle_ttl_s=10)
    model = cache.get("busy", object)
    with cache.use("idle", object):
        pass
    later = time.monotonic() + 60
    assert cache.sweep(now=later) == ["idle"]
    assert cache.loaded() == ["busy"]  # still held by a caller
    cache.release("busy")
    assert cache.sweep(now=time.monotonic() + 60) == ["busy"]
    assert cache.loaded() == []
    assert cache.get("busy", object) is not model  # loaded afresh


def test_the_sweeper_thread_unloads_without_further_calls() -> None:
    cache = ModelCache(idle_ttl_s=0.5)
    with cache.use("m", object):
        pass
    deadline = time.monotonic() + 10
    while cache.loaded() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cache.loaded() == []
