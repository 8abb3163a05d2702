"""An episode's life beyond its first making: one segment of a reviewed script rewritten, the signed download in each
format made, progress while it is made, the events and the mail that announce it, a transcription as its source, the
estimate before it, and a cancel followed by a retry. Episodes are one minute long with extractive scripts."""

from __future__ import annotations

import json
import math
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from standardwebhooks.webhooks import Webhook

from tests.conftest import Mailbox, People, Person, body_text
from tests.insights.conftest import transcription
from tests.insights.script import TOPICS as MEETING_TOPICS
from tests.insights.script import transcript_of
from tests.notify.conftest import WEBHOOK_TIMEOUT_S, Receiver, create_webhook
from tests.podcasts.conftest import (
    EPISODE_TIMEOUT_S,
    NOTES,
    TOPICS,
    error_of,
    make_podcast,
    podcasts_url,
    start_podcast,
    wait_for_podcast,
)
from voxhub.billing import service as billing
from voxhub.config import Settings
from voxhub.jobs.registry import PipelineError
from voxhub.periodic import run_once
from voxhub.podcasts import mix, script, voices
from voxhub.podcasts import service as podcasts
from voxhub.podcasts.schemas import WORDS_PER_MINUTE
from voxhub.tasks import PERIODIC_TASKS

ONE_MINUTE = {"minutes": 1}
READY_SUBJECT = "Your episode is ready"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Webhook receivers here listen on loopback."""
    return settings.model_copy(update={"webhooks_allow_private": True, "webhook_timeout_s": WEBHOOK_TIMEOUT_S})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    yield server
    server.stop()


def deliver_webhooks(app: Any) -> int:
    """Run the periodic webhook task once, as `voxhub serve` does every few seconds; how many deliveries it tried."""
    task = next(task for task in PERIODIC_TASKS if task.name == "deliver_webhooks")
    attempted = run_once(app.state.db, app.state.ctx, (task,))[task.name]
    assert attempted >= 0, "the deliver_webhooks task raised; see the log"
    return int(attempted)


def episode_url(person: Person, podcast_id: str) -> str:
    return f"{podcasts_url(person)}/{podcast_id}"


def job_of(client: TestClient, person: Person, job_id: str) -> dict[str, Any]:
    answer = client.get(f"/api/v1/workspaces/{person.workspace_id}/jobs/{job_id}", headers=person.headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def lines_of(script: dict[str, Any]) -> list[list[tuple[str, str]]]:
    return [[(line["speaker"], line["text"]) for line in segment["lines"]] for segment in script["segments"]]


def fetch_download(client: TestClient, person: Person, podcast_id: str, **params: str) -> bytes:
    """What a listener's browser gets from the download button: a redirect to a signed link, then the bytes."""
    moved = client.get(
        f"{episode_url(person, podcast_id)}/download", headers=person.headers, params=params, follow_redirects=False
    )
    assert moved.status_code == 302, moved.text
    link = urlsplit(moved.headers["location"])
    anonymous = client.get(f"{link.path}?{link.query}" if link.query else link.path)  # the link is the credential
    assert anonymous.status_code == 200, anonymous.text
    return anonymous.content


def ffprobe(path: Path) -> dict[str, Any]:
    shown = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(json.loads(shown.stdout))


