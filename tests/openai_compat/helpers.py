"""What the OpenAI-compatible API's tests share with other packages: the sentences spoken, how a transcript is
scored, how an API key is made, and what ffprobe reads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from tests.audio import probe
from tests.conftest import Person

SENTENCE = "The weather is lovely today, so we will walk along the river. Please bring a warm coat and some water."
SPANISH = "Buenos días. Hoy hace mucho calor en la ciudad. Quiero un vaso de agua fría, por favor."


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def word_error_rate(reference: str, heard: str) -> float:
    """Word-level edit distance (substitutions, insertions, deletions) over the reference's length."""
    ref, hyp = words_of(reference), words_of(heard)
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        current = [i]
        for j, hyp_word in enumerate(hyp, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word)))
        previous = current
    return previous[-1] / max(len(ref), 1)


def ffprobe(path: Path) -> dict[str, Any]:
    """The audio stream and container as ffprobe reads them."""
    return probe(path)


def create_api_key(client: TestClient | httpx.Client, person: Person, *scopes: str) -> str:
    """A key made through the HTTP API, as a workspace admin makes one."""
    answer = client.post(
        f"/api/v1/workspaces/{person.workspace_id}/api-keys",
        headers=person.headers,
        json={"name": f"{'+'.join(scopes)} key", "scopes": list(scopes)},
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["secret"])
