"""The podcast API's rules: what a request may ask for, review and approval, editing only what is allowed, the plan's
episode allowance, retry from the last finished stage, deletion, and tenants that see only their own episodes. The
episodes here are one minute long with extractive scripts, so the real voices and mix stay quick."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import People
from tests.podcasts.conftest import (
    EPISODE_TIMEOUT_S,
    NOTES,
    error_of,
    make_podcast,
    podcasts_url,
    start_podcast,
    wait_for_podcast,
)
from voxhub.billing import service as billing
from voxhub.billing.models import AllowanceUse
from voxhub.jobs.registry import PipelineError
from voxhub.podcasts import mix

ONE_MINUTE = {"minutes": 1}


def fields_of(error: dict[str, Any]) -> list[str]:
    return [item["field"] for item in error["details"]["fields"]]


def test_bad_requests_are_refused_with_the_field_and_nothing_is_made(client: TestClient, people: People) -> None:
    owner = people.create()

    short = error_of(start_podcast(client, owner, notes="Too short to talk about."), 422)
    assert short["code"] == "validation_error" and fields_of(short) == ["notes"] and "100" in short["message"]
    long = error_of(start_podcast(client, owner, notes="word " * 12_000), 422)
    assert fields_of(long) == ["notes"] and "50,000" in long["message"]
    neither = error_of(client.post(podcasts_url(owner), headers=owner.headers, json={"title": "x"}), 422)
    assert "notes or a source" in str(neither)
    voice = error_of(start_podcast(client, owner, hosts=[{"name": "Ana", "voice": "no-such-voice"}]), 422)
    assert fields_of(voice) == ["hosts.0.voice"]
    twins = error_of(start_podcast(client, owner, hosts=[{"name": "Ana"}, {"name": "ana"}]), 422)
    assert "differ" in str(twins)
    crowd = error_of(start_podcast(client, owner, hosts=[{"name": f"H{n}"} for n in range(5)]), 422)
    assert "hosts" in str(crowd)
    assert error_of(start_podcast(client, owner, duration={"minutes": 0.2}), 422)["code"] == "validation_error"
    assert error_of(start_podcast(client, owner, duration="medium"), 422)["code"] == "validation_error"
    missing_intro = error_of(start_podcast(client, owner, intro_file_id="0" * 36), 404)
    assert missing_intro["code"] == "file_not_found"

    listed = client.get(podcasts_url(owner), headers=owner.headers).json()
    assert listed == {"items": [], "next_cursor": None}
    assert client.get(f"/api/v1/workspaces/{owner.workspace_id}/jobs", headers=owner.headers).json()["items"] == []


def test_a_script_is_reviewed_edited_and_approved_and_only_the_edited_line_is_spoken_again(
    client: TestClient, people: People
) -> None:
    owner = people.create()
    hosts = [{"name": "Maria"}, {"name": "Ben"}]
    first = make_podcast(client, owner, duration=ONE_MINUTE, hosts=hosts, review=True, title="Allotment")
    assert first["status"] == "awaiting_review" and first["stage"] == "review", first
    assert first["script_engine"] == "extractive" and first["outputs"]["mp3_file_id"] is None
    url = f"{podcasts_url(owner)}/{first['id']}"
    script = client.get(f"{url}/script", headers=owner.headers).json()
    assert script["engine"] == "extractive" and script["segments"]
    speakers = {line["speaker"] for segment in script["segments"] for line in segment["lines"]}
    assert speakers == {"Maria", "Ben"}
    lines = sum(len(segment["lines"]) for segment in script["segments"])

    # A line spoken by someone who is not a host is refused; the script stays as it was.
    wrong = {"segments": [{**script["segments"][0], "lines": [{"speaker": "Zed", "text": "Hi."}]}]}
    assert fields_of(error_of(client.put(f"{url}/script", headers=owner.headers, json=wrong), 422)) == [
        "segments.0.lines.0.speaker"
    ]
    approved = client.post(f"{url}/approve", headers=owner.headers)
    assert approved.status_code == 202, approved.text
    done = wait_for_podcast(client, owner, first["id"], until=("succeeded", "failed"), timeout=EPISODE_TIMEOUT_S)
    assert done["status"] == "succeeded", done
    job = client.get(f"/api/v1/workspaces/{owner.workspace_id}/jobs/{done['job_id']}", headers=owner.headers).json()
    assert job["result"]["clips_rendered"] == lines and job["result"]["clips_cached"] == 0
    # Approving or editing is over once the audio is made.
    assert error_of(client.post(f"{url}/approve", headers=owner.headers), 409)["code"] == "podcast_not_in_review"
    assert error_of(client.put(f"{url}/script", headers=owner.headers, json=script), 409)["code"] == (
        "podcast_not_in_review"
    )

    # The same notes again, reviewed: the same extractive script; one line edited, and only it is spoken anew.
    second = make_podcast(client, owner, duration=ONE_MINUTE, hosts=hosts, review=True, title="Allotment")
    url = f"{podcasts_url(owner)}/{second['id']}"
    edited = client.get(f"{url}/script", headers=owner.headers).json()
    edited["segments"][0]["lines"][0]["text"] = "Welcome back to the allotment, where the bees are busy again."
    put = client.put(f"{url}/script", headers=owner.headers, json={"segments": edited["segments"]})
    assert put.status_code == 200, put.text
    assert put.json()["segments"][0]["lines"][0]["text"].startswith("Welcome back")
    assert client.post(f"{url}/approve", headers=owner.headers).status_code == 202
    done = wait_for_podcast(client, owner, second["id"], until=("succeeded", "failed"), timeout=EPISODE_TIMEOUT_S)
    assert done["status"] == "succeeded", done
    job = client.get(f"/api/v1/workspaces/{owner.workspace_id}/jobs/{done['job_id']}", headers=owner.headers).json()
    assert job["result"]["clips_rendered"] == 1 and job["result"]["clips_cached"] == lines - 1


def test_notes_change_only_before_the_script_and_titles_any_time(client: TestClient, people: People) -> None:
    owner = people.create()
    episode = make_podcast(client, owner, duration=ONE_MINUTE, review=True)
    url = f"{podcasts_url(owner)}/{episode['id']}"

    renamed = client.patch(url, headers=owner.headers, json={"title": "Bees, rain and compost"})
    assert renamed.status_code == 200 and renamed.json()["title"] == "Bees, rain and compost"
    refused = error_of(client.patch(url, headers=owner.headers, json={"notes": NOTES + " More."}), 409)
    assert refused["code"] == "podcast_script_written"


def test_a_failed_episode_is_retried_from_its_last_finished_stage(
    client: TestClient, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = people.create()
    real_mix = mix.mix

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise PipelineError("mix_failed", "The mixer broke (forced by the test).")

    monkeypatch.setattr(mix, "mix", broken)
    failed = make_podcast(client, owner, duration=ONE_MINUTE)
    assert failed["status"] == "failed" and failed["error"]["code"] == "mix_failed", failed
    url = f"{podcasts_url(owner)}/{failed['id']}"
    status = client.get(f"{url}/status", headers=owner.headers).json()
    assert status["status"] == "failed" and status["error"]["message"].startswith("The mixer broke")

    monkeypatch.setattr(mix, "mix", real_mix)
    retried = client.post(f"{url}/retry", headers=owner.headers)
    assert retried.status_code == 202, retried.text
    done = wait_for_podcast(client, owner, failed["id"], until=("succeeded", "failed"), timeout=EPISODE_TIMEOUT_S)
    assert done["status"] == "succeeded", done
    job = client.get(f"/api/v1/workspaces/{owner.workspace_id}/jobs/{done['job_id']}", headers=owner.headers).json()
    # The outline and script were kept, and every line was already spoken: only the mix and outputs ran again.
    assert set(job["result"]["timings"]) == {"voices", "mix", "outputs"}
    assert job["result"]["clips_rendered"] == 0 and job["result"]["clips_cached"] == job["result"]["lines"]
    assert error_of(client.post(f"{url}/retry", headers=owner.headers), 409)["code"] == "podcast_not_retryable"


def test_the_sixth_episode_of_the_month_on_the_free_plan_is_refused_saying_why(
    client: TestClient, people: People, app: Any
) -> None:
    owner = people.create()
    with app.state.db.session() as db:  # four episodes made this month already
        period = billing.subscription(db, workspace_id=owner.workspace_id).allowance_period_start
        db.add(AllowanceUse(workspace_id=owner.workspace_id, period_start=period, meter="podcasts", used=4))

    fifth = start_podcast(client, owner, duration=ONE_MINUTE)
    assert fifth.status_code == 202, fifth.text
    estimate = client.post(f"{podcasts_url(owner)}/estimate", headers=owner.headers, json={"notes": NOTES}).json()
    sixth = error_of(start_podcast(client, owner, duration=ONE_MINUTE), 402)
    reviewed_sixth = error_of(start_podcast(client, owner, duration=ONE_MINUTE, review=True), 402)

    assert sixth["code"] == "quota_exceeded" and "allowance" in sixth["message"]
    details = sixth["details"]
    assert details["reason"] == "allowance_used_up" and details["plan"] == "free"
    assert details["current"] == {"podcasts": 5} and details["limits"] == {"podcasts": 5}
    assert details["resets_at"]
    assert reviewed_sixth["details"]["reason"] == "allowance_used_up"  # refused before its script is written
    assert estimate["can_start"] is False and estimate["refusal"]["code"] == "quota_exceeded"
    assert estimate["allowance_left"] == 0 and estimate["target_minutes"] == 5.0
    listed = client.get(podcasts_url(owner), headers=owner.headers).json()["items"]
    assert [item["id"] for item in listed] == [fifth.json()["id"]]  # the refused ones left nothing behind


def test_lists_filter_sort_and_page(client: TestClient, people: People) -> None:
    owner = people.create()
    first = make_podcast(client, owner, duration=ONE_MINUTE, review=True, title="First")
    second = make_podcast(client, owner, duration=ONE_MINUTE, review=True, title="Second")
    client.patch(f"{podcasts_url(owner)}/{first['id']}", headers=owner.headers, json={"title": "First, renamed"})

    def titles(**query: Any) -> list[str]:
        answer = client.get(podcasts_url(owner), headers=owner.headers, params=query)
        assert answer.status_code == 200, answer.text
        return [item["title"] for item in answer.json()["items"]]

    assert titles() == ["Second", "First, renamed"]
    assert titles(order="asc") == ["First, renamed", "Second"]
    assert titles(sort="updated_at") == ["First, renamed", "Second"]
    assert titles(status="awaiting_review") == ["Second", "First, renamed"] and titles(status="succeeded") == []
    page = client.get(podcasts_url(owner), headers=owner.headers, params={"limit": 1}).json()
    rest = client.get(podcasts_url(owner), headers=owner.headers, params={"limit": 1, "cursor": page["next_cursor"]})
    assert [item["id"] for item in page["items"] + rest.json()["items"]] == [second["id"], first["id"]]
    assert error_of(client.get(podcasts_url(owner), headers=owner.headers, params={"status": "done"}), 422)


def test_another_workspace_sees_nothing_of_an_episode(client: TestClient, people: People) -> None:
    owner, stranger = people.create(), people.create()
    episode = make_podcast(client, owner, duration=ONE_MINUTE, review=True)
    mine = f"{podcasts_url(owner)}/{episode['id']}"
    theirs = f"{podcasts_url(stranger)}/{episode['id']}"

    for method, path in (
        ("GET", ""), ("GET", "/status"), ("GET", "/script"), ("GET", "/download"), ("PATCH", ""),
        ("POST", "/approve"), ("POST", "/retry"), ("POST", "/segments/0/regenerate"), ("DELETE", ""),
    ):  # fmt: skip
        body = {"title": "mine now"} if method == "PATCH" else None
        answer = client.request(method, theirs + path, headers=stranger.headers, json=body)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["error"]["code"] == "podcast_not_found"
        # ... and their own key on the owner's workspace is refused as well
        assert client.request(method, mine + path, headers=stranger.headers, json=body).status_code in (403, 404)
    assert client.get(podcasts_url(stranger), headers=stranger.headers).json()["items"] == []
    assert client.get(mine, headers=owner.headers).json()["title"] == episode["title"]


def test_deleting_an_episode_removes_it_and_its_files(client: TestClient, people: People) -> None:
    owner = people.create()
    episode = make_podcast(client, owner, duration=ONE_MINUTE)
    assert episode["status"] == "succeeded", episode
    url = f"{podcasts_url(owner)}/{episode['id']}"
    mp3 = episode["outputs"]["mp3_file_id"]
    assert client.get(f"/api/v1/workspaces/{owner.workspace_id}/files/{mp3}", headers=owner.headers).status_code == 200

    assert client.delete(url, headers=owner.headers).status_code == 204
    assert error_of(client.get(url, headers=owner.headers), 404)["code"] == "podcast_not_found"
    assert client.get(f"/api/v1/workspaces/{owner.workspace_id}/files/{mp3}", headers=owner.headers).status_code == 404


def test_an_estimate_warns_when_notes_are_too_few_for_an_extractive_episode(client: TestClient, people: People) -> None:
    owner = people.create()
    url = f"{podcasts_url(owner)}/estimate"
    few = " ".join(NOTES.split()[:120])

    enough = client.post(url, headers=owner.headers, json={"notes": NOTES}).json()
    short = client.post(url, headers=owner.headers, json={"notes": few}).json()

    assert enough["script_engine"] == "extractive" and enough["warnings"] == []
    assert enough["notes_minutes"] >= enough["min_minutes"]
    assert short["notes_minutes"] < 1 and len(short["warnings"]) == 1
    assert "shorter than 3.5 minutes" in short["warnings"][0] and "VOXHUB_LLM_ENGINE" in short["warnings"][0]
    assert client.get(podcasts_url(owner), headers=owner.headers).json()["items"] == []


def test_notes_uploaded_as_a_markdown_file_make_an_episode(client: TestClient, people: People) -> None:
    owner = people.create()
    uploaded = client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/files",
        headers=owner.headers,
        files={"file": ("allotment.md", NOTES.encode(), "text/markdown")},
    )
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["content_type"] == "text/markdown"

    episode = make_podcast(client, owner, notes=None, source={"file_ids": [uploaded.json()["id"]]}, duration=ONE_MINUTE)

    assert episode["status"] == "succeeded", episode
    assert episode["notes_chars"] == len(NOTES.strip())
    script = client.get(f"{podcasts_url(owner)}/{episode['id']}/script", headers=owner.headers).json()
    said = " ".join(line["text"] for segment in script["segments"] for line in segment["lines"]).lower()
    assert "hive" in said
