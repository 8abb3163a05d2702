"""Hosted voices in programmes: a podcast's hosts and a dub's speaker speak with ElevenLabs and Unreal Speech voices
(the local servers of tests/voices/fakes.py), and an episode or a dub naming one without the workspace's key is
refused when it is asked for."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.audio import decoded_seconds, probe
from tests.conftest import People
from tests.dubbing.conftest import make_recording, wait_for_dub
from tests.jobs_helpers import download, upload
from tests.podcasts.conftest import NOTES, wait_for_podcast
from tests.voices.fakes import FakeElevenLabs, FakeUnrealSpeech
from tests.voices.test_hosted_voices import RACHEL, error_of, store_key
from voxhub.config import Settings


def test_podcast_hosts_speak_with_hosted_voices(
    client: TestClient,
    people: People,
    settings: Settings,
    elevenlabs: FakeElevenLabs,
    unrealspeech: FakeUnrealSpeech,
    tmp_path: Path,
) -> None:
    owner, keyless = people.create(), people.create()
    store_key(client, owner, "elevenlabs", elevenlabs)
    store_key(client, owner, "unrealspeech", unrealspeech)
    hosts = [{"name": "Maria", "voice": RACHEL}, {"name": "Ben", "voice": "unrealspeech:Dan"}]
    podcasts = f"/api/v1/workspaces/{owner.workspace_id}/podcasts"

    refused = client.post(
        f"/api/v1/workspaces/{keyless.workspace_id}/podcasts",
        headers=keyless.headers,
        json={"notes": NOTES, "duration": {"minutes": 1}, "hosts": hosts},
    )
    accepted = client.post(
        podcasts, headers=owner.headers, json={"notes": NOTES, "duration": {"minutes": 1}, "hosts": hosts}
    )

    assert error_of(refused, 422)["code"] == "provider_key_not_found"
    assert accepted.status_code == 202, accepted.text
    episode = wait_for_podcast(client, owner, accepted.json()["id"], until=("succeeded", "failed"), timeout=600)
    assert episode["status"] == "succeeded", episode
    script = client.get(f"{podcasts}/{episode['id']}/script", headers=owner.headers).json()
    said = [line for segment in script["segments"] for line in segment["lines"]]
    spoken_by_maria = elevenlabs.calls("POST", "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM")
    spoken_by_ben = unrealspeech.calls("POST", "/stream")
    assert len(spoken_by_maria) == len({line["text"] for line in said if line["speaker"] == "Maria"})
    assert len(spoken_by_ben) >= len({line["text"] for line in said if line["speaker"] == "Ben"})
    mp3 = download(client, owner, settings, episode["outputs"]["mp3_file_id"], tmp_path / "episode.mp3")
    assert probe(mp3)["stream"]["codec_name"] == "mp3" and decoded_seconds(mp3) > 20


def test_a_dub_speaks_with_a_hosted_voice(
    client: TestClient, people: People, unrealspeech: FakeUnrealSpeech, tmp_path: Path
) -> None:
    owner, keyless = people.create(), people.create()
    store_key(client, owner, "unrealspeech", unrealspeech)
    recording = make_recording(tmp_path / "talk", video=False)
    file_id = upload(client, owner, recording.path)
    voices = {"S1": "unrealspeech:Noah"}

    refused = client.post(
        f"/api/v1/workspaces/{keyless.workspace_id}/dubs",
        headers=keyless.headers,
        json={"file_id": upload(client, keyless, recording.path), "target_languages": ["pt"], "voices": voices},
    )
    accepted = client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/dubs",
        headers=owner.headers,
        json={"file_id": file_id, "target_languages": ["pt"], "voices": voices},
    )

    assert error_of(refused, 422)["code"] == "provider_key_not_found"
    assert accepted.status_code == 202, accepted.text
    dub = wait_for_dub(client, owner, accepted.json()["id"], until=("succeeded", "failed"))
    assert dub["status"] == "succeeded", dub
    spoken = [r.json() for r in unrealspeech.calls("POST", "/stream")]
    assert spoken and {said["VoiceId"] for said in spoken} == {"Noah"}
    units = client.get(f"/api/v1/workspaces/{owner.workspace_id}/dubs/{dub['id']}/segments", headers=owner.headers)
    translated = {unit["translations"]["pt"]["text"] for unit in units.json()["items"]}
    assert translated <= {said["Text"] for said in spoken}  # each Portuguese line went to Unreal Speech


# ---- cloning ----
