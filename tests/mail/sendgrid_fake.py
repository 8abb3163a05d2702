"""SendGrid at the edge of the internet: a real HTTP server speaking the part of the v3 API voxhub uses
(`POST /v3/mail/send`), and Event Webhook deliveries signed as SendGrid signs them (ECDSA P-256 over the timestamp
and the body, with a key pair made for the test)."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


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


class FakeSendGrid:
    """Answers 202 with an X-Message-Id for a well-formed, authorized mail/send; 401 without the key; 400 for a body
    SendGrid would refuse. `script` holds statuses to answer first, one per request (an outage: [503, 503])."""

    def __init__(self, *, api_key: str = "SG.fake-key-for-tests") -> None:
        self.api_key = api_key
        self.sent: list[SentMail] = []
        self.requests = 0
        self.script: list[int] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _answer(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], bytes]:
        def error(status: int, message: str, field: str | None = None) -> tuple[int, dict[str, str], bytes]:
            body = {"errors": [{"message": message, "field": field, "help": None}]}
            return status, {"content-type": "application/json"}, json.dumps(body).encode()

        with self._lock:
            self.requests += 1
            scripted = self.script.pop(0) if self.script else None
        if scripted is not None:
            return error(scripted, "scripted failure")
        if path != "/v3/mail/send":
            return error(404, "not found")
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return error(401, "The provided authorization grant is invalid, expired, or revoked")
        try:
            body = json.loads(raw)
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
        return 202, {"x-message-id": message_id}, b""

    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {key.lower(): value for key, value in self.headers.items()}
                status, extra, body = fake._answer(self.path, headers, raw)
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)


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
