"""Email people can manage, over the real SMTP server the suite runs: optional mail carries a one-click unsubscribe
link and RFC 8058 headers, the link works without signing in for its own user and category only, preferences
change by API, every mail is logged, an event is mailed once, templates are overridden from the data dir and
previewed by the CLI, and the log is read by workspace admins (their own mail) and superusers (all of it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.conftest import Mailbox, People, body_text
from tests.mail.helpers import JOB_CONTEXT, finish_job, logged, send
from voxhub.cli import app as cli
from voxhub.config import Settings

PREFERENCES = "/api/v1/me/email-preferences"


def unsubscribe_path(mail: Any) -> str:
    """The List-Unsubscribe URL of a mail, as a path and query the test client can POST to."""
    header = str(mail["List-Unsubscribe"]).strip("<>")
    parts = urlsplit(header)
    assert parts.netloc == "voxhub.test" and parts.path == "/api/v1/email/unsubscribe"
    return f"{parts.path}?{parts.query}"


def test_a_finished_job_mails_its_starter_once_with_a_one_click_unsubscribe(
    client: TestClient, app: Any, people: People, mailbox: Mailbox
) -> None:
    ada = people.create()
    job_id = finish_job(app, workspace_id=ada.workspace_id, user_id=ada.id, took_s=180)
    finish_job(app, workspace_id=ada.workspace_id, user_id=ada.id, took_s=180, job_id=job_id)  # the event again
    finish_job(app, workspace_id=ada.workspace_id, user_id=ada.id, took_s=5)  # too quick to announce

    mail = mailbox.wait_for(ada.email, "Your transcription is ready")
    assert len(mailbox.sent_to(ada.email)) == 1
    assert f"http://voxhub.test/w/{ada.workspace_id}/jobs/{job_id}" in body_text(mail)
    assert str(mail["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert "http://voxhub.test/unsubscribe?token=" in body_text(mail)
    html = mail.get_body(preferencelist=("html",))
    assert html is not None and "unsubscribe" in html.get_content()
    [row] = logged(app, template="job_ready")
    assert (row.status, row.to_address, row.workspace_id, row.user_id, row.category) == (
        "sent",
        ada.email,
        ada.workspace_id,
        ada.id,
        "jobs",
    )
    assert row.provider == "smtp" and row.provider_message_id == str(mail["Message-ID"]) and row.sent_at is not None
    assert abs(parsedate_to_datetime(str(mail["Date"])) - datetime.now(UTC)) < timedelta(minutes=5)  # RFC 5322's Date

    # RFC 8058: the mail client POSTs `List-Unsubscribe=One-Click`, with no credentials.
    answer = client.post(
        unsubscribe_path(mail),
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"user_id": ada.id, "category": "jobs", "subscribed": False}
    assert client.get(PREFERENCES, headers=ada.headers).json() == {
        "security": True,
        "account": True,
        "billing": True,
        "jobs": False,
        "product_news": True,
    }
    finish_job(app, workspace_id=ada.workspace_id, user_id=ada.id, took_s=300)
    assert len(mailbox.sent_to(ada.email)) == 1  # no second job mail
    assert len(logged(app, template="job_ready")) == 1


def test_an_unsubscribe_link_is_only_good_for_its_own_user_and_category(
    client: TestClient, app: Any, people: People, mailbox: Mailbox
) -> None:
    ada, bob = people.create(), people.create()
    send(app, template="job_ready", to=ada.email, context=JOB_CONTEXT, user_id=ada.id)
    token = parse_qs(urlsplit(unsubscribe_path(mailbox.wait_for(ada.email, "is ready"))).query)["token"][0]
    claim, signature = token.split(".")

    forged_for_bob = client.post(f"/api/v1/email/unsubscribe?token={_claim(bob.id, 'jobs')}.{signature}")
    forged_category = client.post(f"/api/v1/email/unsubscribe?token={_claim(ada.id, 'billing')}.{signature}")
    security = client.post(f"/api/v1/email/unsubscribe?token={_claim(ada.id, 'security')}.{signature}")

    assert [r.status_code for r in (forged_for_bob, forged_category, security)] == [400, 400, 400]
    assert forged_for_bob.json()["error"]["code"] == "invalid_token"
    assert client.get(PREFERENCES, headers=bob.headers).json()["jobs"] is True
    assert client.get(PREFERENCES, headers=ada.headers).json()["billing"] is True
    assert client.post(f"/api/v1/email/unsubscribe?token={claim}.{signature}").status_code == 200
    assert client.get(PREFERENCES, headers=ada.headers).json()["jobs"] is False
    assert client.get(PREFERENCES, headers=bob.headers).json()["jobs"] is True


def _claim(user_id: str, category: str) -> str:
    import base64

    return base64.urlsafe_b64encode(f"{user_id}:{category}".encode()).decode().rstrip("=")


def test_preferences_turn_optional_mail_off_and_never_security_or_account_mail(
    client: TestClient, app: Any, people: People, mailbox: Mailbox
) -> None:
    ada = people.create()

    assert client.get(PREFERENCES).status_code == 401
    refused = client.patch(PREFERENCES, headers=ada.headers, json={"security": False})
    changed = client.patch(PREFERENCES, headers=ada.headers, json={"billing": False, "product_news": False})
    send(app, template="billing_alert", to=ada.email, context=_alert(ada.workspace_id), user_id=ada.id)
    send(app, template="password_reset", to=ada.email, context={"name": "Ada", "link": "http://x/?token=t", "hours": 1})

    assert refused.status_code == 422
    assert changed.status_code == 200 and changed.json()["billing"] is False and changed.json()["jobs"] is True
    assert mailbox.wait_for(ada.email, "Reset your voxhub password")["List-Unsubscribe"] is None
    assert [str(m["Subject"]) for m in mailbox.sent_to(ada.email)] == ["Reset your voxhub password"]
    audit = client.get(f"/api/v1/workspaces/{ada.workspace_id}/audit-log", headers=ada.headers)
    assert audit.status_code == 200  # the change is audited with no workspace: read back below as an operator
    from sqlalchemy import select

    from voxhub.audit.models import AuditEvent

    with app.state.db.session() as db:
        actions = list(db.scalars(select(AuditEvent.action).where(AuditEvent.target_id == ada.id)))
    assert "user.email_preferences_changed" in actions


def _alert(workspace_id: str) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id,
        "workspace_name": "Ada's",
        "kind": "low_balance",
        "available": 3,
        "threshold": 10,
    }


def test_the_email_log_is_read_by_workspace_admins_for_their_own_mail_and_by_superusers_for_all(
    client: TestClient, app: Any, people: People, mailbox: Mailbox
) -> None:
    ada, bob = people.create(), people.create()
    root = people.create(superuser=True)
    viewer = people.add_to(ada, ada.workspace_id, "viewer")  # the invitation is logged as Ada's workspace's mail
    send(
        app,
        template="billing_alert",
        to=ada.email,
        context=_alert(ada.workspace_id),
        user_id=ada.id,
        workspace_id=ada.workspace_id,
    )
    send(
        app,
        template="billing_alert",
        to=bob.email,
        context=_alert(bob.workspace_id),
        user_id=bob.id,
        workspace_id=bob.workspace_id,
    )
    send(app, template="verify_email", to=bob.email, context={"name": "Bob", "link": "http://x/?token=t", "hours": 1})

    url = f"/api/v1/workspaces/{ada.workspace_id}/email-log"
    ours = client.get(url, headers=ada.headers)
    by_viewer = client.get(url, headers=viewer.headers)
    by_stranger = client.get(url, headers=bob.headers)
    everything = client.get("/api/v1/admin/email-log?limit=200", headers=root.headers)
    not_root = client.get("/api/v1/admin/email-log", headers=ada.headers)

    assert ours.status_code == 200, ours.text
    assert sorted(item["template"] for item in ours.json()["items"]) == ["billing_alert", "invitation"]
    assert {item["workspace_id"] for item in ours.json()["items"]} == {ada.workspace_id}
    assert ours.json()["next_cursor"] is None
    assert by_viewer.status_code == 403 and by_stranger.status_code == 404
    assert not_root.status_code == 403
    templates = [item["template"] for item in everything.json()["items"] if item["to"] in (ada.email, bob.email)]
    assert sorted(templates) == ["billing_alert", "billing_alert", "verify_email"]
    filtered = client.get("/api/v1/admin/email-log?template=verify_email&status=sent", headers=root.headers)
    assert [item["to"] for item in filtered.json()["items"] if item["to"] == bob.email] == [bob.email]
    first = client.get(f"{url}?limit=1", headers=ada.headers).json()
    rest = client.get(f"{url}?limit=1&cursor={first['next_cursor']}", headers=ada.headers).json()
    assert first["items"][0]["id"] != rest["items"][0]["id"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"mail_retry_base_s": 0.05})


def test_templates_in_the_data_dir_replace_the_shipped_ones_and_the_cli_previews_them(
    app: Any, settings: Settings, people: People, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    overrides = settings.email_templates_dir
    overrides.mkdir(parents=True)
    (overrides / "job_ready.txt").write_text("Done: {{ job_label }} for {{ name }}.\n")
    (overrides / "job_ready.subject").write_text("Finished: {job_label}\n")
    ada = people.create()

    from voxhub.mail import Mailer

    mailer = Mailer(settings)  # templates are read when a mailer starts
    try:
        message = mailer.render("job_ready", ada.email, JOB_CONTEXT, user_id=ada.id)
    finally:
        mailer.close()
    monkeypatch.setenv("VOXHUB_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("VOXHUB_PUBLIC_URL", "http://voxhub.test")
    preview = CliRunner().invoke(cli, ["admin", "email-preview", "job_ready"])
    html = CliRunner().invoke(cli, ["admin", "email-preview", "invitation", "--html"])
    unknown = CliRunner().invoke(cli, ["admin", "email-preview", "no_such_mail"])

    assert str(message["Subject"]) == "Finished: transcription"
    assert message.get_body(preferencelist=("plain",)).get_content().startswith("Done: transcription for Ada.")  # type: ignore[union-attr]
    assert preview.exit_code == 0, preview.output
    assert "Subject: Finished: transcription" in preview.output and "Done: transcription for Ada." in preview.output
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in preview.output
    assert html.exit_code == 0 and '<a href="http://voxhub.test/accept-invitation?token=sample-token">' in html.output
    assert unknown.exit_code == 1 and "job_ready" in unknown.output


def test_a_mail_server_that_refuses_for_a_while_gets_the_mail_on_a_later_try(
    app: Any, settings: Settings, people: People, smtp_server: Any
) -> None:
    """A 4xx SMTP reply is a provider error worth retrying: the mail goes out once the server takes it again."""
    collector, _port = smtp_server
    ada = people.create()
    refusals = [2]
    original = collector.handle_DATA

    async def refuse_twice(server: Any, session: Any, envelope: Any) -> str:
        if refusals[0] > 0:
            refusals[0] -= 1
            return "451 4.3.0 try again later"
        return await original(server, session, envelope)

    collector.handle_DATA = refuse_twice
    try:
        send(app, template="verify_email", to=ada.email, context={"name": "A", "link": "http://x/?token=t", "hours": 1})
    finally:
        collector.handle_DATA = original
    [row] = logged(app, template="verify_email", to_address=ada.email)
    assert (row.status, row.attempts, row.error) == ("sent", 3, None)


def test_an_override_that_does_not_render_falls_back_to_the_shipped_template(
    app: Any, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    overrides = settings.email_templates_dir
    overrides.mkdir(parents=True)
    (overrides / "job_ready.html").write_text("{% if %}broken{% endif %}")
    (overrides / "job_ready.subject").write_text("Ready: {no_such_value}")

    from voxhub.mail import Mailer

    mailer = Mailer(settings)
    try:
        message = mailer.render("job_ready", "ada@example.com", JOB_CONTEXT)
    finally:
        mailer.close()

    html = message.get_body(preferencelist=("html",))
    assert str(message["Subject"]) == "Your transcription is ready"
    assert html is not None and "/w/w1/jobs/j1" in html.get_content()
    assert "does not render" in caplog.text
