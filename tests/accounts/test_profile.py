"""The signed-in user's profile, deleting an account, and the verified-email rule for spending resources."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import PASSWORD, People
from voxhub.accounts.models import User
from voxhub.accounts.service import require_verified_email
from voxhub.config import Settings
from voxhub.errors import Forbidden
from voxhub.workspaces.models import Workspace

ME = "/api/v1/me"


def delete_me(client: TestClient, headers: dict[str, str], password: str = PASSWORD) -> Any:
    return client.request("DELETE", ME, headers=headers, json={"password": password})


# ---- profile ----


def test_get_me_shows_the_profile(client: TestClient, people: People) -> None:
    person = people.create(name="Ada Lovelace")

    response = client.get(ME, headers=person.headers)

    assert response.status_code == 200
    me = response.json()
    assert me["id"] == person.id
    assert me["email"] == person.email
    assert me["name"] == "Ada Lovelace"
    assert me["email_verified"] is True
    assert me["is_superuser"] is False
    assert me["avatar_url"] is None
    assert me["timezone"] == "UTC"
    assert "password_hash" not in me


def test_patch_me_changes_name_avatar_and_timezone(client: TestClient, people: People) -> None:
    person = people.create()

    response = client.patch(
        ME,
        headers=person.headers,
        json={
            "name": "  Grace Hopper ",
            "avatar_url": "https://cdn.example.com/grace.png",
            "timezone": "Europe/Lisbon",
        },
    )

    assert response.status_code == 200
    assert client.get(ME, headers=person.headers).json() == response.json()
    me = response.json()
    assert (me["name"], me["avatar_url"], me["timezone"]) == (
        "Grace Hopper",
        "https://cdn.example.com/grace.png",
        "Europe/Lisbon",
    )


def test_patch_me_changes_only_the_fields_sent(client: TestClient, people: People) -> None:
    person = people.create(name="Ada")
    client.patch(ME, headers=person.headers, json={"avatar_url": "http://example.com/a.png"})

    response = client.patch(ME, headers=person.headers, json={"timezone": "America/Sao_Paulo"})

    me = response.json()
    assert (me["name"], me["avatar_url"], me["timezone"]) == ("Ada", "http://example.com/a.png", "America/Sao_Paulo")


def test_patch_me_with_null_avatar_removes_it(client: TestClient, people: People) -> None:
    person = people.create()
    client.patch(ME, headers=person.headers, json={"avatar_url": "https://example.com/a.png"})

    response = client.patch(ME, headers=person.headers, json={"avatar_url": None})

    assert response.json()["avatar_url"] is None


@pytest.mark.parametrize("avatar_url", ["not a url", "ftp://example.com/a.png", "javascript:alert(1)", "/relative.png"])
def test_avatar_url_must_be_an_http_url(client: TestClient, people: People, avatar_url: str) -> None:
    person = people.create()

    response = client.patch(ME, headers=person.headers, json={"avatar_url": avatar_url})

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert [f["field"] for f in error["details"]["fields"]] == ["body.avatar_url"]
    assert client.get(ME, headers=person.headers).json()["avatar_url"] is None


@pytest.mark.parametrize("timezone", ["Mars/Olympus_Mons", "GMT+25", "europe/lisbon", ""])
def test_timezone_must_be_an_iana_name(client: TestClient, people: People, timezone: str) -> None:
    person = people.create()

    response = client.patch(ME, headers=person.headers, json={"timezone": timezone})

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_timezone"
    assert client.get(ME, headers=person.headers).json()["timezone"] == "UTC"


@pytest.mark.parametrize("name", ["", "   "])
def test_an_empty_name_is_refused(client: TestClient, people: People, name: str) -> None:
    person = people.create(name="Ada")

    response = client.patch(ME, headers=person.headers, json={"name": name})

    assert response.status_code == 422
    assert client.get(ME, headers=person.headers).json()["name"] == "Ada"


def test_profile_needs_a_signed_in_user(client: TestClient) -> None:
    assert client.get(ME).status_code == 401
    assert client.patch(ME, json={"name": "x"}).status_code == 401


# ---- deleting the account ----


def test_deleting_my_account_signs_me_out_and_frees_the_email(client: TestClient, people: People) -> None:
    person = people.create()

    response = delete_me(client, person.headers)

    assert response.status_code == 204
    assert client.get(ME, headers=person.headers).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": person.refresh_token}).status_code == 401
    relogin = client.post("/api/v1/auth/login", json={"email": person.email, "password": PASSWORD})
    assert relogin.status_code == 401
    again = client.post("/api/v1/auth/signup", json={"email": person.email, "password": PASSWORD, "name": "Again"})
    assert again.status_code == 201
    assert again.json()["id"] != person.id


def test_deleting_my_account_deletes_my_personal_workspace(client: TestClient, people: People, db: Any) -> None:
    person = people.create()

    delete_me(client, person.headers)

    workspace = db.scalar(select(Workspace).where(Workspace.id == person.workspace_id))
    assert workspace.deleted_at is not None
    newcomer = people.create(person.email)
    listed = client.get("/api/v1/workspaces", headers=newcomer.headers).json()["items"]
    assert [w["id"] for w in listed] != [person.workspace_id]
    assert client.get(f"/api/v1/workspaces/{person.workspace_id}", headers=newcomer.headers).status_code == 404


def test_deleting_my_account_forgets_my_personal_data(client: TestClient, people: People, db: Any) -> None:
    person = people.create(name="Ada Lovelace")
    client.patch(ME, headers=person.headers, json={"avatar_url": "https://example.com/ada.png"})

    delete_me(client, person.headers)

    user = db.get(User, person.id)
    assert user.deleted_at is not None
    assert person.email not in user.email
    assert user.name != "Ada Lovelace"
    assert user.avatar_url is None


def test_deleting_my_account_needs_my_password(client: TestClient, people: People) -> None:
    person = people.create()

    response = delete_me(client, person.headers, password="not my password")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "wrong_password"
    assert client.get(ME, headers=person.headers).status_code == 200


def test_a_sole_owner_of_a_shared_workspace_must_transfer_it_first(client: TestClient, people: People) -> None:
    owner = people.create()
    member = people.add_to(owner, owner.workspace_id, "member")

    response = delete_me(client, owner.headers)

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "transfer_ownership_first"
    assert error["details"]["workspace_ids"] == [owner.workspace_id]
    assert client.get(ME, headers=owner.headers).status_code == 200
    assert client.get(f"/api/v1/workspaces/{owner.workspace_id}", headers=member.headers).status_code == 200


def test_after_handing_over_ownership_the_account_can_be_deleted(client: TestClient, people: People) -> None:
    owner = people.create()
    member = people.add_to(owner, owner.workspace_id, "member")
    promoted = client.patch(
        f"/api/v1/workspaces/{owner.workspace_id}/members/{member.id}", headers=owner.headers, json={"role": "owner"}
    )
    assert promoted.status_code == 200, promoted.text

    response = delete_me(client, owner.headers)

    assert response.status_code == 204
    workspace = client.get(f"/api/v1/workspaces/{owner.workspace_id}", headers=member.headers)
    assert workspace.status_code == 200 and workspace.json()["role"] == "owner"
    members = client.get(f"/api/v1/workspaces/{owner.workspace_id}/members", headers=member.headers).json()["items"]
    assert [m["user_id"] for m in members] == [member.id]


def test_a_member_of_someone_elses_workspace_can_delete_their_account(client: TestClient, people: People) -> None:
    owner = people.create()
    member = people.add_to(owner, owner.workspace_id, "member")

    assert delete_me(client, member.headers).status_code == 204

    members = client.get(f"/api/v1/workspaces/{owner.workspace_id}/members", headers=owner.headers).json()["items"]
    assert [m["user_id"] for m in members] == [owner.id]


# ---- unverified email ----


def _user(app: Any, user_id: str) -> User:
    with app.state.db.session() as session:
        return session.get(User, user_id)  # type: ignore[no-any-return]


def test_an_unverified_user_may_not_spend_resources(app: Any, people: People) -> None:
    person = people.create(verified=False)

    with pytest.raises(Forbidden) as refused:
        require_verified_email(app.state.ctx, _user(app, person.id))

    assert refused.value.status_code == 403
    assert refused.value.code == "email_not_verified"


def test_a_verified_user_may_spend_resources(app: Any, people: People) -> None:
    person = people.create(verified=True)

    require_verified_email(app.state.ctx, _user(app, person.id))


def test_an_api_key_caller_has_no_email_to_verify(app: Any) -> None:
    require_verified_email(app.state.ctx, None)


def test_the_operator_can_turn_the_verified_email_rule_off(
    app: Any, people: People, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = people.create(verified=False)
    monkeypatch.setenv("VOXHUB_REQUIRE_VERIFIED_EMAIL", "false")
    from_env = Settings(_env_file=None, **settings.model_dump(exclude={"require_verified_email"}))
    assert from_env.require_verified_email is False

    relaxed = dataclasses.replace(app.state.ctx, settings=from_env)

    require_verified_email(relaxed, _user(app, person.id))


def test_the_verified_email_rule_is_on_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOXHUB_REQUIRE_VERIFIED_EMAIL", raising=False)

    assert Settings(_env_file=None).require_verified_email is True
