"""What services need besides a database session: settings, the keyring and the mailer — made once per process."""

from __future__ import annotations

from dataclasses import dataclass

from voxhub.config import Settings
from voxhub.notify.email import Mailer
from voxhub.security import Keyring


@dataclass
class AppContext:
    settings: Settings
    keyring: Keyring
    mailer: Mailer

    @classmethod
    def from_settings(cls, settings: Settings) -> AppContext:
        keyring = Keyring(settings.resolved_secret_key, tuple(settings.resolved_previous_secret_keys))
        return cls(settings=settings, keyring=keyring, mailer=Mailer(settings))

    def close(self) -> None:
        self.mailer.close()
