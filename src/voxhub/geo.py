"""Where an IP address is: its country, and its city where the database has one, looked up offline.

The database is a geoip2fast data file (GeoLite2 data by MaxMind, repackaged): by default the country file for IPv4
and IPv6 that ships inside the `geoip2fast` package; `VOXHUB_GEOIP_DATABASE` names another one on disk (a city file,
for cities). Nothing is ever downloaded. Private, reserved and unknown addresses have no place."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Country names for IPv4 and IPv6, 1.9 MB; loaded on the first lookup (≈0.1 s, ≈40 MiB), so a worker that never
# places an address never pays for it.
BUNDLED = "geoip2fast-ipv6.dat.gz"


@dataclass(frozen=True)
class Place:
    """A country (ISO 3166-1 alpha-2 code and English name) and, where the database has it, a city."""

    country: str
    country_name: str
    city: str | None = None

    def __str__(self) -> str:
        return f"{self.city}, {self.country_name}" if self.city else self.country_name


_lock = threading.Lock()
_wanted: str | None = None  # the file the settings name; None: the bundled one
_reader: Any = None
_reader_file: str | None = None


def configure_geoip(*, database: Path | None) -> None:
    """Use `database` (a geoip2fast .dat.gz file) for lookups from now on; None keeps the bundled country file."""
    global _wanted
    _wanted = str(database) if database else None


def _open() -> Any:
    """The process's reader for the configured file. geoip2fast keeps its tables in module globals, so one file is
    loaded at a time: a different file replaces it."""
    global _reader, _reader_file
    wanted = _wanted or BUNDLED
    if _reader is not None and _reader_file == wanted:
        return _reader
    with _lock:
        if _reader is None or _reader_file != wanted:
            from geoip2fast import GeoIP2Fast

            _reader = GeoIP2Fast(geoip2fast_data_file=wanted)
            _reader_file = wanted
        return _reader


def locate(ip: str) -> Place | None:
    """The place of a public address, or None (private, reserved, not in the database, or not an address)."""
    if not ip or len(ip) > 64:
        return None
    result = _open().lookup(ip)
    code = str(result.country_code or "")
    if result.is_private or len(code) != 2 or not code.isalpha():
        return None  # geoip2fast answers "--" for reserved and unknown networks, "" for what is not an address
    city = getattr(result.city, "name", "") or None
    return Place(country=code.upper(), country_name=str(result.country_name), city=str(city)[:200] if city else None)


def country_name(code: str) -> str:
    """The English name of an ISO country code the database knows; the code itself otherwise."""
    _open()
    from geoip2fast import geoip2fast as tables

    names: dict[str, str] = getattr(tables, "geoipCountryNamesDict", None) or {}
    return names.get(code, code)
