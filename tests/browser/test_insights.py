"""What is in a recording, on its transcript page: asked for from the page, made by an insights job while the page
follows it, then shown — summary, chapters, key phrases — with times that move the player."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.helpers import Console, screenshot, sign_in, unique_email, visit


def test_insights_are_made_from_the_transcript_page_and_their_times_seek_the_player(
    console: Console, new_page: Any, speech_wav: Path, screenshots: Path
) -> None:
    person = console.create_user(unique_email("insights"), name="Grace Hopper")
    job = console.transcribed(person, speech_wav)
    page = new_page()
    page.goto("/login")
    sign_in(page, person.email)
    visit(page, f"/w/{person.workspace_id}/transcripts/{job['id']}")

    insights = page.get_by_role("region", name="Insights")
    insights.get_by_role("button", name="Find what is in it").click()

    expect(insights.get_by_role("heading", name="Summary")).to_be_visible(timeout=60_000)
    expect(insights.get_by_role("heading", name="Chapters")).to_be_visible()
    expect(insights.get_by_role("heading", name="Key phrases")).to_be_visible()
    expect(insights).to_contain_text("Picked from the transcript itself")
    seekers = insights.locator("button[data-start]")
    starts = [float(value) for value in seekers.evaluate_all("(buttons) => buttons.map((b) => b.dataset.start)")]
    assert starts, "no chapter or key phrase has a time"
    later = max(range(len(starts)), key=lambda index: starts[index])
    player = page.get_by_label("Recording")
    player.evaluate(
        "(media) => new Promise((ready) => media.readyState >= 1 ? ready() : "
        "media.addEventListener('loadedmetadata', ready, {once: true}))"
    )
    seekers.nth(later).click()
    page.wait_for_function(
        "([media, start]) => Math.abs(media.currentTime - start) < 0.3", arg=[player.element_handle(), starts[later]]
    )
    screenshot(page, screenshots, "insights")
