"""Outgoing email: Jinja2 templates (HTML + text, overridable from DATA_DIR/email-templates/), sent through SendGrid,
over SMTP, or written to DATA_DIR/mail/ when neither is set; every mail is logged (the `email_log` table).
A low room: any domain may send mail; the templates of every domain live in templates/ beside it."""

from __future__ import annotations

import contextvars
import logging
import re
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, TemplateError, select_autoescape
from sqlalchemy.orm import Session

from voxhub.config import Settings
from voxhub.db import Database, on_commit
from voxhub.mail import service
from voxhub.mail.models import OPTIONAL, EmailCategory
from voxhub.mail.providers import (
    MailProvider,
    PermanentMailError,
    TransientMailError,
    provider_for,
    send_smtp,
    write_eml,
)
from voxhub.security import Keyring

__all__ = [
    "CATEGORIES",
    "SUBJECTS",
    "TEMPLATES",
    "Mailer",
    "category_of",
    "first_link",
    "latest_written",
    "plain_text",
    "send_smtp",
    "write_eml",
]

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
    "signin_alert": "Was this you? A new sign-in to your voxhub account",
    "job_ready": "Your {job_label} is ready",
}

# What each mail is about. Security and account mail always goes out; the others only to users who want them, with
# an unsubscribe link. A template not named here counts as account mail.
CATEGORIES: dict[str, EmailCategory] = {
    "verify_email": EmailCategory.ACCOUNT,
    "password_reset": EmailCategory.SECURITY,
    "signin_alert": EmailCategory.SECURITY,
    "invitation": EmailCategory.ACCOUNT,
    "webhook_disabled": EmailCategory.ACCOUNT,
    "billing_alert": EmailCategory.BILLING,
    "payment_failed": EmailCategory.BILLING,
    "podcast_ready": EmailCategory.JOBS,
    "job_ready": EmailCategory.JOBS,
}

TEMPLATE_HEADER = "X-Voxhub-Template"


def category_of(template: str) -> EmailCategory:
    return CATEGORIES.get(template, EmailCategory.ACCOUNT)


@dataclass(frozen=True)
class Outgoing:
    """A rendered mail and what its log row records."""

    message: EmailMessage
    template: str
    category: EmailCategory
    user_id: str | None = None
    workspace_id: str | None = None
    event_key: str | None = None


