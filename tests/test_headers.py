"""Security headers: every answer says nosniff, sends no referrer and may not be framed; HTTPS answers carry HSTS
(directly, or through a proxy voxhub is told to trust, whose X-Forwarded-Proto also makes the session cookies
Secure); the docs pages' policy allows exactly their own files and inline script, other HTML no script at all.
tests/browser/test_docs_pages.py opens the docs pages in Chromium under that policy."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from http.cookies import SimpleCookie
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from tests.conftest import PASSWORD, People
from voxhub.app import create_app
from voxhub.config import Settings
from voxhub.headers import DOCUMENT_POLICY, SecurityHeadersMiddleware

BROWSER_LOGIN = "/api/v1/auth/browser/login"
HSTS = "strict-transport-security"


@pytest.fixture
def behind_proxy(settings: Settings, app: Any) -> Iterator[TestClient]:
    """A second app on the same database, told to trust its proxy's X-Forwarded-* headers."""
    application = create_app(settings.model_copy(update={"trust_proxy_headers": True}))
    with TestClient(application, raise_server_exceptions=False) as proxied:
        yield proxied
    application.state.ctx.close()
    application.state.db.dispose()


def cookie_flags(response: Any) -> dict[str, dict[str, Any]]:
    """Each Set-Cookie's attributes, by cookie name."""
    found: dict[str, dict[str, Any]] = {}
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            found[name] = {"secure": bool(morsel["secure"]), "httponly": bool(morsel["httponly"]),
                           "samesite": morsel["samesite"].lower()}  # fmt: skip
    return found


def test_every_answer_says_nosniff_no_referrer_and_no_frames(client: TestClient) -> None:
    answers = {
        "health": client.get("/healthz"),
        "not signed in": client.get("/api/v1/me"),
        "not found": client.get("/api/v1/nothing-here"),
        "schema": client.get("/openapi.json"),
        "console": client.get("/login"),
        "console file": client.get("/console/app.js"),
    }

    assert {name: answer.headers.get("x-content-type-options") for name, answer in answers.items()} == dict.fromkeys(
        answers, "nosniff"
    )
    assert {name: answer.headers.get("x-frame-options") for name, answer in answers.items()} == dict.fromkeys(
        answers, "DENY"
    )
    # The console keeps its own same-origin referrer (its links within voxhub); the API sends none.
    assert answers["health"].headers["referrer-policy"] == "no-referrer"
    assert answers["console"].headers["referrer-policy"] == "same-origin"
    # One of each, never the console's and ours side by side.
    for answer in answers.values():
        names = [name.lower() for name, _value in answer.headers.multi_items()]
        assert names.count("x-frame-options") == names.count("referrer-policy") == 1
    assert all(HSTS not in answer.headers for answer in answers.values()), "plain HTTP gets no HSTS"
    assert "content-security-policy" not in answers["health"].headers  # JSON answers programs
    assert "frame-ancestors 'none'" in answers["console"].headers["content-security-policy"]


def test_https_answers_ask_browsers_to_keep_to_https(app: Any) -> None:
    with TestClient(app, base_url="https://voxhub.test") as secure:
        answer = secure.get("/healthz")

    assert answer.headers[HSTS] == "max-age=31536000"


def test_hsts_can_be_turned_off(settings: Settings) -> None:
    application = create_app(settings.model_copy(update={"hsts_max_age_s": 0}))
    with TestClient(application, base_url="https://voxhub.test") as secure:
        answer = secure.get("/healthz")
    application.state.ctx.close()
    application.state.db.dispose()

    assert HSTS not in answer.headers
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_forwarded_proto_counts_only_from_a_trusted_proxy(client: TestClient, behind_proxy: TestClient) -> None:
    forwarded = {"X-Forwarded-Proto": "https"}

    assert HSTS not in client.get("/healthz", headers=forwarded).headers, "anyone can send the header"
    assert behind_proxy.get("/healthz", headers=forwarded).headers[HSTS] == "max-age=31536000"
    assert HSTS not in behind_proxy.get("/healthz", headers={"X-Forwarded-Proto": "http"}).headers
    # A chain of proxies: the first scheme is the client's.
    assert HSTS not in behind_proxy.get("/healthz", headers={"X-Forwarded-Proto": "http, https"}).headers


def test_session_cookies_are_secure_whenever_the_browser_used_https(
    client: TestClient, app: Any, behind_proxy: TestClient, people: People
) -> None:
    person = people.create()
    login = {"email": person.email, "password": PASSWORD}
    forwarded = {"X-Forwarded-Proto": "https"}

    with TestClient(app, base_url="https://voxhub.test") as secure:
        direct_tls = cookie_flags(secure.post(BROWSER_LOGIN, json=login))
    via_trusted_proxy = cookie_flags(behind_proxy.post(BROWSER_LOGIN, json=login, headers=forwarded))
    plain = cookie_flags(client.post(BROWSER_LOGIN, json=login))
    claimed_by_anyone = cookie_flags(client.post(BROWSER_LOGIN, json=login, headers=forwarded))

    for flags in (direct_tls, via_trusted_proxy):
        assert flags["vx_refresh"] == {"secure": True, "httponly": True, "samesite": "strict"}
        assert flags["vx_csrf"] == {"secure": True, "httponly": False, "samesite": "strict"}  # the page reads it
    for flags in (plain, claimed_by_anyone):
        # Over plain HTTP (`make run` on a laptop) a Secure cookie would never come back.
        assert flags["vx_refresh"] == {"secure": False, "httponly": True, "samesite": "strict"}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_may_load_only_voxhubs_own_files_and_their_own_inline_script(
    client: TestClient, page: str
) -> None:
    answer = client.get(page)
    policy = dict(part.strip().split(" ", 1) for part in answer.headers["content-security-policy"].split(";"))

    assert answer.status_code == 200
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    inline = re.findall(r"<script>(.*?)</script>", answer.text, flags=re.DOTALL)
    hashes = {f"'sha256-{base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()}'" for code in inline}
    assert set(policy["script-src"].split()) == {"'self'", *hashes}
    assert len(hashes) == (1 if page == "/docs" else 0)  # Swagger UI starts from one inline script; ReDoc needs none
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    # The page does not change with what a request carries, so the hash is of the script voxhub wrote.
    assert client.get(page, params={"q": "<script>alert(1)</script>"}, headers={"X-Forwarded-Host": "evil"}).text == (
        answer.text
    )


def test_other_html_may_run_no_script_and_a_routes_own_header_is_kept(settings: Settings) -> None:
    async def receipt(request: Any) -> HTMLResponse:
        return HTMLResponse("<style>b{}</style><b>Receipt</b>")

    async def framed(request: Any) -> HTMLResponse:
        return HTMLResponse("<p>embed me</p>", headers={"X-Frame-Options": "SAMEORIGIN"})

    inner = Starlette(routes=[Route("/receipt", receipt), Route("/framed", framed)])
    with TestClient(SecurityHeadersMiddleware(inner, settings=settings)) as small:
        document = small.get("/receipt")
        own = small.get("/framed")

    assert document.headers["content-security-policy"] == DOCUMENT_POLICY
    assert "script-src" not in DOCUMENT_POLICY and "default-src 'none'" in DOCUMENT_POLICY
    assert own.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert own.headers["x-content-type-options"] == "nosniff"
