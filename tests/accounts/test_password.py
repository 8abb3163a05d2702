"""Forgotten and changed passwords: a reset link that reveals nothing and works once, and sessions signed out."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, update

import voxhub
from tests.conftest import PASSWORD, Mailbox, People, body_text, token_from
from voxhub.accounts.models import UserToken
from voxhub.accounts.service import request_password_reset
from voxhub.audit.service import Actor
from voxhub.clock import utcnow

RESET = "/api/v1/auth/password-reset"
CONFIRM = "/api/v1/auth/password-reset/confirm"
CHANGE = "/api/v1/me/password"
NEW_PASSWORD = "a brand new passphrase 42"


def login(client: TestClient, email: str, password: str) -> Any:
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


def security_event_kinds(client: TestClient, headers: dict[str, str]) -> list[str]:
    return [event["kind"] for event in client.get("/api/v1/me/security-events", headers=headers).json()["items"]]


def reset_token(client: TestClient, mailbox: Mailbox, email: str, count: int = 1) -> str:
    assert client.post(RESET, json={"email": email}).status_code == 202
    return token_from(mailbox.wait_for(email, "Reset your voxhub password", count=count))


# ---- reset by mail ----


@pytest.mark.parametrize("known", [True, False])
def test_password_reset_always_answers_202_the_same_way(client: TestClient, people: People, known: bool) -> None:
    email = people.create().email if known else "nobody@example.com"

    response = client.post(RESET, json={"email": email})

    assert response.status_code == 202
    assert response.json() == {
        "status": "accepted",
        "message": "If this address has an account, a reset link is on its way.",
    }


def work_of_a_reset_request(app: Any, email: str) -> tuple[set[str], list[str]]:
    """What asking for a reset of `email` runs: the voxhub functions called and the SQL sent, traced as it runs."""
    source = str(Path(voxhub.__file__).parent)
    called: set[str] = set()
    sent: list[str] = []

    def trace(frame: FrameType, event_name: str, arg: Any) -> None:
        if event_name == "call" and frame.f_code.co_filename.startswith(source):
            called.add(frame.f_code.co_qualname)

    def statement(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        if "set_config('app.workspace_id'" not in sql:  # PostgreSQL's tenant setting, the same for every transaction
            sent.append(sql.split()[0].upper())

    def commit(conn: Any) -> None:
        sent.append("COMMIT")

    engine = app.state.db.engine
    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    sys.setprofile(trace)
    try:
        with app.state.db.session() as db:
            request_password_reset(db, ctx=app.state.ctx, email=email, actor=Actor(ip="198.51.100.7"))
    finally:
        sys.setprofile(None)
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)
    return called, sent


def test_password_reset_does_the_same_work_whether_or_not_the_account_exists(app: Any, people: People) -> None:
    """The promise behind the one answer: an unknown address is not answered faster (no timing here: the steps)."""
    person = people.create()

    known, known_sql = work_of_a_reset_request(app, person.email)
    unknown, unknown_sql = work_of_a_reset_request(app, "nobody@example.com")

    the_costly_steps = {"get_by_email", "new_token", "hash_token", "Mailer.render"}
    assert the_costly_steps <= known and the_costly_steps <= unknown
    assert known_sql.count("SELECT") == unknown_sql.count("SELECT") == 1
    assert "INSERT" in known_sql and "INSERT" in unknown_sql, (known_sql, unknown_sql)
    assert known_sql[-1] == unknown_sql[-1] == "COMMIT"
    assert "Mailer.deliver_after_commit" in known and "Mailer.deliver_after_commit" not in unknown


def test_password_reset_of_a_malformed_address_still_answers_202(client: TestClient) -> None:
    assert client.post(RESET, json={"email": "not an address"}).status_code == 202


def test_password_reset_mails_a_link_only_to_existing_accounts(
    client: TestClient, app: Any, people: People, mailbox: Mailbox
) -> None:
    person = people.create()

    client.post(RESET, json={"email": "nobody@example.com"})
    client.post(RESET, json={"email": f"  {person.email.upper()}"})

    mail = mailbox.wait_for(person.email, "Reset your voxhub password")
    assert f"http://voxhub.test/reset-password?token={token_from(mail)}" in body_text(mail)
    app.state.ctx.mailer.flush()
    assert [str(m["To"]) for m in mailbox.all()] == [person.email]


def test_reset_sets_the_new_password(client: TestClient, people: People, mailbox: Mailbox) -> None:
    person = people.create()
    token = reset_token(client, mailbox, person.email)

    response = client.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})

    assert response.status_code == 200
    assert response.json()["email"] == person.email
    assert login(client, person.email, PASSWORD).status_code == 401
    assert login(client, person.email, NEW_PASSWORD).status_code == 200


def test_reset_signs_out_every_session(client: TestClient, people: People, mailbox: Mailbox) -> None:
    person = people.create()
    other_login = people.login(person.email)
    token = reset_token(client, mailbox, person.email)

    client.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})

    assert client.get("/api/v1/me", headers=person.headers).status_code == 401
    other_headers = {"Authorization": f"Bearer {other_login['access_token']}"}
    assert client.get("/api/v1/me", headers=other_headers).status_code == 401
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": person.refresh_token})
    assert refreshed.status_code == 401


def test_a_reset_link_works_once(client: TestClient, people: People, mailbox: Mailbox) -> None:
    person = people.create()
    token = reset_token(client, mailbox, person.email)
    assert client.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD}).status_code == 200

    again = client.post(CONFIRM, json={"token": token, "new_password": "yet another passphrase 7"})

    assert again.status_code == 400
    assert again.json()["error"]["code"] == "invalid_token"
    assert login(client, person.email, NEW_PASSWORD).status_code == 200


def test_a_weak_new_password_is_refused_and_the_link_still_works(
    client: TestClient, people: People, mailbox: Mailbox
) -> None:
    person = people.create()
    token = reset_token(client, mailbox, person.email)

    weak = client.post(CONFIRM, json={"token": token, "new_password": "password123"})
    short = client.post(CONFIRM, json={"token": token, "new_password": "short"})

    assert weak.status_code == short.status_code == 422
    assert weak.json()["error"]["code"] == short.json()["error"]["code"] == "weak_password"
    assert client.get("/api/v1/me", headers=person.headers).status_code == 200
    assert client.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD}).status_code == 200


def test_an_expired_reset_link_is_refused(client: TestClient, people: People, mailbox: Mailbox, db: Any) -> None:
    person = people.create()
    token = reset_token(client, mailbox, person.email)
    past = utcnow() - timedelta(seconds=1)
    db.execute(update(UserToken).where(UserToken.user_id == person.id).values(expires_at=past))
    db.commit()

    response = client.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "token_expired"
    assert login(client, person.email, PASSWORD).status_code == 200


def test_a_verification_token_is_not_a_reset_token(client: TestClient, mailbox: Mailbox) -> None:
    client.post("/api/v1/auth/signup", json={"email": "ada@example.com", "password": PASSWORD, "name": "Ada"})
    verification = token_from(mailbox.wait_for("ada@example.com", "Confirm"))

    response = client.post(CONFIRM, json={"token": verification, "new_password": NEW_PASSWORD})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_token"


def test_an_older_reset_link_still_works_after_asking_again(
    client: TestClient, people: People, mailbox: Mailbox
) -> None:
    person = people.create()
    first = reset_token(client, mailbox, person.email)
    second = reset_token(client, mailbox, person.email, count=2)

    assert first != second
    assert client.post(CONFIRM, json={"token": first, "new_password": NEW_PASSWORD}).status_code == 200


def test_a_reset_proves_the_mailbox_of_an_unverified_account(
    client: TestClient, people: People, mailbox: Mailbox
) -> None:
    person = people.create(verified=False)
    token = reset_token(client, mailbox, person.email)

    response = client.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})

    assert response.json()["email_verified"] is True


def test_a_reset_is_a_security_event(client: TestClient, people: People, mailbox: Mailbox) -> None:
    person = people.create()
    token = reset_token(client, mailbox, person.email)
    client.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})

    fresh = login(client, person.email, NEW_PASSWORD).json()
    kinds = security_event_kinds(client, {"Authorization": f"Bearer {fresh['access_token']}"})

    assert "password.reset" in kinds


# ---- change while signed in ----


def test_changing_the_password_needs_the_current_one(client: TestClient, people: People) -> None:
    person = people.create()

    response = client.post(
        CHANGE, headers=person.headers, json={"current_password": "not my password", "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "wrong_password"
    assert login(client, person.email, PASSWORD).status_code == 200
    assert login(client, person.email, NEW_PASSWORD).status_code == 401


def test_changing_the_password_refuses_a_weak_one(client: TestClient, people: People) -> None:
    person = people.create()

    response = client.post(
        CHANGE, headers=person.headers, json={"current_password": PASSWORD, "new_password": "qwertyuiop"}
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "weak_password"
    assert login(client, person.email, PASSWORD).status_code == 200


def test_changing_the_password_signs_out_other_sessions_but_keeps_this_one(client: TestClient, people: People) -> None:
    person = people.create()
    other_login = people.login(person.email)

    response = client.post(
        CHANGE, headers=person.headers, json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 204
    assert client.get("/api/v1/me", headers=person.headers).status_code == 200
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": person.refresh_token}).status_code == 200
    other_headers = {"Authorization": f"Bearer {other_login['access_token']}"}
    assert client.get("/api/v1/me", headers=other_headers).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": other_login["refresh_token"]}).status_code == 401
    assert login(client, person.email, PASSWORD).status_code == 401
    assert login(client, person.email, NEW_PASSWORD).status_code == 200


def test_a_password_change_is_a_security_event(client: TestClient, people: People) -> None:
    person = people.create()
    people.login(person.email)

    client.post(CHANGE, headers=person.headers, json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})

    events = client.get("/api/v1/me/security-events", headers=person.headers).json()["items"]
    [changed] = [event for event in events if event["kind"] == "password.changed"]
    assert changed["ip"] == "testclient"
    assert changed["details"] == {"sessions_revoked": 1}
