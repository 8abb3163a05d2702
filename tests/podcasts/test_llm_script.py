"""A script written by the real local language model (the small one installed for tests), reviewed through the
API: the lines are the hosts', with no markup for the voices to read aloud."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.conftest import People
from tests.podcasts.conftest import make_podcast, podcasts_url
from voxhub.config import Settings
from voxhub.engines import llm

SMALL_MODEL = "qwen2.5-coder-0.5b"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    if not llm.installed(SMALL_MODEL):
        pytest.skip(f"{SMALL_MODEL} is not installed here")
    return settings.model_copy(update={"llm_engine": "local", "llm_model": SMALL_MODEL, "llm_context_tokens": 4096})


def test_the_local_language_model_writes_a_reviewed_script_in_the_hosts_names(
    client: TestClient, people: People
) -> None:
    owner = people.create()
    episode = make_podcast(
        client, owner, duration={"minutes": 1}, review=True, hosts=[{"name": "Maria"}, {"name": "Ben"}]
    )
    assert episode["status"] == "awaiting_review", episode
    assert episode["script_engine"] == "local"
    script = client.get(f"{podcasts_url(owner)}/{episode['id']}/script", headers=owner.headers).json()
    lines = [line for segment in script["segments"] for line in segment["lines"]]
    assert {line["speaker"] for line in lines} <= {"Maria", "Ben"} and len(lines) >= 2
    assert not any(re.search(r"[*#<>\[\]]", line["text"]) for line in lines), lines
