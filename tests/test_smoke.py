"""The service answers, and a person can sign up, sign in and see their workspace."""

from __future__ import annotations

from tests.conftest import PASSWORD, Mailbox, People, token_from


def test_signup_verify_login_and_list_workspaces(client, mailbox: Mailbox) -> None:
    response = client.post(
        "/api/v1/auth/signup", json={"email": " Ada@Example.COM ", "password": PASSWORD, "name": "Ada"}
    )
    assert response.status_code == 201
    assert response.json()["email"] == "ada@example.com"
    assert response.json()["email_verified"] is False

    mail = mailbox.wait_for("ada@example.com", "Confirm")
    verified = client.post("/api/v1/auth/verify-email", json={"token": token_from(mail)})
    assert verified.status_code == 200 and verified.json()["email_verified"] is True

    tokens = client.post("/api/v1/auth/login", json={"email": "ADA@example.com", "password": PASSWORD}).json()
    workspaces = client.get("/api/v1/workspaces", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert workspaces.status_code == 200
    assert [w["role"] for w in workspaces.json()["items"]] == ["owner"]


def test_people_fixture_invites_through_mail(people: People) -> None:
    owner = people.create()
    member = people.add_to(owner, owner.workspace_id, "member")
    members = people.client.get(f"/api/v1/workspaces/{owner.workspace_id}/members", headers=member.headers)
    assert sorted(m["role"] for m in members.json()["items"]) == ["member", "owner"]
