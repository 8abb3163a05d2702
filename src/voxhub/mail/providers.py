"""Where mail goes: SendGrid's v3 HTTP API, an SMTP server, or the dev mailbox (DATA_DIR/mail/*.eml).

Each provider takes a rendered message and answers the provider's id for it, or raises `TransientMailError` (worth
retrying: a timeout, a 5xx, a 429, a 4xx SMTP reply) or `PermanentMailError` (the provider refused it: a 4xx)."""

from __future__ import annotations

import base64
import binascii
import os
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

from voxhub.clock import utcnow
from voxhub.config import Settings


class TransientMailError(Exception):
    """The provider could not take the mail now; trying again later may work."""


class PermanentMailError(Exception):
    """The provider refused the mail; trying again will not help."""


class MailProvider(Protocol):
    name: str

    def send(self, message: EmailMessage, *, log_id: str) -> str | None: ...


def provider_for(settings: Settings) -> MailProvider:
    """SendGrid when its key is set, else SMTP when a server is named, else the dev mailbox."""
    if settings.sendgrid_api_key:
        return SendGrid(settings.sendgrid_api_url, settings.sendgrid_api_key)
    if settings.smtp_url:
        return Smtp(settings.smtp_url)
    return Mailbox(settings.mail_dir)


# ---- the dev mailbox ----


def write_eml(directory: Path, message: EmailMessage) -> Path:
    """Write `message` as DATA_DIR/mail/<time>-<id>.eml; names sort by time, and a file appears only once whole."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = utcnow().strftime("%Y%m%dT%H%M%S%f")
    path = directory / f"{stamp}-{message['Message-ID'].strip('<>').split('@')[0]}.eml"
    partial = path.with_suffix(".part")
    partial.write_bytes(bytes(message))
    os.replace(partial, path)
    return path


class Mailbox:
    name = "mailbox"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: EmailMessage, *, log_id: str) -> str | None:
        return str(write_eml(self.directory, message))


# ---- SMTP ----


def send_smtp(url: str, message: EmailMessage) -> None:
    parts = urlsplit(url)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    implicit_tls = parts.scheme == "smtps"
    port = parts.port or (465 if implicit_tls else 587 if query.get("starttls") in ("1", "true") else 25)
    host = parts.hostname or "localhost"
    timeout = float(query.get("timeout", "30"))
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if implicit_tls:
        client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
    with client:
        if not implicit_tls and query.get("starttls") in ("1", "true"):
            client.starttls(context=context)
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
        client.send_message(message)


class Smtp:
    name = "smtp"

    def __init__(self, url: str) -> None:
        self.url = url

    def send(self, message: EmailMessage, *, log_id: str) -> str | None:
        try:
            send_smtp(self.url, message)
        except smtplib.SMTPResponseException as exc:
            detail = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
            raise (TransientMailError if 400 <= exc.smtp_code < 500 else PermanentMailError)(detail) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _text in exc.recipients.values()]
            transient = all(400 <= code < 500 for code in codes)
            raise (TransientMailError if transient else PermanentMailError)(f"recipients refused: {codes}") from exc
        except (OSError, smtplib.SMTPException) as exc:  # refused, reset, timed out, disconnected
            raise TransientMailError(f"{type(exc).__name__}: {exc}") from exc
        return str(message["Message-ID"])


# ---- SendGrid ----


class SendGrid:
    """SendGrid's v3 `mail/send`: one personalization per mail, both parts, the unsubscribe headers passed through,
    and the log row's id as a custom arg, which comes back on every event about the mail."""

    name = "sendgrid"

    def __init__(self, api_url: str, api_key: str, *, timeout: float = 30) -> None:
        self.url = f"{api_url.rstrip('/')}/v3/mail/send"
        self.api_key = api_key
        self.timeout = timeout

    def payload(self, message: EmailMessage, *, log_id: str) -> dict[str, Any]:
        from_name, from_address = parseaddr(str(message["From"]))
        sender: dict[str, str] = {"email": from_address}
        if from_name:
            sender["name"] = from_name
        text_part = message.get_body(preferencelist=("plain",))
        html_part = message.get_body(preferencelist=("html",))
        content = [
            {"type": "text/plain", "value": str(text_part.get_content()) if text_part else ""},
            {"type": "text/html", "value": str(html_part.get_content()) if html_part else ""},
        ]
        headers = {name: str(message[name]) for name in ("List-Unsubscribe", "List-Unsubscribe-Post") if message[name]}
        body: dict[str, Any] = {
            "personalizations": [{"to": [{"email": address} for _name, address in getaddresses([str(message["To"])])]}],
            "from": sender,
            "subject": str(message["Subject"]),
            "content": content,
            "custom_args": {"voxhub_email_id": log_id},
        }
        if headers:
            body["headers"] = headers
        return body

    def send(self, message: EmailMessage, *, log_id: str) -> str | None:
        try:
            response = httpx.post(
                self.url,
                json=self.payload(message, log_id=log_id),
                headers={"Authorization": f"Bearer {self.api_key}"},
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:  # timeouts, refused and reset connections
            raise TransientMailError(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientMailError(f"SendGrid answered {response.status_code}: {response.text[:500]}")
        if response.status_code >= 400:
            raise PermanentMailError(f"SendGrid answered {response.status_code}: {response.text[:500]}")
        return response.headers.get("x-message-id")


def load_sendgrid_public_key(value: str) -> ec.EllipticCurvePublicKey:
    """The Event Webhook's verification key as SendGrid shows it (base64 of the DER key), or as PEM."""
    text = value.strip()
    try:
        key = (
            load_pem_public_key(text.encode())
            if text.startswith("-----")
            else load_der_public_key(base64.b64decode(text))
        )
    except (ValueError, binascii.Error) as exc:
        raise ValueError("VOXHUB_SENDGRID_WEBHOOK_PUBLIC_KEY is not an EC public key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("VOXHUB_SENDGRID_WEBHOOK_PUBLIC_KEY is not an EC public key")
    return key


def sendgrid_signature_valid(public_key: str, *, signature: str, timestamp: str, body: bytes) -> bool:
    """SendGrid's signed Event Webhook: ECDSA (P-256, SHA-256) over the timestamp header followed by the raw body,
    the signature base64 of its DER form."""
    try:
        key = load_sendgrid_public_key(public_key)
        key.verify(base64.b64decode(signature), timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True
