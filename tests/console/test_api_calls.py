"""The console talks only to the public API: every call it makes names an operation documented in /openapi.json, so
nothing the console does is out of reach of an API client, and a renamed route breaks this test, not the page."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from voxhub import console

# `api.get(…)` and the rest, and `all(…)` (every page of a list) but not `Promise.all(…)`.
CALL = re.compile(r"(\bapi\.(get|post|put|patch|del)|(?<![.\w])all)\(\s*(.)")
PATH = re.compile(r"`([^`]*)`")


def console_calls() -> list[tuple[str, str, str]]:
    """(file, method, path) for each API call in the console's own scripts; the path's `${…}` parts as `{}`."""
    calls = []
    for script in sorted(console.STATIC.rglob("*.js")):
        if "vendor" in script.parts or script.name == "api.js":  # the client itself
            continue
        text = script.read_text()
        for match in CALL.finditer(text):
            where = f"{script.relative_to(console.STATIC)}:{text.count(chr(10), 0, match.start()) + 1}"
            method = {"del": "delete", None: "get"}.get(match.group(2), match.group(2))
            path = PATH.match(text, match.start(3))
            assert match.group(3) == "`" and path, f"{where}: write the API path as a template literal in the call"
            template = re.sub(r"\$\{[^}]*\}", "{}", path.group(1)).split("?")[0]
            calls.append((where, method, template))
    return calls


def documented(openapi: dict[str, Any]) -> list[tuple[str, re.Pattern[str]]]:
    operations = []
    for path, item in openapi["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        pattern = re.compile("^" + re.sub(r"\\\{[^}]*\\\}", r"[^/]+", re.escape(path[len("/api/v1") :])) + "$")
        operations += [(method, pattern) for method in item]
    return operations


def test_every_api_call_of_the_console_is_a_documented_operation(client: TestClient) -> None:
    operations = documented(client.get("/openapi.json").json())
    calls = console_calls()
    undocumented = [
        f"{where}: {method.upper()} {path}"
        for where, method, path in calls
        if not any(method == op and pattern.match(path.replace("{}", "x1")) for op, pattern in operations)
    ]

    assert len(calls) > 30
    assert undocumented == []


def test_the_check_catches_a_call_the_api_lacks() -> None:
    operations = [("get", re.compile(r"^/workspaces/[^/]+/files$"))]
    assert any(m == "get" and p.match("/workspaces/x1/files") for m, p in operations)
    assert not any(m == "post" and p.match("/workspaces/x1/files") for m, p in operations)
    assert not any(m == "get" and p.match("/workspaces/x1/filez") for m, p in operations)
