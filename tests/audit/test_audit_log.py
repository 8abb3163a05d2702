"""The audit log: a row for every change, with who, from where and what changed (never a secret); read by admins
with cursor pagination and filters."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text, update

from tests.conftest import PASSWORD, Mailbox, People, Person, token_from
from voxhub.audit.models import AuditEvent
from voxhub.clock import utcnow
from voxhub.workspaces.models import Invitation

WORKSPACES = "/api/v1/workspaces"
AGENT = "voxhub-audit-test/1.0"


def as_(person: Person | str) -> dict[str, str]:
    """Headers for a person (or an API key secret) calling with a recognisable user agent."""
    token = person if isinstance(person, str) else person.access_token
    return {"Authorization": f"Bearer {token}", "User-Agent": AGENT}


def read_log(client, person: Person | str, workspace_id: str, **params: Any) -> list[dict]:
    """Every audit event of the workspace matching `params`, newest first, following the cursor to the end."""
    items: list[dict] = []
    cursor = None
    while True:
        page_params = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get(f"{WORKSPACES}/{workspace_id}/audit-log", headers=as_(person), params=page_params)
        assert response.status_code == 200, response.text
        items += response.json()["items"]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return items


def one(events: list[dict], action: str) -> dict:
    matching = [e for e in events if e["action"] == action]
    assert len(matching) == 1, (action, [e["action"] for e in events])
    return matching[0]


def rows_in_db(db, workspace_id: str) -> list[AuditEvent]:
    db.rollback()  # a fresh look at what the API committed
    return list(db.scalars(select(AuditEvent).where(AuditEvent.workspace_id == workspace_id).order_by(AuditEvent.id)))


def assert_from_the_test_client(event: dict, *, user_id: str | None = None, api_key_id: str | None = None) -> None:
    assert event["actor_user_id"] == user_id
    assert event["actor_api_key_id"] == api_key_id
    assert event["ip"] == "testclient"
    assert event["user_agent"] == AGENT
    assert event["created_at"]


def error_code(response) -> str:
    return response.json()["error"]["code"]


# ---- a row for each action ----


def test_workspace_creation_rename_and_deletion_are_audited(client, people: People, db) -> None:
    owner = people.create()
    created = client.post(WORKSPACES, headers=as_(owner), json={"name": "Newsroom"}).json()
    renamed = client.patch(f"{WORKSPACES}/{created['id']}", headers=as_(owner), json={"name": "Studio"})
    assert renamed.status_code == 200

    events = read_log(client, owner, created["id"])
    assert [e["action"] for e in events] == ["workspace.renamed", "workspace.created"]
    creation, rename = one(events, "workspace.created"), one(events, "workspace.renamed")
    assert_from_the_test_client(creation, user_id=owner.id)
    assert creation["workspace_id"] == created["id"]
    assert (creation["target_type"], creation["target_id"]) == ("workspace", created["id"])
    assert creation["summary"] == {"name": "Newsroom", "personal": False}
    assert_from_the_test_client(rename, user_id=owner.id)
    assert rename["summary"] == {"from": "Newsroom", "to": "Studio"}

    assert client.delete(f"{WORKSPACES}/{created['id']}", headers=as_(owner)).status_code == 204
    # The log is gone from the API with the workspace, but the rows stay.
    assert client.get(f"{WORKSPACES}/{created['id']}/audit-log", headers=as_(owner)).status_code == 404
    deleted = [row for row in rows_in_db(db, created["id"]) if row.action == "workspace.deleted"]
    assert len(deleted) == 1
    assert (deleted[0].actor_user_id, deleted[0].ip, deleted[0].user_agent) == (owner.id, "testclient", AGENT)
    assert deleted[0].summary == {"name": "Studio"}


def test_member_role_changes_removals_and_departures_are_audited(client, people: People) -> None:
    owner = people.create()
    admin = people.add_to(owner, owner.workspace_id, "admin")
    leaver = people.add_to(owner, owner.workspace_id, "member")
    removed = people.add_to(owner, owner.workspace_id, "viewer")

    url = f"{WORKSPACES}/{owner.workspace_id}"
    assert client.patch(f"{url}/members/{removed.id}", headers=as_(admin), json={"role": "member"}).status_code == 200
    assert client.delete(f"{url}/members/{removed.id}", headers=as_(admin)).status_code == 204
    assert client.post(f"{url}/leave", headers=as_(leaver)).status_code == 204

    events = read_log(client, owner, owner.workspace_id, action="workspace.member.")
    assert [e["action"] for e in events] == [
        "workspace.member.left",
        "workspace.member.removed",
        "workspace.member.role_changed",
    ]
    changed = one(events, "workspace.member.role_changed")
    assert_from_the_test_client(changed, user_id=admin.id)
    assert (changed["target_type"], changed["target_id"]) == ("user", removed.id)
    assert changed["summary"] == {"from": "viewer", "to": "member"}
    removal = one(events, "workspace.member.removed")
    assert_from_the_test_client(removal, user_id=admin.id)
    assert removal["target_id"] == removed.id
    assert removal["summary"] == {"role": "member"}
    left = one(events, "workspace.member.left")
    assert_from_the_test_client(left, user_id=leaver.id)
    assert left["target_id"] == leaver.id
    assert left["summary"] == {"role": "member"}


def test_invitation_lifecycle_is_audited(client, people: People, mailbox: Mailbox) -> None:
    owner = people.create()
    invitee = people.create()
    url = f"{WORKSPACES}/{owner.workspace_id}/invitations"

    revoked = client.post(url, headers=as_(owner), json={"email": "revoked@example.com", "role": "viewer"}).json()
    assert client.delete(f"{url}/{revoked['id']}", headers=as_(owner)).status_code == 204
    invitation = client.post(url, headers=as_(owner), json={"email": invitee.email, "role": "member"}).json()
    assert client.post(f"{url}/{invitation['id']}/resend", headers=as_(owner)).status_code == 200
    token = token_from(mailbox.wait_for(invitee.email, "invited", count=2))
    assert client.post("/api/v1/invitations/accept", headers=as_(invitee), json={"token": token}).status_code == 200

    events = read_log(client, owner, owner.workspace_id, action="workspace.invitation.")
    assert [(e["action"], e["target_id"]) for e in events] == [
        ("workspace.invitation.accepted", invitation["id"]),
        ("workspace.invitation.resent", invitation["id"]),
        ("workspace.invitation.created", invitation["id"]),
        ("workspace.invitation.revoked", revoked["id"]),
        ("workspace.invitation.created", revoked["id"]),
    ]
    for event in events[1:]:
        assert_from_the_test_client(event, user_id=owner.id)
        assert event["target_type"] == "invitation"
    accepted = events[0]
    assert_from_the_test_client(accepted, user_id=invitee.id)
    assert accepted["summary"] == {"email": invitee.email, "role": "member"}
    assert events[2]["summary"] == {"email": invitee.email, "role": "member"}
    assert events[3]["summary"] == {"email": "revoked@example.com"}


def test_api_key_creation_and_revocation_are_audited_and_keys_are_actors(client, people: People) -> None:
    owner = people.create()
    url = f"{WORKSPACES}/{owner.workspace_id}/api-keys"
    key = client.post(url, headers=as_(owner), json={"name": "deploy", "scopes": ["admin", "read"]}).json()

    # A key's own changes name the key as the actor.
    renamed = client.patch(f"{WORKSPACES}/{owner.workspace_id}", headers=as_(key["secret"]), json={"name": "By key"})
    assert renamed.status_code == 200
    assert client.delete(f"{url}/{key['id']}", headers=as_(key["secret"])).status_code == 204

    events = read_log(client, owner, owner.workspace_id)
    created = one(events, "api_key.created")
    assert_from_the_test_client(created, user_id=owner.id)
    assert (created["target_type"], created["target_id"]) == ("api_key", key["id"])
    assert created["summary"] == {"name": "deploy", "scopes": ["read", "admin"]}
    assert_from_the_test_client(one(events, "workspace.renamed"), api_key_id=key["id"])
    revoked = one(events, "api_key.revoked")
    assert_from_the_test_client(revoked, api_key_id=key["id"])
    assert revoked["target_id"] == key["id"]
    assert revoked["summary"] == {"name": "deploy"}


def test_provider_key_changes_are_audited_with_only_the_last_four(client, people: People) -> None:
    owner = people.create()
    url = f"{WORKSPACES}/{owner.workspace_id}/provider-keys/openai"
    assert client.put(url, headers=as_(owner), json={"api_key": "sk-first-secret-1111"}).status_code == 200
    assert (
        client.put(
            url, headers=as_(owner), json={"api_key": "sk-second-secret-2222", "base_url": "https://llm.example.com/v1"}
        ).status_code
        == 200
    )
    assert client.delete(url, headers=as_(owner)).status_code == 204

    events = read_log(client, owner, owner.workspace_id, action="provider_key.")
    assert [(e["action"], e["summary"]) for e in events] == [
        ("provider_key.deleted", {"last4": "2222"}),
        ("provider_key.updated", {"last4": "2222", "base_url": "https://llm.example.com/v1"}),
        ("provider_key.created", {"last4": "1111", "base_url": None}),
    ]
    for event in events:
        assert_from_the_test_client(event, user_id=owner.id)
        assert (event["target_type"], event["target_id"]) == ("provider_key", "openai")


def test_no_secret_ever_reaches_the_audit_tables(client, people: People, mailbox: Mailbox, db) -> None:
    owner = people.create()
    invitee = people.create()
    url = f"{WORKSPACES}/{owner.workspace_id}"
    key = client.post(f"{url}/api-keys", headers=as_(owner), json={"name": "k", "scopes": ["admin"]}).json()
    provider_secret = "sk-live-ThisMustNeverBeLogged-9876"
    client.put(f"{url}/provider-keys/openai", headers=as_(key["secret"]), json={"api_key": provider_secret})
    client.put(f"{url}/provider-keys/openai", headers=as_(owner), json={"api_key": provider_secret + "x"})
    client.post(f"{url}/invitations", headers=as_(owner), json={"email": invitee.email, "role": "member"})
    invitation_token = token_from(mailbox.wait_for(invitee.email, "invited"))
    client.post("/api/v1/invitations/accept", headers=as_(invitee), json={"token": invitation_token})
    client.post("/api/v1/auth/signup", json={"email": "fresh@example.com", "password": PASSWORD, "name": "Fresh"})
    client.delete(f"{url}/api-keys/{key['id']}", headers=as_(owner))

    secrets = {
        "API key": key["secret"],
        "API key secret part": key["secret"].split("_", 2)[2],
        "provider key": provider_secret,
        "provider key without its last four": provider_secret[:-4],
        "invitation token": invitation_token,
        "password": PASSWORD,
        "access token": owner.access_token,
    }
    db.rollback()
    for table in ("audit_events", "security_events"):
        dump = "\n".join(str(tuple(row)) for row in db.execute(text(f"SELECT * FROM {table}")))
        assert dump, table
        for what, secret in secrets.items():
            assert secret not in dump, f"the {what} is in {table}"


# ---- reading the log ----


def test_only_admins_read_the_audit_log(client, people: People) -> None:
    owner = people.create()
    admin = people.add_to(owner, owner.workspace_id, "admin")
    member = people.add_to(owner, owner.workspace_id, "member")
    viewer = people.add_to(owner, owner.workspace_id, "viewer")
    stranger = people.create()
    url = f"{WORKSPACES}/{owner.workspace_id}"
    read_key = client.post(f"{url}/api-keys", headers=as_(owner), json={"name": "r", "scopes": ["read", "write"]})
    admin_key = client.post(f"{url}/api-keys", headers=as_(owner), json={"name": "a", "scopes": ["admin"]})

    for allowed in (owner, admin, admin_key.json()["secret"]):
        assert client.get(f"{url}/audit-log", headers=as_(allowed)).status_code == 200
    for person in (member, viewer):
        refused = client.get(f"{url}/audit-log", headers=as_(person))
        assert refused.status_code == 403
        assert error_code(refused) == "insufficient_role"
    by_key = client.get(f"{url}/audit-log", headers=as_(read_key.json()["secret"]))
    assert by_key.status_code == 403
    assert error_code(by_key) == "insufficient_scope"
    hidden = client.get(f"{url}/audit-log", headers=as_(stranger))
    assert hidden.status_code == 404
    assert error_code(hidden) == "workspace_not_found"


def test_the_log_shows_only_its_own_workspace(client, people: People) -> None:
    owner = people.create()
    other = client.post(WORKSPACES, headers=as_(owner), json={"name": "Other"}).json()
    client.patch(f"{WORKSPACES}/{other['id']}", headers=as_(owner), json={"name": "Other renamed"})
    events = read_log(client, owner, owner.workspace_id)
    assert events
    assert {e["workspace_id"] for e in events} == {owner.workspace_id}
    assert "workspace.renamed" not in [e["action"] for e in events]


def _busy_workspace(client, owner: Person) -> None:
    """Ten or so changes of several kinds in the owner's workspace."""
    url = f"{WORKSPACES}/{owner.workspace_id}"
    for n in range(3):
        client.patch(url, headers=as_(owner), json={"name": f"Name {n}"})
        client.put(f"{url}/provider-keys/provider{n}", headers=as_(owner), json={"api_key": f"sk-provider-{n}-abcd"})
        client.post(f"{url}/invitations", headers=as_(owner), json={"email": f"guest{n}@example.com"})


