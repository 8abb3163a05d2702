"""One Schemathesis run against a served voxhub, with every check it has, and what it found: per check, the
operations and statuses that failed it, and one message each to start from."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
import schemathesis
from schemathesis.engine import events, from_schema


@dataclass
class Found:
    """What a run found, by check."""

    failures: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    cases: int = 0
    seconds: float = 0.0
    stop_reason: str = ""
    phases: dict[str, float] = field(default_factory=dict)
    slowest: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def counts(self) -> dict[str, int]:
        return {check: len(found) for check, found in sorted(self.failures.items())}

    def report(self, limit: int = 8) -> str:
        lines = [f"{self.cases} cases in {self.seconds:.0f} s ({self.stop_reason}); failures by check: {self.counts()}"]
        lines.append("phases: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.phases.items()))
        slowest = sorted(self.slowest.items(), key=lambda item: -item[1])[:8]
        lines.append("slowest: " + ", ".join(f"{label} {seconds:.1f} s" for label, seconds in slowest))
        for check, found in sorted(self.failures.items()):
            lines.append(f"== {check}")
            lines.extend(f"  {item}" for item in found[:limit])
        lines.extend(f"error: {error}" for error in self.errors[:limit])
        return "\n".join(lines)


def run(
    url: str,
    config: dict[str, Any],
    *,
    only: str | None = None,
    keep: str | None = None,
    skip: str | None = None,
    refused: dict[str, set[str]] | None = None,
) -> Found:
    """Fuzz the API whose description is at `url` under Schemathesis `config` (its TOML settings, as a dict).
    Regular expressions narrow the operations: `only` over paths, `keep` and `skip` over names (`GET /api/v1/me`).
    `refused`: by operation name, statuses that positive_data_acceptance lets pass (the caller says why)."""
    # The description is fetched with a patient client: a busy machine can take a while to build it the first time.
    described = httpx.get(url, timeout=120)
    described.raise_for_status()
    base_url = url.removesuffix("/openapi.json")
    schema = schemathesis.openapi.from_dict(
        described.json(), config=schemathesis.Config.from_dict({"base-url": base_url, **config})
    )
    if only:
        schema = schema.include(path_regex=only)
    if keep:
        schema = schema.include(name_regex=f"^({keep})$")
    if skip:
        schema = schema.exclude(name_regex=f"^({skip})$")
    found = Found()
    seen: set[tuple[str, str, str]] = set()
    started = time.monotonic()
    phase_started = started
    for event in from_schema(schema).execute():
        if isinstance(event, events.PhaseStarted):
            phase_started = time.monotonic()
        elif isinstance(event, events.PhaseFinished):
            found.phases[event.phase.name.value] = time.monotonic() - phase_started
        if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            recorder = event.recorder
            found.slowest[recorder.label] += event.elapsed_time
            found.cases += len(recorder.cases)
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    if check.failure_info is None:
                        continue
                    failure = check.failure_info.failure
                    interaction = recorder.interactions.get(case_id)
                    status = interaction.response.status_code if interaction and interaction.response else "-"
                    request = interaction.request if interaction else None
                    where = f"{request.method} {request.uri}" if request else str(failure.operation)
                    if check.name == "positive_data_acceptance" and str(status) in (refused or {}).get(
                        str(failure.operation), set()
                    ):
                        continue
                    key = (check.name, str(failure.operation), f"{status}:{failure.title}")
                    if key in seen:
                        continue
                    seen.add(key)
                    message = " ".join(failure.message.split())[:300]
                    answer = interaction.response.content[:300] if interaction and interaction.response else b""
                    sent = (request.body or b"")[:200] if request else b""
                    found.failures[check.name].append(
                        f"{failure.operation} → {status}: {failure.title}: {message} [{where[:200]}] "
                        f"sent {sent!r}, answer {answer!r}"
                    )
        elif isinstance(event, events.NonFatalError):
            found.errors.append(f"{event.label}: {event.info.message}"[:500])
        elif isinstance(event, events.FatalError):
            found.errors.append(f"fatal: {event.exception!r}"[:500])
        elif isinstance(event, events.EngineFinished):
            found.stop_reason = str(event.stop_reason)
    found.seconds = time.monotonic() - started
    return found
