"""Workspaces over HTTP: create, list with my role, get, rename, and the owner's soft delete."""

from __future__ import annotations

import uuid

from tests.conftest import Mailbox, People, Person, token_from

WORKSPACES = "/api/v1/workspaces"


def create_workspace(client, person: Person, name: str) -> dict:
    response = client.post(WORKSPACES, headers=person.headers, json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()


def create_api_key(client, person: Person, workspace_id: str, scopes: list[str]) -> dict:
    response = client.post(
        f"{WORKSPACES}/{workspace_id}/api-keys", headers=person.headers, json={"name": "test key", "scopes": scopes}
    )
    assert response.status_code == 201, response.text
    return response.json()


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def error_code(response) -> str:
    return response.json()["error"]["code"]


# ---- create and list ----


def test_signup_gives_a_personal_workspace_owned_by_the_new_user(client, people: People) -> None:
    ada = people.create()
    workspaces = client.get(WORKSPACES, headers=ada.headers).json()["items"]
    assert len(workspaces) == 1
    assert workspaces[0]["personal"] is True
    assert workspaces[0]["role"] == "owner"


def test_create_workspace_makes_the_creator_its_owner(client, people: People) -> None:
    ada = people.create()
    created = create_workspace(client, ada, "  Podcast team  ")
    assert created["name"] == "Podcast team"
    assert created["role"] == "owner"
    assert created["personal"] is False
    assert uuid.UUID(created["id"])

    listed = {w["id"]: w for w in client.get(WORKSPACES, headers=ada.headers).json()["items"]}
    assert set(listed) == {ada.workspace_id, created["id"]}
    assert listed[created["id"]]["name"] == "Podcast team"
    assert listed[created["id"]]["role"] == "owner"


def test_create_workspace_needs_a_name(client, people: People) -> None:
    ada = people.create()
    for name in ("", "   ", "x" * 201):
        response = client.post(WORKSPACES, headers=ada.headers, json={"name": name})
        assert response.status_code == 422, (name, response.text)
        assert error_code(response) == "validation_error"
    assert len(client.get(WORKSPACES, headers=ada.headers).json()["items"]) == 1


def test_list_shows_my_role_in_each_workspace(client, people: People) -> None:
    owner = people.create()
    team = create_workspace(client, owner, "Team")
    viewer = people.add_to(owner, team["id"], "viewer")
    admin = people.add_to(owner, owner.workspace_id, "admin")

    assert {w["id"]: w["role"] for w in client.get(WORKSPACES, headers=viewer.headers).json()["items"]} == {
        viewer.workspace_id: "owner",
        team["id"]: "viewer",
    }
    assert {w["id"]: w["role"] for w in client.get(WORKSPACES, headers=admin.headers).json()["items"]} == {
        admin.workspace_id: "owner",
        owner.workspace_id: "admin",
    }


def test_nobody_sees_workspaces_they_do_not_belong_to(client, people: People) -> None:
    ada, bob = people.create(), people.create()
    team = create_workspace(client, ada, "Ada's team")
    bobs = [w["id"] for w in client.get(WORKSPACES, headers=bob.headers).json()["items"]]
    assert bobs == [bob.workspace_id]
    assert team["id"] not in bobs


def test_workspaces_need_authentication(client) -> None:
    for response in (
        client.get(WORKSPACES),
        client.post(WORKSPACES, json={"name": "x"}),
        client.get(f"{WORKSPACES}/{uuid.uuid4()}"),
    ):
        assert response.status_code == 401
        assert error_code(response) == "not_authenticated"
        assert response.headers["www-authenticate"] == "Bearer"


def test_an_api_key_cannot_create_workspaces(client, people: People) -> None:
    ada = people.create()
    key = create_api_key(client, ada, ada.workspace_id, ["admin"])
    response = client.post(WORKSPACES, headers=bearer(key["secret"]), json={"name": "Key's own"})
    assert response.status_code == 403
    assert error_code(response) == "user_token_required"


# ---- get ----


def test_get_workspace_shows_it_with_my_role(client, people: People) -> None:
    owner = people.create()
    member = people.add_to(owner, owner.workspace_id, "member")
    as_owner = client.get(f"{WORKSPACES}/{owner.workspace_id}", headers=owner.headers)
    as_member = client.get(f"{WORKSPACES}/{owner.workspace_id}", headers=member.headers)
    assert as_owner.status_code == as_member.status_code == 200
    assert as_owner.json()["role"] == "owner"
    assert as_member.json()["role"] == "member"
    assert as_member.json()["name"] == as_owner.json()["name"]


def test_a_stranger_gets_the_same_404_as_for_a_workspace_that_does_not_exist(client, people: People) -> None:
    ada, stranger = people.create(), people.create()
    not_member = client.get(f"{WORKSPACES}/{ada.workspace_id}", headers=stranger.headers)
    missing = client.get(f"{WORKSPACES}/{uuid.uuid4()}", headers=stranger.headers)
    nonsense = client.get(f"{WORKSPACES}/not-a-uuid", headers=stranger.headers)
    assert not_member.status_code == missing.status_code == nonsense.status_code == 404
    assert not_member.json() == missing.json() == nonsense.json()
    assert error_code(not_member) == "workspace_not_found"


# ---- rename ----


def test_owner_and_admin_can_rename_and_everyone_sees_the_new_name(client, people: People) -> None:
    owner = people.create()
    admin = people.add_to(owner, owner.workspace_id, "admin")
    viewer = people.add_to(owner, owner.workspace_id, "viewer")

    renamed = client.patch(f"{WORKSPACES}/{owner.workspace_id}", headers=admin.headers, json={"name": " Studio "})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Studio"
    assert renamed.json()["role"] == "admin"
    assert client.get(f"{WORKSPACES}/{owner.workspace_id}", headers=viewer.headers).json()["name"] == "Studio"

    again = client.patch(f"{WORKSPACES}/{owner.workspace_id}", headers=owner.headers, json={"name": "Studio 2"})
    assert again.status_code == 200
    listed = {w["id"]: w["name"] for w in client.get(WORKSPACES, headers=viewer.headers).json()["items"]}
    assert listed[owner.workspace_id] == "Studio 2"


def test_members_and_viewers_cannot_rename(client, people: People) -> None:
    owner = people.create()
    for role in ("member", "viewer"):
        person = people.add_to(owner, owner.workspace_id, role)
        response = client.patch(f"{WORKSPACES}/{owner.workspace_id}", headers=person.headers, json={"name": "Mine"})
        assert response.status_code == 403, role
        assert error_code(response) == "insufficient_role"
    assert client.get(f"{WORKSPACES}/{owner.workspace_id}", headers=owner.headers).json()["name"] != "Mine"


def test_rename_to_a_blank_name_is_refused(client, people: People) -> None:
    owner = people.create()
    before = client.get(f"{WORKSPACES}/{owner.workspace_id}", headers=owner.headers).json()["name"]
    for name in ("", "   "):
        response = client.patch(f"{WORKSPACES}/{owner.workspace_id}", headers=owner.headers, json={"name": name})
        assert response.status_code == 422, (name, response.text)
    assert client.get(f"{WORKSPACES}/{owner.workspace_id}", headers=owner.headers).json()["name"] == before


# ---- delete ----


def test_only_the_owner_can_delete_a_workspace(client, people: People) -> None:
    owner = people.create()
    team = create_workspace(client, owner, "Team")
    for role in ("admin", "member", "viewer"):
        person = people.add_to(owner, team["id"], role)
        response = client.delete(f"{WORKSPACES}/{team['id']}", headers=person.headers)
        assert response.status_code == 403, role
        assert error_code(response) == "insufficient_role"
    assert client.get(f"{WORKSPACES}/{team['id']}", headers=owner.headers).status_code == 200

    deleted = client.delete(f"{WORKSPACES}/{team['id']}", headers=owner.headers)
    assert deleted.status_code == 204
    assert deleted.content == b""


def test_deleting_a_workspace_takes_it_away_from_every_member_at_once(client, people: People) -> None:
    owner = people.create()
    team = create_workspace(client, owner, "Team")
    admin = people.add_to(owner, team["id"], "admin")
    viewer = people.add_to(owner, team["id"], "viewer")
    assert client.delete(f"{WORKSPACES}/{team['id']}", headers=owner.headers).status_code == 204

    for person in (owner, admin, viewer):
        for path in ("", "/members"):
            response = client.get(f"{WORKSPACES}/{team['id']}{path}", headers=person.headers)
            assert response.status_code == 404
            assert error_code(response) == "workspace_not_found"
        listed = [w["id"] for w in client.get(WORKSPACES, headers=person.headers).json()["items"]]
        assert team["id"] not in listed
        assert person.workspace_id in listed  # their own workspaces are untouched

    again = client.delete(f"{WORKSPACES}/{team['id']}", headers=owner.headers)
    assert again.status_code == 404


def test_api_keys_of_a_deleted_workspace_stop_working(client, people: People) -> None:
    owner = people.create()
    team = create_workspace(client, owner, "Team")
    key = create_api_key(client, owner, team["id"], ["admin"])
    assert client.get(f"{WORKSPACES}/{team['id']}", headers=bearer(key["secret"])).status_code == 200

    assert client.delete(f"{WORKSPACES}/{team['id']}", headers=owner.headers).status_code == 204

    for path in (f"{WORKSPACES}/{team['id']}", f"{WORKSPACES}/{team['id']}/members", WORKSPACES):
        response = client.get(path, headers=bearer(key["secret"]))
        assert response.status_code == 404, path
        assert error_code(response) == "workspace_not_found"


def test_a_deleted_workspace_cannot_be_renamed_or_joined(client, people: People, mailbox: Mailbox) -> None:
    owner = people.create()
    team = create_workspace(client, owner, "Team")
    invitee = people.create()
    invited = client.post(
        f"{WORKSPACES}/{team['id']}/invitations", headers=owner.headers, json={"email": invitee.email, "role": "member"}
    )
    assert invited.status_code == 201
    token = token_from(mailbox.wait_for(invitee.email, "invited"))
    assert client.delete(f"{WORKSPACES}/{team['id']}", headers=owner.headers).status_code == 204

    rename = client.patch(f"{WORKSPACES}/{team['id']}", headers=owner.headers, json={"name": "Back"})
    assert rename.status_code == 404
    accept = client.post("/api/v1/invitations/accept", headers=invitee.headers, json={"token": token})
    assert accept.status_code == 400
    assert error_code(accept) == "invalid_token"
    assert team["id"] not in [w["id"] for w in client.get(WORKSPACES, headers=invitee.headers).json()["items"]]
