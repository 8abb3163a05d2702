"""Outgoing email: Jinja2 templates (HTML + text), sent over SMTP or written to DATA_DIR/mail/ when none is set.
A low room: any domain may send mail; the templates of every domain live in templates/ beside it."""

from __future__ import annotations

import contextvars
import logging
import os
import re
import smtplib
import ssl
from concurrent.futures import Future, ThreadPoolExecutor
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from voxhub.clock import utcnow
from voxhub.config import Settings
from voxhub.db import on_commit

log = logging.getLogger("voxhub.mail")

TEMPLATES = Path(__file__).parent / "templates"

SUBJECTS = {
    "verify_email": "Confirm your email address",
    "password_reset": "Reset your voxhub password",
    "invitation": "You are invited to {workspace_name} on voxhub",
    "webhook_disabled": "A voxhub webhook endpoint was disabled",
    "billing_alert": "voxhub usage alert for {workspace_name}",
    "payment_failed": "A voxhub payment failed for {workspace_name}",
    "podcast_ready": "Your episode is ready: {title}",
}


class Mailer:
    """Renders mail now and delivers it after the transaction commits, off the request thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._env = Environment(
            loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), keep_trailing_newline=True
        )
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="voxhub-mail")
        self._pending: list[Future[None]] = []

    def render(self, template: str, to: str, context: dict[str, Any]) -> EmailMessage:
        context = {**context, "public_url": self.settings.public_url}
        message = EmailMessage()
        message["Subject"] = SUBJECTS[template].format(**context)
        message["From"] = self.settings.mail_from
        message["To"] = to
        message["Message-ID"] = make_msgid(domain="voxhub")
        message.set_content(self._env.get_template(f"{template}.txt").render(context))
        message.add_alternative(self._env.get_template(f"{template}.html").render(context), subtype="html")
        return message

    def send_after_commit(self, db: Session, *, template: str, to: str, context: dict[str, Any]) -> None:
        self.deliver_after_commit(db, self.render(template, to, context))

    def deliver_after_commit(self, db: Session, message: EmailMessage) -> None:
        """Send a rendered message once `db` commits; nothing is sent if it rolls back."""
        on_commit(db, lambda: self._submit(message))

    def _submit(self, message: EmailMessage) -> None:
        self._pending = [f for f in self._pending if not f.done()]
        # Run in a copy of this context, so the delivery's log lines carry the request's id.
        self._pending.append(self._executor.submit(contextvars.copy_context().run, self._deliver, message))

    def _deliver(self, message: EmailMessage) -> None:
        try:
            if self.settings.smtp_url:
                send_smtp(self.settings.smtp_url, message)
                log.info("mail sent to %s: %s", message["To"], message["Subject"])
            else:
                path = write_eml(self.settings.mail_dir, message)
                log.info("mail to %s written to %s (no VOXHUB_SMTP_URL set)", message["To"], path)
        except Exception:
            log.exception("could not deliver mail to %s", message["To"])

    def flush(self, timeout: float = 30) -> None:
        """Wait for mail already handed over (used by the CLI and at shutdown)."""
        for future in list(self._pending):
            future.result(timeout=timeout)

    def close(self) -> None:
        self._executor.shutdown(wait=True)


def write_eml(directory: Path, message: EmailMessage) -> Path:
    """Write `message` as DATA_DIR/mail/<time>-<id>.eml; names sort by time, and a file appears only once whole."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = utcnow().strftime("%Y%m%dT%H%M%S%f")
    path = directory / f"{stamp}-{message['Message-ID'].strip('<>').split('@')[0]}.eml"
    partial = path.with_suffix(".part")
    partial.write_bytes(bytes(message))
    os.replace(partial, path)
    return path


def latest_written(directory: Path, *, to: str | None = None) -> EmailMessage | None:
    """The newest mail written to `directory` (addressed to `to`, when given), parsed; None when there is none."""
    wanted = to.strip().lower() if to else None
    for path in sorted(directory.glob("*.eml"), reverse=True):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        recipients = {address.lower() for _name, address in getaddresses([str(message["To"] or "")])}
        if wanted is None or wanted in recipients:
            return message
    return None


def plain_text(message: EmailMessage) -> str:
    """The text part of a message, decoded (no quoted-printable soft breaks or `=3D`)."""
    part = message.get_body(preferencelist=("plain",))
    return str(part.get_content()) if part is not None else ""


def first_link(message: EmailMessage) -> str | None:
    """The first http(s) link in a message's text: the verification, reset or invitation link of voxhub's mail."""
    found = re.search(r"https?://\S+", plain_text(message))
    return found.group(0) if found else None


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
