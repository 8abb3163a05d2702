"""Shares in a real browser: a finished episode shared from its page with a password, the link copied from the Shares
page, opened by someone signed out (the password form, then the episode playing), counted as a view, and revoked;
a transcript's page on a phone's screen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.helpers import Console, screenshot, sign_in, unique_email, visit, watch
from tests.browser.test_accessibility import axe_violations, report
from tests.shares.items import make_items, make_media


def test_an_episode_is_shared_with_a_password_opened_signed_out_and_revoked(
    console: Console, new_page: Any, browser: Any, axe_source: str, screenshots: Path, tmp_path: Path
) -> None:
    person = console.create_user(unique_email("shares"), name="Grace Hopper")
    with console.api() as client:
        items = make_items(console.app, client, person, make_media(tmp_path))
    page = new_page()
    page.goto("/login")
    sign_in(page, person.email)

    # ---- from the episode's page to the Shares page, the episode chosen ----
    visit(page, f"/w/{person.workspace_id}/podcasts/{items.podcast}")
    page.get_by_role("link", name="Share", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Shares")
    expect(page.get_by_label("Item")).to_have_value(items.podcast)
    page.get_by_label("Password (optional)").fill("bees and rain")
    page.get_by_role("button", name="Make a share link").click()
    link = page.locator("code.share-link")
    expect(link).to_contain_text("/s/")
    url = link.inner_text()
    row = page.get_by_role("row").filter(has_text="Allotment diary, episode 1")
    expect(row).to_contain_text("Password")
    expect(row.get_by_role("cell").nth(2)).to_have_text("0")
    screenshot(page, screenshots, "shares")
    assert report(axe_violations(page, axe_source), "shares") == []

    # ---- someone signed out opens it: the password, then the episode ----
    # (Its own context, watched like every page, where the browser's note of the page's own 401 and 410 is expected.)
    context = browser.new_context(base_url=console.url)
    reader = context.new_page()
    problems = watch(reader)
    reader.goto(url)
    expect(reader.get_by_role("heading", level=1)).to_have_text("This share is protected")
    reader.get_by_label("Password").fill("bees and rain")
    reader.get_by_role("button", name="Open").click()
    expect(reader.get_by_role("heading", level=1)).to_have_text("Allotment diary, episode 1")
    expect(reader.get_by_role("listitem").filter(has_text="Bees")).to_be_visible()
    reader.wait_for_function("() => document.querySelector('audio#player').readyState >= 1")
    assert reader.locator("nav").count() == 0 and reader.locator("a[href*='/w/']").count() == 0
    screenshot(reader, screenshots, "shared-page")
    assert report(axe_violations(reader, axe_source), "shared page") == []

    # ---- the view counted; revoked, the link shows nothing more ----
    visit(page, f"/w/{person.workspace_id}/shares")
    row = page.get_by_role("row").filter(has_text="Allotment diary, episode 1")
    expect(row.get_by_role("cell").nth(2)).to_have_text("1")
    row.get_by_role("button", name="Revoke the link to Allotment diary, episode 1").click()
    page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
    expect(row).to_contain_text("revoked")
    reader.goto(url)
    expect(reader.get_by_role("heading", level=1)).to_have_text("This link does not work")
    context.close()
    expected = ("status of 401 (Unauthorized)", "status of 410 (Gone)")
    assert [problem for problem in problems.found if not any(note in problem for note in expected)] == []


def test_a_shared_transcript_reads_and_plays_on_a_phone(
    console: Console, new_page: Any, screenshots: Path, tmp_path: Path
) -> None:
    person = console.create_user(unique_email("shares-phone"), name="Katherine Johnson")
    with console.api() as client:
        items = make_items(console.app, client, person, make_media(tmp_path))
        made = client.post(
            f"/api/v1/workspaces/{person.workspace_id}/shares",
            headers=person.headers,
            json={"target_type": "transcript", "target_id": items.transcript},
        )
        assert made.status_code == 201, made.text
    phone = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone.goto(made.json()["url"])
    expect(phone.get_by_role("heading", level=1)).to_have_text("diary.wav")
    expect(phone.get_by_text("Today: bees, rain barrels and compost.")).to_be_visible()
    phone.wait_for_function("() => document.querySelector('audio#player').readyState >= 1")
    # Nothing wider than the screen, and a click on a time plays from there.
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 390
    phone.get_by_role("button", name="0:01").click()
    phone.wait_for_function("() => document.querySelector('audio#player').currentTime >= 1")
    screenshot(phone, screenshots, "shared-transcript-phone")
