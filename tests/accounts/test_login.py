"""Signing in: a token pair for the right password, one answer for every wrong one, and lockouts against guessing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from tests.conftest import PASSWORD, People
from voxhub.accounts.models import LoginAttempt
from voxhub.clock import utcnow

LOGIN = "/api/v1/auth/login"
WRONG = "not the password at all"


def login(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    return client.post(LOGIN, json={"email": email, "password": password})


def fail_logins(client: TestClient, email: str, times: int) -> None:
    for _ in range(times):
        response = login(client, email, WRONG)
        assert response.status_code == 401, response.text


def security_event_kinds(client: TestClient, headers: dict[str, str]) -> list[str]:
    response = client.get("/api/v1/me/security-events", headers=headers)
    assert response.status_code == 200, response.text
    return [event["kind"] for event in response.json()["items"]]


def test_login_returns_a_bearer_token_pair(client: TestClient, people: People) -> None:
    person = people.create()

    response = login(client, person.email)

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["access_token"].count(".") == 2  # a JWT
    assert body["refresh_token"] and body["refresh_token"] != body["access_token"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["email"] == person.email


def test_login_ignores_case_and_whitespace_in_the_email(client: TestClient, people: People) -> None:
    person = people.create("Mixed.Case@Example.com")

    assert login(client, f"  {person.email.upper()} ").status_code == 200


def test_a_wrong_password_is_refused(client: TestClient, people: People) -> None:
    person = people.create()

    response = login(client, person.email, WRONG)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"


def test_an_unknown_email_gets_the_same_answer_as_a_wrong_password(client: TestClient, people: People) -> None:
    person = people.create()

    wrong_password = login(client, person.email, WRONG)
    unknown_email = login(client, "nobody@example.com", WRONG)
    not_an_email = login(client, "nobody", WRONG)

    assert wrong_password.status_code == unknown_email.status_code == not_an_email.status_code == 401
    assert wrong_password.json() == unknown_email.json() == not_an_email.json()


def test_login_without_a_password_is_a_validation_error(client: TestClient) -> None:
    response = client.post(LOGIN, json={"email": "ada@example.com"})

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


def test_five_failures_lock_the_email_even_for_the_right_password(client: TestClient, people: People) -> None:
    person = people.create()
    fail_logins(client, person.email, 5)

    response = login(client, person.email)

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "too_many_attempts"
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 15 * 60 + 1
    assert response.json()["error"]["details"]["retry_after_s"] == retry_after


def test_four_failures_do_not_lock_the_email(client: TestClient, people: People) -> None:
    person = people.create()
    fail_logins(client, person.email, 4)

    assert login(client, person.email).status_code == 200


def test_the_lock_is_per_email(client: TestClient, people: People) -> None:
    locked, other = people.create(), people.create()
    fail_logins(client, locked.email, 5)

    assert login(client, locked.email).status_code == 429
    assert login(client, other.email).status_code == 200


def test_an_unknown_email_is_locked_out_too(client: TestClient) -> None:
    fail_logins(client, "nobody@example.com", 5)

    response = login(client, "nobody@example.com", WRONG)

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "too_many_attempts"


def test_past_twenty_failures_from_one_ip_its_failures_are_refused_but_not_a_colleagues_right_password(
    client: TestClient, people: People
) -> None:
    """A whole office behind one address: one person's guessing must not lock the others out."""
    colleague = people.create()  # has signed in from this address before
    for number in range(20):
        response = login(client, f"guess{number}@example.com", WRONG)
        assert response.status_code == 401, (number, response.text)

    fresh_guess = login(client, "guess-new@example.com", WRONG)
    wrong_password = login(client, colleague.email, WRONG)
    right_password = login(client, colleague.email)

    assert fresh_guess.status_code == 429
    assert fresh_guess.json()["error"]["code"] == "too_many_attempts"
    assert int(fresh_guess.headers["Retry-After"]) >= 1
    assert wrong_password.status_code == 429
    assert right_password.status_code == 200, right_password.text


def test_past_the_ip_limit_a_stolen_password_of_an_account_never_signed_in_from_that_ip_is_refused(
    app: Any, client: TestClient, people: People
) -> None:
    """A list of stolen passwords tried from one address learns nothing once the address is over its limit."""
    person = people.create()
    attacker = TestClient(app, client=("198.51.100.7", 40000))  # no `with`: the app's lifespan stays the fixture's
    for number in range(20):
        login(attacker, f"guess{number}@example.com", WRONG)

    stolen = login(attacker, person.email)
    guess = login(attacker, "guess-new@example.com", WRONG)
    at_home = login(client, person.email)

    assert stolen.status_code == guess.status_code == 429
    assert stolen.json()["error"]["code"] == guess.json()["error"]["code"] == "too_many_attempts"
    assert stolen.json()["error"]["message"] == guess.json()["error"]["message"]
    assert at_home.status_code == 200


