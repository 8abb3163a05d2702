"""Following a job over Server-Sent Events, whichever process runs it: the whole story from queued to the final state
in one stream that ends by itself, and a reconnect with Last-Event-ID that picks up where the client left off."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import People
from tests.jobs.conftest import get_job, job_url, read_events, start, upload


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
