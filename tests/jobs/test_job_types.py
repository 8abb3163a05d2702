"""The job types a server runs, each with JSON Schemas of its input and options: what a form (the console's) or a
generated client needs to start any job without reading the source."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import People


def test_job_types_list_every_registered_type_with_its_schemas(client: TestClient, people: People) -> None:
    person = people.create()

    response = client.get("/api/v1/job-types", headers=person.headers)

    assert response.status_code == 200
    types = {item["name"]: item for item in response.json()["items"]}
    assert {"transcribe", "synthesize", "translate", "media.convert"} <= set(types)
    transcribe = types["transcribe"]
    assert transcribe["queue"] == "asr"
    assert transcribe["description"]
    assert "file_id" in transcribe["input_schema"]["properties"]
    assert "text" in types["synthesize"]["input_schema"]["properties"]
    # Options come with their defaults, so a form can show them filled in.
    options = transcribe["params_schema"]["properties"]
    assert any("default" in option for option in options.values())


def test_job_types_need_a_caller(client: TestClient) -> None:
    assert client.get("/api/v1/job-types").status_code == 401
