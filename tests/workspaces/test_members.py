"""Members over HTTP: listing, changing roles within the rules, removing, leaving, and the last-owner guard."""

from __future__ import annotations

import uuid

from tests.conftest import People, Person

WORKSPACES = "/api/v1/workspaces"


def members_of(client, person: Person, workspace_id: str) -> dict[str, str]:
    """user id → role, as `person` sees the member list."""
    response = client.get(f"{WORKSPACES}/{workspace_id}/members", headers=person.headers)
    assert response.status_code == 200, response.text
    return {m["user_id"]: m["role"] for m in response.json()["items"]}


def set_role(client, by: Person, workspace_id: str, target: Person, role: str):
    return client.patch(f"{WORKSPACES}/{workspace_id}/members/{target.id}", headers=by.headers, json={"role": role})


def error_code(response) -> str:
    return response.json()["error"]["code"]


# ---- listing ----


def test_members_list_shows_everyone_with_email_name_and_role(client, people: People) -> None:
    owner = people.create(name="Olga Owner")
    viewer = people.add_to(owner, owner.workspace_id, "viewer")

    response = client.get(f"{WORKSPACES}/{owner.workspace_id}/members", headers=viewer.headers)
    assert response.status_code == 200
    by_id = {m["user_id"]: m for m in response.json()["items"]}
    assert set(by_id) == {owner.id, viewer.id}
    assert by_id[owner.id]["email"] == owner.email
    assert by_id[owner.id]["name"] == "Olga Owner"
    assert by_id[owner.id]["role"] == "owner"
    assert by_id[viewer.id]["role"] == "viewer"
    assert by_id[viewer.id]["joined_at"]


def test_a_viewer_can_read_but_not_change_anything(client, people: People) -> None:
    owner = people.create()
    viewer = people.add_to(owner, owner.workspace_id, "viewer")
    workspace = f"{WORKSPACES}/{owner.workspace_id}"

    assert client.get(workspace, headers=viewer.headers).status_code == 200
    assert client.get(f"{workspace}/members", headers=viewer.headers).status_code == 200

    refused = [
        client.patch(workspace, headers=viewer.headers, json={"name": "Viewer's now"}),
        set_role(client, viewer, owner.workspace_id, viewer, "admin"),
        client.delete(f"{workspace}/members/{owner.id}", headers=viewer.headers),
        client.post(f"{workspace}/invitations", headers=viewer.headers, json={"email": "x@example.com"}),
    ]
    for response in refused:
        assert response.status_code == 403, response.request.url
        assert error_code(response) == "insufficient_role"
    assert members_of(client, owner, owner.workspace_id) == {owner.id: "owner", viewer.id: "viewer"}


# ---- changing roles ----


def test_an_admin_can_change_roles_up_to_admin(client, people: People) -> None:
    owner = people.create()
    admin = people.add_to(owner, owner.workspace_id, "admin")
    member = people.add_to(owner, owner.workspace_id, "member")

    demoted = set_role(client, admin, owner.workspace_id, member, "viewer")
    assert demoted.status_code == 200, demoted.text
    assert demoted.json()["user_id"] == member.id
    assert demoted.json()["role"] == "viewer"

    promoted = set_role(client, admin, owner.workspace_id, member, "admin")
    assert promoted.status_code == 200
    assert members_of(client, member, owner.workspace_id)[member.id] == "admin"
    workspace = client.get(f"{WORKSPACES}/{owner.workspace_id}", headers=member.headers).json()
    assert workspace["role"] == "admin"


def test_an_admin_cannot_grant_owner(client, people: People) -> None:
    owner = people.create()
    admin = people.add_to(owner, owner.workspace_id, "admin")
    member = people.add_to(owner, owner.workspace_id, "member")

    for target in (member, admin):
        response = set_role(client, admin, owner.workspace_id, target, "owner")
        assert response.status_code == 403
        assert error_code(response) == "role_too_high"
    assert members_of(client, owner, owner.workspace_id) == {owner.id: "owner", admin.id: "admin", member.id: "member"}


def test_nobody_can_manage_a_member_above_their_own_role(client, people: People) -> None:
    owner = people.create()
    admin = people.add_to(owner, owner.workspace_id, "admin")

    demote_owner = set_role(client, admin, owner.workspace_id, owner, "viewer")
    remove_owner = client.delete(f"{WORKSPACES}/{owner.workspace_id}/members/{owner.id}", headers=admin.headers)
    for response in (demote_owner, remove_owner):
        assert response.status_code == 403
        assert error_code(response) == "insufficient_role"
    assert members_of(client, owner, owner.workspace_id)[owner.id] == "owner"


def test_members_cannot_change_roles_at_all(client, people: People) -> None:
    owner = people.create()
    member = people.add_to(owner, owner.workspace_id, "member")
    viewer = people.add_to(owner, owner.workspace_id, "viewer")
    for target, role in ((viewer, "member"), (member, "admin")):
        response = set_role(client, member, owner.workspace_id, target, role)
        assert response.status_code == 403
        assert error_code(response) == "insufficient_role"
    assert members_of(client, owner, owner.workspace_id)[viewer.id] == "viewer"


def test_the_last_owner_cannot_be_demoted(client, people: People) -> None:
    owner = people.create()
    response = set_role(client, owner, owner.workspace_id, owner, "admin")
    assert response.status_code == 409
    assert error_code(response) == "last_owner"
    assert members_of(client, owner, owner.workspace_id) == {owner.id: "owner"}


