"""Events reach a real receiver, signed with the Standard Webhooks scheme: the receiver verifies them with the
`standardwebhooks` package and finds the file or job exactly as GET returns it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.conftest import People, Person
from tests.jobs_helpers import run_job
from tests.notify.conftest import (
    Received,
    Receiver,
    all_deliveries,
    closed_port_url,
    create_webhook,
    get_json,
    hooks_url,
    parse_time,
    upload,
    upload_ready,
)
from voxhub.clock import utcnow
from voxhub.config import Settings


def verified(secret: str, request: Received) -> Any:
    """The event as a customer's handler reads it: only after its signature checks out."""
    return Webhook(secret).verify(request.body, request.headers)


def assert_not_verifiable(secret: str, request: Received) -> None:
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(request.body, request.headers)


def files_url(person: Person) -> str:
    return f"/api/v1/workspaces/{person.workspace_id}/files"


def jobs_url(person: Person) -> str:
    return f"/api/v1/workspaces/{person.workspace_id}/jobs"


def test_a_ready_file_is_delivered_signed_with_the_endpoint_secret(
    client: TestClient, people: People, receiver: Receiver, media: dict[str, Path], deliver: Callable[[], int]
) -> None:
    owner = people.create()
    hook = create_webhook(client, owner, receiver.url(), ["file.ready"])
    file = upload_ready(client, owner, media["tone.wav"])

    assert deliver() == 1

    [request] = receiver.requests()
    assert request.method == "POST"
    assert request.path == "/hooks"
    assert request.headers["content-type"] == "application/json"
    assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= request.headers.keys()
    assert request.headers["webhook-signature"].startswith("v1,")
    assert abs(int(request.headers["webhook-timestamp"]) - utcnow().timestamp()) < 60
    event = verified(hook["secret"], request)
    assert event["type"] == "file.ready"
    assert event["data"] == get_json(client, owner, f"{files_url(owner)}/{file['id']}")
    assert abs((parse_time(event["timestamp"]) - utcnow()).total_seconds()) < 60
    assert_not_verifiable(get_json(client, owner, f"{hooks_url(owner.workspace_id)}/job-secret")["secret"], request)
    tampered = Received(request.method, request.path, request.headers, request.body.replace(b"ready", b"READY"))
    assert_not_verifiable(hook["secret"], tampered)

    [logged] = all_deliveries(client, owner, hook["id"])
    assert logged["id"] == request.headers["webhook-id"]
    assert logged["status"] == "succeeded"
    assert logged["event_type"] == "file.ready"
    assert logged["payload"] == event
    assert logged["next_attempt_at"] is None and logged["finished_at"] is not None
    assert [(a["number"], a["status_code"], a["response_body"], a["error"]) for a in logged["attempt_log"]] == [
        (1, 200, "thanks", None)
    ]
    assert deliver() == 0
    assert len(receiver.requests()) == 1


def test_a_rejected_file_is_delivered_with_its_reason(
    client: TestClient, people: People, receiver: Receiver, media: dict[str, Path], deliver: Callable[[], int]
) -> None:
    owner = people.create()
    hook = create_webhook(client, owner, receiver.url(), ["file.rejected"])

    refused = upload(client, owner, media["notes.wav"])
    assert refused.status_code == 422, refused.text
    deliver()

    [request] = receiver.requests()
    event = verified(hook["secret"], request)
    assert event["type"] == "file.rejected"
    assert event["data"]["id"] == refused.json()["error"]["details"]["file_id"]
    assert event["data"]["status"] == "rejected"
    assert event["data"]["reject_reason"] == refused.json()["error"]["details"]["reason"]
    assert event["data"]["filename"] == "notes.wav"


def test_only_enabled_endpoints_subscribed_to_the_event_in_its_workspace_receive_it(
    client: TestClient, people: People, receiver: Receiver, media: dict[str, Path], deliver: Callable[[], int]
) -> None:
    owner = people.create()
    stranger = people.create()
    subscribed = create_webhook(client, owner, receiver.url("subscribed"), ["file.ready", "job.failed"])
    create_webhook(client, owner, receiver.url("jobs-only"), ["job.succeeded"])
    create_webhook(client, owner, receiver.url("disabled"), ["file.ready"], enabled=False)
    create_webhook(client, stranger, receiver.url("stranger"), ["file.ready"])

    upload_ready(client, owner, media["tone.wav"])
    deliver()

    assert [request.path for request in receiver.requests()] == ["/subscribed"]
    verified(subscribed["secret"], receiver.requests()[0])


def test_a_finished_job_is_delivered_as_get_returns_it(
    client: TestClient, people: People, receiver: Receiver, media: dict[str, Path], deliver: Callable[[], int]
) -> None:
    owner = people.create()
    hook = create_webhook(client, owner, receiver.url(), ["job.succeeded", "job.failed"])
    file = upload_ready(client, owner, media["tone.wav"])

    succeeded = run_job(
        client,
        owner,
        {
            "type": "media.convert",
            "input": {"file_id": file["id"]},
            "params": {"format": "mp3"},
            "metadata": {"episode": "42"},
        },
    )
    failed = run_job(
        client,
        owner,
        {"type": "media.convert", "input": {"file_id": file["id"]}, "params": {"format": "mp3", "start_s": 100}},
    )
    assert (succeeded["status"], failed["status"]) == ("succeeded", "failed")
    assert deliver() == 2

    events = {event["type"]: event for event in (verified(hook["secret"], r) for r in receiver.requests())}
    assert sorted(events) == ["job.failed", "job.succeeded"]
    assert events["job.succeeded"]["data"] == get_json(client, owner, f"{jobs_url(owner)}/{succeeded['id']}")
    assert events["job.succeeded"]["data"]["outputs"] == succeeded["outputs"] != []
    assert events["job.succeeded"]["data"]["metadata"] == {"episode": "42"}
    assert events["job.failed"]["data"] == get_json(client, owner, f"{jobs_url(owner)}/{failed['id']}")
    assert events["job.failed"]["data"]["error"]["code"] == "trim_out_of_range"
    assert [d["status"] for d in all_deliveries(client, owner, hook["id"])] == ["succeeded", "succeeded"]


