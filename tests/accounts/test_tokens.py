"""Access and refresh tokens: rotation, reuse detection, expiry, tampering, sign-out and the list of sessions."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from tests.conftest import People, Person
from voxhub.security import Keyring

REFRESH = "/api/v1/auth/refresh"
SESSIONS = "/api/v1/auth/sessions"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def me_status(client: TestClient, token: str) -> int:
    return client.get("/api/v1/me", headers=bearer(token)).status_code


def refresh(client: TestClient, refresh_token: str) -> Any:
    return client.post(REFRESH, json={"refresh_token": refresh_token})


def claims_of(access_token: str) -> dict[str, Any]:
    return jwt.decode(access_token, options={"verify_signature": False})  # type: ignore[no-any-return]


def access_token_for(app: Any, person: Person, ttl: timedelta) -> str:
    """An access token for `person`'s current login, signed with the app's own key."""
    claims = claims_of(person.access_token)
    token, _expires = app.state.ctx.keyring.sign_jwt({"sub": claims["sub"], "sid": claims["sid"], "typ": "access"}, ttl)
    return token  # type: ignore[no-any-return]


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


# ---- refresh rotation and reuse ----


def test_refresh_returns_a_new_working_pair(client: TestClient, people: People) -> None:
    person = people.create()

    response = refresh(client, person.refresh_token)

    assert response.status_code == 200
    pair = response.json()
    assert pair["token_type"] == "bearer" and pair["expires_in"] == 900
    assert pair["refresh_token"] != person.refresh_token
    assert me_status(client, pair["access_token"]) == 200
    assert refresh(client, pair["refresh_token"]).status_code == 200


def test_refresh_keeps_the_same_session(client: TestClient, people: People) -> None:
    person = people.create()

    pair = refresh(client, person.refresh_token).json()

    assert claims_of(pair["access_token"])["sid"] == claims_of(person.access_token)["sid"]
    assert len(client.get(SESSIONS, headers=bearer(pair["access_token"])).json()["items"]) == 1


def test_a_used_refresh_token_revokes_the_whole_login(client: TestClient, people: People) -> None:
    person = people.create()
    new_pair = refresh(client, person.refresh_token).json()

    reused = refresh(client, person.refresh_token)

    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "refresh_token_reused"
    assert refresh(client, new_pair["refresh_token"]).status_code == 401
    assert me_status(client, new_pair["access_token"]) == 401
    assert me_status(client, person.access_token) == 401


def test_reuse_leaves_other_logins_signed_in(client: TestClient, people: People) -> None:
    person = people.create()
    other_login = people.login(person.email)
    refresh(client, person.refresh_token)

    refresh(client, person.refresh_token)

    assert me_status(client, other_login["access_token"]) == 200
    assert refresh(client, other_login["refresh_token"]).status_code == 200


def test_refresh_token_reuse_is_a_security_event(client: TestClient, people: People) -> None:
    person = people.create()
    refresh(client, person.refresh_token)
    refresh(client, person.refresh_token)

    signed_in_again = people.login(person.email)
    events = client.get("/api/v1/me/security-events", headers=bearer(signed_in_again["access_token"])).json()["items"]

    [reuse] = [event for event in events if event["kind"] == "refresh_token.reused"]
    assert reuse["ip"] == "testclient"
    assert reuse["details"]["session_id"] == claims_of(person.access_token)["sid"]


@pytest.mark.parametrize("token", ["not-a-refresh-token", "x" * 512])
def test_an_unknown_refresh_token_is_refused(client: TestClient, token: str) -> None:
    response = refresh(client, token)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_refresh_token"


def test_an_access_token_is_not_a_refresh_token(client: TestClient, people: People) -> None:
    person = people.create()

    assert refresh(client, person.access_token).status_code == 401


# ---- access tokens ----


def test_access_token_names_the_user_and_the_session(client: TestClient, people: People) -> None:
    person = people.create()

    claims = claims_of(person.access_token)

    assert claims["sub"] == person.id
    current = [s for s in client.get(SESSIONS, headers=person.headers).json()["items"] if s["current"]]
    assert [s["id"] for s in current] == [claims["sid"]]
    assert claims["exp"] - claims["iat"] == 900


def test_an_expired_access_token_is_refused(app: Any, client: TestClient, people: People) -> None:
    person = people.create()
    expired = access_token_for(app, person, timedelta(seconds=-5))
    fresh = access_token_for(app, person, timedelta(minutes=5))

    response = client.get("/api/v1/me", headers=bearer(expired))

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert me_status(client, fresh) == 200


def test_a_token_with_a_tampered_signature_is_refused(client: TestClient, people: People) -> None:
    person = people.create()
    header, payload, signature = person.access_token.split(".")
    middle = len(signature) // 2
    flipped = signature[:middle] + ("A" if signature[middle] != "A" else "B") + signature[middle + 1 :]

    assert me_status(client, f"{header}.{payload}.{flipped}") == 401


def test_a_token_with_a_tampered_payload_is_refused(client: TestClient, people: People) -> None:
    person, other = people.create(), people.create()
    header, _payload, signature = person.access_token.split(".")
    claims = {**claims_of(person.access_token), "sub": other.id}

    response = client.get("/api/v1/me", headers=bearer(f"{header}.{b64(claims)}.{signature}"))

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


def test_a_token_with_a_flipped_payload_character_is_refused(client: TestClient, people: People) -> None:
    person = people.create()
    header, payload, signature = person.access_token.split(".")
    flipped = payload[:5] + ("a" if payload[5] != "a" else "b") + payload[6:]

    assert me_status(client, f"{header}.{flipped}.{signature}") == 401


def test_a_token_signed_with_another_secret_is_refused(client: TestClient, people: People) -> None:
    person = people.create()
    claims = claims_of(person.access_token)
    forged, _ = Keyring("another-secret-" + "y" * 32).sign_jwt(
        {"sub": claims["sub"], "sid": claims["sid"], "typ": "access"}, timedelta(minutes=5)
    )

    assert me_status(client, forged) == 401


def test_a_token_claiming_our_key_id_but_signed_with_another_key_is_refused(client: TestClient, people: People) -> None:
    person = people.create()
    kid = jwt.get_unverified_header(person.access_token)["kid"]
    forged = jwt.encode(
        claims_of(person.access_token), "guessed-key-" + "z" * 32, algorithm="HS256", headers={"kid": kid}
    )

    assert me_status(client, forged) == 401


def test_an_unsigned_token_is_refused(client: TestClient, people: People) -> None:
    person = people.create()
    kid = jwt.get_unverified_header(person.access_token)["kid"]
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{b64(claims_of(person.access_token))}."

    assert me_status(client, unsigned) == 401


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "vx_not_a_real_key", "eyJhbGciOiJIUzI1NiJ9.e30.", "Ω"])
def test_a_garbage_bearer_token_is_refused(client: TestClient, token: str) -> None:
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}".encode()})  # type: ignore[dict-item]

    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"invalid_token", "invalid_api_key"}


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "Token abc"])
def test_without_a_bearer_token_the_caller_is_not_authenticated(client: TestClient, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}

    response = client.get("/api/v1/me", headers=headers)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response.headers["WWW-Authenticate"] == "Bearer"


# ---- logout and sessions ----


def test_logout_revokes_the_access_and_refresh_tokens(client: TestClient, people: People) -> None:
    person = people.create()

    response = client.post("/api/v1/auth/logout", headers=person.headers)

    assert response.status_code == 204
    after = client.get("/api/v1/me", headers=person.headers)
    assert after.status_code == 401 and after.json()["error"]["code"] == "session_revoked"
    assert refresh(client, person.refresh_token).status_code == 401


def test_logout_ends_only_the_current_login(client: TestClient, people: People) -> None:
    person = people.create()
    other_login = people.login(person.email)

    client.post("/api/v1/auth/logout", headers=person.headers)

    assert me_status(client, other_login["access_token"]) == 200


def test_logout_needs_a_token(client: TestClient) -> None:
    response = client.post("/api/v1/auth/logout")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_sessions_list_each_login_with_its_device_ip_and_which_is_current(
    app: Any, client: TestClient, people: People
) -> None:
    person = people.create()
    laptop = client.post(
        "/api/v1/auth/login",
        json={"email": person.email, "password": person.password},
        headers={"User-Agent": "Laptop/1.0"},
    ).json()
    phone_client = TestClient(app, client=("192.0.2.44", 40000), headers={"User-Agent": "Phone/2.0"})
    phone = phone_client.post("/api/v1/auth/login", json={"email": person.email, "password": person.password}).json()

    response = client.get(SESSIONS, headers=bearer(laptop["access_token"]))

    assert response.status_code == 200
    sessions = {s["id"]: s for s in response.json()["items"]}
    assert len(sessions) == 3  # the fixture's login, the laptop, the phone
    laptop_session = sessions[claims_of(laptop["access_token"])["sid"]]
    phone_session = sessions[claims_of(phone["access_token"])["sid"]]
    assert (laptop_session["user_agent"], laptop_session["ip"]) == ("Laptop/1.0", "testclient")
    assert (phone_session["user_agent"], phone_session["ip"]) == ("Phone/2.0", "192.0.2.44")
    assert laptop_session["current"] is True and phone_session["current"] is False
    assert [s["current"] for s in sessions.values()].count(True) == 1
    assert all(s["created_at"] and s["last_used_at"] and s["expires_at"] for s in sessions.values())


def test_sessions_list_leaves_out_signed_out_logins(client: TestClient, people: People) -> None:
    person = people.create()
    other_login = people.login(person.email)
    client.post("/api/v1/auth/logout", headers=bearer(other_login["access_token"]))

    sessions = client.get(SESSIONS, headers=person.headers).json()["items"]

    assert [s["id"] for s in sessions] == [claims_of(person.access_token)["sid"]]


def test_deleting_a_session_signs_that_login_out(client: TestClient, people: People) -> None:
    person = people.create()
    other_login = people.login(person.email)
    other_sid = claims_of(other_login["access_token"])["sid"]

    response = client.delete(f"{SESSIONS}/{other_sid}", headers=person.headers)

    assert response.status_code == 204
    assert me_status(client, other_login["access_token"]) == 401
    assert refresh(client, other_login["refresh_token"]).status_code == 401
    assert me_status(client, person.access_token) == 200
    assert other_sid not in [s["id"] for s in client.get(SESSIONS, headers=person.headers).json()["items"]]
    kinds = [e["kind"] for e in client.get("/api/v1/me/security-events", headers=person.headers).json()["items"]]
    assert "session.revoked" in kinds


def test_deleting_the_current_session_signs_out(client: TestClient, people: People) -> None:
    person = people.create()

    response = client.delete(f"{SESSIONS}/{claims_of(person.access_token)['sid']}", headers=person.headers)

    assert response.status_code == 204
    assert me_status(client, person.access_token) == 401


def test_deleting_someone_elses_session_is_not_found(client: TestClient, people: People) -> None:
    owner, intruder = people.create(), people.create()
    owner_sid = claims_of(owner.access_token)["sid"]

    response = client.delete(f"{SESSIONS}/{owner_sid}", headers=intruder.headers)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "session_not_found"
    assert me_status(client, owner.access_token) == 200


def test_deleting_an_unknown_or_already_revoked_session_is_not_found(client: TestClient, people: People) -> None:
    person = people.create()
    other_sid = claims_of(people.login(person.email)["access_token"])["sid"]
    assert client.delete(f"{SESSIONS}/{other_sid}", headers=person.headers).status_code == 204

    again = client.delete(f"{SESSIONS}/{other_sid}", headers=person.headers)
    unknown = client.delete(f"{SESSIONS}/00000000-0000-0000-0000-000000000000", headers=person.headers)

    assert again.status_code == 404
    assert unknown.status_code == 404


@pytest.mark.parametrize("kid", ["é", "\U000168b8Ç", "ok\x00"])
def test_a_token_naming_a_key_in_any_characters_is_refused_not_a_server_error(client: TestClient, kid: str) -> None:
    key = "not voxhub's key, but long enough for HS256"
    forged = jwt.encode({"sub": "someone", "exp": 4102444800}, key, algorithm="HS256", headers={"kid": kid})

    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"})

    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "invalid_token"
