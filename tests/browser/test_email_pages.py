"""Email in the console: a person turns optional mail off on the Email page, a workspace admin reads the workspace's
email log, and the unsubscribe link of a mail works in a browser where nobody is signed in."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.helpers import Console, screenshot, sign_in, unique_email, visit
from voxhub.accounts import service as accounts
from voxhub.mail import plain_text


def mail_a_finished_job(console: Console, email: str, workspace_id: str) -> None:
    with console.app.state.db.session() as session:
        user = accounts.get_by_email(session, email)
        assert user is not None
        console.app.state.ctx.mailer.send_after_commit(
            session,
            template="job_ready",
            to=email,
            context={
                "name": "Ada",
                "job_label": "transcription",
                "minutes": 4.0,
                "job_id": "j",
                "workspace_id": workspace_id,
            },
            user_id=user.id,
            workspace_id=workspace_id,
        )


def test_email_preferences_the_log_and_the_unsubscribe_link(console: Console, new_page: Any, screenshots: Path) -> None:
    email = unique_email("email")
    person = console.create_user(email)
    mail_a_finished_job(console, email, person.workspace_id)
    found = re.search(r"https?://\S+/unsubscribe\?token=\S+", plain_text(console.mail_to(email, "is ready")))
    assert found, "the job mail has no unsubscribe link"

    page = new_page()
    page.goto("/login")
    sign_in(page, email)
    page.get_by_role("link", name="Email", exact=True).click()
    expect(page).to_have_url(f"{console.url}/email")
    visit(page, "/email")
    news = page.get_by_role("checkbox", name=re.compile("Product news"))
    expect(news).to_be_checked()
    news.uncheck()
    page.get_by_role("button", name="Save email preferences").click()
    expect(page.get_by_text("Email preferences saved.")).to_be_visible()
    screenshot(page, screenshots, "email-preferences")

    page.get_by_role("link", name="Email log").click()
    expect(page).to_have_url(f"{console.url}/w/{person.workspace_id}/email-log")
    visit(page, f"/w/{person.workspace_id}/email-log")
    row = page.get_by_role("row").filter(has_text="Your transcription is ready")
    expect(row).to_contain_text(email)
    expect(row).to_contain_text("sent")
    expect(row).to_contain_text("mailbox")
    screenshot(page, screenshots, "email-log")

    # The mail's link, opened where nobody is signed in: one button, and only finished-job mail stops.
    stranger = new_page()
    visit(stranger, found.group(0))
    stranger.get_by_role("button", name="Unsubscribe").click()
    expect(stranger.get_by_text("You will get no more finished jobs mail from voxhub.")).to_be_visible()
    screenshot(stranger, screenshots, "unsubscribe")

    visit(page, "/email")
    expect(page.get_by_role("checkbox", name=re.compile("Finished jobs"))).not_to_be_checked()
    expect(page.get_by_role("checkbox", name=re.compile("Product news"))).not_to_be_checked()
    expect(page.get_by_role("checkbox", name=re.compile("Billing"))).to_be_checked()


def test_operators_read_every_mail(console: Console, new_page: Any, screenshots: Path) -> None:
    email = unique_email("email-ops")
    person = console.create_user(email)
    root = unique_email("email-root")
    console.create_user(root, superuser=True)
    mail_a_finished_job(console, email, person.workspace_id)
    console.mail_to(email, "is ready")

    page = new_page()
    page.goto("/login")
    sign_in(page, root)
    visit(page, f"/admin/email?to={email}")
    row = page.get_by_role("row").filter(has_text="Your transcription is ready")
    expect(row).to_contain_text(email)
    expect(row).to_contain_text("sent")
    screenshot(page, screenshots, "email-all")
