"""Search and ask, in a real browser: a recording's transcript indexed, a word said 24 s in found with the word
highlighted, its result playing the recording from that second, and a question answered as it streams (extractive:
no language model), its citation seeking the player to the moment it quotes."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.helpers import Console, screenshot, sign_in, unique_email, visit
from tests.conftest import Person
from voxhub.clock import utcnow
from voxhub.jobs.models import Job, JobStatus
from voxhub.search.index import index_pending
from voxhub.transcripts import service as transcripts

RECORDING_S = 40.0
PLANTED = "Bluefinch"
PLANTED_AT = 24.0
# A planning call, as a transcription would have heard it; the decision (and the planted code name) at 24 s.
SEGMENTS = [
    (0.0, 6.0, "S1", "Good morning everyone, thanks for joining the planning call."),
    (6.0, 12.0, "S2", "First the budget: we stay within the numbers we agreed last quarter."),
    (12.0, 18.0, "S1", "Marketing needs two weeks of notice before anything goes out."),
    (18.0, 24.0, "S2", "We also looked at the venue options for the team offsite in the autumn."),
    (PLANTED_AT, 30.0, "S1", f"So we decided the launch date is the fourteenth of June, code name {PLANTED}."),
    (30.0, 36.0, "S2", "Great, I will tell the design team this afternoon."),
    (36.0, RECORDING_S, "S1", "Thanks everyone, see you next week."),
]
# How far the player may be from a moment once it has been asked to play from it: it is playing, so it moves on.
NEAR_S = 1.5


def tone(folder: Path) -> Path:
    """Forty seconds of real audio (a quiet tone) to play; what is said in it is the transcript below."""
    path = folder / "planning-call.wav"
    source = f"sine=frequency=220:duration={RECORDING_S:g}"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", source, "-af", "volume=0.2",
         "-ac", "1", "-ar", "16000", str(path)],
        check=True,
    )  # fmt: skip
    return path


def searchable_recording(console: Console, person: Person, media: Path) -> str:
    """`media` uploaded, a succeeded transcription of it holding SEGMENTS, and the search index brought up to date;
    the transcription's id."""
    with console.api() as client, media.open("rb") as handle:
        files = {"file": (media.name, handle, "audio/wav")}
        uploaded = client.post(f"/api/v1/workspaces/{person.workspace_id}/files", headers=person.headers, files=files)
        assert uploaded.status_code == 201, uploaded.text
    document = {
        "language": "en",
        "duration": RECORDING_S,
        "text": " ".join(text for *_, text in SEGMENTS),
        "segments": [
            {"id": index, "start": start, "end": end, "speaker": speaker, "text": text}
            for index, (start, end, speaker, text) in enumerate(SEGMENTS)
        ],
        "speakers": {"S1": "Maria", "S2": "Tom"},
    }
    app = console.app
    with app.state.db.session() as db:
        job = Job(
            workspace_id=person.workspace_id,
            type="transcribe",
            queue="asr",
            status=JobStatus.SUCCEEDED.value,
            input={"file_id": uploaded.json()["id"]},
            params={},
            progress=100.0,
            result={"segments": len(SEGMENTS), "transcript_version": 1},
            finished_at=utcnow(),
        )
        db.add(job)
        db.flush()
        transcripts.save_from_job(db, workspace_id=person.workspace_id, job_id=job.id, data=document)
        job_id = job.id
    # The periodic indexer is off in the browser tests' server: index now, as it would within seconds.
    index_pending(app.state.db.session, app.state.ctx)
    with console.api() as client:
        status = client.get(f"/api/v1/workspaces/{person.workspace_id}/search/status", headers=person.headers)
        assert status.status_code == 200, status.text
        assert status.json()["pending"] == 0 and status.json()["chunks"] > 0, status.json()
    return job_id


def player_near(page: Any, seconds: float) -> None:
    """Waits until the page's player is playing (or paused) within NEAR_S after `seconds`."""
    page.wait_for_function(
        "([start, near]) => { const a = document.querySelector('audio[aria-label=Recording]');"
        " return a && a.readyState >= 1 && a.currentTime >= start - 0.3 && a.currentTime <= start + near; }",
        arg=[seconds, NEAR_S],
    )


