"""Following a job over Server-Sent Events, whichever process runs it: the whole story from queued to the final state
in one stream that ends by itself, a reconnect with Last-Event-ID that picks up where the client left off, and a
browser's EventSource following with a short-lived events token instead of an Authorization header."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import People, Person
from tests.jobs_helpers import get_job, job_url, read_events, start, upload, wait_for_job


def test_the_event_stream_tells_a_job_from_queued_to_its_final_state_and_resumes_after_last_event_id(
    client: TestClient, people: People, media: dict[str, Path]
) -> None:
    owner = people.create()
    job = start(client, owner, upload(client, owner, media["medium.flac"]), normalize=True)

    events = read_events(client, owner, job["id"])
    middle = events[len(events) // 2]
    resumed = read_events(client, owner, job["id"], last_event_id=middle.id)

    ids = [event.id for event in events]
    assert ids == sorted(set(ids)), "event ids only increase"
    assert (events[0].kind, events[0].data["status"]) == ("state", "queued")
    assert any(e.kind == "state" and e.data["status"] == "running" for e in events)
    assert [e.data["stage"] for e in events if e.kind == "stage"] == ["preparing", "converting", "storing"]
    progress = [e.data["progress"] for e in events if e.kind in ("progress", "stage")]
    assert len([e for e in events if e.kind == "progress"]) >= 2
    assert progress == sorted(progress) and progress[0] >= 0 and progress[-1] <= 100
    assert any(e.kind == "log" and "converted to mp3" in e.data["message"] for e in events)
    final = events[-1]
    assert final.kind == "state" and final.data["final"] is True
    assert final.data["job"]["status"] == "succeeded"
    assert final.data["job"]["outputs"] == get_job(client, owner, job["id"])["outputs"]
    assert [e.kind for e in events].count("state") == 3  # queued, running, succeeded: nothing after the end
    assert resumed == [event for event in events if event.id > middle.id]


def test_a_stream_opened_after_the_end_replays_everything_and_closes(
    client: TestClient, people: People, media: dict[str, Path]
) -> None:
    owner = people.create()
    job = start(client, owner, upload(client, owner, media["tone.wav"]))
    events = read_events(client, owner, job["id"])

    replayed = read_events(client, owner, job["id"])
    # An EventSource reconnects when a stream ends, saying where it was: it is told there is nothing more to
    # follow (204 stops its reconnecting) instead of being held open with nothing ever coming.
    after_the_end = client.get(
        f"{job_url(owner, job['id'])}/events", headers={**owner.headers, "Last-Event-ID": str(events[-1].id)}
    )

    assert replayed == events
    assert after_the_end.status_code == 204


# ---- following from a browser: EventSource cannot send an Authorization header ----


def events_token(client: TestClient, person: Person, job_id: str, headers: dict[str, str] | None = None) -> Any:
    return client.post(f"{job_url(person, job_id)}/events/token", headers=headers or person.headers)


def test_a_browser_follows_a_job_with_an_events_token_and_no_authorization_header(
    client: TestClient, people: People, media: dict[str, Path]
) -> None:
    owner = people.create()
    viewer = people.add_to(owner, owner.workspace_id, "viewer")
    job = start(client, owner, upload(client, owner, media["tone.wav"]))

    issued = events_token(client, owner, job["id"], headers=viewer.headers)
    assert issued.status_code == 200, issued.text
    body = issued.json()
    followed = read_events(client, viewer, job["id"], url=body["url"])

    assert body["url"] == f"{job_url(owner, job['id'])}/events?token={body['token']}"
    lifetime = datetime.fromisoformat(body["expires_at"]) - datetime.now(UTC)
    assert timedelta(minutes=4) < lifetime <= timedelta(minutes=5)
    assert followed[-1].kind == "state" and followed[-1].data["job"]["status"] == "succeeded"
    assert followed == read_events(client, owner, job["id"])


def test_an_api_key_gets_an_events_token_too(client: TestClient, people: People, media: dict[str, Path]) -> None:
    owner = people.create()
    job = start(client, owner, upload(client, owner, media["tone.wav"]))
    key = client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/api-keys",
        headers=owner.headers,
        json={"name": "dashboard", "scopes": ["read"]},
    ).json()

    issued = events_token(client, owner, job["id"], headers={"Authorization": f"Bearer {key['secret']}"})
    followed = read_events(client, owner, job["id"], url=issued.json()["url"])
    client.delete(f"/api/v1/workspaces/{owner.workspace_id}/api-keys/{key['id']}", headers=owner.headers)
    after_revoking = client.get(issued.json()["url"])

    assert followed[-1].data["job"]["status"] == "succeeded"
    assert after_revoking.status_code == 401
    assert after_revoking.json()["error"]["code"] == "api_key_revoked"


def test_an_events_token_opens_only_its_own_job_and_nothing_else(
    app: Any, client: TestClient, people: People, media: dict[str, Path]
) -> None:
    owner = people.create()
    file_id = upload(client, owner, media["tone.wav"])
    job, other_job = start(client, owner, file_id), start(client, owner, file_id)
    token = events_token(client, owner, job["id"]).json()["token"]
    expired, _ = app.state.ctx.keyring.sign_purpose_token(
        {"ws": owner.workspace_id, "job": job["id"], "sub": owner.id, "sid": "x"},
        purpose="job-events",
        ttl=timedelta(seconds=-1),
    )

    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": "ключ"}).encode()).decode().rstrip("=")
    strange_kid = ".".join([header, *token.split(".")[1:]])

    answers = {
        "another job": client.get(f"{job_url(owner, other_job['id'])}/events", params={"token": token}),
        "expired": client.get(f"{job_url(owner, job['id'])}/events", params={"token": expired}),
        "forged": client.get(f"{job_url(owner, job['id'])}/events", params={"token": token[:-2] + "xx"}),
        "a strange key id": client.get(f"{job_url(owner, job['id'])}/events", params={"token": strange_kid}),
        "as an access token": client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}),
        "on the job itself": client.get(job_url(owner, job["id"]), params={"token": token}),
    }

    assert {what: answer.status_code for what, answer in answers.items()} == dict.fromkeys(answers, 401)
    assert answers["another job"].json()["error"]["code"] == "invalid_token"
    assert answers["expired"].json()["error"]["code"] == "invalid_token"


def test_an_events_token_stops_working_when_its_login_is_signed_out_or_its_holder_leaves(
    client: TestClient, people: People, media: dict[str, Path]
) -> None:
    owner = people.create()
    viewer = people.add_to(owner, owner.workspace_id, "viewer")
    job = start(client, owner, upload(client, owner, media["tone.wav"]))
    read_events(client, owner, job["id"])  # the job is over: a stream that opens replays it and ends
    viewer_url = events_token(client, owner, job["id"], headers=viewer.headers).json()["url"]
    other_login = people.login(owner.email)["access_token"]
    owner_url = events_token(client, owner, job["id"], headers={"Authorization": f"Bearer {other_login}"}).json()["url"]

    assert client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {other_login}"}).status_code == 204
    removed = client.delete(f"/api/v1/workspaces/{owner.workspace_id}/members/{viewer.id}", headers=owner.headers)
    signed_out, left = client.get(owner_url), client.get(viewer_url)

    assert removed.status_code == 204, removed.text
    assert (signed_out.status_code, signed_out.json()["error"]["code"]) == (401, "session_revoked")
    assert (left.status_code, left.json()["error"]["code"]) == (404, "workspace_not_found")


def test_a_retried_job_streams_past_its_earlier_end_to_the_end_of_its_last_attempt(
    client: TestClient, people: People, media: dict[str, Path]
) -> None:
    owner = people.create()
    job = wait_for_job(client, owner, start(client, owner, upload(client, owner, media["tone.wav"]), start_s=30)["id"])
    assert client.post(f"{job_url(owner, job['id'])}/retry", headers=owner.headers).status_code == 202
    assert wait_for_job(client, owner, job["id"])["attempts"] == 2

    events = read_events(client, owner, job["id"])

    finals = [event for event in events if event.kind == "state" and event.data.get("final")]
    assert len(finals) == 2  # the first attempt's end is replayed, and the stream went on
    assert events[-1] == finals[-1]
    assert [e.data["status"] for e in events if e.kind == "state"].count("queued") == 2
