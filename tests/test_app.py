"""What every client of the API sees: one error shape, health and readiness, metrics, request ids, logs and docs."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import People
from voxhub.app import create_app
from voxhub.config import Settings
from voxhub.db import make_engine, migrate
from voxhub.observability import configure_logging

GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


def settings_with(settings: Settings, **changes: Any) -> Settings:
    """A fresh Settings like the test's, with some fields changed (a copy would keep cached values)."""
    return Settings(_env_file=None, **{**settings.model_dump(), **changes})


def assert_error_shape(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["error"]
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body["error"]  # type: ignore[no-any-return]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging() rewires the root logger; put back what pytest had."""
    loggers = [logging.getLogger(name) for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access")]
    saved = [(logger, logger.handlers[:], logger.level, logger.propagate) for logger in loggers]
    yield
    for logger, handlers, level, propagate in saved:
        logger.handlers = handlers
        logger.setLevel(level)
        logger.propagate = propagate


# ---- one error shape ----


def test_an_unknown_route_is_a_404_in_the_error_shape(client: TestClient) -> None:
    assert_error_shape(client.get("/api/v1/no-such-thing"), 404, "not_found")
    assert_error_shape(client.post("/nowhere", json={}), 404, "not_found")


def test_a_wrong_method_is_a_405_in_the_error_shape(client: TestClient) -> None:
    response = client.get("/api/v1/auth/login")

    assert_error_shape(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"
    assert_error_shape(client.delete("/healthz"), 405, "method_not_allowed")


def test_a_validation_error_names_the_fields(client: TestClient) -> None:
    response = client.post("/api/v1/auth/signup", json={"email": "ada@example.com", "name": "Ada"})

    error = assert_error_shape(response, 422, "validation_error")
    assert [field["field"] for field in error["details"]["fields"]] == ["body.password"]
    assert "password" in error["message"]


def test_a_wrongly_typed_query_parameter_is_a_validation_error(client: TestClient, people: People) -> None:
    person = people.create()

    response = client.get("/api/v1/me/security-events?limit=many", headers=person.headers)

    error = assert_error_shape(response, 422, "validation_error")
    assert [field["field"] for field in error["details"]["fields"]] == ["query.limit"]


@pytest.mark.parametrize("body", [b'{"email": ', b"not json at all", b'{"email": "a@b.co",}', b"\xff\xfe"])
def test_a_malformed_json_body_is_a_validation_error(client: TestClient, body: bytes) -> None:
    response = client.post("/api/v1/auth/login", content=body, headers={"Content-Type": "application/json"})

    error = assert_error_shape(response, 422, "validation_error")
    assert error["details"]["fields"][0]["type"] == "json_invalid"


def test_a_malformed_json_body_says_where_and_what_is_wrong(client: TestClient) -> None:
    body = b'{"email": "a@b.co",\n "password": }'

    response = client.post("/api/v1/auth/login", content=body, headers={"Content-Type": "application/json"})

    error = assert_error_shape(response, 422, "validation_error")
    assert error["message"] == "The body is not valid JSON: Expecting value at line 2, column 14 (char 33)."
    assert error["details"]["fields"] == [{"field": "body", "message": error["message"], "type": "json_invalid"}]


def test_an_undecodable_body_is_a_client_error_in_the_error_shape(client: TestClient) -> None:
    response = client.post("/api/v1/auth/login", content=b"\xff\xfe\x00", headers={"Content-Type": "application/json"})

    assert 400 <= response.status_code < 500
    assert_error_shape(response, response.status_code, response.json()["error"]["code"])


def test_a_service_names_the_offending_field_as_validation_does(client: TestClient, people: People) -> None:
    person = people.create()
    signup = {"email": "ada@example.com", "password": "correct horse battery staple", "name": "Ada"}
    past = "2000-01-01T00:00:00Z"

    refusals = {
        "email": client.post("/api/v1/auth/signup", json={**signup, "email": "ada@@example.com"}),
        "password": client.post("/api/v1/auth/signup", json={**signup, "password": "password123"}),
        "timezone": client.patch("/api/v1/me", headers=person.headers, json={"timezone": "Mars/Olympus_Mons"}),
        "name": client.patch("/api/v1/me", headers=person.headers, json={"name": "   "}),
        "expires_at": client.post(
            f"/api/v1/workspaces/{person.workspace_id}/api-keys",
            headers=person.headers,
            json={"name": "k", "scopes": ["read"], "expires_at": past},
        ),
    }

    for field, response in refusals.items():
        error = assert_error_shape(response, 422, response.json()["error"]["code"])
        assert list(error["details"]) == ["fields"], error
        assert [entry["field"] for entry in error["details"]["fields"]] == [field], error
        assert all(entry["message"] for entry in error["details"]["fields"])


@pytest.mark.parametrize("body", [[1, 2], "a string", 42, None])
def test_a_json_body_that_is_not_an_object_is_a_validation_error(client: TestClient, body: Any) -> None:
    response = client.post("/api/v1/auth/login", json=body)

    assert_error_shape(response, 422, "validation_error")


def test_an_unauthenticated_call_is_a_401_in_the_error_shape(client: TestClient) -> None:
    assert_error_shape(client.get("/api/v1/me"), 401, "not_authenticated")


def test_an_unexpected_failure_is_a_500_in_the_error_shape_without_internals(app: Any, client: TestClient) -> None:
    def broken_endpoint() -> None:
        raise RuntimeError("database password is hunter2")

    app.add_api_route("/test-only/broken", broken_endpoint)

    response = client.get("/test-only/broken", headers={"X-Request-ID": "broken-1"})

    assert_error_shape(response, 500, "internal_error")
    assert "hunter2" not in response.text and "RuntimeError" not in response.text
    assert response.headers["X-Request-ID"] == "broken-1"
    assert (response.headers["x-content-type-options"], response.headers["x-frame-options"]) == ("nosniff", "DENY")


# ---- health and readiness ----


def test_healthz_says_the_process_is_up(client: TestClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ready_when_the_schema_is_current(client: TestClient) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "ok", "migrations": "current"}


@contextmanager
def app_on(settings: Settings, database_url: str) -> Iterator[TestClient]:
    """A client for an app on another database, without its startup work (which itself needs a migrated schema)."""
    app = create_app(settings_with(settings, database_url=database_url))
    try:
        yield TestClient(app, raise_server_exceptions=False)
    finally:
        app.state.ctx.close()
        app.state.db.dispose()


def test_readyz_reports_pending_migrations_on_an_empty_database(settings: Settings, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"

    with app_on(settings, url) as client:
        pending = client.get("/readyz")
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        ready = client.get("/readyz")

    error = assert_error_shape(pending, 503, "migrations_pending")
    assert "voxhub migrate" in error["message"]
    assert ready.status_code == 200


def test_readyz_reports_an_unreachable_database(settings: Settings, tmp_path: Path) -> None:
    a_directory = tmp_path / "not-a-database-file"
    a_directory.mkdir()
    url = f"sqlite:///{a_directory}"

    with app_on(settings, url) as client:
        response = client.get("/readyz")

    assert_error_shape(response, 503, "database_unavailable")


# ---- metrics ----


def scrape(client: TestClient) -> dict[str, list[Any]]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def count_of(samples: dict[str, list[Any]], **labels: str) -> float:
    matching = [s.value for s in samples.get("voxhub_http_requests_total", []) if labels.items() <= s.labels.items()]
    return sum(matching)


def test_metrics_count_requests_by_route_template_and_status(client: TestClient, people: People) -> None:
    person = people.create()
    client.get("/api/v1/me", headers=person.headers)
    client.get("/api/v1/me", headers=person.headers)
    client.get("/api/v1/me")
    client.get(f"/api/v1/workspaces/{person.workspace_id}", headers=person.headers)

    samples = scrape(client)

    assert count_of(samples, method="GET", route="/api/v1/me", status="200") == 2
    assert count_of(samples, method="GET", route="/api/v1/me", status="401") == 1
    assert count_of(samples, method="GET", route="/api/v1/workspaces/{workspace_id}", status="200") == 1
    routes = {s.labels["route"] for s in samples["voxhub_http_requests_total"]}
    assert not any(person.workspace_id in route for route in routes)


def test_metrics_put_unknown_paths_under_one_label(client: TestClient) -> None:
    client.get("/scanner/probe/12345")
    client.get("/another/made-up/path")

    samples = scrape(client)

    assert count_of(samples, route="unmatched", status="404") == 2
    routes = {s.labels["route"] for s in samples["voxhub_http_requests_total"]}
    assert "/scanner/probe/12345" not in routes


def test_metrics_have_a_latency_histogram_by_route(client: TestClient) -> None:
    client.get("/healthz")
    client.get("/healthz")

    samples = scrape(client)

    count = [s for s in samples["voxhub_http_request_duration_seconds_count"] if s.labels["route"] == "/healthz"]
    assert [s.value for s in count] == [2]
    buckets = [s for s in samples["voxhub_http_request_duration_seconds_bucket"] if s.labels["route"] == "/healthz"]
    assert {s.labels["le"] for s in buckets} >= {"0.005", "0.1", "1.0", "+Inf"}
    assert max(s.value for s in buckets) == 2


# ---- request ids ----


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/healthz"),
        ("GET", "/nowhere"),
        ("GET", "/api/v1/me"),
        ("POST", "/api/v1/auth/login"),
        ("GET", "/metrics"),
    ],
)
def test_every_response_has_a_generated_request_id(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path)

    assert GENERATED_ID.match(response.headers["X-Request-ID"])


def test_each_request_gets_its_own_id(client: TestClient) -> None:
    ids = {client.get("/healthz").headers["X-Request-ID"] for _ in range(5)}

    assert len(ids) == 5


@pytest.mark.parametrize("sent", ["abc-123", "trace:01HZX.42_a", "x" * 128])
def test_a_sane_client_request_id_is_echoed(client: TestClient, sent: str) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": sent})

    assert response.headers["X-Request-ID"] == sent


@pytest.mark.parametrize("junk", ["has spaces", "<script>alert(1)</script>", "x" * 129, "a\tb", "ünïcode", ""])
def test_a_junk_client_request_id_is_replaced(client: TestClient, junk: str) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": junk.encode()})  # type: ignore[dict-item]

    assert response.headers["X-Request-ID"] != junk
    assert GENERATED_ID.match(response.headers["X-Request-ID"])


# ---- logs ----


def log_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.usefixtures("restore_logging")
def test_json_logs_carry_the_request_id(client: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(fmt="json")

    client.get("/healthz", headers={"X-Request-ID": "log-check-42"})

    lines = log_lines(capsys.readouterr().err)
    [access] = [line for line in lines if line["request_id"] == "log-check-42"]
    assert access["logger"] == "voxhub.http"
    assert access["level"] == "info"
    assert "GET /healthz 200" in access["message"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", access["time"])


@pytest.mark.usefixtures("restore_logging")
def test_an_unexpected_failure_is_logged_with_its_request_id(
    app: Any, client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken_endpoint() -> None:
        raise RuntimeError("kaboom")

    app.add_api_route("/test-only/broken", broken_endpoint)
    configure_logging(fmt="json")

    client.get("/test-only/broken", headers={"X-Request-ID": "failing-7"})

    lines = [line for line in log_lines(capsys.readouterr().err) if line["request_id"] == "failing-7"]
    [error] = [line for line in lines if line["level"] == "error"]
    assert "RuntimeError: kaboom" in error["exception"]
    assert any("GET /test-only/broken 500" in line["message"] for line in lines)


@pytest.mark.usefixtures("restore_logging")
def test_text_logs_carry_the_request_id(client: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(fmt="text")

    client.get("/healthz", headers={"X-Request-ID": "text-log-1"})

    assert any("[text-log-1]" in line and "GET /healthz 200" in line for line in capsys.readouterr().err.splitlines())


# ---- documentation ----


def test_every_api_operation_has_a_summary_and_documents_its_errors(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    operations = [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        if path.startswith("/api/v1")
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]

    assert len(operations) > 20
    missing_summary = [(m, p) for m, p, op in operations if not op.get("summary")]
    missing_errors = [(m, p) for m, p, op in operations if not any(400 <= int(code) < 500 for code in op["responses"])]
    assert missing_summary == []
    # The public catalog takes no input and no credentials: there is no client error it could answer with.
    assert missing_errors == [("GET", "/api/v1/billing/plans"), ("GET", "/api/v1/billing/packages")]


def test_documented_errors_use_the_one_error_shape(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    login_errors = schema["paths"]["/api/v1/auth/login"]["post"]["responses"]

    assert {"401", "422", "429"} <= set(login_errors)
    reference = login_errors["401"]["content"]["application/json"]["schema"]["$ref"]
    error_schema = schema["components"]["schemas"][reference.rsplit("/", 1)[1]]
    assert list(error_schema["properties"]) == ["error"]


def test_docs_page_is_served(client: TestClient) -> None:
    response = client.get("/docs")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in response.text and "swagger" in response.text.lower()


@pytest.mark.parametrize(("page", "script"), [("/docs", "SwaggerUIBundle"), ("/redoc", "Redoc")])
def test_the_docs_pages_load_every_file_from_voxhub_itself_so_they_work_offline(
    client: TestClient, page: str, script: str
) -> None:
    html = client.get(page)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html.text)
    served = {url: client.get(url) for url in assets}

    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "://" not in html.text, "nothing from a CDN or a font service"
    assert "/openapi.json" in html.text
    assert any(url.endswith(".js") for url in assets)
    assert {url: answer.status_code for url, answer in served.items()} == dict.fromkeys(assets, 200)
    types = {url: answer.headers["content-type"].split(";")[0] for url, answer in served.items()}
    assert set(types.values()) <= {"text/javascript", "text/css", "image/png"}, types
    scripts = [answer.text for url, answer in served.items() if url.endswith(".js")]
    assert any(script in text and len(text) > 100_000 for text in scripts)
