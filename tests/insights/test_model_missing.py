"""An insights job for a local language model that is not installed is refused when it is asked for, saying what to
install or choose instead, and costs nothing; the extractive method still works."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import People
from tests.insights.conftest import error_of, run_insights, start_insights
from tests.jobs_helpers import jobs_url
from voxhub.config import Settings


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"llm_model": str(tmp_path / "gone.gguf")})


def test_a_missing_local_model_is_refused_at_once_and_the_extractive_method_still_works(
    client: TestClient, people: People
) -> None:
    owner = people.create()
    text = "We will ship the release on Friday. Ana writes the release notes before then."

    refused = error_of(start_insights(client, owner, {"text": text}, engine="local"), 422)

    assert refused["code"] == "model_unavailable"
    assert "gone.gguf" in refused["message"] and "extractive" in refused["message"]
    assert refused["details"]["model"].endswith("gone.gguf")
    assert client.get(jobs_url(owner), headers=owner.headers).json()["items"] == []  # nothing was queued or held
    job = run_insights(client, owner, {"text": text}, engine="extractive")
    assert job["status"] == "succeeded" and job["result"]["engine"] == "extractive"
