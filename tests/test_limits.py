"""The cap on request bodies (VOXHUB_MAX_REQUEST_BODY_KB): a body past it is refused with 413 in the one error shape
before anything is stored, whether its size is declared or it streams in; uploads take files under their own limits."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import People, Person
from tests.live_server import LiveServer, served
from tests.openai_compat.helpers import create_api_key
from tests.test_app import assert_error_shape
from voxhub.config import Settings

LIMIT_KB = 64
LIMIT = LIMIT_KB * 1024


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_request_body_kb": LIMIT_KB})


@pytest.fixture
def live_server(settings: Settings, app: Any) -> Iterator[LiveServer]:
    with served(settings) as server:
        yield server


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real WAV of about 300 kB: several times the cap."""
    path = tmp_path_factory.mktemp("limits") / "tone.wav"
    tone = ["-f", "lavfi", "-i", "sine=duration=3", "-ac", "1", "-ar", "48000", "-c:a", "pcm_s16le"]
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", *tone, str(path)], check=True)
    assert path.stat().st_size > 4 * LIMIT
    return path


def jobs_url(person: Person) -> str:
    return f"/api/v1/workspaces/{person.workspace_id}/jobs"


def oversized_job() -> dict[str, Any]:
    return {"type": "media.convert", "input": {"file_id": "f" * 36}, "params": {"padding": "x" * (LIMIT + 1)}}


def test_a_body_declared_larger_than_the_cap_is_refused_and_nothing_is_stored(
    client: TestClient, people: People
) -> None:
    owner = people.create()

    answer = client.post(jobs_url(owner), headers=owner.headers, json=oversized_job())

    error = assert_error_shape(answer, 413, "request_too_large")
    assert error["details"] == {"max_bytes": LIMIT}
    assert f"{LIMIT_KB} KiB" in error["message"]
    assert client.get(jobs_url(owner), headers=owner.headers).json()["items"] == []


def test_a_body_at_the_cap_is_read(client: TestClient, people: People) -> None:
    owner = people.create()
    body = json.dumps({"name": "n" * 10}).encode()
    padded = body[:-1] + b" " * (LIMIT - len(body)) + b"}"  # whitespace is valid JSON: exactly LIMIT bytes

    answer = client.post(
        "/api/v1/workspaces", headers={**owner.headers, "Content-Type": "application/json"}, content=padded
    )

    assert len(padded) == LIMIT
    assert answer.status_code == 201, answer.text


def test_a_streamed_body_is_cut_off_once_it_passes_the_cap(live_server: LiveServer, people: People) -> None:
    owner = people.create()
    payload = json.dumps(oversized_job()).encode()

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked, counted as it arrives
        for start in range(0, len(payload), 8192):
            yield payload[start : start + 8192]

    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        answer = http.post(
            jobs_url(owner), headers={**owner.headers, "Content-Type": "application/json"}, content=chunks()
        )
        listed = http.get(jobs_url(owner), headers=owner.headers)

    assert answer.request.headers.get("transfer-encoding") == "chunked"
    error = assert_error_shape(answer, 413, "request_too_large")
    assert error["details"] == {"max_bytes": LIMIT}
    assert listed.json()["items"] == []


def test_the_openai_routes_refuse_a_large_body_in_openais_shape(client: TestClient, people: People) -> None:
    key = create_api_key(client, people.create(), "write")

    answer = client.post(
        "/v1/audio/speech",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "tts-1", "voice": "alloy", "input": "x" * (LIMIT + 1)},
    )

    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "request_too_large"
    assert answer.json()["error"]["type"] == "invalid_request_error"


def test_uploads_take_files_larger_than_the_cap(
    live_server: LiveServer, people: People, wav: Path, tmp_path: Path
) -> None:
    owner = people.create()
    data = wav.read_bytes()
    files = f"/api/v1/workspaces/{owner.workspace_id}/files"
    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        simple = http.post(files, headers=owner.headers, files={"file": ("tone.wav", data, "audio/wav")})

        tus_headers = {**owner.headers, "Tus-Resumable": "1.0.0"}
        name = base64.b64encode(b"tus.wav").decode()
        created = http.post(
            f"/api/v1/workspaces/{owner.workspace_id}/uploads/tus/",
            headers={**tus_headers, "Upload-Length": str(len(data)), "Upload-Metadata": f"filename {name}"},
        )
        patched = http.patch(
            created.headers["location"],
            headers={**tus_headers, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
            content=data,
        )

        multipart = http.post(
            f"/api/v1/workspaces/{owner.workspace_id}/uploads/multipart",
            headers=owner.headers,
            json={"filename": "parts.wav", "size": len(data), "content_type": "audio/wav"},
        ).json()
        put = http.put(multipart["parts"][0]["url"], content=data)  # one part: /blobs/{token} on the local store
        completed = http.post(
            f"/api/v1/workspaces/{owner.workspace_id}/uploads/multipart/{multipart['upload_id']}/complete",
            headers=owner.headers,
        )

    assert simple.status_code == 201, simple.text
    assert simple.json()["size_bytes"] == len(data)
    assert created.status_code == 201, created.text
    assert patched.status_code == 204, patched.text
    assert patched.headers["upload-offset"] == str(len(data))
    assert put.status_code == 200, put.text
    assert completed.status_code == 200, completed.text
    assert completed.json()["status"] == "ready"


def unbounded_fields(schema: dict[str, Any], components: dict[str, Any], where: str, seen: frozenset[str]) -> list[str]:
    """Where a request body schema takes text, a list or a map of any size (free-form objects, like a job's params,
    are checked by their job type and bounded by the body cap)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return [] if name in seen else unbounded_fields(components[name], components, where, seen | {name})
    found = [
        problem
        for key in ("anyOf", "oneOf", "allOf")
        for option in schema.get(key, [])
        for problem in unbounded_fields(option, components, where, seen)
    ]
    kind = schema.get("type")
    sized = {"maxLength", "enum", "const"} & set(schema) or schema.get("format") in ("binary", "date-time", "date")
    if kind == "string" and not sized:
        found.append(where)
    if kind == "array":
        found += [] if "maxItems" in schema else [f"{where}[]"]
        found += unbounded_fields(schema.get("items", {}), components, f"{where}[]", seen)
    for name, field in schema.get("properties", {}).items():
        found += unbounded_fields(field, components, f"{where}.{name}", seen)
    values = schema.get("additionalProperties")
    if isinstance(values, dict):
        found += [] if "maxProperties" in schema else [f"{where}{{}}"]
        found += unbounded_fields(values, components, f"{where}{{}}", seen)
    return found


def test_every_text_list_and_map_a_request_body_takes_has_a_bound(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    components = spec["components"]["schemas"]

    unbounded = [
        problem
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        for content_type, media in operation.get("requestBody", {}).get("content", {}).items()
        for problem in unbounded_fields(
            media.get("schema", {}), components, f"{method.upper()} {path} ({content_type})", frozenset()
        )
    ]

    assert unbounded == []
    metadata = components["JobCreate"]["properties"]["metadata"]
    assert (metadata["maxProperties"], metadata["additionalProperties"]["maxLength"]) == (32, 500)
