"""Hosted voices against local servers speaking ElevenLabs' and Unreal Speech's APIs, through voxhub's HTTP API, on
the local executor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Mailbox, People
from tests.fixtures.workers import STALE_AFTER_S, on_executor
from tests.voices.fakes import FakeElevenLabs, FakeUnrealSpeech
from voxhub.config import Settings


@pytest.fixture
def people(client: TestClient, app: Any, mailbox: Mailbox) -> People:
    """People whose workspaces have credits for the synthesis jobs these tests run."""
    app.state.test_mailbox = mailbox
    return People(client, app, starting_credits=100_000)


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    # Podcast scripts are extractive (no language model): the voices are what these tests are about.
    return on_executor(settings, "local", request, job_stale_after_s=STALE_AFTER_S, workers=1, llm_engine="none")


@pytest.fixture(autouse=True)
def _nothing_left_running(nothing_left_running: None) -> None:
    """No test leaves a job queued or running for the next one."""


@pytest.fixture
def elevenlabs() -> Iterator[FakeElevenLabs]:
    with FakeElevenLabs() as fake:
        yield fake


@pytest.fixture
def unrealspeech() -> Iterator[FakeUnrealSpeech]:
    with FakeUnrealSpeech() as fake:
        yield fake
