"""A new user's first session in the console, as the issue tells it: sign up, verify from the mailed link, sign in,
upload speech and watch it arrive, transcribe it and watch it run, read the transcript with its player, edit and
export it, invite a colleague who joins from the mailed link, and find the charge on the billing page."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.helpers import JOB_TIMEOUT_S, Console, screenshot, sign_in, srt_text, unique_email
from tests.conftest import PASSWORD

EDITED = "Hello from the voxhub console."


def progress_of(bar: Any) -> float:
    """A <progress> element's value as a fraction of its max (-1 while it is indeterminate)."""
    return float(bar.evaluate("(bar) => bar.position"))


def watch_progress(page: Any, bar: Any, done: Any, timeout: float) -> list[float]:
    """The distinct fractions `bar` showed, in order, until `done` (a locator) is visible."""
    seen: list[float] = []
    deadline = time.monotonic() + timeout
    while True:
        finished = done.is_visible()  # read before the bar: the update that shows `done` fills the bar too
        if bar.count():
            value = progress_of(bar)
            if not seen or seen[-1] != value:
                seen.append(value)
        if finished:
            return seen
        assert time.monotonic() < deadline, f"the job did not finish within {timeout}s; the bar showed {seen}"
        page.wait_for_timeout(50)


def sign_up_and_verify(console: Console, page: Any, screenshots: Path, email: str, name: str) -> None:
    page.goto("/signup")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    screenshot(page, screenshots, "signup")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("status").filter(has_text="Check your mail")).to_be_visible()

    page.goto(console.mailed_link(email, "confirm your email"))
    expect(page.get_by_text(f"{email} is verified")).to_be_visible()
    screenshot(page, screenshots, "verify-email")
    page.get_by_role("link", name="Sign in").click()