def test_a_found_word_plays_from_its_second_and_an_answer_cites_moments_that_seek_the_player(
    console: Console, new_page: Any, screenshots: Path, tmp_path: Path
) -> None:
    person = console.create_user(unique_email("search"), name="Karen Spärck Jones")
    job_id = searchable_recording(console, person, tone(tmp_path))
    page = new_page()
    page.goto("/login")
    sign_in(page, person.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Search").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Search and ask")
    expect(page.get_by_text("from 1 transcript can be searched")).to_be_visible()

    # ---- search: the planted word, highlighted, and its result playing from its second ----
    page.get_by_label("Search the recordings").fill(PLANTED.lower())
    page.get_by_label("Search the recordings").press("Enter")
    results = page.get_by_role("list", name="Results")
    first = results.get_by_role("listitem").first
    expect(first).to_contain_text("planning-call.wav")
    expect(first).to_contain_text("Maria")
    expect(first.locator("mark")).to_have_text(PLANTED)
    expect(first.get_by_role("link", name="Open the transcript")).to_have_attribute(
        "href", f"/w/{person.workspace_id}/transcripts/{job_id}"
    )
    play = first.get_by_role("button", name="Play planning-call.wav from 0:24")
    assert float(play.get_attribute("data-start") or "nan") == PLANTED_AT
    play.click()
    player_near(page, PLANTED_AT)
    expect(page.get_by_text("Playing planning-call.wav from 0:24")).to_be_visible()
    assert f"q={PLANTED.lower()}" in page.url  # the search can be bookmarked and shared
    screenshot(page, screenshots, "search-results")

    # ---- ask: the answer streams in, quoted and cited, and a citation seeks the player ----
    page.get_by_label("Recording", exact=True).evaluate("(audio) => { audio.pause(); audio.currentTime = 2; }")
    # The stages the page shows as the answer is made, in order.
    page.evaluate(
        """() => {
          window.stages = [];
          const line = document.querySelector('.chat-stage');
          new MutationObserver(() => window.stages.push(line.textContent))
            .observe(line, {childList: true, characterData: true, subtree: true});
        }"""
    )
    with page.expect_response(lambda response: response.url.endswith("/messages")) as answered:
        page.get_by_label("Your question").fill("When is the launch date?")
        page.get_by_label("Your question").press("Enter")
    assert answered.value.headers["content-type"].startswith("text/event-stream")
    log = page.get_by_role("region", name="Messages")
    expect(log).to_contain_text("When is the launch date?")
    expect(page.locator(".chat-stage")).to_contain_text("Answered, citing", timeout=60_000)
    answer = log.locator(".msg.assistant").last
    expect(answer).to_contain_text("fourteenth of June")
    expect(answer).to_contain_text("Quoted from the recordings")
    stages = page.evaluate("() => window.stages")
    assert stages.index("Searching the recordings…") < stages.index("Writing the answer…"), stages
    chips = answer.get_by_role("list", name="Citations").get_by_role("button")
    expect(chips.first).to_be_visible()
    starts = [float(value) for value in chips.evaluate_all("(buttons) => buttons.map((b) => b.dataset.start)")]
    cited = next(index for index, start in enumerate(starts) if abs(start - PLANTED_AT) <= 1.0)
    number = chips.nth(cited).get_attribute("data-n")
    start = starts[cited]
    # The [n] in the answer's text plays the passage it cites.
    answer.locator(f"button.cite[data-n='{number}']").first.click()
    player_near(page, start)
    page.get_by_label("Recording", exact=True).evaluate("(audio) => { audio.pause(); audio.currentTime = 2; }")
    chips.nth(cited).click()
    player_near(page, start)
    screenshot(page, screenshots, "search-chat")

    # ---- the conversation is kept: opened again, with its answer and citations ----
    page.reload()
    chosen = page.get_by_label("Conversation", exact=True).locator("option:checked")
    expect(chosen).to_have_text("When is the launch date?")
    log = page.get_by_role("region", name="Messages")
    expect(log.locator(".msg.assistant")).to_contain_text("fourteenth of June")
    expect(log.get_by_role("list", name="Citations").get_by_role("button").first).to_be_visible()


def test_the_search_page_says_when_nothing_matches(console: Console, new_page: Any) -> None:
    person = console.create_user(unique_email("search-none"), name="Gerard Salton")
    page = new_page()
    page.goto("/login")
    sign_in(page, person.email)
    visit(page, f"/w/{person.workspace_id}/search?q=nothing")
    expect(page.get_by_text("Nothing is indexed yet")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Nothing found for “nothing”")).to_be_visible()
    expect(page.get_by_role("region", name="Messages")).to_contain_text("Ask a question about the recordings")
