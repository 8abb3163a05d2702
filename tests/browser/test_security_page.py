"""The Security page: a person's sessions and security events with their places, signing a session out; and the page a
sign-in alert's link opens, which signs that session out without signing in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.helpers import Console, screenshot, sign_in, unique_email, visit
from tests.conftest import PASSWORD
from voxhub.accounts import service as accounts
from voxhub.audit.service import Actor

SAO_PAULO = "200.160.2.3"  # a public address the bundled database places in Brazil
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"


def test_the_security_page_shows_places_and_the_alerts_link_signs_that_session_out(
    console: Console, new_page: Any, screenshots: Path
) -> None:
    person = console.create_user(unique_email("security"))  # signed in once, from python-httpx on this machine
    # A sign-in from Brazil, as if through a trusted proxy (this server trusts none, so it is made in-process).
    with console.app.state.db.session() as session:
        accounts.login(
            session,
            ctx=console.app.state.ctx,
            email=person.email,
            password=PASSWORD,
            actor=Actor(ip=SAO_PAULO, user_agent=FIREFOX_WINDOWS),
        )
    alert_link = console.mailed_link(person.email, "Was this you")
    assert "/revoke-session?token=" in alert_link

    page = new_page()
    page.goto("/login")
    sign_in(page, person.email)
    page.get_by_role("link", name="Security").click()
    expect(page).to_have_url(f"{console.url}/security")
    visit(page, "/security")

    sessions = page.get_by_role("table", name="Your sessions")
    expect(sessions.get_by_role("row")).to_have_count(4)  # a heading and three sessions
    brazil = sessions.get_by_role("row").filter(has_text="Brazil")
    expect(brazil).to_contain_text("Firefox on Windows")
    expect(brazil).to_contain_text(SAO_PAULO)
    expect(sessions.get_by_role("row").filter(has_text="this one")).to_contain_text("Chrome on Linux")
    events = page.get_by_role("table", name="Your security events")
    expect(events.get_by_role("row").filter(has_text="Brazil")).to_contain_text("Sign-in from a new country or device")
    screenshot(page, screenshots, "security")

    # Sign out the python-httpx session from the page.
    sessions.get_by_role("row").filter(has_text="python-httpx").get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("That session is signed out.")).to_be_visible()
    expect(sessions.get_by_role("row")).to_have_count(3)

    # The alert's link, opened where nobody is signed in: one button, and only the Brazilian session ends.
    stranger = new_page()
    visit(stranger, alert_link)
    stranger.get_by_role("button", name="Sign that session out").click()
    expect(stranger.get_by_text("That session is signed out.")).to_be_visible()
    screenshot(stranger, screenshots, "revoke-session")

    visit(page, "/security")
    rows = page.get_by_role("table", name="Your sessions").get_by_role("row")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="this one")).to_contain_text("Chrome on Linux")