def test_cursor_pagination_walks_every_event_once_newest_first(client, people: People) -> None:
    owner = people.create()
    _busy_workspace(client, owner)
    everything = client.get(
        f"{WORKSPACES}/{owner.workspace_id}/audit-log", headers=as_(owner), params={"limit": 200}
    ).json()
    assert everything["next_cursor"] is None
    all_ids = [e["id"] for e in everything["items"]]
    assert len(all_ids) >= 10

    pages = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"{WORKSPACES}/{owner.workspace_id}/audit-log", headers=as_(owner), params=params).json()
        assert len(page["items"]) <= 2
        pages.append([e["id"] for e in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    walked = [event_id for page in pages for event_id in page]
    assert walked == all_ids
    assert len(set(walked)) == len(walked)
    assert walked == sorted(walked, reverse=True)
    assert len(pages) == (len(all_ids) + 1) // 2
    assert all(len(page) == 2 for page in pages[:-1])


def test_filter_by_exact_action_or_prefix(client, people: People) -> None:
    owner = people.create()
    _busy_workspace(client, owner)

    renamed = read_log(client, owner, owner.workspace_id, action="workspace.renamed")
    assert [e["summary"]["to"] for e in renamed] == ["Name 2", "Name 1", "Name 0"]

    workspace_events = read_log(client, owner, owner.workspace_id, action="workspace.")
    actions = {e["action"] for e in workspace_events}
    assert actions == {"workspace.created", "workspace.renamed", "workspace.invitation.created"}

    assert read_log(client, owner, owner.workspace_id, action="workspace") == []  # not a prefix without the dot
    assert read_log(client, owner, owner.workspace_id, action="provider_key.deleted") == []
    assert len(read_log(client, owner, owner.workspace_id, action="provider_key.created")) == 3


def test_filter_by_actor(client, people: People) -> None:
    owner = people.create()
    admin = people.add_to(owner, owner.workspace_id, "admin")
    url = f"{WORKSPACES}/{owner.workspace_id}"
    key = client.post(f"{url}/api-keys", headers=as_(admin), json={"name": "k", "scopes": ["admin"]}).json()
    client.patch(url, headers=as_(admin), json={"name": "By admin"})
    client.patch(url, headers=as_(key["secret"]), json={"name": "By key"})

    by_admin = read_log(client, owner, owner.workspace_id, actor_user_id=admin.id)
    assert {e["action"] for e in by_admin} == {"workspace.invitation.accepted", "api_key.created", "workspace.renamed"}
    assert all(e["actor_user_id"] == admin.id for e in by_admin)

    by_key = read_log(client, owner, owner.workspace_id, actor_api_key_id=key["id"])
    assert [(e["action"], e["summary"]["to"]) for e in by_key] == [("workspace.renamed", "By key")]

    by_owner = read_log(client, owner, owner.workspace_id, actor_user_id=owner.id)
    assert admin.id not in {e["actor_user_id"] for e in by_owner}
    assert "workspace.invitation.created" in {e["action"] for e in by_owner}


def test_filter_by_time_range(client, people: People) -> None:
    owner = people.create()
    _busy_workspace(client, owner)
    events = read_log(client, owner, owner.workspace_id)
    middle = datetime.fromisoformat(events[len(events) // 2]["created_at"])

    since = read_log(client, owner, owner.workspace_id, since=middle.isoformat())
    until = read_log(client, owner, owner.workspace_id, until=middle.isoformat())
    assert since and until
    assert all(datetime.fromisoformat(e["created_at"]) >= middle for e in since)
    assert all(datetime.fromisoformat(e["created_at"]) < middle for e in until)
    # since is inclusive, until exclusive: together they are the whole log, without overlap.
    assert sorted(e["id"] for e in since + until) == sorted(e["id"] for e in events)

    window = read_log(
        client,
        owner,
        owner.workspace_id,
        since=middle.isoformat(),
        until=(middle + timedelta(microseconds=1)).isoformat(),
    )
    assert window and all(datetime.fromisoformat(e["created_at"]) == middle for e in window)
    future = (utcnow() + timedelta(hours=1)).isoformat()
    assert read_log(client, owner, owner.workspace_id, since=future) == []
    assert len(read_log(client, owner, owner.workspace_id, until=future)) == len(events)


def test_bad_paging_and_filter_values_are_refused(client, people: People) -> None:
    owner = people.create()
    url = f"{WORKSPACES}/{owner.workspace_id}/audit-log"
    for cursor in ("not-a-cursor", "!!!", "YWJj"):
        response = client.get(url, headers=as_(owner), params={"cursor": cursor})
        assert response.status_code == 422, cursor
        assert error_code(response) == "invalid_cursor"
    for params in ({"limit": 0}, {"limit": 201}, {"since": "yesterday"}):
        response = client.get(url, headers=as_(owner), params=params)
        assert response.status_code == 422, params
        assert error_code(response) == "validation_error"


# ---- failed requests leave no trace ----


def test_refused_and_failed_changes_write_no_audit_row(client, people: People, mailbox: Mailbox, db) -> None:
    owner = people.create()
    admin = people.add_to(owner, owner.workspace_id, "admin")
    member = people.add_to(owner, owner.workspace_id, "member")
    invitee, intruder = people.create(), people.create()
    url = f"{WORKSPACES}/{owner.workspace_id}"
    client.post(f"{url}/invitations", headers=as_(owner), json={"email": invitee.email})
    token = token_from(mailbox.wait_for(invitee.email, "invited"))
    late = client.post(f"{url}/invitations", headers=as_(owner), json={"email": "late@example.com"}).json()
    late_token = token_from(mailbox.wait_for("late@example.com", "invited"))
    db.execute(update(Invitation).where(Invitation.id == late["id"]).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.commit()
    before = [row.id for row in rows_in_db(db, owner.workspace_id)]

    failures = [
        client.patch(f"{url}/members/{owner.id}", headers=as_(owner), json={"role": "admin"}),  # last owner
        client.post(f"{url}/leave", headers=as_(owner)),  # last owner
        client.patch(f"{url}/members/{member.id}", headers=as_(admin), json={"role": "owner"}),  # too high
        client.delete(f"{url}/members/{owner.id}", headers=as_(admin)),  # above the admin
        client.patch(url, headers=as_(member), json={"name": "Mine now"}),  # not an admin
        client.delete(url, headers=as_(admin)),  # not the owner
        client.post(f"{url}/invitations", headers=as_(admin), json={"email": member.email}),  # already a member
        client.post("/api/v1/invitations/accept", headers=as_(intruder), json={"token": token}),  # not theirs
        client.post("/api/v1/invitations/accept", headers=as_(invitee), json={"token": late_token}),  # expired
        client.put(f"{url}/provider-keys/openai", headers=as_(member), json={"api_key": "sk-member-0000"}),
    ]
    assert [r.status_code for r in failures] == [409, 409, 403, 403, 403, 403, 409, 403, 400, 403]
    assert [row.id for row in rows_in_db(db, owner.workspace_id)] == before
