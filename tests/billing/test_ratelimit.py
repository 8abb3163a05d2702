"""The rate limiter itself: a sliding window per key, and open (counting nothing) when its shared store is down."""

from __future__ import annotations

from pathlib import Path

from tests.live_server import free_port
from voxhub.config import Settings
from voxhub.ratelimit import RateLimiter


def test_each_key_gets_its_own_window(tmp_path: Path) -> None:
    limiter = RateLimiter(Settings(_env_file=None, data_dir=tmp_path))  # type: ignore[call-arg]

    first = [limiter.hit("key:a", 2).allowed for _ in range(3)]
    other = limiter.hit("key:b", 2)

    assert first == [True, True, False]
    assert other.allowed and other.remaining == 1
    assert other.headers["RateLimit-Policy"] == "2;w=60"


def test_with_redis_down_requests_are_served_not_refused(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, queue_url=f"redis://127.0.0.1:{free_port()}/0")  # type: ignore[call-arg]
    limiter = RateLimiter(settings)

    decisions = [limiter.hit("key:a", 1) for _ in range(3)]

    assert limiter.shared
    assert all(decision.allowed for decision in decisions)
