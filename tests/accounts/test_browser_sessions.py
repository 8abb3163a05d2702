"""Browser sessions: the refresh token lives in an httpOnly SameSite cookie, every cookie-authenticated request needs
the CSRF token echoed in a header, and rotation, reuse detection and sign-out work as for the token API."""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, People

LOGIN = "/api/v1/auth/browser/login"
REFRESH = "/api/v1/auth/browser/refresh"
LOGOUT = "/api/v1/auth/browser/logout"


def set_cookies(response: Any) -> dict[str, Any]:
    """The Set-Cookie headers of a response, by name, with their attributes."""
    cookies: dict[str, Any] = {}
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            cookies[name] = morsel
    return cookies


def sign_in(client: TestClient, email: str) -> Any:
    response = client.post(LOGIN, json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response


def present(client: TestClient, refresh_token: str | None) -> dict[str, str]:
    """Leave only `refresh_token` (and a CSRF token) in the browser's cookie jar; the matching CSRF header."""
    client.cookies.clear()
    client.cookies.set("vx_refresh", refresh_token or "")
    client.cookies.set("vx_csrf", "csrf-token")
    return {"X-CSRF-Token": "csrf-token"}


def csrf(client: TestClient) -> dict[str, str]:
    return {"X-CSRF-Token": client.cookies.get("vx_csrf") or ""}


def test_signing_in_puts_the_refresh_token_in_an_httponly_strict_cookie_only(
    client: TestClient, people: People
) -> None:
    person = people.create()

    response = sign_in(client, person.email)

    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"}).status_code == 200
    cookies = set_cookies(response)
    refresh = cookies["vx_refresh"]
    assert refresh["httponly"] is True
    assert refresh["samesite"].lower() == "strict"
    assert refresh["path"] == "/api/v1/auth/browser"
    assert not refresh["secure"]  # plain http here; see the https test
    assert cookies["vx_csrf"]["httponly"] == ""  # the page must read it to echo it
    assert cookies["vx_csrf"]["samesite"].lower() == "strict"


def test_cookies_are_secure_over_https(app: Any, people: People) -> None:
    person = people.create()
    with TestClient(app, base_url="https://testserver") as secure_client:
        cookies = set_cookies(sign_in(secure_client, person.email))
    assert cookies["vx_refresh"]["secure"] is True
    assert cookies["vx_csrf"]["secure"] is True


def test_refreshing_needs_the_csrf_token_in_a_header(client: TestClient, people: People) -> None:
    person = people.create()
    sign_in(client, person.email)

    missing = client.post(REFRESH)
    wrong = client.post(REFRESH, headers={"X-CSRF-Token": "not-the-token"})

    assert missing.status_code == 403
    assert missing.json()["error"]["code"] == "csrf_failed"
    assert wrong.status_code == 403
    # A refused request spends nothing: the right one still works.
    right = client.post(REFRESH, headers=csrf(client))
    assert right.status_code == 200, right.text
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {right.json()['access_token']}"}).status_code == 200
    )


def test_refreshing_rotates_the_cookie_and_a_replayed_cookie_signs_the_login_out(
    client: TestClient, people: People
) -> None:
    person = people.create()
    sign_in(client, person.email)
    first = client.cookies.get("vx_refresh")

    rotated = client.post(REFRESH, headers=csrf(client))
    assert rotated.status_code == 200
    second = client.cookies.get("vx_refresh")
    assert second and second != first

    # Someone replays the first cookie (stolen before the rotation).
    replay = client.post(REFRESH, headers=present(client, first))
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "refresh_token_reused"
    assert client.post(REFRESH, headers=present(client, second)).status_code == 401


def test_a_browser_without_a_session_gets_401(client: TestClient) -> None:
    response = client.post(REFRESH, headers={"X-CSRF-Token": "x"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_signing_out_ends_the_login_and_clears_the_cookies(client: TestClient, people: People) -> None:
    person = people.create()
    access = sign_in(client, person.email).json()["access_token"]
    refresh_token = client.cookies.get("vx_refresh")

    refused = client.post(LOGOUT)
    assert refused.status_code == 403  # no CSRF header: nothing ends
    response = client.post(LOGOUT, headers=csrf(client))

    assert response.status_code == 204
    cleared = set_cookies(response)
    assert cleared["vx_refresh"].value == "" and cleared["vx_csrf"].value == ""
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {access}"}).status_code == 401
    assert client.post(REFRESH, headers=present(client, refresh_token)).status_code == 401


def test_a_wrong_password_in_the_browser_gets_the_usual_401_and_no_cookie(client: TestClient, people: People) -> None:
    person = people.create()
    response = client.post(LOGIN, json={"email": person.email, "password": "wrong password!"})
    assert response.status_code == 401
    assert "vx_refresh" not in set_cookies(response)
