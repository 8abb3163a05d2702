"""The console is served by voxhub itself: its page at each of its addresses (the links voxhub mails among them),
its files under /console, all with a strict Content-Security-Policy, and nothing fetched from elsewhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from voxhub import console
from voxhub.config import Settings

MAILED_LINKS = ("/verify-email?token=abc", "/reset-password?token=abc", "/accept-invitation?token=abc")
PAGES = ("/", "/login", "/signup", "/account", "/admin", "/w/some-workspace/files", "/w/x/transcripts/y", *MAILED_LINKS)


@pytest.mark.parametrize("path", PAGES)
def test_each_console_address_answers_with_the_page_and_a_strict_csp(client: TestClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/console/app.js">' in response.text
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_billing_page_that_usage_alerts_link_to_is_a_console_page(client: TestClient) -> None:
    assert client.get("/w/any-workspace/billing").status_code == 200


def test_other_addresses_keep_the_api_json_404(client: TestClient) -> None:
    for path in ("/nowhere", "/api/v1/nowhere", "/console-nope"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_console_files_are_served_with_the_policy_and_revalidated(client: TestClient) -> None:
    script = client.get("/console/app.js")
    style = client.get("/console/console.css")
    missing = client.get("/console/pages/nothing.js")

    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    assert script.headers["cache-control"] == "no-cache"
    assert "etag" in script.headers
    assert "content-security-policy" in script.headers
    assert missing.status_code == 404


def test_the_api_itself_carries_no_console_policy(client: TestClient) -> None:
    # The API answers programs; the page's policy is for pages (and /docs needs its inline script).
    assert "content-security-policy" not in client.get("/healthz").headers


def test_nothing_in_the_console_loads_from_another_origin() -> None:
    offenders = []
    for path in console.STATIC.rglob("*"):
        if path.suffix not in {".html", ".js", ".css"} or "vendor" in path.parts:
            continue
        for url in re.findall(r"""(?:src|href|url)\s*[=(]\s*["']?(https?://[^"')\s]+)""", path.read_text()):
            offenders.append(f"{path.relative_to(console.STATIC)}: {url}")
    assert offenders == []


def test_a_missing_console_build_says_so_instead_of_a_blank_page(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(console, "STATIC", tmp_path)

    response = client.get("/login")

    assert response.status_code == 500
    assert "console's files are missing" in response.text
    assert "/docs" in response.text


def test_every_route_the_console_names_is_served(client: TestClient) -> None:
    """Each address pattern in app.js's route table answers with the console page (none falls to a JSON 404)."""
    app_js = (console.STATIC / "app.js").read_text()
    patterns = re.findall(r'^\s*\["(/[^"]*)", "[a-z]+", "[A-Za-z]+", "', app_js, flags=re.MULTILINE)
    assert len(patterns) > 20
    for pattern in patterns:
        path = re.sub(r":[a-z]+", "x1", pattern)
        assert client.get(path).status_code == 200, pattern


def test_players_may_load_media_from_the_bucket_and_cdn_that_signed_links_name(settings: Settings) -> None:
    on_s3 = settings.model_copy(
        update={"storage_url": "s3://media?endpoint=http://127.0.0.1:9000", "storage_cdn_url": "https://cdn.example"}
    )

    local_policy = console.security_headers(settings)["Content-Security-Policy"]
    s3_policy = console.security_headers(on_s3)["Content-Security-Policy"]

    assert "media-src 'self' blob:;" in local_policy
    assert "media-src 'self' blob: http://127.0.0.1:9000 https://cdn.example;" in s3_policy
    assert "script-src 'self';" in s3_policy  # scripts never come from the store