class VoiceGate:
    """Holds the voices stage at its first line until released, so a test can look at (or cancel) an episode that
    is being made, whatever the speed of the machine."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.reached = threading.Event()
        self.released = threading.Event()
        real = voices.render

        def held(*args: Any, **kwargs: Any) -> Any:
            self.reached.set()
            self.released.wait(EPISODE_TIMEOUT_S)
            return real(*args, **kwargs)

        monkeypatch.setattr(voices, "render", held)

    def wait_until_reached(self) -> None:
        assert self.reached.wait(EPISODE_TIMEOUT_S), "the episode never reached its voices"


@pytest.fixture
def voice_gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[VoiceGate]:
    gate = VoiceGate(monkeypatch)
    yield gate
    gate.released.set()  # a failed test must not leave a worker waiting


# ---- one segment rewritten ----


def test_one_segment_is_rewritten_and_the_episode_is_back_in_review_with_the_others_unchanged(
    client: TestClient, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = people.create()
    # Long enough for three segments; only the script is written, so the length costs little here.
    episode = make_podcast(client, owner, duration={"minutes": 4}, review=True)
    assert episode["status"] == "awaiting_review", episode
    url = episode_url(owner, episode["id"])
    written = client.get(f"{url}/script", headers=owner.headers).json()
    assert len(written["segments"]) >= 3, written
    original = lines_of(written)

    # Both the first and the last segment are edited by hand; only the last is then written again.
    edited = json.loads(json.dumps(written))
    edited["segments"][0]["lines"][0]["text"] = "A hand-written welcome that should stay."
    last = len(edited["segments"]) - 1
    edited["segments"][last]["lines"] = [{"speaker": edited["segments"][last]["lines"][0]["speaker"], "text": "Bye."}]
    assert client.put(f"{url}/script", headers=owner.headers, json=edited).status_code == 200

    # The extractive rewrite takes milliseconds: it is held until the checks made while it runs are done.
    rewriting = threading.Event()
    write_segment = script.write_segment

    def held(*args: Any, **kwargs: Any) -> Any:
        rewriting.wait(EPISODE_TIMEOUT_S)
        return write_segment(*args, **kwargs)

    monkeypatch.setattr(script, "write_segment", held)
    try:
        accepted = client.post(f"{url}/segments/{last}/regenerate", headers=owner.headers)
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["status"] == "queued" and accepted.json()["job_id"] != episode["job_id"]
        # While it is being rewritten, the script is not in review: no other change, approval or second rewrite.
        busy = error_of(client.post(f"{url}/segments/0/regenerate", headers=owner.headers), 409)
        assert busy["code"] == "podcast_not_in_review"
        assert error_of(client.post(f"{url}/approve", headers=owner.headers), 409)["code"] == "podcast_not_in_review"
    finally:
        rewriting.set()

    back = wait_for_podcast(client, owner, episode["id"], timeout=EPISODE_TIMEOUT_S)
    assert back["status"] == "awaiting_review" and back["stage"] == "review" and back["progress"] == 50.0, back
    rewritten = lines_of(client.get(f"{url}/script", headers=owner.headers).json())
    assert rewritten[last] == original[last]  # the notes' sentences again (extractive), not the hand-written "Bye."
    assert rewritten[0][0][1] == "A hand-written welcome that should stay."
    assert rewritten[0][1:] == original[0][1:] and rewritten[1:last] == original[1:last]
    job = job_of(client, owner, back["job_id"])
    assert job["type"] == "podcast_script" and job["params"] == {"segment": last}
    assert job["result"]["segments"] == len(original)


def test_rewriting_a_segment_that_does_not_exist_or_outside_review_is_refused(
    client: TestClient, people: People
) -> None:
    owner = people.create()
    episode = make_podcast(client, owner, duration=ONE_MINUTE, review=True)
    url = episode_url(owner, episode["id"])
    segments = len(client.get(f"{url}/script", headers=owner.headers).json()["segments"])

    for number in (segments, 99, -1):
        missing = error_of(client.post(f"{url}/segments/{number}/regenerate", headers=owner.headers), 404)
        assert missing["code"] == "segment_not_found" and missing["details"] == {"segments": segments}, number
        assert f"0 to {segments - 1}" in missing["message"]
    assert error_of(client.post(f"{url}/segments/first/regenerate", headers=owner.headers), 422)
    assert client.get(url, headers=owner.headers).json()["status"] == "awaiting_review"  # nothing was started

    assert client.post(f"{url}/approve", headers=owner.headers).status_code == 202
    done = wait_for_podcast(client, owner, episode["id"], until=("succeeded", "failed"), timeout=EPISODE_TIMEOUT_S)
    assert done["status"] == "succeeded", done
    late = error_of(client.post(f"{url}/segments/0/regenerate", headers=owner.headers), 409)
    assert late["code"] == "podcast_not_in_review" and late["details"] == {"status": "succeeded"}


def test_segments_added_or_removed_by_hand_are_rewritten_from_what_they_now_are(
    client: TestClient, people: People
) -> None:
    owner = people.create()
    episode = make_podcast(client, owner, duration={"minutes": 4}, review=True)
    url = episode_url(owner, episode["id"])
    script = client.get(f"{url}/script", headers=owner.headers).json()
    assert len(script["segments"]) == 3
    speaker = script["segments"][0]["lines"][0]["speaker"]
    added = {
        "title": "Listener questions",
        "points": ["How the worms in the bin get through a frost"],
        "lines": [{"speaker": speaker, "text": "What do the worms do in winter?"}],
    }
    # The middle segment is dropped and one is added at the end: segment 1 is now what was segment 2.
    script["segments"] = [script["segments"][0], script["segments"][2], added]
    assert client.put(f"{url}/script", headers=owner.headers, json=script).status_code == 200

    for number in (2, 1):
        answer = client.post(f"{url}/segments/{number}/regenerate", headers=owner.headers)
        assert answer.status_code == 202, answer.text
        back = wait_for_podcast(client, owner, episode["id"], until=("awaiting_review", "failed"))
        assert back["status"] == "awaiting_review", back
    rewritten = client.get(f"{url}/script", headers=owner.headers).json()["segments"]

    assert [segment["title"] for segment in rewritten] == [segment["title"] for segment in script["segments"]]
    assert rewritten[0] == script["segments"][0]
    assert rewritten[2]["lines"] and rewritten[2]["lines"] != added["lines"]
    assert "worms" in " ".join(line["text"] for line in rewritten[2]["lines"]).lower()
    assert rewritten[1]["lines"]


# ---- download ----


def test_the_download_redirects_to_a_signed_link_to_the_audio_in_the_formats_made(
    client: TestClient, people: People, tmp_path: Path
) -> None:
    owner = people.create()
    reviewed = make_podcast(client, owner, duration=ONE_MINUTE, review=True)
    url = episode_url(owner, reviewed["id"])
    early = error_of(client.get(f"{url}/download", headers=owner.headers, follow_redirects=False), 409)
    assert early["code"] == "podcast_not_ready" and early["details"] == {"status": "awaiting_review"}

    assert client.post(f"{url}/approve", headers=owner.headers).status_code == 202
    done = wait_for_podcast(client, owner, reviewed["id"], until=("succeeded", "failed"), timeout=EPISODE_TIMEOUT_S)
    assert done["status"] == "succeeded", done
    mp3 = tmp_path / "episode.mp3"
    mp3.write_bytes(fetch_download(client, owner, reviewed["id"]))
    assert mp3.read_bytes() == fetch_download(client, owner, reviewed["id"], format="mp3")
    probed = ffprobe(mp3)
    assert probed["format"]["format_name"] == "mp3" and probed["streams"][0]["codec_name"] == "mp3"
    assert float(probed["format"]["duration"]) == pytest.approx(done["duration_s"], abs=0.2)
    not_made = error_of(client.get(f"{url}/download", headers=owner.headers, params={"format": "m4a"}), 404)
    assert not_made["code"] == "format_not_made" and not_made["details"] == {"formats": ["mp3"]}
    assert "mp3" in not_made["message"] and '"m4a"' in not_made["message"]
    assert error_of(client.get(f"{url}/download", headers=owner.headers, params={"format": "wav"}), 422)

    both = make_podcast(client, owner, duration=ONE_MINUTE, formats=["mp3", "m4a"])
    assert both["status"] == "succeeded" and both["outputs"]["m4a_file_id"], both
    m4a = tmp_path / "episode.m4a"
    m4a.write_bytes(fetch_download(client, owner, both["id"], format="m4a"))
    probed = ffprobe(m4a)
    assert "mp4" in probed["format"]["format_name"].split(",") and probed["streams"][0]["codec_name"] == "aac"
    assert float(probed["format"]["duration"]) == pytest.approx(both["duration_s"], abs=0.2)
    assert fetch_download(client, owner, both["id"])[:3] in (b"ID3", b"\xff\xfb")


# ---- progress ----


def test_the_status_shows_the_stage_and_progress_while_made_and_100_when_done(
    client: TestClient, people: People, voice_gate: VoiceGate
) -> None:
    owner = people.create()
    accepted = start_podcast(client, owner, duration=ONE_MINUTE)
    assert accepted.status_code == 202, accepted.text
    url = episode_url(owner, accepted.json()["id"])
    queued = client.get(f"{url}/status", headers=owner.headers).json()
    assert queued["status"] in ("queued", "running") and queued["job_id"] == accepted.json()["job_id"]

    voice_gate.wait_until_reached()
    working = client.get(f"{url}/status", headers=owner.headers).json()
    assert working["status"] == "running" and working["stage"] == "voices", working
    assert 0 < working["progress"] < 100 and working["message"].startswith("line 1 of ")
    assert working["error"] is None
    shown = client.get(url, headers=owner.headers).json()
    assert {key: shown[key] for key in working if key in shown} == working

    voice_gate.released.set()
    wait_for_podcast(client, owner, accepted.json()["id"], until=("succeeded", "failed"), timeout=EPISODE_TIMEOUT_S)
    done = client.get(f"{url}/status", headers=owner.headers).json()
    assert done == {
        "id": accepted.json()["id"], "status": "succeeded", "stage": "done", "progress": 100.0, "message": None,
        "error": None, "job_id": accepted.json()["job_id"],
    }  # fmt: skip


# ---- events and mail ----


def test_webhooks_announce_a_failed_and_then_a_succeeded_episode(
    client: TestClient, people: People, app: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = people.create()
    hook = create_webhook(client, owner, receiver.url(), ["podcast.succeeded", "podcast.failed"])
    real_mix = mix.mix

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise PipelineError("mix_failed", "The mixer broke (forced by the test).")

    monkeypatch.setattr(mix, "mix", broken)
    failed = make_podcast(client, owner, duration=ONE_MINUTE, title="Bees and rain")
    assert failed["status"] == "failed", failed
    assert deliver_webhooks(app) == 1
    [request] = receiver.requests()
    event = Webhook(hook["secret"]).verify(request.body, request.headers)
    assert event["type"] == "podcast.failed"
    assert event["data"]["id"] == failed["id"] and event["data"]["status"] == "failed"
    assert event["data"]["error"] == {"code": "mix_failed", "message": "The mixer broke (forced by the test)."}

    monkeypatch.setattr(mix, "mix", real_mix)
    assert client.post(f"{episode_url(owner, failed['id'])}/retry", headers=owner.headers).status_code == 202
    done = wait_for_podcast(client, owner, failed["id"], until=("succeeded", "failed"), timeout=EPISODE_TIMEOUT_S)
    assert done["status"] == "succeeded", done
    assert deliver_webhooks(app) == 1
    [_failed, request] = receiver.requests()
    event = Webhook(hook["secret"]).verify(request.body, request.headers)
    assert event["type"] == "podcast.succeeded"
    data = event["data"]
    assert data["id"] == done["id"] and data["status"] == "succeeded" and data["title"] == "Bees and rain"
    assert data["outputs"] == done["outputs"] and data["outputs"]["mp3_file_id"]
    assert data["duration_s"] == done["duration_s"] and data["progress"] == 100.0


def test_an_episode_that_took_minutes_is_announced_by_mail_and_a_quick_one_is_not(
    client: TestClient, people: People, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = people.create()
    quick = make_podcast(client, owner, duration=ONE_MINUTE, title="A quick one")
    assert quick["status"] == "succeeded", quick

    monkeypatch.setattr(podcasts, "MAIL_AFTER_S", 0.0)  # every episode counts as slow now
    slow = make_podcast(client, owner, duration=ONE_MINUTE, title="Counted as slow")
    assert slow["status"] == "succeeded", slow
    mail = mailbox.wait_for(owner.email, READY_SUBJECT)
    assert mail["Subject"] == f"{READY_SUBJECT}: Counted as slow"
    text = body_text(mail)
    assert '"Counted as slow"' in text and f"/w/{owner.workspace_id}/podcasts/{slow['id']}" in text
    assert f"{round(slow['duration_s'] / 60, 1)} minutes" in text
    # The quick episode finished well before the slow one was even made: had it sent a mail, it would be here.
    ready = [m for m in mailbox.sent_to(owner.email) if READY_SUBJECT in str(m["Subject"])]
    assert len(ready) == 1, [m["Subject"] for m in ready]


# ---- a transcription as the source ----


def test_a_transcription_is_a_source_and_a_short_or_foreign_one_is_refused(
    client: TestClient, people: People, app: Any
) -> None:
    owner, stranger = people.create(), people.create()
    document, _times = transcript_of()
    said = " ".join(segment["text"].strip() for segment in document["segments"])
    meeting = transcription(app, owner, document)

    episode = make_podcast(client, owner, notes=None, source={"job_ids": [meeting]}, duration=ONE_MINUTE, review=True)
    assert episode["status"] == "awaiting_review" and episode["notes_chars"] == len(said), episode
    script = client.get(f"{episode_url(owner, episode['id'])}/script", headers=owner.headers).json()
    spoken = " ".join(text for segment in lines_of(script) for _speaker, text in segment).lower()
    for topic in MEETING_TOPICS:
        assert any(term in spoken for term in topic.key_terms), topic.name
    assert not any(term in spoken for terms in TOPICS.values() for term in terms)  # nothing of the default notes

    foreign = error_of(start_podcast(client, stranger, notes=None, source={"job_ids": [meeting]}), 404)
    assert foreign["code"] == "job_not_found"
    brief = transcription(app, owner, {"segments": [{"start": 0.0, "end": 1.5, "text": "Just a few words."}]})
    short = error_of(start_podcast(client, owner, notes=None, source={"job_ids": [brief]}), 422)
    assert [item["field"] for item in short["details"]["fields"]] == ["source"] and "100" in short["message"]
    not_transcript = error_of(start_podcast(client, owner, notes=None, source={"job_ids": [episode["job_id"]]}), 422)
    assert [item["field"] for item in not_transcript["details"]["fields"]] == ["source.job_ids.0"]
    listed = client.get(podcasts_url(owner), headers=owner.headers).json()["items"]
    assert [item["id"] for item in listed] == [episode["id"]]


# ---- the estimate ----


def test_an_estimate_within_the_allowance_can_start_and_matches_the_plan(
    client: TestClient, people: People, app: Any
) -> None:
    owner = people.create()
    billing_url = f"/api/v1/workspaces/{owner.workspace_id}/billing"
    plan = client.get(billing_url, headers=owner.headers).json()
    assert plan["plan"] == "free" and plan["available"] == 0
    included = plan["allowances"]["podcasts"]["included"]
    price = billing.catalog_of(app.state.ctx.settings).price_for(podcasts.EPISODE_JOB)
    assert price is not None and price.meter == "podcasts"

    def estimate(**body: Any) -> dict[str, Any]:
        answer = client.post(f"{podcasts_url(owner)}/estimate", headers=owner.headers, json={"notes": NOTES, **body})
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    one = estimate(duration=ONE_MINUTE)
    assert one["can_start"] is True and one["refusal"] is None
    assert (one["target_minutes"], one["min_minutes"], one["max_minutes"]) == (1.0, 0.7, 1.3)
    assert one["words"] == WORDS_PER_MINUTE and one["notes_chars"] == len(NOTES.strip())
    assert one["script_engine"] == "extractive"
    assert one["credits"] == math.ceil(1.3) * price.credits  # the longest it may run, per started minute
    assert one["allowance_left"] == included
    short = estimate()
    assert short["target_minutes"] == 5.0 and short["credits"] == 7 * price.credits and short["can_start"] is True
    assert client.get(podcasts_url(owner), headers=owner.headers).json()["items"] == []  # nothing made or held
    assert (
        client.get(billing_url, headers=owner.headers).json()["allowances"]["podcasts"]
        == plan["allowances"]["podcasts"]
    )

    made = make_podcast(client, owner, duration=ONE_MINUTE)
    assert made["status"] == "succeeded", made
    after = estimate(duration=ONE_MINUTE)
    podcasts_left = client.get(billing_url, headers=owner.headers).json()["allowances"]["podcasts"]
    assert after["allowance_left"] == podcasts_left["left"] == included - 1 and podcasts_left["used"] == 1
    assert after["can_start"] is True


# ---- cancel and retry ----


def test_a_canceled_episode_is_canceled_and_a_retry_finishes_it_keeping_the_lines_spoken(
    client: TestClient, people: People, voice_gate: VoiceGate
) -> None:
    owner = people.create()
    accepted = start_podcast(client, owner, duration=ONE_MINUTE)
    assert accepted.status_code == 202, accepted.text
    podcast_id, job_id = accepted.json()["id"], accepted.json()["job_id"]
    url = episode_url(owner, podcast_id)
    jobs_url = f"/api/v1/workspaces/{owner.workspace_id}/jobs/{job_id}"

    voice_gate.wait_until_reached()
    canceling = client.post(f"{jobs_url}/cancel", headers=owner.headers)
    assert canceling.status_code == 200, canceling.text
    voice_gate.released.set()
    canceled = wait_for_podcast(client, owner, podcast_id, timeout=EPISODE_TIMEOUT_S)
    assert canceled["status"] == "canceled" and canceled["outputs"]["mp3_file_id"] is None, canceled
    assert job_of(client, owner, job_id)["status"] == "canceled"
    assert error_of(client.get(f"{url}/download", headers=owner.headers), 409)["code"] == "podcast_not_ready"

    retried = client.post(f"{url}/retry", headers=owner.headers)
    assert retried.status_code == 202 and retried.json()["status"] == "queued", retried.text
    assert retried.json()["job_id"] == job_id
    done = wait_for_podcast(client, owner, podcast_id, until=("succeeded", "failed"), timeout=EPISODE_TIMEOUT_S)
    assert done["status"] == "succeeded" and done["outputs"]["mp3_file_id"], done
    result = job_of(client, owner, job_id)["result"]
    # The script was kept, and the line spoken before the cancel was not spoken again.
    assert set(result["timings"]) == {"voices", "mix", "outputs"}
    assert result["clips_cached"] >= 1 and result["clips_rendered"] + result["clips_cached"] == result["lines"]
    assert fetch_download(client, owner, podcast_id)[:3] in (b"ID3", b"\xff\xfb")
