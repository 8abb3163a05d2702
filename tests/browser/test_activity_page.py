"""The Activity page: a member opens it from the workspace menu and reads what happened in words, newest first, each
entry about a job linking to that job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.helpers import Console, screenshot, sign_in, unique_email, visit


def test_the_activity_page_tells_what_happened_and_links_to_the_job(
    console: Console, new_page: Any, screenshots: Path, speech_wav: Path
) -> None:
    person = console.create_user(unique_email("activity"), name="Ana Lima")
    job = console.transcribed(person, speech_wav)
    ws = person.workspace_id

    page = new_page()
    page.goto("/login")
    sign_in(page, person.email)
    visit(page, f"/w/{ws}/files")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Activity").click()
    expect(page).to_have_url(f"{console.url}/w/{ws}/activity")
    visit(page, f"/w/{ws}/activity")

    feed = page.get_by_role("table", name="Activity, newest first")
    # the newest row may be Ana's sign-in from a browser her account has not used before (sign-in alerts)
    expect(feed).to_contain_text("Transcription of hello.wav finished")
    expect(feed).to_contain_text("Ana Lima started a transcription of hello.wav")
    expect(feed).to_contain_text("Ana Lima uploaded hello.wav")
    expect(feed).to_contain_text("Ana Lima created the workspace")
    screenshot(page, screenshots, "activity")

    feed.get_by_role("link", name="Transcription of hello.wav finished").click()
    expect(page).to_have_url(f"{console.url}/w/{ws}/jobs/{job['id']}")
