"""The dubbing studio in a real browser: a short English video uploaded on the page and dubbed into Portuguese with
review on; one translation edited and saved, the dub rendered, then watched — the picture plays muted while the
chosen sound track plays beside it in step, Portuguese or the original, with Portuguese and English subtitles."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import Console, screenshot, sign_in, unique_email
from tests.dubbing.conftest import Recording, make_recording

# Two lines over ten seconds: the shortest recording with a line to edit and another left as translated. One
# sentence each: two sentences of a line are two units when Whisper hears them more than 300 ms apart.
LINES = (
    (1.0, "Welcome to the show, where we talk about the weather."),
    (5.5, "Thank you for watching, and see you next week."),
)
EDITED = "Bem-vindos ao programa. Hoje falamos do tempo."
REVIEW_TIMEOUT_MS = 150_000  # transcription, units and translation on a loaded two-core machine
RENDER_TIMEOUT_MS = 150_000


@pytest.fixture(scope="module")
def short_video(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    return make_recording(tmp_path_factory.mktemp("dub-browser"), LINES, duration_s=10.0, name="weather")


def heard(page: Any, track: str) -> None:
    """Wait until the sound track `track` is the one heard: playing, in step with the picture."""
    page.wait_for_function(
        """(track) => {
          const video = document.querySelector('video.dub-video');
          const audio = document.querySelector(`audio[data-track="${track}"]`);
          return !video.paused && !audio.paused && audio.currentTime > 0.2 &&
            Math.abs(audio.currentTime - video.currentTime) < 0.5;
        }""",
        arg=track,
    )


def test_a_video_is_dubbed_reviewed_and_watched_with_its_sound_tracks_and_subtitles(
    console: Console, new_page: Any, screenshots: Path, short_video: Recording
) -> None:
    person = console.create_user(unique_email("dubs"), name="Inês Duarte")
    page = new_page()
    page.goto("/login")
    sign_in(page, person.email)
    page.get_by_role("link", name="Dubbing").click()
    expect(page.get_by_role("heading", name="Dubbing", level=1)).to_be_visible()

    # The video uploaded from the form is the one chosen; Portuguese is offered and ticked, English offered.
    page.get_by_label("Upload a file").set_input_files(str(short_video.path))
    expect(page.get_by_text(f"{short_video.path.name} is uploaded and chosen.")).to_be_visible(timeout=30_000)
    expect(page.get_by_label("Video or audio file")).to_contain_text(short_video.path.name)
    expect(page.get_by_label("Portuguese", exact=True)).to_be_checked()
    expect(page.get_by_label("English", exact=True)).not_to_be_checked()
    expect(page.get_by_text(re.compile(r"Portuguese: \d+ voices?"))).to_be_visible()
    page.get_by_label("Title (optional)").fill("Weather report")
    page.get_by_label("Spoken language").select_option("en")
    expect(page.get_by_label("Review the lines before the voices speak them")).to_be_checked()
    page.get_by_role("button", name="Start dubbing").click()
    expect(page).to_have_url(re.compile(r"/dubs/[^/]+$"))
    dub_id = page.url.rsplit("/", 1)[1]
    expect(page.get_by_role("progressbar", name="Dub progress")).to_be_visible()

    # The lines wait for review: one translation edited and saved, then the dub rendered.
    review = page.get_by_role("region", name="Review the lines")
    expect(review).to_be_visible(timeout=REVIEW_TIMEOUT_MS)
    rows = review.get_by_role("table", name="Lines to dub").locator("tbody tr")
    expect(rows).to_have_count(len(LINES))
    expect(rows.first).to_contain_text("Welcome to the show")
    first = review.get_by_label("Portuguese translation of line 1")
    assert first.input_value().strip() and first.input_value() != EDITED
    first.fill(EDITED)
    expect(review.get_by_text("Unsaved changes.")).to_be_visible()
    review.get_by_role("button", name="Save edits").click()
    expect(review.get_by_text("Saved: 1 line will be spoken again.")).to_be_visible()
    with console.api() as client:
        url = f"/api/v1/workspaces/{person.workspace_id}/dubs/{dub_id}"
        units = client.get(f"{url}/segments", headers=person.headers).json()["items"]
    assert units[0]["translations"]["pt"] == {**units[0]["translations"]["pt"], "text": EDITED, "edited": True}
    assert not units[1]["translations"]["pt"]["edited"]
    screenshot(page, screenshots, "dub-review")

    review.get_by_role("button", name="Render").click()
    watch = page.get_by_role("region", name="Watch")
    expect(watch).to_be_visible(timeout=RENDER_TIMEOUT_MS)
    expect(page.get_by_role("region", name="Timing and fit").get_by_role("table")).to_contain_text("Portuguese")
    expect(
        page.get_by_role("region", name="Lines", exact=True).get_by_label("Portuguese translation of line 1")
    ).to_have_value(EDITED)

    # The picture comes from the dub's video, without sound of its own; its sound tracks are Portuguese and the
    # original; its subtitles are Portuguese (shown, with the edited line) and English.
    video = watch.locator("video")
    assert video.evaluate("(v) => v.muted && v.currentSrc.length > 0"), video.evaluate("(v) => v.currentSrc")
    sound = watch.get_by_label("Sound")
    expect(sound.locator("option")).to_have_text(["Portuguese", "Original"])
    tracks = video.evaluate("(v) => [...v.textTracks].map((t) => [t.kind, t.language, t.mode])")
    assert sorted(tracks) == [["subtitles", "en", "disabled"], ["subtitles", "pt", "showing"]], tracks
    page.wait_for_function(
        "(text) => [...document.querySelector('video.dub-video').textTracks].some((t) => t.language === 'pt' && "
        "t.cues && [...t.cues].some((cue) => cue.text.includes(text)))",
        arg="Bem-vindos ao programa",
    )
    watch.get_by_label("Subtitles").select_option("en")
    page.wait_for_function(
        "() => [...document.querySelector('video.dub-video').textTracks].some((t) => t.language === 'en' && "
        "t.mode === 'showing' && t.cues && [...t.cues].some((cue) => cue.text.includes('Welcome')))"
    )

    # Played: the Portuguese track is heard in step with the picture; switched, the original is, and Portuguese stops.
    watch.get_by_role("button", name="Play").click()
    page.wait_for_function("() => document.querySelector('video.dub-video').currentTime > 1")
    heard(page, "pt")
    sound.select_option("original")
    page.wait_for_function("() => document.querySelector('audio[data-track=\"pt\"]').paused")
    heard(page, "original")
    # Paused, both stop; moved, the sound moves with the picture, and plays on from there.
    watch.get_by_role("button", name="Pause").click()
    page.wait_for_function("() => [...document.querySelectorAll('audio')].every((a) => a.paused)")
    video.evaluate("(v) => { v.currentTime = 6; }")
    page.wait_for_function(
        "() => Math.abs(document.querySelector('audio[data-track=\"original\"]').currentTime - 6) < 0.1"
    )
    watch.get_by_role("button", name="Play").click()
    heard(page, "original")
    assert video.evaluate("(v) => v.currentTime") >= 6
    # A track that wanders off is put back in step.
    page.evaluate("() => { document.querySelector('audio[data-track=\"original\"]').currentTime -= 1.5; }")
    heard(page, "original")
    watch.get_by_role("button", name="Pause").click()
    page.wait_for_function("() => [...document.querySelectorAll('audio')].every((a) => a.paused)")
    screenshot(page, screenshots, "dub-player")

    # The list shows the finished dub and its languages.
    page.get_by_role("link", name="All dubs").click()
    row = page.get_by_role("table", name="Dubs").get_by_role("row", name=re.compile("Weather report"))
    expect(row).to_contain_text("succeeded")
    expect(row).to_contain_text("English → Portuguese")
    screenshot(page, screenshots, "dubs")
