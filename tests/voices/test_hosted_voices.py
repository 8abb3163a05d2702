"""Voices from hosted providers: a workspace that stored an ElevenLabs or Unreal Speech key in the vault sees their
voices in GET /api/v1/voices (and no other workspace does), speaks with them in jobs and in /v1/audio/speech in the
formats local voices make, and clones a voice at ElevenLabs from its own upload only with consent stated, audited, its
own (another workspace's id is a 404), and deleted at ElevenLabs when deleted here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.audio import decoded_seconds, ffmpeg, probe
from tests.conftest import People, Person
from tests.jobs_helpers import download, jobs_url, upload, wait_for_job
from tests.openai_compat.helpers import create_api_key
from tests.voices.fakes import SECONDS_PER_CHAR, FakeElevenLabs, FakeUnrealSpeech
from voxhub.config import Settings

VOICES = "/api/v1/voices"
RACHEL = "elevenlabs:21m00Tcm4TlvDq8ikWAM"
TEXT = "The tide came in slowly. We carried the boat up the sand."
JOB_TIMEOUT_S = 120.0


def store_key(client: TestClient, person: Person, provider: str, fake: FakeElevenLabs | FakeUnrealSpeech) -> None:
    answer = client.put(
        f"/api/v1/workspaces/{person.workspace_id}/provider-keys/{provider}",
        headers=person.headers,
        json={"api_key": fake.token, "base_url": fake.url},
    )
    assert answer.status_code == 200, answer.text


def voice_ids(client: TestClient, person: Person, **query: str) -> list[str]:
    answer = client.get(VOICES, headers=person.headers, params=query)
    assert answer.status_code == 200, answer.text
    return [voice["id"] for voice in answer.json()["items"]]


def synthesize(client: TestClient, person: Person, **params: Any) -> dict[str, Any]:
    answer = client.post(
        jobs_url(person), headers=person.headers, json={"type": "synthesize", "input": {"text": TEXT}, "params": params}
    )
    assert answer.status_code == 202, answer.text
    return wait_for_job(client, person, answer.json()["id"], timeout=JOB_TIMEOUT_S)


def error_of(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    return dict(answer.json()["error"])


def test_hosted_voices_are_listed_only_for_a_workspace_that_stored_their_key(
    client: TestClient, people: People, elevenlabs: FakeElevenLabs, unrealspeech: FakeUnrealSpeech
) -> None:
    owner, stranger = people.create(), people.create()
    store_key(client, owner, "elevenlabs", elevenlabs)
    store_key(client, owner, "unrealspeech", unrealspeech)

    own = voice_ids(client, owner, workspace_id=owner.workspace_id)
    without_workspace = voice_ids(client, owner)
    strangers = voice_ids(client, stranger, workspace_id=stranger.workspace_id)
    only_unreal = voice_ids(client, owner, workspace_id=owner.workspace_id, engine="unrealspeech")
    peeking = client.get(VOICES, headers=stranger.headers, params={"workspace_id": owner.workspace_id})

    assert {RACHEL, "elevenlabs:AZnzlk1XvdvUeBnXmlld", "unrealspeech:Scarlett", "unrealspeech:Dan"} <= set(own)
    assert own[0] == "en_US-joe-medium"  # local voices first, hosted ones after them
    assert not any(":" in v and v.split(":")[0] in ("elevenlabs", "unrealspeech") for v in without_workspace)
    assert not any(v.startswith(("elevenlabs:", "unrealspeech:")) for v in strangers)
    assert only_unreal and all(v.startswith("unrealspeech:") for v in only_unreal)
    assert error_of(peeking, 404)["code"] == "workspace_not_found"
    listing = elevenlabs.calls("GET", "/v1/voices")
    assert listing and listing[-1].headers["xi-api-key"] == elevenlabs.token
    for where in ("podcasts", "dubs"):  # where a podcast's hosts and a dub's speakers are given voices
        own_options = client.get(f"/api/v1/workspaces/{owner.workspace_id}/{where}/voices", headers=owner.headers)
        their_options = client.get(
            f"/api/v1/workspaces/{stranger.workspace_id}/{where}/voices", headers=stranger.headers
        )
        assert {RACHEL, "unrealspeech:Dan"} <= {voice["id"] for voice in own_options.json()["items"]}, where
        assert not any(v["id"].startswith(("elevenlabs:", "unrealspeech:")) for v in their_options.json()["items"])


def test_a_job_speaks_with_an_elevenlabs_voice_as_mp3(
    client: TestClient,
    people: People,
    settings: Settings,
    elevenlabs: FakeElevenLabs,
    tmp_path: Path,
) -> None:
    owner = people.create()
    store_key(client, owner, "elevenlabs", elevenlabs)

    job = synthesize(client, owner, voice=RACHEL, format="mp3")

    assert job["status"] == "succeeded", job
    assert job["result"]["voice"] == RACHEL and job["result"]["engine"] == "elevenlabs"
    made = probe(download(client, owner, settings, job["result"]["file_id"], tmp_path / "speech.mp3"))
    assert made["stream"]["codec_name"] == "mp3" and made["stream"]["channels"] == 1
    spoken = [r for r in elevenlabs.calls("POST", "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM")]
    assert len(spoken) == 2  # one call per sentence
    assert all("output_format=pcm_24000" in r.path and r.json()["model_id"] for r in spoken)
    assert [r.json()["text"] for r in spoken] == ["The tide came in slowly.", "We carried the boat up the sand."]
    expected = sum(len(r.json()["text"]) for r in spoken) * SECONDS_PER_CHAR
    assert expected <= decoded_seconds(tmp_path / "speech.mp3") <= expected + 1.0  # the tones and a pause between


def test_a_job_speaks_with_an_unreal_speech_voice_as_wav_at_the_rate_asked(
    client: TestClient,
    people: People,
    settings: Settings,
    unrealspeech: FakeUnrealSpeech,
    tmp_path: Path,
) -> None:
    owner = people.create()
    store_key(client, owner, "unrealspeech", unrealspeech)

    job = synthesize(client, owner, voice="unrealspeech:Dan", format="wav", sample_rate=16000)

    assert job["status"] == "succeeded", job
    made = probe(download(client, owner, settings, job["result"]["file_id"], tmp_path / "speech.wav"))
    assert made["stream"]["codec_name"] == "pcm_s16le" and made["stream"]["sample_rate"] == "16000"
    streamed = unrealspeech.calls("POST", "/stream")
    assert streamed and all(r.headers["authorization"] == f"Bearer {unrealspeech.token}" for r in streamed)
    assert {r.json()["VoiceId"] for r in streamed} == {"Dan"}
    assert decoded_seconds(tmp_path / "speech.wav") > len(TEXT) * SECONDS_PER_CHAR * 0.9


def test_the_openai_compatible_speech_route_speaks_hosted_voices(
    client: TestClient, people: People, unrealspeech: FakeUnrealSpeech, tmp_path: Path
) -> None:
    owner = people.create()
    store_key(client, owner, "unrealspeech", unrealspeech)
    key = create_api_key(client, owner, "write")

    answer = client.post(
        "/v1/audio/speech",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "tts-1", "input": TEXT, "voice": "unrealspeech:Scarlett", "response_format": "flac"},
    )

    assert answer.status_code == 200, answer.text
    (tmp_path / "speech.flac").write_bytes(answer.content)
    assert probe(tmp_path / "speech.flac")["stream"]["codec_name"] == "flac"
    assert {r.json()["VoiceId"] for r in unrealspeech.calls("POST", "/stream")} == {"Scarlett"}


def test_a_hosted_voice_without_a_stored_key_is_refused_when_the_job_is_asked_for(
    client: TestClient, people: People
) -> None:
    owner = people.create()

    answer = client.post(
        jobs_url(owner),
        headers=owner.headers,
        json={"type": "synthesize", "input": {"text": TEXT}, "params": {"voice": RACHEL}},
    )

    error = error_of(answer, 422)
    assert error["code"] == "provider_key_not_found" and error["details"]["provider"] == "elevenlabs"


def test_a_refused_key_fails_the_job_once_with_the_providers_reason(
    client: TestClient, people: People, elevenlabs: FakeElevenLabs
) -> None:
    owner = people.create()
    store_key(client, owner, "elevenlabs", elevenlabs)
    elevenlabs.fail_with = (401, {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}})

    job = synthesize(client, owner, voice=RACHEL)

    assert job["status"] == "failed"
    assert job["error"]["code"] == "provider_auth_failed" and "Invalid API key" in job["error"]["message"]
    assert job["attempts"] == 1  # not retried: a wrong key stays wrong


def test_an_outage_is_retried_and_the_job_then_succeeds(
    client: TestClient, people: People, unrealspeech: FakeUnrealSpeech
) -> None:
    owner = people.create()
    store_key(client, owner, "unrealspeech", unrealspeech)
    unrealspeech.fail_with, unrealspeech.failures_left = (503, {"message": "Service Unavailable"}), 1

    job = synthesize(client, owner, voice="unrealspeech:Will", format="wav")

    assert job["status"] == "succeeded", job
    assert job["attempts"] == 2  # the first met the outage


def test_a_voice_the_provider_does_not_have_fails_the_job_without_retrying(
    client: TestClient, people: People, unrealspeech: FakeUnrealSpeech
) -> None:
    owner = people.create()
    store_key(client, owner, "unrealspeech", unrealspeech)

    job = synthesize(client, owner, voice="unrealspeech:Nobody")

    assert job["status"] == "failed" and job["attempts"] == 1
    assert job["error"]["code"] == "provider_error" and "Invalid VoiceId" in job["error"]["message"]


def test_an_api_key_lists_its_own_workspaces_hosted_voices(
    client: TestClient, people: People, unrealspeech: FakeUnrealSpeech
) -> None:
    owner = people.create()
    store_key(client, owner, "unrealspeech", unrealspeech)
    key = create_api_key(client, owner, "read")

    listed = client.get(VOICES, headers={"Authorization": f"Bearer {key}"}, params={"language": "en-US"})

    assert listed.status_code == 200, listed.text
    ids = [voice["id"] for voice in listed.json()["items"]]
    assert "unrealspeech:Scarlett" in ids and "en_US-joe-medium" in ids


def sample(tmp_path: Path) -> Path:
    """Eight seconds of a speaker (a tone stands in for them)."""
    path = tmp_path / "speaker.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=180:sample_rate=16000:duration=8", "-ac", "1", str(path))
    return path


def clone(client: TestClient, person: Person, file_id: str, **body: Any) -> Any:
    return client.post(
        f"/api/v1/workspaces/{person.workspace_id}/voices",
        headers=person.headers,
        json={"name": "Ana's voice", "file_id": file_id, "consent": True, "consented_by": "Ana Lima", **body},
    )


def test_cloning_needs_consent_stated(
    client: TestClient, people: People, elevenlabs: FakeElevenLabs, tmp_path: Path
) -> None:
    owner = people.create()
    store_key(client, owner, "elevenlabs", elevenlabs)
    file_id = upload(client, owner, sample(tmp_path))

    refused = clone(client, owner, file_id, consent=False)

    assert error_of(refused, 422)["code"] == "consent_required"
    assert elevenlabs.calls("POST", "/v1/voices/add") == []


def test_a_cloned_voice_is_the_workspaces_own_speaks_and_is_deleted_at_elevenlabs_too(
    client: TestClient, people: People, settings: Settings, elevenlabs: FakeElevenLabs, tmp_path: Path
) -> None:
    owner, stranger = people.create(), people.create()
    store_key(client, owner, "elevenlabs", elevenlabs)
    store_key(client, stranger, "elevenlabs", elevenlabs)
    recording = sample(tmp_path)
    file_id = upload(client, owner, recording)

    made = clone(client, owner, file_id, description="Narrator for the weekly show")
    assert made.status_code == 201, made.text
    voice = made.json()
    provider_id = voice["voice"].removeprefix("elevenlabs:")
    sent = elevenlabs.cloned[provider_id]
    assert sent["name"] == "Ana's voice" and [f.data for f in sent["files"]] == [recording.read_bytes()]
    assert voice["consented_by"] == "Ana Lima" and voice["sample_file_id"] == file_id
    audit = client.get(
        f"/api/v1/workspaces/{owner.workspace_id}/audit-log", headers=owner.headers, params={"action": "voice."}
    )
    assert [(e["action"], e["summary"]["consented_by"]) for e in audit.json()["items"]] == [
        ("voice.cloned", "Ana Lima")
    ]
    listed = client.get(VOICES, headers=owner.headers, params={"workspace_id": owner.workspace_id}).json()["items"]
    mine = [v for v in listed if v["id"] == voice["voice"]]
    assert mine and mine[0]["name"] == "Ana's voice" and "Ana Lima" in mine[0]["description"]
    assert sent["labels"]["voxhub_workspace"] == owner.workspace_id
    # the stranger stored the same ElevenLabs account's key: the account lists the clone, voxhub does not show it them
    strangers = client.get(VOICES, headers=stranger.headers, params={"workspace_id": stranger.workspace_id})
    assert RACHEL in {v["id"] for v in strangers.json()["items"]}
    assert voice["voice"] not in {v["id"] for v in strangers.json()["items"]}

    own_path = f"/api/v1/workspaces/{owner.workspace_id}/voices/{voice['id']}"
    theirs = f"/api/v1/workspaces/{stranger.workspace_id}/voices/{voice['id']}"
    assert error_of(client.get(theirs, headers=stranger.headers), 404)["code"] == "voice_not_found"
    assert error_of(client.delete(theirs, headers=stranger.headers), 404)["code"] == "voice_not_found"
    assert error_of(client.get(own_path, headers=stranger.headers), 404)["code"] == "workspace_not_found"
    assert client.get(f"/api/v1/workspaces/{stranger.workspace_id}/voices", headers=stranger.headers).json() == {
        "items": [],
        "next_cursor": None,
    }

    job = synthesize(client, owner, voice=voice["voice"], format="opus")
    assert job["status"] == "succeeded", job
    spoken = download(client, owner, settings, job["result"]["file_id"], tmp_path / "clone.opus")
    assert probe(spoken)["stream"]["codec_name"] == "opus"

    deleted = client.delete(own_path, headers=owner.headers)
    assert deleted.status_code == 204, deleted.text
    assert provider_id not in elevenlabs.cloned
    assert elevenlabs.calls("DELETE", f"/v1/voices/{provider_id}")
    assert error_of(client.get(own_path, headers=owner.headers), 404)["code"] == "voice_not_found"
    audit = client.get(
        f"/api/v1/workspaces/{owner.workspace_id}/audit-log", headers=owner.headers, params={"action": "voice."}
    )
    assert [e["action"] for e in audit.json()["items"]] == ["voice.deleted", "voice.cloned"]


def test_provider_errors_say_whether_to_retry(
    client: TestClient, people: People, elevenlabs: FakeElevenLabs, tmp_path: Path
) -> None:
    owner = people.create()
    store_key(client, owner, "elevenlabs", elevenlabs)
    file_id = upload(client, owner, sample(tmp_path))

    elevenlabs.fail_with = (503, {"detail": {"status": "service_unavailable", "message": "Try again later"}})
    outage = clone(client, owner, file_id)
    elevenlabs.fail_with = (401, {"detail": {"status": "quota_exceeded", "message": "This request exceeds quota"}})
    spent = clone(client, owner, file_id)
    elevenlabs.fail_with = None
    listed = client.get(f"/api/v1/workspaces/{owner.workspace_id}/voices", headers=owner.headers)

    error = error_of(outage, 503)
    assert error["details"] == {
        "provider": "elevenlabs",
        "status": 503,
        "provider_code": "service_unavailable",
        "retry": True,
    }
    assert outage.headers["retry-after"]
    error = error_of(spent, 422)
    assert error["code"] == "provider_quota_exceeded" and error["details"]["retry"] is False
    assert listed.json()["items"] == []  # nothing kept of a clone that was not made
