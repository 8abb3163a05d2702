"""SendGrid as the mail provider, against a local server speaking its v3 API: mail goes out as `mail/send` with the
unsubscribe headers, 5xx answers are retried with backoff and 4xx ones recorded as failures; the signed Event
Webhook (ECDSA P-256, a key made for the test) moves the log by message id, and bounces and spam complaints stop
optional mail to the address while security mail still goes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import People
from tests.mail.helpers import JOB_CONTEXT, logged, send
from tests.mail.sendgrid_fake import EventSigner, FakeSendGrid, event
from voxhub.config import Settings

EVENTS = "/api/v1/email/sendgrid/events"
RESET = {"name": "Ada", "link": "http://voxhub.test/reset-password?token=t", "hours": 1}


@pytest.fixture
def sendgrid() -> Iterator[FakeSendGrid]:
    fake = FakeSendGrid().start()
    yield fake
    fake.stop()


@pytest.fixture
def signer() -> EventSigner:
    return EventSigner()


@pytest.fixture
def settings(settings: Settings, sendgrid: FakeSendGrid, signer: EventSigner) -> Settings:
    return settings.model_copy(
        update={
            "sendgrid_api_key": sendgrid.api_key,
            "sendgrid_api_url": sendgrid.url,
            "sendgrid_webhook_public_key": signer.public_key,
            "mail_retry_base_s": 0.05,
        }
    )


def deliver(client: TestClient, signer: EventSigner, events: list[dict[str, Any]]) -> Any:
    body = json.dumps(events).encode()
    return client.post(EVENTS, content=body, headers=signer.headers(body))


def test_mail_goes_through_sendgrids_api_with_the_unsubscribe_headers(
    app: Any, people: People, sendgrid: FakeSendGrid
) -> None:
    ada = people.create()
    send(app, template="job_ready", to=ada.email, context=JOB_CONTEXT, user_id=ada.id, workspace_id=ada.workspace_id)

    [mail] = [m for m in sendgrid.sent if m.to == ada.email]
    body = mail.body
    assert body["subject"] == "Your transcription is ready"
    assert [part["type"] for part in body["content"]] == ["text/plain", "text/html"]
    assert "http://voxhub.test/unsubscribe?token=" in body["content"][0]["value"]
    assert body["headers"]["List-Unsubscribe"].startswith("<http://voxhub.test/api/v1/email/unsubscribe?token=")
    assert body["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    [row] = logged(app, template="job_ready")
    assert (row.provider, row.status, row.provider_message_id, row.attempts) == ("sendgrid", "sent", mail.message_id, 1)
    assert mail.custom_args == {"voxhub_email_id": row.id}


def test_an_outage_is_retried_with_backoff_and_a_refusal_is_recorded_as_failed(
    app: Any, people: People, sendgrid: FakeSendGrid
) -> None:
    ada, bob = people.create(), people.create()
    sendgrid.script = [503, 502]
    send(app, template="password_reset", to=ada.email, context=RESET)
    sendgrid.script = [400]
    before = len(sendgrid.requests)
    send(app, template="password_reset", to=bob.email, context=RESET)

    [sent] = logged(app, to_address=ada.email, template="password_reset")
    [refused] = logged(app, to_address=bob.email, template="password_reset")
    assert (sent.status, sent.attempts, sent.error) == ("sent", 3, None)
    assert [m.to for m in sendgrid.sent].count(ada.email) == 1
    assert (refused.status, refused.attempts) == ("failed", 1)
    assert refused.error is not None and "400" in refused.error
    assert len(sendgrid.requests) - before == 1  # a 4xx is not tried again


def test_signed_events_move_the_log_and_a_bounce_stops_optional_mail_but_not_security_mail(
    client: TestClient, app: Any, people: People, sendgrid: FakeSendGrid, signer: EventSigner
) -> None:
    ada, bob = people.create(), people.create()
    for person in (ada, bob):
        send(app, template="job_ready", to=person.email, context=JOB_CONTEXT, user_id=person.id)
    to_ada, to_bob = (next(m for m in sendgrid.sent if m.to == p.email) for p in (ada, bob))

    delivered = deliver(client, signer, [event(to_ada, "processed"), event(to_ada, "delivered")])
    bounced = deliver(client, signer, [event(to_bob, "bounce", reason="550 5.1.1 no such user", type="bounce")])
    late = deliver(client, signer, [event(to_bob, "delivered")])  # never moves a bounced mail back

    assert delivered.status_code == 200, delivered.text
    assert delivered.json() == {"received": 2, "applied": 1}
    assert bounced.json() == {"received": 1, "applied": 1} and late.json()["applied"] == 0
    [row_ada] = logged(app, to_address=ada.email)
    [row_bob] = logged(app, to_address=bob.email)
    assert row_ada.status == "delivered"
    assert (row_bob.status, row_bob.error) == ("bounced", "550 5.1.1 no such user")

    sent_before = len(sendgrid.sent)
    send(app, template="job_ready", to=bob.email, context=JOB_CONTEXT, user_id=bob.id)  # optional: suppressed
    send(app, template="password_reset", to=bob.email, context=RESET)  # security: still sent
    assert [m.body["subject"] for m in sendgrid.sent[sent_before:]] == ["Reset your voxhub password"]


def test_a_spam_complaint_suppresses_the_address_for_optional_mail(
    client: TestClient, app: Any, people: People, sendgrid: FakeSendGrid, signer: EventSigner
) -> None:
    ada = people.create()
    send(app, template="job_ready", to=ada.email, context=JOB_CONTEXT, user_id=ada.id)
    [mail] = [m for m in sendgrid.sent if m.to == ada.email]

    assert deliver(client, signer, [event(mail, "spamreport")]).json()["applied"] == 1
    send(
        app,
        template="billing_alert",
        to=ada.email,
        context=JOB_CONTEXT | {"workspace_name": "x", "kind": "low_balance", "available": 1, "threshold": 2},
        user_id=ada.id,
    )
    [row] = logged(app, to_address=ada.email)
    assert row.status == "complained"
    assert [m.to for m in sendgrid.sent].count(ada.email) == 1


def test_an_event_delivery_sendgrid_did_not_sign_changes_nothing(
    client: TestClient, app: Any, people: People, sendgrid: FakeSendGrid, signer: EventSigner
) -> None:
    ada = people.create()
    send(app, template="job_ready", to=ada.email, context=JOB_CONTEXT, user_id=ada.id)
    [mail] = [m for m in sendgrid.sent if m.to == ada.email]
    body = json.dumps([event(mail, "bounce", type="bounce")]).encode()
    stranger = EventSigner()

    forged = client.post(EVENTS, content=body, headers=stranger.headers(body))
    tampered = client.post(EVENTS, content=body.replace(b"bounce", b"delivered"), headers=signer.headers(body))
    unsigned = client.post(EVENTS, content=body, headers={"Content-Type": "application/json"})

    assert [r.status_code for r in (forged, tampered, unsigned)] == [400, 400, 400]
    assert forged.json()["error"]["code"] == "invalid_signature"
    [row] = logged(app, to_address=ada.email)
    assert row.status == "sent"


def test_without_a_verification_key_the_event_webhook_is_not_there(
    client: TestClient, app: Any, settings: Settings
) -> None:
    app.state.ctx.settings = settings.model_copy(update={"sendgrid_webhook_public_key": None})
    answer = client.post(EVENTS, content=b"[]", headers={"Content-Type": "application/json"})
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "provider_not_configured"
