"""The podcast studio in a real browser: an episode made from known notes through the form (its estimate shown before
it is created), its script reviewed — one line edited and saved, one segment rewritten — approved and voiced, then
played from a chapter; its captions downloaded, and the workspace's private feed turned on and off."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from playwright.sync_api import expect

from tests.browser.helpers import Console, screenshot, sign_in, unique_email
from tests.podcasts.conftest import NOTES

EDITED = "Welcome back to the allotment, where the bees are busy again."
MINUTES = "2"  # the shortest episode the outline splits in two segments: a chapter to seek to, a segment to rewrite
SCRIPT_TIMEOUT_MS = 120_000
EPISODE_TIMEOUT_MS = 300_000  # voicing two minutes of talk on a loaded two-core machine


def test_an_episode_is_reviewed_in_the_studio_then_voiced_and_played_from_a_chapter(
    console: Console, new_page: Any, screenshots: Path
) -> None:
    person = console.create_user(unique_email("podcasts"), name="Maria Lopes")
    page = new_page()
    page.goto("/login")
    sign_in(page, person.email)
    page.get_by_role("link", name="Podcasts").click()
    expect(page.get_by_role("heading", name="Podcasts", level=1)).to_be_visible()

    page.get_by_label("Notes").fill(NOTES)
    expect(page.get_by_text(f"{len(NOTES):,} of 50,000 characters")).to_be_visible()
    page.get_by_label("Title (optional)").fill("Spring on the allotment")
    page.get_by_label("Length").select_option("minutes")
    page.get_by_label("Minutes").fill(MINUTES)
    page.get_by_label("Host 1's name").fill("Maria")
    page.get_by_label("Host 2's name").fill("Ben")
    expect(page.get_by_label("Review the script before voicing")).to_be_checked()

    # The estimate comes first: its length and engine, then the button that makes the episode.
    page.get_by_role("button", name="Estimate").click()
    expect(page.get_by_role("heading", name="Estimate")).to_be_visible()
    expect(page.get_by_text("about 2 min (1.4 min to 2.6 min)")).to_be_visible()
    expect(page.get_by_text("picked from the notes themselves")).to_be_visible()
    page.get_by_role("button", name="Create episode").click()
    expect(page).to_have_url(re.compile(r"/podcasts/[^/]+$"))
    episode_id = page.url.rsplit("/", 1)[1]

    # The script waits for review: one line edited and saved, the other segment rewritten, the edit kept.
    review = page.get_by_role("region", name="Script review")
    expect(review).to_be_visible(timeout=SCRIPT_TIMEOUT_MS)
    first_line = review.get_by_label("Text of segment 1, line 1")
    first_line.fill(EDITED)
    expect(review.get_by_text("Unsaved changes.")).to_be_visible()
    review.get_by_role("button", name="Save the script").click()
    expect(review.get_by_text("Saved.")).to_be_visible()
    url = f"/api/v1/workspaces/{person.workspace_id}/podcasts/{episode_id}"
    with console.api() as client:
        saved = client.get(f"{url}/script", headers=person.headers).json()
    assert saved["segments"][0]["lines"][0]["text"] == EDITED
    assert len(saved["segments"]) >= 2, saved

    review.get_by_role("button", name=re.compile(r"^Rewrite segment 2\b")).click()
    expect(review).to_be_hidden()
    expect(review).to_be_visible(timeout=SCRIPT_TIMEOUT_MS)
    expect(review.get_by_label("Text of segment 1, line 1")).to_have_value(EDITED)
    titles = [review.get_by_label(f"Title of segment {n + 1}").input_value() for n in range(len(saved["segments"]))]

    review.get_by_role("button", name="Approve and voice").click()
    expect(page.get_by_role("progressbar", name="Episode progress")).to_be_visible()
    listen = page.get_by_role("region", name="Listen")
    expect(listen).to_be_visible(timeout=EPISODE_TIMEOUT_MS)

    # One chapter a segment, named as reviewed; the last one, clicked, plays the episode from its start.
    chapters = listen.get_by_role("list", name="Chapters").get_by_role("button")
    expect(chapters).to_have_count(len(titles))
    shown = chapters.all_text_contents()
    assert [re.sub(r"^\d+:\d\d ", "", text) for text in shown] == titles, shown
    player = listen.get_by_label("Episode", exact=True)
    start = float(chapters.last.get_attribute("data-start") or "nan")
    assert start > 0
    chapters.last.click()
    page.wait_for_function(
        "([media, start]) => !media.paused && media.currentTime > start + 0.5", arg=[player.element_handle(), start]
    )
    expect(chapters.last).to_have_attribute("aria-current", "true")
    player.evaluate("(media) => media.pause()")
    screenshot(page, screenshots, "podcast")

    # The captions name who speaks, with the edited line in them.
    with page.expect_download() as download:
        listen.get_by_role("button", name="Captions (VTT)").click()
    captions = Path(download.value.path()).read_text(encoding="utf-8")
    assert captions.startswith("WEBVTT") and "Maria" in captions and "Welcome back to the allotment" in captions

    # The workspace's feed: turned on, its address shown once and serving the episode, then turned off.
    page.get_by_role("link", name="All episodes").click()
    episodes = page.get_by_role("table", name="Episodes")
    expect(episodes.get_by_role("row", name=re.compile("Spring on the allotment"))).to_contain_text("succeeded")
    page.get_by_role("button", name="Turn the feed on").click()
    feed_url = page.locator("#feed-url").inner_text()
    with console.api() as client:
        rss = client.get(feed_url)
    assert rss.status_code == 200, rss.text
    enclosures = [item.get("url", "") for item in ET.fromstring(rss.content).iter("enclosure")]
    assert len(enclosures) == 1 and episode_id in enclosures[0], enclosures
    page.get_by_role("button", name="Turn the feed off").click()
    page.get_by_role("dialog").get_by_role("button", name="Turn off").click()
    expect(page.get_by_text("The feed is off.", exact=False).first).to_be_visible()
    with console.api() as client:
        assert client.get(feed_url).status_code == 404
