"""Every list the API answers has one shape, `{"items": [...], "next_cursor": ...}` (null where there is no paging):
no endpoint answers a bare JSON array (issue 11: members, invitations, keys, webhooks, sessions and more did)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import People

WORKSPACES = "/api/v1/workspaces"


def resolved(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def ok_schemas(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """'GET path' → the JSON schema of its 200 answer, for every GET of the voxhub API (not OpenAI's `/v1`)."""
    schemas = {}
    for path, item in spec["paths"].items():
        answer = item.get("get", {}).get("responses", {}).get("200", {})
        body = answer.get("content", {}).get("application/json", {}).get("schema")
        if path.startswith("/api/") and body:
            schemas[f"GET {path}"] = resolved(body, spec)
    return schemas


def test_no_endpoint_documents_a_bare_array_and_every_list_carries_next_cursor(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemas = ok_schemas(spec)

    bare = [route for route, schema in schemas.items() if schema.get("type") == "array"]
    lists = {
        route: schema
        for route, schema in schemas.items()
        if resolved(schema.get("properties", {}).get("items", {}), spec).get("type") == "array"
    }
    without_cursor = [route for route, schema in lists.items() if "next_cursor" not in schema.get("properties", {})]

    assert len(schemas) > 20
    assert bare == []
    assert without_cursor == []
    for route in (
        "GET /api/v1/workspaces/{workspace_id}/members",
        "GET /api/v1/workspaces/{workspace_id}/invitations",
        "GET /api/v1/workspaces/{workspace_id}/api-keys",
        "GET /api/v1/workspaces/{workspace_id}/provider-keys",
        "GET /api/v1/workspaces/{workspace_id}/webhooks",
        "GET /api/v1/workspaces/{workspace_id}/jobs/{job_id}/attempts",
        "GET /api/v1/workspaces/{workspace_id}/jobs/{job_id}/transcript/versions",
        "GET /api/v1/auth/sessions",
        "GET /api/v1/me/security-events",
        "GET /api/v1/workspaces/{workspace_id}/billing/usage",
    ):
        assert route in lists, route


def test_the_lists_that_were_bare_arrays_answer_items_and_a_null_cursor(client: TestClient, people: People) -> None:
    owner = people.create()
    workspace = f"{WORKSPACES}/{owner.workspace_id}"
    invited = client.post(
        f"{workspace}/invitations", headers=owner.headers, json={"email": "guest@example.com", "role": "viewer"}
    )
    key = client.post(f"{workspace}/api-keys", headers=owner.headers, json={"name": "ci", "scopes": ["read"]})
    assert (invited.status_code, key.status_code) == (201, 201)

    answers = {
        path: client.get(path, headers=owner.headers)
        for path in (
            f"{workspace}/members",
            f"{workspace}/invitations",
            f"{workspace}/api-keys",
            f"{workspace}/provider-keys",
            f"{workspace}/webhooks",
            f"{workspace}/billing/usage",
            "/api/v1/auth/sessions",
        )
    }

    assert {path: answer.status_code for path, answer in answers.items()} == dict.fromkeys(answers, 200)
    shapes = {path: answer.json() for path, answer in answers.items()}
    assert [path for path, body in shapes.items() if not isinstance(body, dict)] == []
    assert [path for path, body in shapes.items() if not isinstance(body.get("items"), list)] == []
    assert {path: body.get("next_cursor", "missing") for path, body in shapes.items()} == dict.fromkeys(shapes)
    assert [m["user_id"] for m in shapes[f"{workspace}/members"]["items"]] == [owner.id]
    assert [i["email"] for i in shapes[f"{workspace}/invitations"]["items"]] == ["guest@example.com"]
    assert [k["id"] for k in shapes[f"{workspace}/api-keys"]["items"]] == [key.json()["id"]]
    assert len(shapes["/api/v1/auth/sessions"]["items"]) == 1
