"""GET /api/v1/voices: the installed voices, piper's natural ones first, then espeak-ng's for every other language;
filtered by language and engine, for signed-in callers only."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import People, Person

VOICES = "/api/v1/voices"


def voices(client: TestClient, person: Person, **query: str) -> list[dict[str, Any]]:
    answer = client.get(VOICES, headers=person.headers, params=query)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def test_the_bundled_piper_voice_comes_first_then_espeak_voices(client: TestClient, people: People) -> None:
    listed = voices(client, people.create())

    joe = listed[0]
    assert joe["id"] == "en_US-joe-medium"
    assert joe["engine"] == "piper" and joe["language"] == "en-US" and joe["sample_rate"] == 22050
    assert joe["name"] and "piper" in joe["description"]
    espeak = [voice for voice in listed if voice["engine"] == "espeak-ng"]
    assert len(espeak) > 50  # espeak-ng speaks about a hundred languages
    assert all(voice["id"].startswith("espeak:") and voice["sample_rate"] == 22050 for voice in espeak)
    assert {"espeak:en-us", "espeak:pt-br", "espeak:de"} <= {voice["id"] for voice in espeak}
    assert [voice["engine"] for voice in listed] == ["piper"] * (len(listed) - len(espeak)) + ["espeak-ng"] * len(
        espeak
    )
    ids = [voice["id"] for voice in listed]
    assert len(ids) == len(set(ids))  # an id names one voice


def test_voices_are_filtered_by_language_and_engine(client: TestClient, people: People) -> None:
    person = people.create()

    portuguese = voices(client, person, language="pt")
    brazilian = voices(client, person, language="pt-BR")
    punjabi = voices(client, person, language="pa")
    english_piper = voices(client, person, language="en", engine="piper")

    assert {voice["id"] for voice in portuguese} == {"espeak:pt", "espeak:pt-br"}
    assert [voice["language"] for voice in brazilian] == ["pt-BR"]
    assert [voice["language"] for voice in punjabi] == ["pa"]  # not Papiamento (pap)
    assert [voice["id"] for voice in english_piper] == ["en_US-joe-medium"]
    assert voices(client, person, language="tlh") == []


def test_voices_need_a_signed_in_caller(client: TestClient) -> None:
    anonymous = client.get(VOICES)
    forged = client.get(VOICES, headers={"Authorization": "Bearer not-a-token"})

    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "not_authenticated"
    assert forged.status_code == 401