def test_failures_past_the_ip_limit_still_count_against_their_email(client: TestClient, people: People) -> None:
    person = people.create()
    for number in range(20):
        login(client, f"guess{number}@example.com", WRONG)
    for _ in range(5):
        assert login(client, person.email, WRONG).status_code == 429

    assert login(client, person.email).status_code == 429  # now the email's own lock
    assert "login.locked_out" in security_event_kinds(client, person.headers)


def test_the_ip_lock_does_not_reach_other_ips(app: Any, client: TestClient, people: People) -> None:
    people.create()
    for number in range(20):
        login(client, f"guess{number}@example.com", WRONG)
    assert login(client, "guess-new@example.com", WRONG).status_code == 429

    elsewhere = TestClient(app, client=("203.0.113.9", 40000))  # no `with`: the app's lifespan stays the fixture's

    assert login(elsewhere, "guess-new@example.com", WRONG).status_code == 401


def test_the_email_lock_expires_after_fifteen_minutes(client: TestClient, people: People, db: Any) -> None:
    person = people.create()
    fail_logins(client, person.email, 5)
    assert login(client, person.email).status_code == 429

    db.execute(update(LoginAttempt).values(created_at=utcnow() - timedelta(minutes=15, seconds=5)))
    db.commit()

    assert login(client, person.email).status_code == 200


def test_the_ip_lock_expires_after_fifteen_minutes(client: TestClient, people: People, db: Any) -> None:
    for number in range(20):
        login(client, f"guess{number}@example.com", WRONG)
    assert login(client, "guess-new@example.com", WRONG).status_code == 429

    db.execute(update(LoginAttempt).values(created_at=utcnow() - timedelta(minutes=16)))
    db.commit()

    assert login(client, "guess-newer@example.com", WRONG).status_code == 401


def test_failures_older_than_the_window_do_not_count(client: TestClient, people: People, db: Any) -> None:
    person = people.create()
    fail_logins(client, person.email, 4)
    db.execute(update(LoginAttempt).values(created_at=utcnow() - timedelta(minutes=16)))
    db.commit()

    fail_logins(client, person.email, 4)  # 8 in all, but only 4 within 15 minutes

    assert login(client, person.email).status_code == 200


def test_a_successful_login_clears_the_failures(client: TestClient, people: People) -> None:
    person = people.create()
    fail_logins(client, person.email, 4)
    assert login(client, person.email).status_code == 200

    fail_logins(client, person.email, 4)

    assert login(client, person.email).status_code == 200


def test_each_failure_is_a_security_event_with_the_ip(client: TestClient, people: People) -> None:
    person = people.create()
    client.post(LOGIN, json={"email": person.email, "password": WRONG}, headers={"User-Agent": "guesser/1.0"})
    client.post(LOGIN, json={"email": person.email, "password": WRONG}, headers={"User-Agent": "guesser/1.0"})

    events = client.get("/api/v1/me/security-events", headers=person.headers).json()["items"]

    failures = [event for event in events if event["kind"] == "login.failed"]
    assert len(failures) == 2
    assert all(event["ip"] == "testclient" for event in failures)
    assert all(event["user_agent"] == "guesser/1.0" for event in failures)


def test_the_failure_events_show_the_ip_the_guess_came_from(app: Any, client: TestClient, people: People) -> None:
    person = people.create()

    attacker = TestClient(app, client=("198.51.100.7", 40000))
    login(attacker, person.email, WRONG)

    [event] = client.get("/api/v1/me/security-events", headers=person.headers).json()["items"]
    assert event["kind"] == "login.failed"
    assert event["ip"] == "198.51.100.7"


def test_a_lockout_is_a_security_event(client: TestClient, people: People) -> None:
    person = people.create()
    fail_logins(client, person.email, 5)

    kinds = security_event_kinds(client, person.headers)

    assert kinds.count("login.failed") == 5
    assert kinds.count("login.locked_out") == 1
    assert kinds[0] == "login.locked_out"  # newest first


def test_security_events_are_private_to_their_user(client: TestClient, people: People) -> None:
    victim, bystander = people.create(), people.create()
    fail_logins(client, victim.email, 2)

    assert security_event_kinds(client, bystander.headers) == []
    assert security_event_kinds(client, victim.headers) == ["login.failed", "login.failed"]


def test_security_events_page_with_a_cursor(client: TestClient, people: People) -> None:
    person = people.create()
    fail_logins(client, person.email, 3)

    first = client.get("/api/v1/me/security-events?limit=2", headers=person.headers).json()
    second = client.get(
        f"/api/v1/me/security-events?limit=2&cursor={first['next_cursor']}", headers=person.headers
    ).json()

    assert len(first["items"]) == 2 and first["next_cursor"]
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    assert {e["id"] for e in first["items"]}.isdisjoint({e["id"] for e in second["items"]})
