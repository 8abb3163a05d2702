"""A workspace with real rows for the fuzzer to reach: a ready file, a finished job with its output and attempts, a
queued job, an API key, a webhook, an invitation, a conversation and a provider key — and a signed blob link."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from fastapi.testclient import TestClient

from tests.conftest import Person
from tests.jobs_helpers import convert_body, jobs_url, run_job, upload
from voxhub.app import create_app
from voxhub.config import Settings
from voxhub.pagination import encode_cursor


@dataclass
class Seeded:
    """Who the fuzzer acts as and the ids of what they own, by the path parameter's name."""

    person: Person
    path: dict[str, str] = field(default_factory=dict)
    # Query parameters for every operation that has them.
    query: dict[str, str] = field(default_factory=dict)


def seed(client: TestClient, person: Person, settings: Settings, clip: Path) -> Seeded:
    """Real objects in `person`'s workspace. The finished job runs on a local executor of its own, so the app the
    fuzzer talks to can keep every job it is asked for queued (nothing heavy runs while it fuzzes)."""
    base = f"/api/v1/workspaces/{person.workspace_id}"
    headers = person.headers
    with TestClient(create_app(settings.model_copy(update={"queue_url": None, "workers": 1}))) as runner:
        file_id = upload(runner, person, clip)
        done = run_job(runner, person, convert_body(file_id))
    assert done["status"] == "succeeded", done
    queued = client.post(jobs_url(person), headers=headers, json=convert_body(file_id))
    assert queued.status_code == 202, queued.text

    def created(path: str, body: dict[str, object]) -> str:
        answer = client.post(base + path, headers=headers, json=body)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    link = client.get(f"{base}/files/{file_id}/link", headers=headers)
    assert link.status_code == 200, link.text
    token = urlsplit(link.json()["url"]).path.rsplit("/", 1)[-1]
    provider = client.put(f"{base}/provider-keys/openai", headers=headers, json={"api_key": "sk-fuzz-" + "k" * 24})
    assert provider.status_code == 200, provider.text
    path = {
        "workspace_id": person.workspace_id,
        "user_id": person.id,
        "file_id": file_id,
        "job_id": done["id"],
        "api_key_id": created("/api-keys", {"name": "fuzz", "scopes": ["read"]}),
        "webhook_id": created("/webhooks", {"url": "http://127.0.0.1:9/voxhub", "events": ["job.succeeded"]}),
        "invitation_id": created("/invitations", {"email": "guest@example.com", "role": "member"}),
        "conversation_id": created("/conversations", {"title": "fuzz"}),
        "provider": "openai",
        "token": token,
    }
    # A cursor a list handed out: keyset lists take any row's (lists ordered otherwise want one of their own rows).
    return Seeded(person=person, path=path, query={"query.cursor": encode_cursor(file_id)})
