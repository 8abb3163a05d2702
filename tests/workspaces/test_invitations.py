"""Invitations through the mail a real SMTP server received: accept, sign up by the link, revoke, resend, expiry."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import update

from tests.conftest import PASSWORD, Mailbox, People, Person, body_text, token_from
from voxhub.clock import utcnow
from voxhub.workspaces.models import Invitation

WORKSPACES = "/api/v1/workspaces"
ACCEPT = "/api/v1/invitations/accept"
PREVIEW = "/api/v1/invitations/preview"


def invite(client, by: Person, email: str, role: str = "member", workspace_id: str | None = None):
    return client.post(
        f"{WORKSPACES}/{workspace_id or by.workspace_id}/invitations",
        headers=by.headers,
        json={"email": email, "role": role},
    )


def invited_token(client, mailbox: Mailbox, by: Person, email: str, role: str = "member") -> str:
    """Invite `email` and return the token of the link in the mail it received."""
    response = invite(client, by, email, role)
    assert response.status_code == 201, response.text
    return token_from(mailbox.wait_for(email, "invited"))


def accept(client, person: Person, token: str):
    return client.post(ACCEPT, headers=person.headers, json={"token": token})


def invitations_of(client, by: Person) -> dict[str, dict]:
    response = client.get(f"{WORKSPACES}/{by.workspace_id}/invitations", headers=by.headers)
    assert response.status_code == 200, response.text
    return {i["email"]: i for i in response.json()["items"]}


def role_in(client, person: Person, workspace_id: str) -> str | None:
    roles = {w["id"]: w["role"] for w in client.get(WORKSPACES, headers=person.headers).json()["items"]}
    return roles.get(workspace_id)


def error_code(response) -> str:
    return response.json()["error"]["code"]


# ---- the mail ----


def test_the_invitation_mail_carries_a_link_to_accept(client, people: People, mailbox: Mailbox) -> None:
    owner = people.create(name="Olga")
    client.patch(f"{WORKSPACES}/{owner.workspace_id}", headers=owner.headers, json={"name": "Radio Room"})

    response = invite(client, owner, "  New.Person@Example.COM ", "admin")
    assert response.status_code == 201, response.text
    invitation = response.json()
    assert invitation["email"] == "new.person@example.com"
    assert invitation["role"] == "admin"
    assert invitation["status"] == "pending"
    assert invitation["invited_by"] == owner.id
    assert invitation["workspace_id"] == owner.workspace_id

    mail = mailbox.wait_for("new.person@example.com", "invited")
    assert mail["Subject"] == "You are invited to Radio Room on voxhub"
    text = body_text(mail)
    assert re.search(r"http://voxhub\.test/accept-invitation\?token=[A-Za-z0-9_\-]+", text), text
    assert "Olga" in text and "Radio Room" in text and "admin" in text
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert f"http://voxhub.test/accept-invitation?token={token_from(mail)}" in html


def test_preview_shows_what_the_link_offers_without_signing_in(client, people: People, mailbox: Mailbox) -> None:
    owner = people.create()
    token = invited_token(client, mailbox, owner, "guest@example.com", "viewer")
    workspace = client.get(f"{WORKSPACES}/{owner.workspace_id}", headers=owner.headers).json()

    preview = client.get(PREVIEW, params={"token": token})
    assert preview.status_code == 200, preview.text
    assert preview.json()["workspace_id"] == owner.workspace_id
    assert preview.json()["workspace_name"] == workspace["name"]
    assert preview.json()["email"] == "guest@example.com"
    assert preview.json()["role"] == "viewer"
    assert preview.json()["expires_at"]

    bad = client.get(PREVIEW, params={"token": "not-a-real-token"})
    assert bad.status_code == 400
    assert error_code(bad) == "invalid_token"
    missing = client.get(PREVIEW)
    assert missing.status_code == 422


# ---- accepting while signed in ----


def test_accept_while_signed_in_with_the_invited_verified_email(client, people: People, mailbox: Mailbox) -> None:
    owner = people.create()
    invitee = people.create()
    token = invited_token(client, mailbox, owner, invitee.email, "admin")

    accepted = accept(client, invitee, token)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["id"] == owner.workspace_id
    assert accepted.json()["role"] == "admin"

    assert role_in(client, invitee, owner.workspace_id) == "admin"
    members = client.get(f"{WORKSPACES}/{owner.workspace_id}/members", headers=owner.headers).json()["items"]
    assert {m["user_id"]: m["role"] for m in members}[invitee.id] == "admin"
    assert invitations_of(client, owner)[invitee.email]["status"] == "accepted"


def test_a_different_account_cannot_accept(client, people: People, mailbox: Mailbox) -> None:
    owner = people.create()
    invitee, someone_else = people.create(), people.create()
    token = invited_token(client, mailbox, owner, invitee.email)

    refused = accept(client, someone_else, token)
    assert refused.status_code == 403
    assert error_code(refused) == "invitation_email_mismatch"
    assert role_in(client, someone_else, owner.workspace_id) is None

    # The refusal did not use the link up.
    assert accept(client, invitee, token).status_code == 200


def test_an_unverified_account_with_the_invited_email_must_verify_first(
    client, people: People, mailbox: Mailbox
) -> None:
    owner = people.create()
    unverified = people.create(verified=False)
    token = invited_token(client, mailbox, owner, unverified.email)

    refused = accept(client, unverified, token)
    assert refused.status_code == 403
    assert error_code(refused) == "email_not_verified"
    assert role_in(client, unverified, owner.workspace_id) is None

    assert client.post("/api/v1/auth/resend-verification", json={"email": unverified.email}).status_code == 202
    verify_token = token_from(mailbox.wait_for(unverified.email, "Confirm"))
    assert client.post("/api/v1/auth/verify-email", json={"token": verify_token}).status_code == 200
    assert accept(client, unverified, token).status_code == 200
    assert role_in(client, unverified, owner.workspace_id) == "member"


def test_an_invitation_works_only_once(client, people: People, mailbox: Mailbox) -> None:
    owner = people.create()
    invitee = people.create()
    token = invited_token(client, mailbox, owner, invitee.email)
    assert accept(client, invitee, token).status_code == 200

    second = accept(client, invitee, token)
    assert second.status_code == 400
    assert error_code(second) == "invalid_token"
    assert client.get(PREVIEW, params={"token": token}).status_code == 400


def test_an_api_key_cannot_accept_an_invitation(client, people: People, mailbox: Mailbox) -> None:
    owner = people.create()
    invitee = people.create()
    token = invited_token(client, mailbox, owner, invitee.email)
    key = client.post(
        f"{WORKSPACES}/{invitee.workspace_id}/api-keys",
        headers=invitee.headers,
        json={"name": "k", "scopes": ["admin"]},
    ).json()
    refused = client.post(ACCEPT, headers={"Authorization": f"Bearer {key['secret']}"}, json={"token": token})
    assert refused.status_code == 403
    assert error_code(refused) == "user_token_required"
    assert accept(client, invitee, token).status_code == 200


# ---- signing up through the link ----


def test_signing_up_through_the_link_verifies_the_account_and_joins(
    client, app, people: People, mailbox: Mailbox
) -> None:
    owner = people.create()
    token = invited_token(client, mailbox, owner, "newcomer@example.com", "viewer")

    signup = client.post(
        "/api/v1/auth/signup",
        json={"email": "Newcomer@example.com", "password": PASSWORD, "name": "Newcomer", "invitation_token": token},
    )
    assert signup.status_code == 201, signup.text
    assert signup.json()["email_verified"] is True

    newcomer = people.login("newcomer@example.com")
    workspaces = client.get(WORKSPACES, headers={"Authorization": f"Bearer {newcomer['access_token']}"}).json()["items"]
    roles = {w["id"]: w["role"] for w in workspaces}
    assert roles[owner.workspace_id] == "viewer"
    assert sorted(roles.values()) == ["owner", "viewer"]  # and their own personal workspace
    assert invitations_of(client, owner)["newcomer@example.com"]["status"] == "accepted"

    # The link proved the mailbox, so no verification mail follows the invitation.
    app.state.ctx.mailer.flush()
    subjects = [str(m["Subject"]) for m in mailbox.sent_to("newcomer@example.com")]
    assert len(subjects) == 1 and "invited" in subjects[0]


def test_signing_up_through_the_link_with_another_email_is_refused(client, people: People, mailbox: Mailbox) -> None:
    owner = people.create()
    token = invited_token(client, mailbox, owner, "invited@example.com")

    signup = client.post(
        "/api/v1/auth/signup",
        json={"email": "intruder@example.com", "password": PASSWORD, "name": "Intruder", "invitation_token": token},
    )
    assert signup.status_code == 403
    assert error_code(signup) == "invitation_email_mismatch"
    login = client.post("/api/v1/auth/login", json={"email": "intruder@example.com", "password": PASSWORD})
    assert login.status_code == 401  # no account was created
    assert invitations_of(client, owner)["invited@example.com"]["status"] == "pending"


def test_signing_up_with_a_used_link_is_refused(client, people: People, mailbox: Mailbox) -> None:
    owner = people.create()
    token = invited_token(client, mailbox, owner, "twice@example.com")
    first = client.post(
        "/api/v1/auth/signup",
        json={"email": "twice@example.com", "password": PASSWORD, "name": "Twice", "invitation_token": token},
    )
    assert first.status_code == 201
    reused = client.post(
        "/api/v1/auth/signup",
        json={"email": "twice@example.com", "password": PASSWORD, "name": "Twice again", "invitation_token": token},
    )
    assert reused.status_code == 400
    assert error_code(reused) == "invalid_token"


# ---- expiry, revoke, resend ----


def test_an_expired_invitation_cannot_be_accepted(client, people: People, mailbox: Mailbox, db) -> None:
    owner = people.create()
    invitee = people.create()
    token = invited_token(client, mailbox, owner, invitee.email)
    expires_at = datetime.fromisoformat(invitations_of(client, owner)[invitee.email]["expires_at"])
    assert abs(expires_at - (utcnow() + timedelta(days=7))) < timedelta(minutes=5)

    db.execute(
        update(Invitation).where(Invitation.email == invitee.email).values(expires_at=utcnow() - timedelta(minutes=1))
    )
    db.commit()

    refused = accept(client, invitee, token)
    assert refused.status_code == 400
    assert error_code(refused) == "token_expired"
    assert error_code(client.get(PREVIEW, params={"token": token})) == "token_expired"
    assert invitations_of(client, owner)[invitee.email]["status"] == "expired"
    assert role_in(client, invitee, owner.workspace_id) is None

    # An expired invitation does not block a new one.
    again = invite(client, owner, invitee.email)
    assert again.status_code == 201, again.text
    fresh = token_from(mailbox.wait_for(invitee.email, "invited", count=2))
    assert accept(client, invitee, fresh).status_code == 200


def test_a_revoked_invitation_link_stops_working(client, people: People, mailbox: Mailbox) -> None:
    owner = people.create()
    invitee = people.create()
    token = invited_token(client, mailbox, owner, invitee.email)
    invitation_id = invitations_of(client, owner)[invitee.email]["id"]

    revoked = client.delete(f"{WORKSPACES}/{owner.workspace_id}/invitations/{invitation_id}", headers=owner.headers)
    assert revoked.status_code == 204

    refused = accept(client, invitee, token)
    assert refused.status_code == 400
    assert error_code(refused) == "invalid_token"
    assert client.get(PREVIEW, params={"token": token}).status_code == 400
    assert invitations_of(client, owner)[invitee.email]["status"] == "revoked"

    again = client.delete(f"{WORKSPACES}/{owner.workspace_id}/invitations/{invitation_id}", headers=owner.headers)
    assert again.status_code == 409
    assert error_code(again) == "invitation_closed"
    resend = client.post(f"{WORKSPACES}/{owner.workspace_id}/invitations/{invitation_id}/resend", headers=owner.headers)
    assert resend.status_code == 409
    assert error_code(resend) == "invitation_closed"


def test_resend_mails_a_new_link_and_kills_the_old_one(client, people: People, mailbox: Mailbox, db) -> None:
    owner = people.create()
    invitee = people.create()
    old_token = invited_token(client, mailbox, owner, invitee.email, "viewer")
    invitation = invitations_of(client, owner)[invitee.email]

    # Even an expired invitation can be resent: it gets a fresh validity period.
    db.execute(
        update(Invitation).where(Invitation.id == invitation["id"]).values(expires_at=utcnow() - timedelta(minutes=1))
    )
    db.commit()

    resent = client.post(
        f"{WORKSPACES}/{owner.workspace_id}/invitations/{invitation['id']}/resend", headers=owner.headers
    )
    assert resent.status_code == 200, resent.text
    assert resent.json()["id"] == invitation["id"]
    assert resent.json()["status"] == "pending"
    assert resent.json()["role"] == "viewer"

    new_token = token_from(mailbox.wait_for(invitee.email, "invited", count=2))
    assert new_token != old_token
    refused = accept(client, invitee, old_token)
    assert refused.status_code == 400
    assert error_code(refused) == "invalid_token"
    assert accept(client, invitee, new_token).status_code == 200
    assert role_in(client, invitee, owner.workspace_id) == "viewer"

    closed = client.post(
        f"{WORKSPACES}/{owner.workspace_id}/invitations/{invitation['id']}/resend", headers=owner.headers
    )
    assert closed.status_code == 409


def test_unknown_invitations_are_not_found(client, people: People) -> None:
    owner = people.create()
    made_up = "01900000-0000-7000-8000-000000000000"
    for response in (
        client.delete(f"{WORKSPACES}/{owner.workspace_id}/invitations/{made_up}", headers=owner.headers),
        client.post(f"{WORKSPACES}/{owner.workspace_id}/invitations/{made_up}/resend", headers=owner.headers),
    ):
        assert response.status_code == 404
        assert error_code(response) == "invitation_not_found"


def test_an_invitation_of_one_workspace_cannot_be_managed_from_another(
    client, people: People, mailbox: Mailbox
) -> None:
    owner, other_owner = people.create(), people.create()
    invited_token(client, mailbox, owner, "someone@example.com")
    invitation_id = invitations_of(client, owner)["someone@example.com"]["id"]
    response = client.delete(
        f"{WORKSPACES}/{other_owner.workspace_id}/invitations/{invitation_id}", headers=other_owner.headers
    )
    assert response.status_code == 404
    assert invitations_of(client, owner)["someone@example.com"]["status"] == "pending"


# ---- who may invite whom ----


def test_an_admin_cannot_invite_above_their_own_role(client, people: People, mailbox: Mailbox) -> None:
    owner = people.create()
    admin = people.add_to(owner, owner.workspace_id, "admin")

    refused = invite(client, admin, "boss@example.com", "owner", workspace_id=owner.workspace_id)
    assert refused.status_code == 403
    assert error_code(refused) == "role_too_high"

    allowed = invite(client, admin, "peer@example.com", "admin", workspace_id=owner.workspace_id)
    assert allowed.status_code == 201
    assert allowed.json()["invited_by"] == admin.id
    assert set(invitations_of(client, owner)) == {admin.email, "peer@example.com"}


def test_an_owner_can_invite_an_owner(client, people: People, mailbox: Mailbox) -> None:
    owner = people.create()
    invitee = people.create()
    token = invited_token(client, mailbox, owner, invitee.email, "owner")
    assert accept(client, invitee, token).json()["role"] == "owner"


def test_members_cannot_invite(client, people: People) -> None:
    owner = people.create()
    member = people.add_to(owner, owner.workspace_id, "member")
    response = invite(client, member, "friend@example.com", "viewer", workspace_id=owner.workspace_id)
    assert response.status_code == 403
    assert error_code(response) == "insufficient_role"


def test_inviting_a_member_again_is_a_conflict(client, people: People) -> None:
    owner = people.create()
    member = people.add_to(owner, owner.workspace_id, "member")
    for email in (member.email, member.email.upper()):
        response = invite(client, owner, email)
        assert response.status_code == 409
        assert error_code(response) == "already_member"


def test_inviting_someone_with_a_pending_invitation_is_a_conflict(client, people: People) -> None:
    owner = people.create()
    first = invite(client, owner, "pending@example.com")
    assert first.status_code == 201
    second = invite(client, owner, "Pending@Example.com", "viewer")
    assert second.status_code == 409
    assert error_code(second) == "already_invited"
    assert second.json()["error"]["details"]["invitation_id"] == first.json()["id"]
    assert len(invitations_of(client, owner)) == 1


def test_an_invalid_email_is_refused(client, people: People) -> None:
    owner = people.create()
    for email in ("not-an-email", "", "a@b"):
        response = invite(client, owner, email)
        assert response.status_code == 422, (email, response.text)
    assert invitations_of(client, owner) == {}


def test_the_list_shows_each_invitation_with_its_status(client, people: People, mailbox: Mailbox, db) -> None:
    owner = people.create()
    joiner = people.create()
    join_token = invited_token(client, mailbox, owner, joiner.email)
    assert accept(client, joiner, join_token).status_code == 200
    for email in ("revoked@example.com", "expired@example.com", "pending@example.com"):
        assert invite(client, owner, email).status_code == 201
    revoked_id = invitations_of(client, owner)["revoked@example.com"]["id"]
    client.delete(f"{WORKSPACES}/{owner.workspace_id}/invitations/{revoked_id}", headers=owner.headers)
    db.execute(
        update(Invitation)
        .where(Invitation.email == "expired@example.com")
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    db.commit()

    listed = client.get(f"{WORKSPACES}/{owner.workspace_id}/invitations", headers=owner.headers).json()["items"]
    assert {i["email"]: i["status"] for i in listed} == {
        joiner.email: "accepted",
        "revoked@example.com": "revoked",
        "expired@example.com": "expired",
        "pending@example.com": "pending",
    }
    assert listed[0]["email"] == "pending@example.com"  # newest first
