"""Hooks: how a lower room lets higher rooms act on what happens in it, without importing them.

The room below declares a hook and calls `send` where the thing happens; a room above connects a receiver when it
is imported. Receivers run in the sender's transaction, in the order they connected; an error in one rolls the
whole change back, as if the sender had raised it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy.orm import Session

Event = TypeVar("Event")
Receiver = Callable[[Session, Event], None]


class Hook(Generic[Event]):
    def __init__(self, name: str) -> None:
        self.name = name
        self._receivers: list[Receiver[Event]] = []

    def connect(self, receiver: Receiver[Event]) -> Receiver[Event]:
        """Call `receiver(db, event)` on every send from now on (once, however often it is connected)."""
        if receiver not in self._receivers:
            self._receivers.append(receiver)
        return receiver

    def send(self, db: Session, event: Event) -> None:
        for receiver in self._receivers:
            receiver(db, event)
