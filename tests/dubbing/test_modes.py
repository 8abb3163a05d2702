"""The ways a dub can be asked for: a voice-over with the subtitles burned into the picture, and a background it
cannot separate (said, and ducked instead)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import People
from tests.dubbing.conftest import Recording, download, dubs_url, start_dub, streams_of, wait_for_dub
from tests.jobs_helpers import upload

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("VOXHUB_TEST_DATABASE_URL")),
    reason="media work, the same on either database: it runs once, in the SQLite pass (the dubs' rows and rules "
    "run on both: test_api.py, test_review.py)",
)


def test_a_voice_over_with_burned_subtitles_lets_the_original_be_heard_first(
    client: TestClient, people: People, recording: Recording, tmp_path: Path
) -> None:
    person = people.create()
    file_id = upload(client, person, recording.path)
    accepted = start_dub(client, person, file_id, target_languages=["pt"], background="voiceover", subtitles="burn")
    assert accepted.status_code == 202, accepted.text
    dub = wait_for_dub(client, person, accepted.json()["id"])
    assert dub["status"] == "succeeded", dub
    made = download(client, person, dub["outputs"]["media_file_id"], tmp_path / "voiceover.mp4")
    kinds = [stream["codec_type"] for stream in streams_of(made)]
    assert kinds == ["video", "audio", "audio"]  # burned in: no subtitle track
    report = client.get(f"{dubs_url(person)}/{dub['id']}/qa", headers=person.headers).json()["segments"]
    # each line of the voice-over starts after the original has been heard for a moment
    offsets = sorted(item["onset_offset_s"] for item in report)
    assert offsets[0] >= 0.4 and offsets[len(offsets) // 2] <= 1.0, report


def test_replace_without_a_separation_model_says_so_and_ducks(
    client: TestClient, people: People, recording: Recording
) -> None:
    person = people.create()
    file_id = upload(client, person, recording.path)
    accepted = start_dub(client, person, file_id, target_languages=["pt"], background="replace", subtitles="none")
    dub = wait_for_dub(client, person, accepted.json()["id"])
    assert dub["status"] == "succeeded", dub
    assert dub["background"] == "replace"
    assert any("separation" in warning for warning in dub["warnings"]), dub["warnings"]
