"""The activity feed: the audit log in words, each caller seeing only what it may read elsewhere, paged like every
other list, and another workspace's feed a 404."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import People, Person
from tests.jobs_helpers import start, upload, wait_for_job
from voxhub.accounts.models import User
from voxhub.activity.service import can_see
from voxhub.activity.words import Event, JobFacts, Names, Sentence, sentence
from voxhub.audit.models import AuditEvent
from voxhub.workspaces.models import Role


def feed(client: TestClient, headers: dict[str, str], workspace_id: str, **params: Any) -> dict[str, Any]:
    answer = client.get(f"/api/v1/workspaces/{workspace_id}/activity", headers=headers, params=params)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def texts(client: TestClient, headers: dict[str, str], workspace_id: str) -> list[str]:
    return [item["text"] for item in feed(client, headers, workspace_id, limit=200)["items"]]


def key_headers(client: TestClient, owner: Person, scope: str) -> dict[str, str]:
    created = client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/api-keys",
        headers=owner.headers,
        json={"name": f"{scope} robot", "scopes": [scope]},
    )
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['secret']}"}


def test_members_read_what_happened_in_words_and_each_role_sees_only_what_it_may_read(
    client: TestClient, people: People, job_media: dict[str, Path], tmp_path: Path, db: Any
) -> None:
    ana = people.create(name="Ana")
    ws = ana.workspace_id
    viewer = people.add_to(ana, ws, "viewer")
    member = people.add_to(ana, ws, "member")
    reader = key_headers(client, ana, "read")
    recording = tmp_path / "interview.wav"
    shutil.copy(job_media["tone.wav"], recording)
    file_id = upload(client, ana, recording)
    job = start(client, ana, file_id, format="mp3")
    assert wait_for_job(client, ana, job["id"])["status"] == "succeeded"
    people.grant(ws, 500)  # billing: members and up
    db.add_all(
        [  # actions other rooms may add later: a share (members and up) and one nobody wrote words for (admins)
            AuditEvent(workspace_id=ws, actor_user_id=ana.id, action="share.created", summary={"title": "Launch"}),
            AuditEvent(workspace_id=ws, actor_user_id=ana.id, action="gizmo.frobnicated", summary={}),
        ]
    )
    db.commit()

    as_owner = texts(client, ana.headers, ws)
    as_viewer = texts(client, viewer.headers, ws)
    as_member = texts(client, member.headers, ws)
    as_read_key = texts(client, reader, ws)

    viewer_name, member_name = (db.get(User, person.id).name for person in (viewer, member))
    seen_by_everyone = [
        "Conversion of interview.wav finished",
        "Ana started a conversion of interview.wav",
        "Ana uploaded interview.wav",
        "interview.mp3 was made",
        f"{member_name} joined the workspace as a member",
        f"{viewer_name} joined the workspace as a viewer",
    ]
    for text in seen_by_everyone:
        assert text in as_viewer and text in as_member and text in as_owner, (text, as_viewer)
    assert as_viewer == as_read_key  # a read key sees what a viewer sees
    billing = "500 credits were added (test credits)"
    assert billing in as_member and billing not in as_viewer
    assert "Ana shared “Launch”" in as_member and "Ana shared “Launch”" not in as_viewer
    admin_only = ["Ana created the API key “read robot”", "Ana frobnicated a gizmo"]
    for text in admin_only:
        assert text in as_owner and text not in as_member, (text, as_owner)
    assert any(text.startswith("Ana invited ") for text in as_owner)
    assert not any(text.startswith("Ana invited ") for text in as_member)
    newest = feed(client, ana.headers, ws, limit=1)["items"][0]
    assert newest["action"] == "gizmo.frobnicated"
    assert newest["actor"] == {"kind": "user", "id": ana.id, "name": "Ana"}
    finished = next(i for i in feed(client, ana.headers, ws, limit=200)["items"] if i["action"] == "job.succeeded")
    assert finished["actor"] == {"kind": "system", "id": None, "name": None}
    assert (finished["target_type"], finished["target_id"]) == ("job", job["id"])


def test_the_feed_pages_with_a_cursor_and_another_workspace_is_a_404(client: TestClient, people: People) -> None:
    ana = people.create(name="Ana")
    stranger = people.create(name="Bo")
    for number in range(5):
        renamed = client.patch(
            f"/api/v1/workspaces/{ana.workspace_id}", headers=ana.headers, json={"name": f"Studio {number}"}
        )
        assert renamed.status_code == 200

    whole = feed(client, ana.headers, ana.workspace_id, limit=200)
    pages, cursor = [], None
    while True:
        page = feed(client, ana.headers, ana.workspace_id, limit=2, **({"cursor": cursor} if cursor else {}))
        pages.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    answer = client.get(f"/api/v1/workspaces/{ana.workspace_id}/activity", headers=stranger.headers)

    assert whole["next_cursor"] is None
    assert [item["id"] for item in pages] == [item["id"] for item in whole["items"]]
    assert [item["text"] for item in whole["items"][:2]] == [
        "Ana renamed the workspace to “Studio 4”",
        "Ana renamed the workspace to “Studio 3”",
    ]
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "workspace_not_found"
    assert (
        client.get(
            f"/api/v1/workspaces/{ana.workspace_id}/activity", params={"cursor": "nonsense"}, headers=ana.headers
        ).status_code
        == 422
    )


def test_every_action_voxhub_records_has_its_own_words_and_unknown_ones_still_read_as_a_sentence() -> None:
    names = Names(
        users={"u1": "Ana", "u2": "Bo"},
        files={"f1": "interview.mp3"},
        jobs={"j1": JobFacts(type="transcribe", filename="interview.mp3")},
        titles={"p1": "Launch week"},
    )

    def said(action: str, **fields: Any) -> str:
        event = Event(
            action=action,
            actor_user_id=fields.pop("actor", "u1"),
            actor_api_key_id=None,
            target_type=fields.pop("target_type", None),
            target_id=fields.pop("target_id", None),
            summary=fields,
        )
        return sentence(event, names)

    assert said("file.uploaded", target_type="file", target_id="f1") == "Ana uploaded interview.mp3"
    assert said("job.succeeded", actor=None, target_type="job", target_id="j1") == (
        "Transcription of interview.mp3 finished"
    )
    assert said("job.failed", actor=None, target_type="job", target_id="j1", error_code="timeout") == (
        "Transcription of interview.mp3 failed (timeout)"
    )
    assert said("job.created", target_type="job", target_id="j1") == "Ana started a transcription of interview.mp3"
    assert said("transcript.edited", target_type="job", target_id="j1") == "Ana edited the transcript of interview.mp3"
    assert said("podcast.created", target_type="podcast", target_id="p1") == (
        "Ana started the podcast episode “Launch week”"
    )
    assert said("workspace.member.role_changed", target_type="user", target_id="u2", to="admin") == (
        "Ana made Bo an admin"
    )
    assert said("file.expired", actor=None, target_type="file", target_id="f1") == (
        "interview.mp3 was deleted after the workspace's retention period"
    )
    assert said("file.tags_changed", target_type="file", target_id="f1", added=["final"], removed=[]) == (
        "Ana tagged interview.mp3 “final”"
    )
    assert said("share.created", title="Press kit") == "Ana shared “Press kit”"
    unrecognized = {
        "reasons": ["new_country"],
        "country": "Brazil",
        "city": "São Paulo",
        "device": "Firefox on Windows",
    }
    assert said("user.sign_in_unrecognized", **unrecognized) == (
        "Ana signed in from São Paulo, Brazil on Firefox on Windows (new country)"
    )
    assert not can_see(Role.MEMBER, "user.sign_in_unrecognized") and can_see(Role.ADMIN, "user.sign_in_unrecognized")
    assert said("gizmo.frobnicated", name="Widget") == "Ana frobnicated the gizmo “Widget”"
    assert said("user.email_preferences_changed") == "User email preferences changed (Ana)"  # no words of its own
    # every action recorded today has words of its own (none falls through to the generic sentence)
    for action in RECORDED_ACTIONS:
        assert Specific(Event(action, "u1", None, None, None, {}), names).text(), action


class Specific(Sentence):
    """Words that never fall back to the generic sentence."""

    def generic(self) -> str:
        raise AssertionError(f"{self.event.action} has no words of its own")


def test_visibility_follows_the_roles_of_what_the_event_is_about() -> None:
    assert can_see(Role.VIEWER, "file.uploaded") and can_see(Role.VIEWER, "job.succeeded")
    assert not can_see(Role.VIEWER, "billing.payment_received") and can_see(Role.MEMBER, "billing.payment_received")
    assert not can_see(Role.MEMBER, "billing.webhook_rejected") and can_see(Role.ADMIN, "billing.webhook_rejected")
    assert not can_see(Role.MEMBER, "api_key.created") and not can_see(Role.MEMBER, "webhook.created")
    assert not can_see(Role.MEMBER, "workspace.invitation.created")
    assert can_see(Role.VIEWER, "workspace.invitation.accepted")
    assert not can_see(Role.MEMBER, "something.new") and can_see(Role.ADMIN, "something.new")


# Every action recorded when this was written (grep 'action=' src/voxhub): each has words of its own.
RECORDED_ACTIONS = (
    "file.uploaded",
    "file.rejected",
    "file.renamed",
    "file.download_link_issued",
    "file.deleted",
    "file.expired",
    "upload.started",
    "upload.aborted",
    "upload.expired",
    "job.created",
    "job.succeeded",
    "job.failed",
    "job.canceled",
    "job.retried",
    "job.deleted",
    "transcript.edited",
    "podcast.created",
    "podcast.updated",
    "podcast.deleted",
    "podcast.retried",
    "podcast.script_edited",
    "podcast.feed_token_created",
    "podcast.feed_turned_off",
    "dub.created",
    "dub.updated",
    "dub.deleted",
    "dub.retried",
    "dub.approved",
    "dub.rendered",
    "dub.segments_edited",
    "conversation.created",
    "conversation.renamed",
    "conversation.deleted",
    "conversation.message",
    "openai.transcription",
    "openai.translation",
    "openai.speech",
    "openai.embeddings",
    "openai.chat",
    "workspace.created",
    "workspace.renamed",
    "workspace.retention_changed",
    "workspace.deleted",
    "workspace.member.role_changed",
    "workspace.member.removed",
    "workspace.member.left",
    "workspace.invitation.created",
    "workspace.invitation.revoked",
    "workspace.invitation.resent",
    "workspace.invitation.accepted",
    "api_key.created",
    "api_key.revoked",
    "provider_key.created",
    "provider_key.updated",
    "provider_key.deleted",
    "webhook.created",
    "webhook.updated",
    "webhook.secret_rotated",
    "webhook.deleted",
    "webhook.redelivered",
    "billing.credits_granted",
    "billing.credits_adjusted",
    "billing.plan_changed",
    "billing.subscription_canceled",
    "billing.checkout_started",
    "billing.payment_failed",
    "billing.payment_received",
    "billing.payment_refunded",
    "billing.webhook_rejected",
    "tag.created",
    "tag.updated",
    "tag.deleted",
    "custom_field.created",
    "custom_field.updated",
    "custom_field.deleted",
    "voice.cloned",
    "voice.deleted",
    "share.created",
    "share.revoked",
    "billing.refund_requested",
    "user.logged_in",
    "user.sign_in_unrecognized",
    "user.password_changed",
    "file.tags_changed",
    "job.fields_changed",
)