class Mailer:
    """Renders mail now and delivers it after the transaction commits, off the request thread, with retries."""

    def __init__(self, settings: Settings, keyring: Keyring | None = None) -> None:
        self.settings = settings
        self.keyring = keyring or Keyring(settings.resolved_secret_key, tuple(settings.resolved_previous_secret_keys))
        self._env = Environment(
            # Files in DATA_DIR/email-templates/ replace the shipped ones of the same name (the layout too).
            loader=ChoiceLoader([FileSystemLoader(settings.email_templates_dir), FileSystemLoader(TEMPLATES)]),
            autoescape=select_autoescape(["html"]),
            keep_trailing_newline=True,
        )
        self._shipped = Environment(
            loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), keep_trailing_newline=True
        )
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="voxhub-mail")
        self._pending: list[Future[None]] = []
        self._database: Database | None = None
        self._database_lock = threading.Lock()
        self.provider: MailProvider = provider_for(settings)

    # ---- rendering ----

    def templates(self) -> list[str]:
        """The names of every mail this voxhub can send (those with both parts)."""
        names = {Path(name).stem for name in self._env.list_templates() if not name.startswith("_")}
        return sorted(name for name in names if name in SUBJECTS)

    def subject(self, template: str, context: dict[str, Any]) -> str:
        override = self.settings.email_templates_dir / f"{template}.subject"
        subject = SUBJECTS[template].format(**context)
        if override.is_file():
            try:
                subject = override.read_text().strip().format(**context)
            except (KeyError, IndexError, ValueError, OSError):
                log.exception("%s does not render; the shipped subject is used", override)
        return subject.replace("\r", " ").replace("\n", " ")

    def _part(self, name: str, context: dict[str, Any]) -> str:
        """One part of a mail, from DATA_DIR/email-templates/ when there is one there: an override that fails to
        render is logged and the shipped template used, so a typo there never stops mail."""
        try:
            return self._env.get_template(name).render(context)
        except TemplateError:
            log.exception("the email template %s does not render; the shipped one is used", name)
            return self._shipped.get_template(name).render(context)

    def render(self, template: str, to: str, context: dict[str, Any], *, user_id: str | None = None) -> EmailMessage:
        """The mail as it will be sent. Optional mail to a known user carries its one-click unsubscribe link."""
        context = {**context, "public_url": self.settings.public_url}
        category = category_of(template)
        unsubscribe = None
        if user_id and category in OPTIONAL:
            token = service.unsubscribe_token(self.keyring, user_id=user_id, category=category)
            unsubscribe = f"{self.settings.public_url}/api/v1/email/unsubscribe?token={token}"
            context |= {
                "unsubscribe_url": f"{self.settings.public_url}/unsubscribe?token={token}",
                "category_label": category.value.replace("_", " "),
            }
        message = EmailMessage()
        message["Subject"] = self.subject(template, context)
        message["From"] = self.settings.mail_from
        message["To"] = to
        message["Date"] = formatdate(usegmt=True)  # RFC 5322 asks for one; relays and spam filters count its absence
        message["Message-ID"] = make_msgid(domain="voxhub")
        message[TEMPLATE_HEADER] = template
        if unsubscribe:
            # RFC 8058: a mail client's one-click unsubscribe POSTs `List-Unsubscribe=One-Click` to this URL.
            message["List-Unsubscribe"] = f"<{unsubscribe}>"
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        text = self._part(f"{template}.txt", context)
        if unsubscribe:
            label = context["category_label"]
            text = f"{text.rstrip()}\n\n--\nStop {label} mail from voxhub: {context['unsubscribe_url']}\n"
        message.set_content(text)
        message.add_alternative(self._part(f"{template}.html", context), subtype="html")
        return message

    # ---- sending ----

    def send_after_commit(
        self,
        db: Session,
        *,
        template: str,
        to: str,
        context: dict[str, Any],
        user_id: str | None = None,
        workspace_id: str | None = None,
        event_key: str | None = None,
    ) -> None:
        """Send `template` to `to` once `db` commits. Optional mail goes only to users who want its category and
        to addresses that never bounced or complained; `event_key` (e.g. `job_ready:<job id>`) makes sure the
        event is mailed to `to` once, however often this is called for it."""
        category = category_of(template)
        if category in OPTIONAL and not service.may_send(db, to=to, user_id=user_id, category=category):
            log.info("%s mail to %s not sent: unsubscribed or suppressed", template, to)
            return
        message = self.render(template, to, context, user_id=user_id)
        self.deliver_after_commit(
            db, message, template=template, user_id=user_id, workspace_id=workspace_id, event_key=event_key
        )

    def deliver_after_commit(
        self,
        db: Session,
        message: EmailMessage,
        *,
        template: str | None = None,
        user_id: str | None = None,
        workspace_id: str | None = None,
        event_key: str | None = None,
    ) -> None:
        """Send a rendered message once `db` commits; nothing is sent if it rolls back."""
        name = template or str(message[TEMPLATE_HEADER] or "unknown")
        outgoing = Outgoing(message, name, category_of(name), user_id, workspace_id, event_key)
        on_commit(db, lambda: self._submit(outgoing))

    def _submit(self, outgoing: Outgoing) -> None:
        self._pending = [f for f in self._pending if not f.done()]
        # Run in a copy of this context, so the delivery's log lines carry the request's id.
        self._pending.append(self._executor.submit(contextvars.copy_context().run, self._deliver, outgoing))

    def _log_database(self) -> Database:
        # Its own engine: the log is written off the request's connection pool, after the request's commit.
        with self._database_lock:
            if self._database is None:
                self._database = Database(self.settings)
            return self._database

    def _record(self, action: Any, /, **kwargs: Any) -> Any:
        """Run a log write in a context of its own: outside a job's workspace scope, as an operator's session."""

        def write() -> Any:
            with self._log_database().session() as db:
                return action(db, **kwargs)

        return contextvars.Context().run(write)

    def _deliver(self, outgoing: Outgoing) -> None:
        message = outgoing.message
        log_id: str | None
        try:
            log_id = self._record(
                service.log_queued,
                to=str(message["To"]),
                subject=str(message["Subject"]),
                template=outgoing.template,
                category=outgoing.category,
                provider=self.provider.name,
                user_id=outgoing.user_id,
                workspace_id=outgoing.workspace_id,
                event_key=outgoing.event_key,
            )
        except service.AlreadySent:
            log.info("%s mail to %s for %s was sent before", outgoing.template, message["To"], outgoing.event_key)
            return
        except Exception:
            # The mail matters more than its log line: send it anyway.
            log.exception("could not log the mail to %s", message["To"])
            log_id = None
        attempts, delay = self.settings.mail_retry_attempts, self.settings.mail_retry_base_s
        for attempt in range(1, attempts + 1):
            try:
                provider_id = self.provider.send(message, log_id=log_id or "")
            except TransientMailError as exc:
                if attempt < attempts:
                    log.warning("mail to %s: %s; trying again in %.1f s", message["To"], exc, delay)
                    self._note(log_id, service.log_attempt, attempts=attempt, error=str(exc))
                    time.sleep(delay)
                    delay *= 2
                    continue
                log.error("could not deliver mail to %s after %d tries: %s", message["To"], attempt, exc)
                self._note(log_id, service.log_failed, attempts=attempt, error=str(exc))
            except PermanentMailError as exc:
                log.error("mail to %s refused: %s", message["To"], exc)
                self._note(log_id, service.log_failed, attempts=attempt, error=str(exc))
            except Exception as exc:
                log.exception("could not deliver mail to %s", message["To"])
                self._note(log_id, service.log_failed, attempts=attempt, error=f"{type(exc).__name__}: {exc}")
            else:
                self._note(log_id, service.log_sent, attempts=attempt, provider_message_id=provider_id)
                if self.provider.name == "mailbox":
                    log.info("mail to %s written to %s (no VOXHUB_SMTP_URL set)", message["To"], provider_id)
                else:
                    log.info("mail sent to %s: %s", message["To"], message["Subject"])
            return

    def _note(self, log_id: str | None, action: Any, **kwargs: Any) -> None:
        if log_id is None:
            return
        try:
            self._record(action, log_id=log_id, **kwargs)
        except Exception:
            log.exception("could not update the log of mail %s", log_id)

    def flush(self, timeout: float = 60) -> None:
        """Wait for mail already handed over (used by the CLI and at shutdown)."""
        for future in list(self._pending):
            future.result(timeout=timeout)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        if self._database is not None:
            self._database.dispose()
            self._database = None


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
