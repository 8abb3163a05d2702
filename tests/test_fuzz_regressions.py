"""What Schemathesis found (tests/test_fuzz.py), one plain test each, so a fix stays fixed without a fuzzing run."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import People
from voxhub.config import Settings
from voxhub.pagination import encode_cursor

WORKSPACES = "/api/v1/workspaces"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhooks_allow_private": True})  # webhooks at 127.0.0.1, which resolves


def operation(client: TestClient, path: str, method: str) -> dict[str, Any]:
    described: dict[str, Any] = client.get("/openapi.json").json()["paths"][path][method]
    return described


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/api/v1/me", "DELETE, GET, PATCH"),
        (f"{WORKSPACES}/w/files", "GET, POST"),
        (f"{WORKSPACES}/w/provider-keys/openai", "DELETE, GET, PUT"),
    ],
)
def test_a_method_a_path_does_not_answer_is_405_naming_every_method_it_does(
    client: TestClient, path: str, allowed: str
) -> None:
    response = client.options(path)

    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("list_path", "parameter"),
    [("audit-log", "until"), ("audit-log", "since"), ("files", "created_before"), ("jobs", "created_after")],
)
def test_a_time_filter_is_a_date_time_never_a_number(
    client: TestClient, people: People, list_path: str, parameter: str
) -> None:
    owner = people.create()
    url = f"{WORKSPACES}/{owner.workspace_id}/{list_path}"

    number = client.get(url, headers=owner.headers, params={parameter: "0.5"})
    date_time = client.get(url, headers=owner.headers, params={parameter: "2026-01-31T12:00:00Z"})

    assert number.status_code == 422, number.text
    assert number.json()["error"]["details"]["fields"][0]["field"] == f"query.{parameter}"
    assert date_time.status_code == 200, date_time.text


def test_the_usage_window_refuses_numbers_for_its_ends(client: TestClient, people: People) -> None:
    owner = people.create()
    url = f"{WORKSPACES}/{owner.workspace_id}/billing/usage"

    assert client.get(url, headers=owner.headers, params={"from": "1"}).status_code == 422
    assert client.get(url, headers=owner.headers, params={"from": "2026-01-01T00:00:00Z"}).status_code == 200


def test_metrics_are_described_and_answered_as_prometheus_text(client: TestClient) -> None:
    described = operation(client, "/metrics", "get")["responses"]["200"]["content"]
    answer = client.get("/metrics")

    assert list(described) == ["text/plain"]
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/workspaces/{workspace_id}/files/{file_id}/download",
        "/api/v1/workspaces/{workspace_id}/podcasts/{podcast_id}/download",
        "/api/v1/workspaces/{workspace_id}/podcasts/{podcast_id}/feed/{name}",
        "/api/v1/workspaces/{workspace_id}/dubs/{dub_id}/download",
    ],
)
def test_a_redirect_is_described_without_a_body(client: TestClient, path: str) -> None:
    redirect = operation(client, path, "get")["responses"]["302"]

    assert "content" not in redirect


def test_a_blob_is_described_as_bytes_of_any_type(client: TestClient) -> None:
    described = operation(client, "/blobs/{token}", "get")["responses"]

    assert set(described["200"]["content"]) == {"*/*"}
    assert "content" not in operation(client, "/blobs/{token}", "put")["responses"]["200"]


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_a_signed_link_with_a_non_ascii_token_is_refused_not_a_server_error(client: TestClient, method: str) -> None:
    for token in ("ünïcödé", "abc.ü", "é.é"):
        response = client.request(method, f"/blobs/{token}", content=b"bytes")

        assert response.status_code == 403, (token, response.text)
        assert response.json()["error"]["code"] == "invalid_signature"


def test_a_password_reset_for_an_address_with_a_line_break_answers_202(client: TestClient) -> None:
    for email in ("a\n@example.com", "ada@example.com\r\nBcc: eve@example.com", "\u2028@x"):
        response = client.post("/api/v1/auth/password-reset", json={"email": email})

        assert response.status_code == 202, (email, response.text)


def test_a_body_that_is_not_utf8_is_400_and_every_operation_with_a_body_says_so(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/refresh", content=b"\x87\xf5\xfa", headers={"Content-Type": "application/json"}
    )
    described = client.get("/openapi.json").json()["paths"]

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    without = [
        f"{method.upper()} {path}"
        for path, operations in described.items()
        for method, spec in operations.items()
        if "requestBody" in spec and not {"400", "413"} <= set(spec["responses"])
    ]
    assert without == []


def test_limits_the_service_enforces_are_stated_in_the_schema(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    files = operation(client, "/api/v1/workspaces/{workspace_id}/files", "get")
    preview = operation(client, "/api/v1/invitations/preview", "get")

    cursor = next(parameter for parameter in files["parameters"] if parameter["name"] == "cursor")["schema"]
    token = next(parameter for parameter in preview["parameters"] if parameter["name"] == "token")["schema"]
    assert (cursor["pattern"], cursor["minLength"], cursor["maxLength"]) == ("^[A-Za-z0-9_-]{48}$", 48, 48)
    assert len(encode_cursor("01a23c43-9191-70ee-b9d8-1c3ed16094c3")) == 48
    assert token["minLength"] == 1
    assert schemas["JobCreate"]["properties"]["input"]["minProperties"] == 1
    assert schemas["SignupIn"]["properties"]["password"]["minLength"] == 10
    assert schemas["PasswordResetConfirmIn"]["properties"]["new_password"]["minLength"] == 10


def test_a_job_with_an_empty_input_is_refused(client: TestClient, people: People) -> None:
    owner = people.create()
    response = client.post(
        f"{WORKSPACES}/{owner.workspace_id}/jobs", headers=owner.headers, json={"type": "media.convert", "input": {}}
    )

    assert response.status_code == 422
    assert response.json()["error"]["details"]["fields"][0]["field"] == "input.file_id"


def test_a_webhooks_enabled_flag_is_a_boolean_not_a_number(client: TestClient, people: People) -> None:
    owner = people.create()
    body = {"url": "http://127.0.0.1:9/x", "events": ["job.succeeded"], "enabled": 0}
    response = client.post(f"{WORKSPACES}/{owner.workspace_id}/webhooks", headers=owner.headers, json=body)

    assert response.status_code == 422
    assert response.json()["error"]["details"]["fields"][0]["field"] == "body.enabled"


def test_tus_answers_are_described_as_they_are_sent(client: TestClient, people: People) -> None:
    owner = people.create()
    base = f"{WORKSPACES}/{owner.workspace_id}/uploads/tus/"
    tus = "/api/v1/workspaces/{workspace_id}/uploads/tus/"

    options = client.options(base, headers=owner.headers)
    no_version = client.post(base, headers={**owner.headers, "Upload-Length": "10"})

    assert options.status_code == 204
    assert "204" in operation(client, tus, "options")["responses"]
    assert no_version.status_code == 412
    assert "412" in operation(client, tus, "post")["responses"]
    head = operation(client, tus + "{upload_id}", "head")["responses"]
    assert all("content" not in answer for answer in head.values())


def test_null_in_a_webhook_patch_leaves_the_field_as_it_is(client: TestClient, people: People) -> None:
    owner = people.create()
    url = f"{WORKSPACES}/{owner.workspace_id}/webhooks"
    body = {"url": "http://127.0.0.1:9/x", "events": ["job.succeeded"], "description": "mine"}
    created = client.post(url, headers=owner.headers, json=body)
    assert created.status_code == 201, created.text

    patched = client.patch(
        f"{url}/{created.json()['id']}",
        headers=owner.headers,
        json={"url": None, "events": ["job.failed"], "description": None, "enabled": None},
    )

    assert patched.status_code == 200, patched.text
    assert (patched.json()["url"], patched.json()["description"], patched.json()["enabled"]) == (
        "http://127.0.0.1:9/x",
        "mine",
        True,
    )
    assert patched.json()["events"] == ["job.failed"]


@pytest.mark.parametrize(
    ("path", "method", "field"),
    [("webhooks", "post", "url"), ("provider-keys/openai", "put", "base_url")],
)
def test_a_url_longer_than_its_column_is_refused_not_a_database_error(
    client: TestClient, people: People, path: str, method: str, field: str
) -> None:
    owner = people.create()
    body = {"events": ["job.succeeded"], "api_key": "sk-" + "k" * 20, field: "https://" + "a" * 1995 + ".example.com"}

    response = client.request(method, f"{WORKSPACES}/{owner.workspace_id}/{path}", headers=owner.headers, json=body)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["fields"][0]["field"] == f"body.{field}"


def test_a_provider_key_with_a_control_character_is_refused(client: TestClient, people: People) -> None:
    owner = people.create()
    url = f"{WORKSPACES}/{owner.workspace_id}/provider-keys/openai"

    response = client.put(url, headers=owner.headers, json={"api_key": "not-a-real-key" + chr(0) + "with-a-nul"})

    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["fields"][0]["field"] == "body.api_key"
