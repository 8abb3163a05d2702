"""A dub held for review: its units and translations are there to read and edit before any voice speaks; rendering
after an edit speaks only the edited unit again."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import People
from tests.dubbing.conftest import Recording, dubs_url, error_of, start_dub, wait_for_dub
from tests.jobs_helpers import upload


def test_review_then_an_edit_speaks_only_the_edited_unit_again(
    client: TestClient, people: People, recording: Recording
) -> None:
    person = people.create()
    file_id = upload(client, person, recording.path)
    accepted = start_dub(client, person, file_id, target_languages=["pt"], review=True)
    assert accepted.status_code == 202, accepted.text
    dub_id = accepted.json()["id"]
    url = f"{dubs_url(person)}/{dub_id}"

    waiting = wait_for_dub(client, person, dub_id)
    assert waiting["status"] == "awaiting_review", waiting
    assert waiting["stage"] == "review" and waiting["outputs"]["media_file_id"] is None
    assert error_of(client.get(f"{url}/qa", headers=person.headers), 404)["code"] == "qa_not_ready"
    units = client.get(f"{url}/segments", headers=person.headers).json()["items"]
    assert len(units) >= len(recording.lines)  # a line's two sentences can be two units
    assert all(unit["translations"]["pt"]["text"] for unit in units)
    assert [list(voices) for voices in waiting["voices"].values()] == [["pt"]], waiting["voices"]

    # Approved as it is: every unit is spoken.
    assert client.post(f"{url}/render", headers=person.headers).status_code == 202
    first = wait_for_dub(client, person, dub_id)
    assert first["status"] == "succeeded", first
    assert first["qa"]["pt"]["clips_rendered"] == len(units) and first["qa"]["pt"]["clips_reused"] == 0

    # One translation edited: that unit alone is spoken again; the others keep their clips.
    edited = client.patch(
        f"{url}/segments",
        headers=person.headers,
        json={"segments": [{"index": 1, "translations": {"pt": {"text": "A chuva para de manhã."}}}]},
    )
    assert edited.status_code == 200, edited.text
    translation = edited.json()["items"][1]["translations"]["pt"]
    assert translation["text"] == "A chuva para de manhã." and translation["edited"] is True
    assert client.post(f"{url}/render", headers=person.headers).status_code == 202
    busy = client.patch(f"{url}/segments", headers=person.headers, json={"segments": [{"index": 0, "mute": True}]})
    assert error_of(busy, 409)["code"] == "dub_busy"
    second = wait_for_dub(client, person, dub_id)
    assert second["status"] == "succeeded", second
    assert second["qa"]["pt"]["clips_rendered"] == 1 and second["qa"]["pt"]["clips_reused"] == len(units) - 1
    report = client.get(f"{url}/qa", headers=person.headers).json()["segments"]
    assert [item["index"] for item in report if item["rendered"]] == [1]
    assert second["outputs"]["media_file_id"] != first["outputs"]["media_file_id"]

    # A unit muted and one kept as the original: neither is dubbed.
    client.patch(
        f"{url}/segments",
        headers=person.headers,
        json={"segments": [{"index": 0, "mute": True}, {"index": 2, "keep_original": True}]},
    ).raise_for_status()
    assert client.post(f"{url}/render", headers=person.headers).status_code == 202
    third = wait_for_dub(client, person, dub_id)
    assert third["status"] == "succeeded", third
    assert third["qa"]["pt"]["dubbed"] == len(units) - 2

    # Edits that make no sense are refused with the field named, and change nothing.
    wrong = client.patch(
        f"{url}/segments",
        headers=person.headers,
        json={"segments": [{"index": 99, "text": "x"}, {"index": 0, "translations": {"fr": {"text": "Bonjour"}}}]},
    )
    fields = error_of(wrong, 422)["details"]["fields"]
    assert {field["field"] for field in fields} >= {"segments.0.index", "segments.1.translations.fr"}
    after = client.get(f"{url}/segments", headers=person.headers).json()["items"]
    assert after[0]["mute"] is True and "fr" not in after[0]["translations"]
