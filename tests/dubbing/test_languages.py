"""Several languages in one dub, offline: each its own track in one video, Portuguese by Bergamot and Spanish by
Apertium (Debian's apertium-eng-spa), spoken by espeak-ng."""

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


def test_two_languages_make_two_dubbed_tracks_in_one_video(
    client: TestClient, people: People, recording: Recording, tmp_path: Path
) -> None:
    person = people.create()
    file_id = upload(client, person, recording.path)
    accepted = start_dub(client, person, file_id, target_languages=["pt", "es"])
    assert accepted.status_code == 202, accepted.text
    dub = wait_for_dub(client, person, accepted.json()["id"])
    assert dub["status"] == "succeeded", dub
    made = download(client, person, dub["outputs"]["media_file_id"], tmp_path / "two.mp4")
    units = client.get(f"{dubs_url(person)}/{dub['id']}/segments", headers=person.headers).json()["items"]

    audio = [stream for stream in streams_of(made) if stream["codec_type"] == "audio"]
    assert [stream["tags"]["language"] for stream in audio] == ["por", "spa", "eng"]
    assert [stream["disposition"]["default"] for stream in audio] == [1, 0, 0]
    subtitles = [stream for stream in streams_of(made) if stream["codec_type"] == "subtitle"]
    assert sorted(stream["tags"]["language"] for stream in subtitles) == ["eng", "por", "spa"]
    assert set(dub["qa"]) == {"pt", "es"} and dub["qa"]["es"]["dubbed"] == len(units)
    spanish = " ".join(unit["translations"]["es"]["text"] for unit in units).lower()
    assert "lluvia" in spanish and "mañana" in spanish, spanish  # "the rain … in the morning"
    assert set(dub["outputs"]["audio"]) == {"pt", "es"}
    assert all(voices["es"].startswith("espeak:es") for voices in dub["voices"].values()), dub["voices"]