def test_a_new_user_signs_up_transcribes_edits_invites_and_sees_the_charge(
    console: Console, new_page: Any, speech_wav: Path, screenshots: Path
) -> None:
    page = new_page()
    email = unique_email("ada")
    sign_up_and_verify(console, page, screenshots, email, "Ada Lovelace")
    ws = sign_in(page, email, screenshots)

    # Upload over tus, watching the bar reach 100%.
    expect(page.get_by_role("heading", level=1, name="Files")).to_be_visible()
    page.get_by_label("Choose files").set_input_files(str(speech_wav))
    upload_bar = page.get_by_role("progressbar", name=f"Upload of {speech_wav.name}")
    expect(upload_bar).to_have_js_property("position", 1, timeout=30_000)
    row = page.get_by_role("row").filter(has_text=speech_wav.name)
    transcribe = row.get_by_role("button", name="Transcribe")
    expect(transcribe).to_be_enabled(timeout=30_000)
    screenshot(page, screenshots, "files")

    # The job page follows the job live: its bar moves without a reload.
    transcribe.click()
    expect(page).to_have_url(re.compile(rf"/w/{ws}/jobs/[^/]+$"))
    job_id = page.url.rsplit("/", 1)[1]
    bar = page.get_by_role("progressbar", name="Progress")
    expect(bar).to_be_visible()
    page.evaluate("window.journeyMark = 1")  # gone if the page reloads
    open_transcript = page.get_by_role("link", name="Open transcript")
    seen = watch_progress(page, bar, open_transcript, JOB_TIMEOUT_S)
    assert seen[-1] == 1, f"the job's bar ended at {seen[-1]:.0%}, not 100%: {seen}"
    # The bar moved and the link appeared without a reload. (On a machine fast enough to finish the job before the
    # page first draws, `seen` is just [1]: nothing moved in front of us, and that is no failure of the page.)
    assert page.evaluate("window.journeyMark") == 1, "the job page reloaded to show progress"
    screenshot(page, screenshots, "job")

    # The transcript: the player follows a click on a word.
    open_transcript.click()
    expect(page).to_have_url(re.compile(rf"/w/{ws}/transcripts/{job_id}$"))
    player = page.get_by_label("Recording")
    expect(player).to_be_visible()
    words = page.locator("span.word[data-start]")
    expect(words.first).to_be_visible(timeout=30_000)
    assert words.count() >= 5, f"only {words.count()} words: {page.locator('main').inner_text()}"
    word = words.nth(min(5, words.count() - 1))
    start = float(word.get_attribute("data-start") or "nan")
    player.evaluate("(media) => new Promise((ready) => media.readyState >= 1 ? ready() : "
                    "media.addEventListener('loadedmetadata', ready, {once: true}))")  # fmt: skip
    # Where the click sent the player, read as it seeks: once it plays on, a slow machine may poll it too late.
    player.evaluate(
        "(media) => { window.seekedTo = null;"
        " media.addEventListener('seeking', () => { window.seekedTo = media.currentTime }, {once: true}) }"
    )
    word.click()
    page.wait_for_function("() => window.seekedTo !== null")
    sought = page.evaluate("window.seekedTo")
    assert abs(sought - start) < 0.3, (sought, start)
    screenshot(page, screenshots, "transcript")

    # Edit the first segment, then export SRT with the edit in it.
    segment = page.locator("li.segment").first
    segment.get_by_role("button", name="Edit").click()
    page.get_by_label("Segment text").fill(EDITED)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("li.segment").first).to_contain_text(EDITED)
    export = page.get_by_role("link", name="Download SRT").or_(page.get_by_role("button", name="Download SRT"))
    with page.expect_download() as downloading:
        export.click()
    srt = Path(downloading.value.path()).read_text(encoding="utf-8-sig")
    assert "-->" in srt, srt
    assert EDITED in srt_text(srt), srt

    # Invite a colleague, who signs up from the mailed link in their own browser and joins.
    page.goto(f"/w/{ws}/members")
    colleague = unique_email("grace")
    page.get_by_label("Email", exact=True).fill(colleague)
    page.get_by_label("Role", exact=True).select_option("member")
    page.get_by_role("button", name="Invite").click()
    expect(page.get_by_role("cell", name=colleague, exact=True)).to_be_visible()
    screenshot(page, screenshots, "members")

    other = new_page()
    other.goto(console.mailed_link(colleague, "invited"))
    expect(other.get_by_role("heading", level=1)).to_contain_text("Join")
    screenshot(other, screenshots, "accept-invitation")
    other.get_by_role("link", name="Create an account").click()
    other.get_by_label("Name", exact=True).fill("Grace Hopper")
    expect(other.get_by_label("Email", exact=True)).to_have_value(colleague)
    other.get_by_label("Password", exact=True).fill(PASSWORD)
    other.get_by_role("button", name="Create account").click()
    expect(other).to_have_url(re.compile(rf"/w/{ws}/files$"))
    expect(other.get_by_label("Workspace")).to_have_value(ws)
    expect(other.get_by_role("heading", level=1, name="Files")).to_be_visible()
    expect(other.get_by_role("row").filter(has_text=speech_wav.name)).to_be_visible()

    # Back as the first user: the billing page shows what the transcription cost. On the free plan it is drawn from
    # the audio allowance (no credits move, so the credit ledger stays empty): the allowance's meter and the job's row
    # among the charges show it.
    page.goto(f"/w/{ws}/billing")
    expect(page.get_by_role("heading", level=1, name="Billing")).to_be_visible()
    charge = page.get_by_role("row").filter(has=page.locator(f'a[href$="/jobs/{job_id}"]'))
    expect(charge).to_contain_text("transcribe")
    expect(charge).to_contain_text("succeeded")
    expect(charge).to_contain_text(re.compile(r"[1-9][0-9]* minutes|0\\.[0-9]*[1-9] minutes"))
    audio = page.get_by_role("meter", name="Audio")
    assert float(audio.evaluate("(meter) => meter.value")) > 0, "the audio allowance shows nothing used"
    screenshot(page, screenshots, "billing")
