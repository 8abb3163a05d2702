"""What services need besides a database session: settings, keyring, mailer, blob store, rate limiter and the job
queue — made once per process. A low room: it holds only things from rooms below every domain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from voxhub.config import Settings
from voxhub.geo import configure_geoip
from voxhub.mail import Mailer
from voxhub.ratelimit import RateLimiter
from voxhub.security import Keyring, configure_password_hashing
from voxhub.storage import BlobStore, open_store


class JobQueue(Protocol):
    """Where accepted jobs are sent: worker threads inside this process, or Celery queues on Redis."""

    def enqueue(self, job_id: str, queue: str, *, delay_s: float = 0) -> None: ...


@dataclass
class AppContext:
    settings: Settings
    keyring: Keyring
    mailer: Mailer
    store: BlobStore
    rate_limiter: RateLimiter
    queue: JobQueue | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> AppContext:
        configure_password_hashing(
            time_cost=settings.password_hash_time_cost,
            memory_kib=settings.password_hash_memory_kib,
            parallelism=settings.password_hash_parallelism,
        )
        configure_geoip(database=settings.geoip_database)
        keyring = Keyring(settings.resolved_secret_key, tuple(settings.resolved_previous_secret_keys))
        return cls(
            settings=settings,
            keyring=keyring,
            mailer=Mailer(settings),
            store=open_store(settings, keyring),
            rate_limiter=RateLimiter(settings),
        )

    def close(self) -> None:
        self.mailer.close()