def test_a_jobs_own_webhook_url_gets_its_final_event_signed_with_the_job_secret(
    client: TestClient, people: People, receiver: Receiver, media: dict[str, Path], deliver: Callable[[], int]
) -> None:
    owner = people.create()
    hook = create_webhook(client, owner, receiver.url("endpoint"), ["job.succeeded"])
    file = upload_ready(client, owner, media["tone.wav"])

    job = run_job(
        client,
        owner,
        {
            "type": "media.convert",
            "input": {"file_id": file["id"]},
            "params": {"format": "wav"},
            "webhook_url": receiver.url("this-job"),
        },
    )
    assert deliver() == 2

    job_secret = get_json(client, owner, f"{hooks_url(owner.workspace_id)}/job-secret")["secret"]
    [request] = receiver.requests("this-job")
    event = verified(job_secret, request)
    assert event["type"] == "job.succeeded"
    assert event["data"] == get_json(client, owner, f"{jobs_url(owner)}/{job['id']}")
    assert event["data"]["webhook_url"] == receiver.url("this-job")
    assert_not_verifiable(hook["secret"], request)
    # The endpoint subscribed to the same event gets its own copy, under its own secret.
    [copy] = receiver.requests("endpoint")
    assert verified(hook["secret"], copy) == event
    assert copy.headers["webhook-id"] != request.headers["webhook-id"]


def test_after_rotating_the_secret_deliveries_verify_only_with_the_new_one(
    client: TestClient, people: People, receiver: Receiver, media: dict[str, Path], deliver: Callable[[], int]
) -> None:
    owner = people.create()
    hook = create_webhook(client, owner, receiver.url(), ["file.ready"])
    upload_ready(client, owner, media["tone.wav"])
    deliver()
    verified(hook["secret"], receiver.requests()[0])

    rotated = client.post(f"{hooks_url(owner.workspace_id)}/{hook['id']}/rotate-secret", headers=owner.headers)
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != hook["secret"]

    second = upload_ready(client, owner, media["tone.wav"])
    deliver()
    latest = receiver.requests()[-1]
    assert len(receiver.requests()) == 2
    assert verified(new_secret, latest)["data"]["id"] == second["id"]
    assert_not_verifiable(hook["secret"], latest)


def test_an_unreachable_receiver_is_retried_later(
    client: TestClient, people: People, media: dict[str, Path], deliver: Callable[[], int]
) -> None:
    owner = people.create()
    hook = create_webhook(client, owner, closed_port_url(), ["file.ready"])
    upload_ready(client, owner, media["tone.wav"])

    before = utcnow()
    assert deliver() == 1

    [logged] = all_deliveries(client, owner, hook["id"])
    assert logged["status"] == "pending"
    assert logged["attempts"] == 1
    assert parse_time(logged["next_attempt_at"]) > before
    [attempt] = logged["attempt_log"]
    assert attempt["status_code"] is None
    assert "ConnectError" in attempt["error"]
    assert get_json(client, owner, f"{hooks_url(owner.workspace_id)}/{hook['id']}")["failing_since"] is not None
    assert deliver() == 0  # not due yet


def test_a_receiver_slower_than_the_timeout_times_out_and_is_retried(
    client: TestClient,
    people: People,
    receiver: Receiver,
    media: dict[str, Path],
    deliver: Callable[[], int],
    settings: Settings,
) -> None:
    owner = people.create()
    hook = create_webhook(client, owner, receiver.url(), ["file.ready"])
    upload_ready(client, owner, media["tone.wav"])
    # Released when the test ends: only voxhub waits, and only for its VOXHUB_WEBHOOK_TIMEOUT_S.
    receiver.delay_s = settings.webhook_timeout_s + 5

    deliver()

    [logged] = all_deliveries(client, owner, hook["id"])
    assert logged["status"] == "pending"
    [attempt] = logged["attempt_log"]
    assert attempt["status_code"] is None
    assert "Timeout" in attempt["error"]
    timeout_ms = settings.webhook_timeout_s * 1000
    assert timeout_ms * 0.95 <= attempt["response_ms"] < timeout_ms + 4_000
    assert len(receiver.requests()) == 1


@pytest.mark.parametrize("allow_private", [False])
def test_a_job_webhook_url_on_loopback_is_refused_when_the_job_is_created(
    client: TestClient,
    people: People,
    receiver: Receiver,
    media: dict[str, Path],
    db: Session,
) -> None:
    owner = people.create()
    file = upload_ready(client, owner, media["tone.wav"])

    refused = client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/jobs",
        headers=owner.headers,
        json={
            "type": "media.convert",
            "input": {"file_id": file["id"]},
            "params": {"format": "mp3"},
            "webhook_url": receiver.url("this-job"),
        },
    )

    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "webhook_url_not_allowed"
    assert client.get(f"/api/v1/workspaces/{owner.workspace_id}/jobs", headers=owner.headers).json()["items"] == []
    assert receiver.requests() == []
