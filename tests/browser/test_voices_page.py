"""The Speak page with hosted voices: a workspace's ElevenLabs voices in the voice list, and a voice cloned from an
upload through the clone form, which will not send without the consent box ticked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.audio import ffmpeg
from tests.browser.helpers import Console, screenshot, sign_in, unique_email, visit
from tests.voices.fakes import FakeElevenLabs


@pytest.fixture
def elevenlabs() -> Iterator[FakeElevenLabs]:
    with FakeElevenLabs() as fake:
        yield fake


def test_the_speak_page_lists_hosted_voices_and_clones_one_with_consent(
    console: Console, new_page: Any, screenshots: Path, elevenlabs: FakeElevenLabs, tmp_path: Path
) -> None:
    person = console.create_user(unique_email("voices"))
    recording = tmp_path / "ana-reading.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=180:sample_rate=16000:duration=8", "-ac", "1", str(recording))
    with console.api() as client, recording.open("rb") as handle:
        stored = client.put(
            f"/api/v1/workspaces/{person.workspace_id}/provider-keys/elevenlabs",
            headers=person.headers,
            json={"api_key": elevenlabs.token, "base_url": elevenlabs.url},
        )
        assert stored.status_code == 200, stored.text
        uploaded = client.post(
            f"/api/v1/workspaces/{person.workspace_id}/files",
            headers=person.headers,
            files={"file": (recording.name, handle, "audio/wav")},
        )
        assert uploaded.status_code == 201, uploaded.text

    page = new_page()
    page.goto("/login")
    workspace = sign_in(page, person.email)
    visit(page, f"/w/{workspace}/speak")

    voice = page.get_by_label("Voice")
    expect(voice.locator("optgroup[label^='Hosted voices (ElevenLabs']")).to_have_count(1)
    expect(voice.locator("option", has_text="Rachel — ElevenLabs")).to_have_count(1)

    clone_form = page.locator("form.clone-form")
    clone_form.get_by_label("Name of the voice").fill("Ana's voice")
    clone_form.get_by_label("Recording of the speaker").select_option(label="ana-reading.wav")
    clone_form.get_by_label("Who consented").fill("Ana Lima")
    clone_form.get_by_role("button", name="Clone the voice").click()
    assert elevenlabs.calls("POST", "/v1/voices/add") == []  # the consent box is required

    clone_form.get_by_label("The speaker consented to having their voice cloned.").check()
    clone_form.get_by_label("Name of the voice").fill("Ana's voice")
    clone_form.get_by_label("Who consented").fill("Ana Lima")
    clone_form.get_by_role("button", name="Clone the voice").click()

    cloned = page.locator("ul.cloned-voices")
    expect(cloned).to_contain_text("Ana's voice")
    expect(cloned).to_contain_text("consent: Ana Lima")
    expect(voice.locator("option", has_text="Ana's voice — ElevenLabs")).to_have_count(1)
    assert [voice["name"] for voice in elevenlabs.cloned.values()] == ["Ana's voice"]
    screenshot(page, screenshots, "speak-hosted-voices")
