"""SendGrid at the edge of the internet: a real HTTP server speaking the part of the v3 API voxhub uses
(`POST /v3/mail/send`), and Event Webhook deliveries signed as SendGrid signs them (ECDSA P-256 over the timestamp
and the body, with a key pair made for the test)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.fake_http import LocalHTTPServer, RecordedRequest, Reply


@dataclass(frozen=True)
class SentMail:
    """One accepted `mail/send` request and the message id SendGrid answered with."""

    message_id: str
    body: dict[str, Any]

    @property
    def to(self) -> str:
        return str(self.body["personalizations"][0]["to"][0]["email"])

    @property
    def custom_args(self) -> dict[str, str]:
        return dict(self.body.get("custom_args") or {})


class FakeSendGrid(LocalHTTPServer):
    """Answers 202 with an X-Message-Id for a well-formed, authorized mail/send; 401 without the key; 400 for a body
    SendGrid would refuse. `script` holds statuses to answer first, one per request (an outage: [503, 503])."""

    thread_name = "fake-sendgrid"
    methods = ("POST",)

    def __init__(self, *, api_key: str = "SG.fake-key-for-tests") -> None:
        super().__init__()
        self.api_key = api_key
        self.sent: list[SentMail] = []
        self.script: list[int] = []

    def respond(self, request: RecordedRequest) -> Reply:
        def error(status: int, message: str, field: str | None = None) -> Reply:
            body = {"errors": [{"message": message, "field": field, "help": None}]}
            return status, "application/json", json.dumps(body).encode(), {}

        with self._lock:
            scripted = self.script.pop(0) if self.script else None
        if scripted is not None:
            return error(scripted, "scripted failure")
        if request.path != "/v3/mail/send":
            return error(404, "not found")
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return error(401, "The provided authorization grant is invalid, expired, or revoked")
        try:
            body = request.json()
        except ValueError:
            return error(400, "Bad Request")
        for field in ("personalizations", "from", "subject", "content"):
            if not body.get(field):
                return error(400, f"The {field} field is required.", field)
        if not body["personalizations"][0].get("to"):
            return error(400, "The to array is required for all personalization objects.", "personalizations.0.to")
        message_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        with self._lock:
            self.sent.append(SentMail(message_id, body))
        return 202, "", b"", {"x-message-id": message_id}


class EventSigner:
    """SendGrid's signed Event Webhook: a P-256 key pair; the public key as SendGrid's settings page shows it
    (base64 of the DER SubjectPublicKeyInfo); each delivery signed over `timestamp + body`."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())

    @property
    def public_key(self) -> str:
        der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def headers(self, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        signature = self._key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        }


def event(mail: SentMail, kind: str, **extra: Any) -> dict[str, Any]:
    """One event about `mail`, shaped like SendGrid's (its custom args at the top level, as SendGrid sends them)."""
    return {
        "email": mail.to,
        "timestamp": int(time.time()),
        "smtp-id": f"<{mail.message_id}@ismtpd0001p1lon1.sendgrid.net>",
        "event": kind,
        "sg_event_id": base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="),
        "sg_message_id": f"{mail.message_id}.filterdrecv-5645d9c87f-6r2ch-1-5F2A2A2B-2.0",
        **mail.custom_args,
        **extra,
    }
