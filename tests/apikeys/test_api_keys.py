"""API keys over HTTP: the secret shown once, scopes, confinement to one workspace, revocation and expiry."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta

from sqlalchemy import select, update

from tests.conftest import Mailbox, People, Person, token_from
from voxhub.apikeys.models import ApiKey
from voxhub.clock import utcnow

WORKSPACES = "/api/v1/workspaces"


def create_key(client, person: Person, scopes: list[str], workspace_id: str | None = None, **extra) -> dict:
    response = client.post(
        f"{WORKSPACES}/{workspace_id or person.workspace_id}/api-keys",
        headers=person.headers,
        json={"name": "ci", "scopes": scopes, **extra},
    )
    assert response.status_code == 201, response.text
    return response.json()


def bearer(key: dict | str) -> dict[str, str]:
    secret = key if isinstance(key, str) else key["secret"]
    return {"Authorization": f"Bearer {secret}"}


def error_code(response) -> str:
    return response.json()["error"]["code"]


# ---- creating and listing ----


def test_creating_a_key_shows_the_secret_once(client, people: People) -> None:
    owner = people.create()
    created = client.post(
        f"{WORKSPACES}/{owner.workspace_id}/api-keys",
        headers=owner.headers,
        json={"name": " deploy bot ", "scopes": ["read", "write"]},
    )
    assert created.status_code == 201, created.text
    key = created.json()
    assert re.fullmatch(r"vx_[0-9a-f]{16}_[A-Za-z0-9_\-]{20,}", key["secret"]), key["secret"]
    assert key["secret"].startswith(key["prefix"] + "_")
    assert key["name"] == "deploy bot"
    assert key["scopes"] == ["read", "write"]
    assert key["created_by"] == owner.id
    assert key["revoked_at"] is None and key["last_used_at"] is None

    listed = client.get(f"{WORKSPACES}/{owner.workspace_id}/api-keys", headers=owner.headers)
    assert listed.status_code == 200
    assert [k["id"] for k in listed.json()["items"]] == [key["id"]]
    assert "secret" not in listed.json()["items"][0]
    assert listed.json()["items"][0]["prefix"] == key["prefix"]
    secret_part = key["secret"].split("_", 2)[2]
    assert secret_part not in listed.text


def test_admins_create_keys_but_members_cannot(client, people: People) -> None:
    owner = people.create()
    admin = people.add_to(owner, owner.workspace_id, "admin")
    member = people.add_to(owner, owner.workspace_id, "member")

    assert create_key(client, admin, ["admin"], owner.workspace_id)["created_by"] == admin.id
    for verb, path in (("post", "api-keys"), ("get", "api-keys")):
        response = client.request(
            verb,
            f"{WORKSPACES}/{owner.workspace_id}/{path}",
            headers=member.headers,
            json={"name": "mine", "scopes": ["read"]} if verb == "post" else None,
        )
        assert response.status_code == 403
        assert error_code(response) == "insufficient_role"


def test_a_key_needs_known_scopes_and_a_future_expiry(client, people: People) -> None:
    owner = people.create()
    url = f"{WORKSPACES}/{owner.workspace_id}/api-keys"
    for body in (
        {"name": "k", "scopes": ["owner"]},
        {"name": "k", "scopes": []},
        {"name": "", "scopes": ["read"]},
        {"name": "k", "scopes": ["read"], "expires_at": (utcnow() - timedelta(hours=1)).isoformat()},
    ):
        response = client.post(url, headers=owner.headers, json=body)
        assert response.status_code == 422, (body, response.text)
        assert error_code(response) == "validation_error"
    assert client.get(url, headers=owner.headers).json()["items"] == []


def test_the_secret_is_stored_only_as_a_hash(client, people: People, db) -> None:
    owner = people.create()
    key = create_key(client, owner, ["read"])
    secret_part = key["secret"].split("_", 2)[2]

    row = db.scalar(select(ApiKey).where(ApiKey.id == key["id"]))
    stored = " ".join(str(getattr(row, column.key)) for column in ApiKey.__table__.columns)
    assert secret_part not in stored
    assert key["secret"] not in stored
    assert row.secret_hash == hashlib.sha256(secret_part.encode()).hexdigest()


# ---- using a key ----


def test_a_key_works_on_its_workspace_routes(client, people: People) -> None:
    owner = people.create()
    key = create_key(client, owner, ["read"])

    workspace = client.get(f"{WORKSPACES}/{owner.workspace_id}", headers=bearer(key))
    assert workspace.status_code == 200
    assert workspace.json()["id"] == owner.workspace_id
    assert workspace.json()["role"] == "viewer"  # what a read key can do
    members = client.get(f"{WORKSPACES}/{owner.workspace_id}/members", headers=bearer(key))
    assert members.status_code == 200
    assert [m["user_id"] for m in members.json()["items"]] == [owner.id]


def test_a_read_key_cannot_manage(client, people: People) -> None:
    owner = people.create()
    read_key = create_key(client, owner, ["read"])
    write_key = create_key(client, owner, ["write"])
    for key in (read_key, write_key):
        for response in (
            client.post(
                f"{WORKSPACES}/{owner.workspace_id}/invitations",
                headers=bearer(key),
                json={"email": "x@example.com", "role": "viewer"},
            ),
            client.patch(f"{WORKSPACES}/{owner.workspace_id}", headers=bearer(key), json={"name": "Renamed"}),
            client.post(
                f"{WORKSPACES}/{owner.workspace_id}/api-keys",
                headers=bearer(key),
                json={"name": "child", "scopes": ["admin"]},
            ),
        ):
            assert response.status_code == 403, (key["scopes"], response.request.url)
            assert error_code(response) == "insufficient_scope"
            assert "admin" in response.json()["error"]["message"]
    assert client.get(f"{WORKSPACES}/{owner.workspace_id}/invitations", headers=owner.headers).json()["items"] == []


def test_an_admin_key_can_invite_people(client, people: People, mailbox: Mailbox) -> None:
    owner = people.create()
    invitee = people.create()
    key = create_key(client, owner, ["admin"])

    response = client.post(
        f"{WORKSPACES}/{owner.workspace_id}/invitations",
        headers=bearer(key),
        json={"email": invitee.email, "role": "admin"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["invited_by"] is None  # a key, not a person

    token = token_from(mailbox.wait_for(invitee.email, "invited"))
    accepted = client.post("/api/v1/invitations/accept", headers=invitee.headers, json={"token": token})
    assert accepted.status_code == 200
    assert accepted.json()["role"] == "admin"


def test_no_key_can_delete_a_workspace_or_grant_owner(client, people: People) -> None:
    owner = people.create()
    key = create_key(client, owner, ["read", "write", "admin"])

    delete = client.delete(f"{WORKSPACES}/{owner.workspace_id}", headers=bearer(key))
    assert delete.status_code == 403
    assert error_code(delete) == "insufficient_scope"
    invite_owner = client.post(
        f"{WORKSPACES}/{owner.workspace_id}/invitations",
        headers=bearer(key),
        json={"email": "boss@example.com", "role": "owner"},
    )
    assert invite_owner.status_code == 403
    assert error_code(invite_owner) == "role_too_high"
    assert client.get(f"{WORKSPACES}/{owner.workspace_id}", headers=owner.headers).status_code == 200


def test_a_key_cannot_reach_another_workspace(client, people: People) -> None:
    owner, stranger = people.create(), people.create()
    team = client.post(WORKSPACES, headers=owner.headers, json={"name": "Team"}).json()
    key = create_key(client, owner, ["admin"])

    for workspace_id in (team["id"], stranger.workspace_id):
        for path in ("", "/members", "/api-keys"):
            response = client.get(f"{WORKSPACES}/{workspace_id}{path}", headers=bearer(key))
            assert response.status_code == 404, (workspace_id, path)
            assert error_code(response) == "workspace_not_found"


def test_a_key_lists_only_its_own_workspace(client, people: People) -> None:
    owner = people.create()
    client.post(WORKSPACES, headers=owner.headers, json={"name": "Another"})
    assert len(client.get(WORKSPACES, headers=owner.headers).json()["items"]) == 2
    key = create_key(client, owner, ["read"])

    listed = client.get(WORKSPACES, headers=bearer(key))
    assert listed.status_code == 200
    assert [(w["id"], w["role"]) for w in listed.json()["items"]] == [(owner.workspace_id, "viewer")]


def test_a_key_cannot_act_as_a_person(client, people: People) -> None:
    owner = people.create()
    key = create_key(client, owner, ["admin"])
    for response in (
        client.get("/api/v1/me", headers=bearer(key)),
        client.patch("/api/v1/me", headers=bearer(key), json={"name": "Key"}),
        client.get("/api/v1/auth/sessions", headers=bearer(key)),
        client.post(WORKSPACES, headers=bearer(key), json={"name": "Key's"}),
    ):
        assert response.status_code == 403, response.request.url
        assert error_code(response) == "user_token_required"


def test_last_use_time_and_address_are_kept(client, people: People) -> None:
    owner = people.create()
    key = create_key(client, owner, ["read"])
    before = utcnow()
    assert client.get(f"{WORKSPACES}/{owner.workspace_id}", headers=bearer(key)).status_code == 200

    listed = client.get(f"{WORKSPACES}/{owner.workspace_id}/api-keys", headers=owner.headers).json()["items"][0]
    assert listed["last_used_ip"] == "testclient"
    last_used = listed["last_used_at"]
    assert last_used is not None
    assert datetime.fromisoformat(last_used) >= before - timedelta(seconds=1)


# ---- revoked, expired, malformed ----


def test_a_revoked_key_stops_working_at_once(client, people: People) -> None:
    owner = people.create()
    key = create_key(client, owner, ["admin"])
    assert client.get(f"{WORKSPACES}/{owner.workspace_id}", headers=bearer(key)).status_code == 200

    revoked = client.delete(f"{WORKSPACES}/{owner.workspace_id}/api-keys/{key['id']}", headers=owner.headers)
    assert revoked.status_code == 204

    refused = client.get(f"{WORKSPACES}/{owner.workspace_id}", headers=bearer(key))
    assert refused.status_code == 401
    assert error_code(refused) == "api_key_revoked"
    assert refused.headers["www-authenticate"] == "Bearer"
    listed = client.get(f"{WORKSPACES}/{owner.workspace_id}/api-keys", headers=owner.headers).json()["items"]
    assert listed[0]["revoked_at"] is not None

    # Revoking again is harmless; an unknown key is not found.
    again = client.delete(f"{WORKSPACES}/{owner.workspace_id}/api-keys/{key['id']}", headers=owner.headers)
    assert again.status_code == 204
    unknown = client.delete(
        f"{WORKSPACES}/{owner.workspace_id}/api-keys/01900000-0000-7000-8000-000000000000", headers=owner.headers
    )
    assert unknown.status_code == 404
    assert error_code(unknown) == "api_key_not_found"


def test_a_key_can_revoke_itself(client, people: People) -> None:
    owner = people.create()
    key = create_key(client, owner, ["admin"])
    revoked = client.delete(f"{WORKSPACES}/{owner.workspace_id}/api-keys/{key['id']}", headers=bearer(key))
    assert revoked.status_code == 204
    assert client.get(f"{WORKSPACES}/{owner.workspace_id}", headers=bearer(key)).status_code == 401


def test_a_key_of_one_workspace_cannot_be_revoked_from_another(client, people: People) -> None:
    owner, stranger = people.create(), people.create()
    key = create_key(client, owner, ["read"])
    response = client.delete(f"{WORKSPACES}/{stranger.workspace_id}/api-keys/{key['id']}", headers=stranger.headers)
    assert response.status_code == 404
    assert client.get(f"{WORKSPACES}/{owner.workspace_id}", headers=bearer(key)).status_code == 200


def test_an_expired_key_stops_working(client, people: People, db) -> None:
    owner = people.create()
    key = create_key(client, owner, ["read"], expires_at=(utcnow() + timedelta(days=1)).isoformat())
    assert key["expires_at"] is not None
    assert client.get(f"{WORKSPACES}/{owner.workspace_id}", headers=bearer(key)).status_code == 200

    db.execute(update(ApiKey).where(ApiKey.id == key["id"]).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.commit()

    refused = client.get(f"{WORKSPACES}/{owner.workspace_id}", headers=bearer(key))
    assert refused.status_code == 401
    assert error_code(refused) == "api_key_expired"


def test_malformed_or_wrong_keys_are_refused(client, people: People) -> None:
    owner = people.create()
    key = create_key(client, owner, ["read"])
    prefix, secret = key["secret"].rsplit("_", 1)[0], key["secret"].split("_", 2)[2]
    wrong_secret = f"{prefix}_{'A' * len(secret)}"
    unknown_id = f"vx_{'0' * 16}_{secret}"
    for token in ("vx_", "vx_nonsense", f"vx_{secret}", wrong_secret, unknown_id, key["secret"] + "x"):
        response = client.get(f"{WORKSPACES}/{owner.workspace_id}", headers=bearer(token))
        assert response.status_code == 401, token
        assert error_code(response) == "invalid_api_key"
    # The real key still works after all those attempts.
    assert client.get(f"{WORKSPACES}/{owner.workspace_id}", headers=bearer(key)).status_code == 200


def test_creating_and_revoking_keys_shows_in_my_security_events(client, people: People) -> None:
    owner = people.create()
    key = create_key(client, owner, ["read"])
    client.delete(f"{WORKSPACES}/{owner.workspace_id}/api-keys/{key['id']}", headers=owner.headers)
    events = client.get("/api/v1/me/security-events", headers=owner.headers)
    assert events.status_code == 200
    kinds = [e["kind"] for e in events.json()["items"]]
    assert kinds[:2] == ["api_key.revoked", "api_key.created"]
    assert all(e["details"]["api_key_id"] == key["id"] for e in events.json()["items"][:2])
