"""Billing catalogs edited for a test: through tomllib, never by replacing text, and checked to have changed.

    edited_catalog(DEFAULT_CATALOG, tmp_path / "billing.toml", {"plans.free.requests_per_minute": 3})

A key is a dotted path as TOML writes it (`'prices."media.convert"'` for a key with a dot in it). A path must exist,
unless it ends in a new table (the value is a dict) under one that exists; `REMOVED` deletes a key."""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w


class _Removed:
    def __repr__(self) -> str:
        return "REMOVED"


REMOVED: Any = _Removed()
"""The value of a change that deletes its key."""

_KEY_PART = re.compile(r'"([^"]*)"|([A-Za-z0-9_-]+)')


def key_path(key: str) -> list[str]:
    """`'prices."media.convert".credits'` → `["prices", "media.convert", "credits"]`."""
    parts: list[str] = []
    position = 0
    while True:
        match = _KEY_PART.match(key, position)
        if match is None:
            raise ValueError(f"not a dotted TOML key: {key!r}")
        parts.append(match.group(1) if match.group(1) is not None else match.group(2))
        position = match.end()
        if position == len(key):
            return parts
        if key[position] != ".":
            raise ValueError(f"not a dotted TOML key: {key!r}")
        position += 1


def _missing(key: str, found: Any, part: str) -> AssertionError:
    keys = sorted(found) if isinstance(found, dict) else type(found).__name__
    return AssertionError(f"catalog edit {key!r}: there is no {part!r} here (found: {keys})")


def _apply(data: dict[str, Any], key: str, value: Any) -> None:
    *parents, last = key_path(key)
    table: Any = data
    for part in parents:
        if not isinstance(table, dict) or part not in table:
            raise _missing(key, table, part)
        table = table[part]
    if not isinstance(table, dict):
        raise _missing(key, table, last)
    if last not in table and not isinstance(value, dict):
        # Only a new table may appear: a new plain key is more likely a misspelt one.
        raise _missing(key, table, last)
    if value is REMOVED:
        del table[last]
    else:
        table[last] = copy.deepcopy(value)


def _lookup(data: Mapping[str, Any], key: str) -> Any:
    value: Any = data
    for part in key_path(key):
        if not isinstance(value, Mapping) or part not in value:
            return REMOVED
        value = value[part]
    return value


def edited_catalog(base: Path, target: Path, changes: Mapping[str, Any]) -> Path:
    """Write `base` with `changes` applied to `target`, read it back and assert every change took; `target`."""
    data = tomllib.loads(base.read_text())
    for key, value in changes.items():
        _apply(data, key, value)
    target.write_text(tomli_w.dumps(data))

    written = tomllib.loads(target.read_text())
    for key, value in changes.items():
        assert _lookup(written, key) == value, f"catalog edit {key!r} did not take: {_lookup(written, key)!r}"
    assert written == data, f"{target} does not read back as written"
    return target
