"""Failed deliveries are retried with growing delays for up to a day, then given up; an endpoint failing for three
days is disabled and its owner told by mail; the delivery log shows every attempt, and any delivery can be sent
again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from tests.conftest import Mailbox, People, body_text
from tests.notify.conftest import (
    Receiver,
    all_deliveries,
    closed_port_url,
    create_webhook,
    deliveries,
    get_json,
    hooks_url,
    joined,
    make_due,
    parse_time,
    set_endpoint,
    upload_ready,
)
from voxhub.clock import utcnow
from voxhub.notify.models import WebhookDelivery


def test_a_failing_receiver_is_retried_until_it_answers(
    client: TestClient,
    people: People,
    receiver: Receiver,
    media: dict[str, Path],
    deliver: Callable[[], int],
    db: Session,
) -> None:
    owner = people.create()
    hook = create_webhook(client, owner, receiver.url(), ["file.ready"])
    file = upload_ready(client, owner, media["tone.wav"])
    receiver.status, receiver.reply = 500, "upstream exploded " + "x" * 5000

    before = utcnow()
    assert deliver() == 1

    [pending] = all_deliveries(client, owner, hook["id"])
    assert pending["status"] == "pending"
    assert pending["attempts"] == 1
    assert pending["last_status_code"] == 500
    assert pending["finished_at"] is None
    assert parse_time(pending["next_attempt_at"]) > before
    [attempt] = pending["attempt_log"]
    assert attempt["status_code"] == 500
    assert attempt["error"] is None
    assert isinstance(attempt["response_ms"], int) and 0 <= attempt["response_ms"] < 5000
    assert attempt["response_body"].startswith("upstream exploded xxx")
    assert 100 <= len(attempt["response_body"]) <= 4096 < len(receiver.reply)
    assert deliver() == 0  # the retry is not due yet

    receiver.status, receiver.reply = 204, ""
    make_due(db, pending["id"])
    assert deliver() == 1

    [done] = all_deliveries(client, owner, hook["id"])
    assert done["id"] == pending["id"]
    assert done["status"] == "succeeded"
    assert done["attempts"] == 2
    assert done["next_attempt_at"] is None and done["finished_at"] is not None
    assert [(a["number"], a["status_code"]) for a in done["attempt_log"]] == [(1, 500), (2, 204)]
    # Both tries are the same message: a receiver deduplicating on webhook-id handles it once.
    first, second = receiver.requests()
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == done["id"]
    for request in (first, second):
        assert Webhook(hook["secret"]).verify(request.body, request.headers)["data"]["id"] == file["id"]
    assert get_json(client, owner, f"{hooks_url(owner.workspace_id)}/{hook['id']}")["failing_since"] is None


def test_retries_wait_longer_each_time_and_stop_within_a_day(
    client: TestClient,
    people: People,
    receiver: Receiver,
    media: dict[str, Path],
    deliver: Callable[[], int],
    db: Session,
) -> None:
    owner = people.create()
    hook = create_webhook(client, owner, receiver.url(), ["file.ready"])
    upload_ready(client, owner, media["tone.wav"])
    receiver.status = 503

    delays: list[int] = []
    for _ in range(30):
        assert deliver() == 1
        [delivery] = all_deliveries(client, owner, hook["id"])
        if delivery["status"] != "pending":
            break
        attempted = parse_time(delivery["attempt_log"][-1]["attempted_at"])
        delays.append(round((parse_time(delivery["next_attempt_at"]) - attempted).total_seconds()))
        make_due(db, delivery["id"])

    assert delivery["status"] == "failed"
    assert delivery["next_attempt_at"] is None and delivery["finished_at"] is not None
    assert delivery["attempts"] == len(delays) + 1 == len(receiver.requests())
    assert [a["status_code"] for a in delivery["attempt_log"]] == [503] * delivery["attempts"]
    assert len(delays) >= 5
    assert delays[0] <= 60
    assert delays == sorted(delays)
    assert delays[-1] >= 100 * delays[0]  # backoff, not a fixed interval
    assert sum(delays) <= timedelta(hours=24).total_seconds()
    make_due(db, delivery["id"], status="failed")
    assert deliver() == 0


def test_a_delivery_is_given_up_once_its_retries_are_spent(
    client: TestClient,
    people: People,
    receiver: Receiver,
    media: dict[str, Path],
    deliver: Callable[[], int],
    db: Session,
) -> None:
    owner = people.create()
    hook = create_webhook(client, owner, receiver.url(), ["file.ready"])
    upload_ready(client, owner, media["tone.wav"])
    receiver.status = 500
    deliver()
    [delivery] = all_deliveries(client, owner, hook["id"])

    make_due(db, delivery["id"], attempts=50)
    assert deliver() == 1

    [failed] = all_deliveries(client, owner, hook["id"])
    assert failed["status"] == "failed"
    assert failed["attempts"] == 51
    assert failed["next_attempt_at"] is None and failed["finished_at"] is not None
    assert deliver() == 0
    assert len(receiver.requests()) == 2


def test_an_endpoint_failing_for_three_days_is_disabled_and_its_owner_emailed(
    client: TestClient,
    app: Any,
    people: People,
    receiver: Receiver,
    media: dict[str, Path],
    deliver: Callable[[], int],
    db: Session,
    mailbox: Mailbox,
) -> None:
    owner = people.create()
    admin = joined(people, owner, "admin")
    hook = create_webhook(client, admin, receiver.url(), ["file.ready"])
    url = f"{hooks_url(owner.workspace_id)}/{hook['id']}"
    upload_ready(client, owner, media["tone.wav"])
    receiver.status = 500
    deliver()
    assert get_json(client, admin, url)["failing_since"] is not None
    [delivery] = all_deliveries(client, admin, hook["id"])

    # Two days of failures are not enough.
    set_endpoint(db, hook["id"], failing_since=utcnow() - timedelta(days=2))
    make_due(db, delivery["id"])
    deliver()
    assert get_json(client, admin, url)["enabled"] is True

    set_endpoint(db, hook["id"], failing_since=utcnow() - timedelta(days=3, minutes=1))
    make_due(db, delivery["id"])
    deliver()

    disabled = get_json(client, admin, url)
    assert disabled["enabled"] is False
    assert "3 days" in disabled["disabled_reason"]
    mail = mailbox.wait_for(owner.email, "webhook endpoint was disabled")
    assert receiver.url() in body_text(mail)
    app.state.ctx.mailer.flush()
    assert [m for m in mailbox.sent_to(admin.email) if "disabled" in str(m["Subject"])] == []
    assert len([m for m in mailbox.sent_to(owner.email) if "disabled" in str(m["Subject"])]) == 1

    # While disabled it gets nothing new.
    upload_ready(client, owner, media["tone.wav"])
    deliver()
    assert len(all_deliveries(client, admin, hook["id"])) == 1
    assert len(receiver.requests()) == 3

    # Enabled again, it starts afresh.
    receiver.status = 200
    enabled = client.patch(url, headers=admin.headers, json={"enabled": True})
    assert enabled.status_code == 200, enabled.text
    assert (enabled.json()["enabled"], enabled.json()["disabled_reason"], enabled.json()["failing_since"]) == (
        True,
        None,
        None,
    )
    file = upload_ready(client, owner, media["tone.wav"])
    deliver()
    latest = receiver.requests()[-1]
    assert Webhook(hook["secret"]).verify(latest.body, latest.headers)["data"]["id"] == file["id"]
    assert get_json(client, admin, url)["failing_since"] is None


def test_a_disabled_endpoint_gets_no_retries_until_enabled_again(
    client: TestClient,
    people: People,
    receiver: Receiver,
    media: dict[str, Path],
    deliver: Callable[[], int],
    db: Session,
) -> None:
    owner = people.create()
    hook = create_webhook(client, owner, receiver.url(), ["file.ready"])
    url = f"{hooks_url(owner.workspace_id)}/{hook['id']}"
    upload_ready(client, owner, media["tone.wav"])
    receiver.status = 500
    deliver()
    [delivery] = all_deliveries(client, owner, hook["id"])

    assert client.patch(url, headers=owner.headers, json={"enabled": False}).status_code == 200
    receiver.status = 200
    make_due(db, delivery["id"])
    deliver()

    assert len(receiver.requests()) == 1
    assert all_deliveries(client, owner, hook["id"])[0]["status"] == "pending"

    assert client.patch(url, headers=owner.headers, json={"enabled": True}).status_code == 200
    deliver()
    assert len(receiver.requests()) == 2
    assert all_deliveries(client, owner, hook["id"])[0]["status"] == "succeeded"


def test_retries_go_to_the_url_the_endpoint_has_now(
    client: TestClient,
    people: People,
    receiver: Receiver,
    media: dict[str, Path],
    deliver: Callable[[], int],
    db: Session,
) -> None:
    owner = people.create()
    hook = create_webhook(client, owner, closed_port_url(), ["file.ready"])
    file = upload_ready(client, owner, media["tone.wav"])
    deliver()
    [delivery] = all_deliveries(client, owner, hook["id"])
    assert delivery["status"] == "pending"

    # The receiver moved; its owner points the endpoint at the new address.
    moved = client.patch(
        f"{hooks_url(owner.workspace_id)}/{hook['id']}", headers=owner.headers, json={"url": receiver.url("moved")}
    )
    assert moved.status_code == 200, moved.text
    make_due(db, delivery["id"])
    deliver()

    [request] = receiver.requests("moved")
    assert Webhook(hook["secret"]).verify(request.body, request.headers)["data"]["id"] == file["id"]
    assert all_deliveries(client, owner, hook["id"])[0]["status"] == "succeeded"


def test_deleting_an_endpoint_drops_its_pending_retries(
    client: TestClient,
    people: People,
    receiver: Receiver,
    media: dict[str, Path],
    deliver: Callable[[], int],
    db: Session,
) -> None:
    owner = people.create()
    hook = create_webhook(client, owner, receiver.url(), ["file.ready"])
    upload_ready(client, owner, media["tone.wav"])
    receiver.status = 500
    deliver()
    [delivery] = all_deliveries(client, owner, hook["id"])
    make_due(db, delivery["id"])

    assert client.delete(f"{hooks_url(owner.workspace_id)}/{hook['id']}", headers=owner.headers).status_code == 204

    assert deliver() == 0
    assert len(receiver.requests()) == 1
    db.rollback()
    assert db.get(WebhookDelivery, delivery["id"]) is None


def test_the_delivery_log_pages_newest_first_and_a_delivery_can_be_sent_again(
    client: TestClient,
    people: People,
    receiver: Receiver,
    media: dict[str, Path],
    deliver: Callable[[], int],
) -> None:
    owner = people.create()
    hook = create_webhook(client, owner, receiver.url(), ["file.ready"])
    other = create_webhook(client, owner, receiver.url("other"), ["file.ready"])
    files = [upload_ready(client, owner, media["tone.wav"]) for _ in range(3)]
    assert deliver() == 6

    first = deliveries(client, owner, hook["id"], limit=2)
    second = deliveries(client, owner, hook["id"], limit=2, cursor=first["next_cursor"])
    assert first["next_cursor"] is not None and second["next_cursor"] is None
    log = first["items"] + second["items"]
    assert [d["payload"]["data"]["id"] for d in log] == [f["id"] for f in reversed(files)]
    assert all(d["status"] == "succeeded" and [a["status_code"] for a in d["attempt_log"]] == [200] for d in log)
    assert (
        client.get(
            f"{hooks_url(owner.workspace_id)}/{hook['id']}/deliveries",
            headers=owner.headers,
            params={"cursor": "not-a-cursor"},
        ).status_code
        == 422
    )

    oldest = log[-1]
    again = client.post(
        f"{hooks_url(owner.workspace_id)}/{hook['id']}/deliveries/{oldest['id']}/redeliver", headers=owner.headers
    )
    assert again.status_code == 202, again.text
    copy = again.json()
    assert copy["id"] != oldest["id"]
    assert (copy["status"], copy["attempts"], copy["attempt_log"]) == ("pending", 0, [])
    assert copy["payload"] == oldest["payload"]
    assert deliver() == 1

    latest = receiver.requests()[-1]
    assert latest.path == "/hooks"
    assert latest.headers["webhook-id"] == copy["id"]
    assert Webhook(hook["secret"]).verify(latest.body, latest.headers) == oldest["payload"]
    newest = all_deliveries(client, owner, hook["id"])
    assert [d["id"] for d in newest] == [copy["id"]] + [d["id"] for d in log]
    assert newest[0]["status"] == "succeeded"

    # A delivery is redelivered only through its own endpoint, and only in its own workspace.
    base = f"{hooks_url(owner.workspace_id)}"
    wrong_endpoint = client.post(f"{base}/{other['id']}/deliveries/{oldest['id']}/redeliver", headers=owner.headers)
    unknown = client.post(f"{base}/{hook['id']}/deliveries/{other['id']}/redeliver", headers=owner.headers)
    stranger = people.create()
    foreign = client.post(f"{base}/{hook['id']}/deliveries/{oldest['id']}/redeliver", headers=stranger.headers)
    assert [r.status_code for r in (wrong_endpoint, unknown, foreign)] == [404, 404, 404]
    assert len(all_deliveries(client, owner, hook["id"])) == 4
