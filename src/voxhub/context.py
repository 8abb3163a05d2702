"""What services need besides a database session: settings, keyring, mailer and blob store — made once per process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from voxhub.billing.catalog import Catalog, cached_catalog
from voxhub.config import Settings
from voxhub.mail import Mailer
from voxhub.ratelimit import RateLimiter
from voxhub.security import Keyring, configure_password_hashing
from voxhub.storage import BlobStore, open_store

if TYPE_CHECKING:
    from voxhub.jobs.executors import Executor


@dataclass
class AppContext:
    settings: Settings
    keyring: Keyring
    mailer: Mailer
    store: BlobStore
    catalog: Catalog
    rate_limiter: RateLimiter
    executor: Executor | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> AppContext:
        configure_password_hashing(
            time_cost=settings.password_hash_time_cost,
            memory_kib=settings.password_hash_memory_kib,
            parallelism=settings.password_hash_parallelism,
        )
        keyring = Keyring(settings.resolved_secret_key, tuple(settings.resolved_previous_secret_keys))
        return cls(
            settings=settings,
            keyring=keyring,
            mailer=Mailer(settings),
            store=open_store(settings, keyring),
            catalog=cached_catalog(settings.billing_catalog),
            rate_limiter=RateLimiter(settings),
        )

    def close(self) -> None:
        self.mailer.close()
