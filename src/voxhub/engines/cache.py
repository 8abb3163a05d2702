"""Loaded models, shared by every job in a process: loaded on first use, unloaded after sitting idle."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class _Entry:
    model: Any
    last_used: float
    users: int = 0


class ModelCache:
    """Keyed, thread-safe. Loading one key blocks only callers of that key; a model in use is never unloaded."""

    def __init__(self, idle_ttl_s: float) -> None:
        self.idle_ttl_s = idle_ttl_s
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._sweeper: threading.Thread | None = None

    def get(self, key: str, load: Callable[[], Any]) -> Any:
        """The model for `key`, loading it if needed. Pair with release(key) when done (or use `use`)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.users += 1
                entry.last_used = time.monotonic()
                return entry.model
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:
                    entry.users += 1
                    entry.last_used = time.monotonic()
                    return entry.model
            model = load()
            with self._lock:
                self._entries[key] = _Entry(model=model, last_used=time.monotonic(), users=1)
                self._start_sweeper()
            return model

    def _start_sweeper(self) -> None:
        """A daemon thread unloads idle models even when no job comes to release anything (caller holds _lock)."""
        if self.idle_ttl_s <= 0 or (self._sweeper is not None and self._sweeper.is_alive()):
            return

        def sweep_while_loaded() -> None:
            while True:
                time.sleep(max(1.0, min(self.idle_ttl_s / 2, 60.0)))
                self.sweep()
                with self._lock:
                    if not self._entries:
                        self._sweeper = None
                        return

        self._sweeper = threading.Thread(target=sweep_while_loaded, name="model-cache-sweeper", daemon=True)
        self._sweeper.start()

    def release(self, key: str) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.users = max(0, entry.users - 1)
                entry.last_used = time.monotonic()
        self.sweep()

    def use(self, key: str, load: Callable[[], Any]) -> _Lease:
        return _Lease(self, key, load)

    def sweep(self, now: float | None = None) -> list[str]:
        """Unload models idle longer than the TTL; returns their keys."""
        if self.idle_ttl_s <= 0:
            return []
        now = time.monotonic() if now is None else now
        with self._lock:
            stale = [
                key
                for key, entry in self._entries.items()
                if entry.users == 0 and now - entry.last_used > self.idle_ttl_s
            ]
            for key in stale:
                del self._entries[key]
        if stale:
            gc.collect()
        return stale

    def loaded(self) -> list[str]:
        with self._lock:
            return sorted(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries = {key: entry for key, entry in self._entries.items() if entry.users > 0}
        gc.collect()


class _Lease:
    def __init__(self, cache: ModelCache, key: str, load: Callable[[], Any]) -> None:
        self.cache, self.key, self.load = cache, key, load

    def __enter__(self) -> Any:
        return self.cache.get(self.key, self.load)

    def __exit__(self, *exc: object) -> None:
        self.cache.release(self.key)
