"""Signing up: one account per address however it is spelled, strong passwords, a verification mail that works once."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tests.conftest import PASSWORD, Mailbox, body_text, token_from
from voxhub.accounts.models import UserToken
from voxhub.app import create_app
from voxhub.clock import utcnow
from voxhub.config import Settings

SIGNUP = "/api/v1/auth/signup"
VERIFY = "/api/v1/auth/verify-email"
RESEND = "/api/v1/auth/resend-verification"


def signup(client: TestClient, email: str, password: str = PASSWORD, name: str = "Ada") -> Any:
    return client.post(SIGNUP, json={"email": email, "password": password, "name": name})


def all_mail_delivered(app: Any) -> None:
    """Wait until the mailer has handed every queued mail to the SMTP server."""
    app.state.ctx.mailer.flush()


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.mark.parametrize("spelling", [" Ada@Example.COM ", "ADA@EXAMPLE.COM", "\tada@example.com\n"])
def test_signup_normalises_the_email_address(client: TestClient, spelling: str) -> None:
    response = signup(client, spelling)

    assert response.status_code == 201, response.text
    user = response.json()
    assert user["email"] == "ada@example.com"
    assert user["name"] == "Ada"
    assert user["email_verified"] is False
    assert "password" not in response.text and "password_hash" not in user


def test_signup_then_sign_in_with_any_spelling_of_the_address(client: TestClient) -> None:
    assert signup(client, "Grace@Example.com").status_code == 201

    headers = sign_in(client, "  GRACE@example.COM ")

    assert client.get("/api/v1/me", headers=headers).json()["email"] == "grace@example.com"


@pytest.mark.parametrize("email", ["not-an-email", "ada@", "@example.com", "ada@@example.com", "ada example@x.com", ""])
def test_signup_with_an_invalid_email_is_refused(client: TestClient, email: str) -> None:
    response = signup(client, email)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_email"


def test_signup_with_a_taken_email_is_a_conflict(client: TestClient) -> None:
    assert signup(client, "ada@example.com").status_code == 201

    again = signup(client, "ada@example.com", name="Someone else")
    other_case = signup(client, "  ADA@Example.Com")

    assert again.status_code == 409 and again.json()["error"]["code"] == "email_taken"
    assert other_case.status_code == 409 and other_case.json()["error"]["code"] == "email_taken"


@pytest.mark.parametrize("password", ["short", "nine-char", "password123", "1234567890", "qwertyuiop", "aaaaaaaaaaaa"])
def test_signup_with_a_weak_password_is_refused(client: TestClient, password: str) -> None:
    response = signup(client, "ada@example.com", password=password)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "weak_password"
    assert error["message"]


def test_a_refused_signup_leaves_the_address_free(client: TestClient) -> None:
    assert signup(client, "ada@example.com", password="short").status_code == 422

    assert signup(client, "ada@example.com").status_code == 201


def test_signup_creates_a_personal_workspace_owned_by_the_new_user(client: TestClient) -> None:
    assert signup(client, "ada@example.com", name="Ada").status_code == 201

    workspaces = client.get("/api/v1/workspaces", headers=sign_in(client, "ada@example.com"))

    assert workspaces.status_code == 200
    [workspace] = workspaces.json()["items"]
    assert workspace["personal"] is True
    assert workspace["role"] == "owner"
    assert "Ada" in workspace["name"]


def test_signup_mails_a_verification_link_to_the_public_url(client: TestClient, mailbox: Mailbox) -> None:
    signup(client, "Ada@Example.com")

    mail = mailbox.wait_for("ada@example.com", "Confirm your email")
    text = body_text(mail)
    token = token_from(mail)

    assert f"http://voxhub.test/verify-email?token={token}" in text
    html = mail.get_body(preferencelist=("html",))
    assert html is not None and f"http://voxhub.test/verify-email?token={token}" in html.get_content()


def test_verification_link_verifies_the_address_once(client: TestClient, mailbox: Mailbox) -> None:
    signup(client, "ada@example.com")
    token = token_from(mailbox.wait_for("ada@example.com", "Confirm"))

    first = client.post(VERIFY, json={"token": token})
    second = client.post(VERIFY, json={"token": token})

    assert first.status_code == 200
    assert first.json()["email_verified"] is True
    assert second.status_code == 400
    assert second.json()["error"]["code"] == "invalid_token"
    me = client.get("/api/v1/me", headers=sign_in(client, "ada@example.com"))
    assert me.json()["email_verified"] is True


@pytest.mark.parametrize("token", ["made-up-token", "x" * 512])
def test_an_unknown_verification_token_is_refused(client: TestClient, token: str) -> None:
    response = client.post(VERIFY, json={"token": token})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_token"


def test_an_expired_verification_link_is_refused(client: TestClient, mailbox: Mailbox, db: Any) -> None:
    user_id = signup(client, "ada@example.com").json()["id"]
    token = token_from(mailbox.wait_for("ada@example.com", "Confirm"))
    db.execute(update(UserToken).where(UserToken.user_id == user_id).values(expires_at=utcnow() - timedelta(minutes=1)))
    db.commit()

    response = client.post(VERIFY, json={"token": token})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "token_expired"
    me = client.get("/api/v1/me", headers=sign_in(client, "ada@example.com"))
    assert me.json()["email_verified"] is False


def test_the_verification_link_expires_after_24_hours(client: TestClient, mailbox: Mailbox, db: Any) -> None:
    user_id = signup(client, "ada@example.com").json()["id"]
    mailbox.wait_for("ada@example.com", "Confirm")

    row = db.scalar(select(UserToken).where(UserToken.user_id == user_id))

    assert timedelta(hours=23, minutes=59) < row.expires_at - row.created_at <= timedelta(hours=24, seconds=1)


def test_resend_verification_mails_a_new_link_to_an_unverified_account(client: TestClient, mailbox: Mailbox) -> None:
    signup(client, "ada@example.com")
    first = token_from(mailbox.wait_for("ada@example.com", "Confirm"))

    response = client.post(RESEND, json={"email": " ADA@example.com "})

    assert response.status_code == 202
    second = token_from(mailbox.wait_for("ada@example.com", "Confirm", count=2))
    assert second != first
    assert client.post(VERIFY, json={"token": second}).json()["email_verified"] is True


@pytest.mark.parametrize("email", ["nobody@example.com", "not-an-email"])
def test_resend_verification_answers_202_and_mails_nobody_for_unknown_addresses(
    client: TestClient, app: Any, mailbox: Mailbox, email: str
) -> None:
    response = client.post(RESEND, json={"email": email})

    assert response.status_code == 202
    all_mail_delivered(app)
    assert mailbox.all() == []


def test_resend_verification_mails_nothing_to_a_verified_account(
    client: TestClient, app: Any, mailbox: Mailbox
) -> None:
    signup(client, "ada@example.com")
    client.post(VERIFY, json={"token": token_from(mailbox.wait_for("ada@example.com", "Confirm"))})

    response = client.post(RESEND, json={"email": "ada@example.com"})

    assert response.status_code == 202
    all_mail_delivered(app)
    assert len(mailbox.sent_to("ada@example.com")) == 1


def test_unverified_users_can_still_sign_in(client: TestClient) -> None:
    signup(client, "ada@example.com")

    me = client.get("/api/v1/me", headers=sign_in(client, "ada@example.com"))

    assert me.status_code == 200
    assert me.json()["email_verified"] is False


@pytest.mark.usefixtures("app")  # its teardown empties the tables the second app writes to
def test_without_smtp_mail_is_written_as_eml_files_in_the_data_dir(
    settings: Settings, tmp_path: Path, mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "no-smtp"
    no_smtp = Settings(_env_file=None, **{**settings.model_dump(), "smtp_url": None, "data_dir": data_dir})
    caplog.set_level("INFO", logger="voxhub.mail")

    with TestClient(create_app(no_smtp), raise_server_exceptions=False) as client:
        assert signup(client, "eve@example.com", name="Eve").status_code == 201
    # Leaving the client shuts the app down, which waits for mail being written.

    files = sorted((data_dir / "mail").glob("*.eml"))
    assert len(files) == 1
    mail = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert "eve@example.com" in str(mail["To"])
    assert "Confirm" in str(mail["Subject"])
    assert "http://voxhub.test/verify-email?token=" in body_text(mail)
    assert str(files[0]) in caplog.text
    assert mailbox.sent_to("eve@example.com") == []
