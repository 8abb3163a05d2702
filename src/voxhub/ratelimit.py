"""Request rate limits per plan, per API key or user (the `limits` library): counted in memory in one process, or in
Redis when jobs run on Celery, so every API process shares the same counts. Also counts API requests per workspace
for the `api_requests` usage meter."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass

from limits import RateLimitItemPerMinute, storage, strategies

from voxhub.config import Settings

log = logging.getLogger("voxhub.ratelimit")

USAGE_FLUSH_S = 60.0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: int

    @property
    def headers(self) -> dict[str, str]:
        """The IETF draft's RateLimit-* fields, which clients and proxies read."""
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
            "RateLimit-Policy": f"{self.limit};w=60",
        }


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        url = settings.queue_url or ""
        self.shared = url.startswith(("redis://", "rediss://"))
        self.storage = storage.storage_from_string(url if self.shared else "memory://")
        # A sliding window counter: smooth at window edges (no double burst), two counters per key.
        self.strategy = strategies.SlidingWindowCounterRateLimiter(self.storage)
        self._items: dict[int, RateLimitItemPerMinute] = {}
        self._usage: Counter[tuple[str, str]] = Counter()
        self._usage_lock = threading.Lock()
        self._flushed_at = time.monotonic()

    def hit(self, key: str, per_minute: int) -> Decision:
        """Count one request for `key` against `per_minute`; the decision says whether it may go on."""
        item = self._items.get(per_minute)
        if item is None:
            item = self._items[per_minute] = RateLimitItemPerMinute(per_minute)
        try:
            allowed = self.strategy.hit(item, key)
            stats = self.strategy.get_window_stats(item, key)
        except Exception:  # the shared store (Redis) is down: serve rather than refuse everyone
            log.warning("rate limits are not being counted: the limiter's store failed", exc_info=True)
            return Decision(allowed=True, limit=per_minute, remaining=per_minute, reset_s=60)
        reset_s = max(1, math.ceil(stats.reset_time - time.time()))
        return Decision(allowed=allowed, limit=per_minute, remaining=max(0, stats.remaining), reset_s=reset_s)

    def count_request(self, workspace_id: str, day: str) -> None:
        with self._usage_lock:
            self._usage[(workspace_id, day)] += 1

    def take_usage(self, *, force: bool = False) -> dict[tuple[str, str], int]:
        """The API requests counted since the last take, once a minute (or now when forced)."""
        with self._usage_lock:
            if not force and time.monotonic() - self._flushed_at < USAGE_FLUSH_S:
                return {}
            taken, self._usage = dict(self._usage), Counter()
            self._flushed_at = time.monotonic()
        return taken
