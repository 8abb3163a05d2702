"""Time-ordered identifiers (UUID version 7) exposed as strings."""

from __future__ import annotations

import os
import threading
import time
import uuid

_RANDOM_BITS = 74  # what a UUIDv7 leaves after its 48 bits of milliseconds and 6 of version and variant
_lock = threading.Lock()
_last = (0, 0)  # (milliseconds, random part) of the last id made in this process


def new_id() -> str:
    """A UUIDv7: 48 bits of Unix milliseconds, then random bits, so ids sort by creation time. Within one process
    they sort by creation even inside one millisecond (RFC 9562's monotonic random: the next id of the same
    millisecond adds a small random step to the last one's random part)."""
    global _last
    millis = time.time_ns() // 1_000_000
    with _lock:
        last_millis, last_random = _last
        if millis <= last_millis:
            millis = last_millis
            random = last_random + 1 + int.from_bytes(os.urandom(4), "big")
            if random >= 1 << _RANDOM_BITS:  # the millisecond is used up: borrow the next one
                millis, random = millis + 1, int.from_bytes(os.urandom(9), "big") >> 2
        else:
            random = int.from_bytes(os.urandom(9), "big") >> 2  # 70 bits: room to step up in one millisecond
        _last = (millis, random)
    high = random >> 62  # 12 bits after the version
    low = random & ((1 << 62) - 1)  # 62 bits after the variant
    value = (millis & ((1 << 48) - 1)) << 80 | 0x7 << 76 | high << 64 | 0x2 << 62 | low
    return str(uuid.UUID(int=value))