def test_with_two_owners_one_can_step_down(client, people: People) -> None:
    owner = people.create()
    successor = people.add_to(owner, owner.workspace_id, "admin")

    promoted = set_role(client, owner, owner.workspace_id, successor, "owner")
    assert promoted.status_code == 200
    assert promoted.json()["role"] == "owner"

    stepped_down = set_role(client, owner, owner.workspace_id, owner, "member")
    assert stepped_down.status_code == 200, stepped_down.text
    assert members_of(client, successor, owner.workspace_id) == {owner.id: "member", successor.id: "owner"}

    # Now the successor is the last owner and the same rule protects them.
    refused = set_role(client, successor, owner.workspace_id, successor, "admin")
    assert refused.status_code == 409
    assert error_code(refused) == "last_owner"
    # And the former owner, now a member, has lost the owner's powers.
    delete = client.delete(f"{WORKSPACES}/{owner.workspace_id}", headers=owner.headers)
    assert delete.status_code == 403


def test_setting_the_same_role_again_changes_nothing(client, people: People) -> None:
    owner = people.create()
    member = people.add_to(owner, owner.workspace_id, "member")
    response = set_role(client, owner, owner.workspace_id, member, "member")
    assert response.status_code == 200
    assert response.json()["role"] == "member"


def test_role_changes_need_a_known_role_and_a_member(client, people: People) -> None:
    owner = people.create()
    unknown_role = client.patch(
        f"{WORKSPACES}/{owner.workspace_id}/members/{owner.id}", headers=owner.headers, json={"role": "superuser"}
    )
    assert unknown_role.status_code == 422
    assert error_code(unknown_role) == "validation_error"

    stranger = client.patch(
        f"{WORKSPACES}/{owner.workspace_id}/members/{uuid.uuid4()}", headers=owner.headers, json={"role": "viewer"}
    )
    assert stranger.status_code == 404
    assert error_code(stranger) == "member_not_found"


# ---- removing ----


def test_an_admin_removes_a_member_who_then_loses_access(client, people: People) -> None:
    owner = people.create()
    admin = people.add_to(owner, owner.workspace_id, "admin")
    member = people.add_to(owner, owner.workspace_id, "member")

    removed = client.delete(f"{WORKSPACES}/{owner.workspace_id}/members/{member.id}", headers=admin.headers)
    assert removed.status_code == 204

    assert member.id not in members_of(client, owner, owner.workspace_id)
    gone = client.get(f"{WORKSPACES}/{owner.workspace_id}", headers=member.headers)
    assert gone.status_code == 404
    assert error_code(gone) == "workspace_not_found"
    assert owner.workspace_id not in [w["id"] for w in client.get(WORKSPACES, headers=member.headers).json()["items"]]

    again = client.delete(f"{WORKSPACES}/{owner.workspace_id}/members/{member.id}", headers=admin.headers)
    assert again.status_code == 404
    assert error_code(again) == "member_not_found"


def test_an_owner_can_remove_another_owner_but_not_the_last_one(client, people: People) -> None:
    owner = people.create()
    co_owner = people.add_to(owner, owner.workspace_id, "owner")

    removed = client.delete(f"{WORKSPACES}/{owner.workspace_id}/members/{co_owner.id}", headers=owner.headers)
    assert removed.status_code == 204

    last = client.delete(f"{WORKSPACES}/{owner.workspace_id}/members/{owner.id}", headers=owner.headers)
    assert last.status_code == 409
    assert error_code(last) == "last_owner"
    assert members_of(client, owner, owner.workspace_id) == {owner.id: "owner"}


# ---- leaving ----


def test_a_member_can_leave(client, people: People) -> None:
    owner = people.create()
    member = people.add_to(owner, owner.workspace_id, "member")

    left = client.post(f"{WORKSPACES}/{owner.workspace_id}/leave", headers=member.headers)
    assert left.status_code == 204

    assert members_of(client, owner, owner.workspace_id) == {owner.id: "owner"}
    assert client.get(f"{WORKSPACES}/{owner.workspace_id}", headers=member.headers).status_code == 404
    assert [w["id"] for w in client.get(WORKSPACES, headers=member.headers).json()["items"]] == [member.workspace_id]


def test_the_last_owner_cannot_leave_until_someone_else_owns_it(client, people: People) -> None:
    owner = people.create()
    admin = people.add_to(owner, owner.workspace_id, "admin")

    refused = client.post(f"{WORKSPACES}/{owner.workspace_id}/leave", headers=owner.headers)
    assert refused.status_code == 409
    assert error_code(refused) == "last_owner"
    assert members_of(client, admin, owner.workspace_id)[owner.id] == "owner"

    assert set_role(client, owner, owner.workspace_id, admin, "owner").status_code == 200
    left = client.post(f"{WORKSPACES}/{owner.workspace_id}/leave", headers=owner.headers)
    assert left.status_code == 204
    assert members_of(client, admin, owner.workspace_id) == {admin.id: "owner"}


def test_an_api_key_cannot_leave(client, people: People) -> None:
    owner = people.create()
    key = client.post(
        f"{WORKSPACES}/{owner.workspace_id}/api-keys", headers=owner.headers, json={"name": "ci", "scopes": ["admin"]}
    ).json()
    response = client.post(
        f"{WORKSPACES}/{owner.workspace_id}/leave", headers={"Authorization": f"Bearer {key['secret']}"}
    )
    assert response.status_code == 403
    assert error_code(response) == "user_token_required"
    assert members_of(client, owner, owner.workspace_id) == {owner.id: "owner"}
