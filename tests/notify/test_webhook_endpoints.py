"""Managing webhook endpoints: admins add, change, rotate and delete them; the secret is shown once; unknown events
and private targets are refused; other workspaces see nothing; every change is audited."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import People
from tests.notify.conftest import Receiver, all_deliveries, create_webhook, get_json, hooks_url, joined, upload_ready

PUBLIC_URL = "http://93.184.215.14/hooks"  # a global address, written as one so that no DNS is needed


def error_code(response: Any) -> str:
    return response.json()["error"]["code"]  # type: ignore[no-any-return]


def test_an_admin_adds_an_endpoint_and_sees_its_secret_only_at_creation(
    client: TestClient, people: People, receiver: Receiver
) -> None:
    owner = people.create()
    admin = joined(people, owner, "admin")

    created = create_webhook(
        client, admin, receiver.url(), ["job.succeeded", "file.ready", "job.succeeded"], description="Our CMS"
    )

    assert created["url"] == receiver.url()
    assert created["events"] == ["file.ready", "job.succeeded"]
    assert created["description"] == "Our CMS"
    assert created["enabled"] is True
    assert created["disabled_reason"] is None and created["failing_since"] is None
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"].removeprefix("whsec_"))) >= 24

    one = get_json(client, owner, f"{hooks_url(owner.workspace_id)}/{created['id']}")
    listed = get_json(client, owner, hooks_url(owner.workspace_id))["items"]
    assert [item["id"] for item in listed] == [created["id"]]
    for shown in (one, listed[0]):
        assert "secret" not in shown
        assert created["secret"] not in str(shown)
        assert shown == {key: value for key, value in created.items() if key != "secret"}


def test_an_endpoint_can_be_changed_disabled_and_deleted(
    client: TestClient, people: People, receiver: Receiver
) -> None:
    owner = people.create()
    created = create_webhook(client, owner, receiver.url("old"), ["job.succeeded"])
    url = f"{hooks_url(owner.workspace_id)}/{created['id']}"

    changed = client.patch(
        url,
        headers=owner.headers,
        json={
            "url": receiver.url("new"),
            "events": ["job.failed", "job.canceled"],
            "description": "ops",
            "enabled": False,
        },
    )

    assert changed.status_code == 200, changed.text
    assert get_json(client, owner, url) == changed.json()
    assert changed.json()["url"] == receiver.url("new")
    assert changed.json()["events"] == ["job.canceled", "job.failed"]
    assert changed.json()["description"] == "ops"
    assert changed.json()["enabled"] is False
    # A PATCH changes only what it names.
    renamed = client.patch(url, headers=owner.headers, json={"description": "ops team"})
    assert renamed.json() == {**changed.json(), "description": "ops team"}

    assert client.delete(url, headers=owner.headers).status_code == 204
    assert client.get(url, headers=owner.headers).status_code == 404
    assert get_json(client, owner, hooks_url(owner.workspace_id))["items"] == []
    assert client.delete(url, headers=owner.headers).status_code == 404


@pytest.mark.parametrize("events", [["job.exploded"], ["job.succeeded", "file.deleted"], []])
def test_unknown_or_missing_event_types_are_refused(
    client: TestClient, people: People, receiver: Receiver, events: list[str]
) -> None:
    owner = people.create()

    refused = client.post(
        hooks_url(owner.workspace_id), headers=owner.headers, json={"url": receiver.url(), "events": events}
    )

    assert refused.status_code == 422, refused.text
    assert error_code(refused) == "validation_error"
    assert get_json(client, owner, hooks_url(owner.workspace_id))["items"] == []

    existing = create_webhook(client, owner, receiver.url(), ["file.ready"])
    patched = client.patch(
        f"{hooks_url(owner.workspace_id)}/{existing['id']}", headers=owner.headers, json={"events": events}
    )
    assert patched.status_code == 422, patched.text
    assert get_json(client, owner, f"{hooks_url(owner.workspace_id)}/{existing['id']}")["events"] == ["file.ready"]


def test_urls_that_are_not_http_are_refused(client: TestClient, people: People) -> None:
    owner = people.create()
    for url in ("ftp://example.com/hooks", "not a url", "file:///etc/passwd"):
        refused = client.post(
            hooks_url(owner.workspace_id), headers=owner.headers, json={"url": url, "events": ["file.ready"]}
        )
        assert refused.status_code == 422, (url, refused.text)
    assert get_json(client, owner, hooks_url(owner.workspace_id))["items"] == []


@pytest.mark.parametrize("allow_private", [False])
@pytest.mark.parametrize(
    "target",
    [
        "loopback",
        "http://10.0.0.1/hooks",
        "http://localhost/hooks",
        "http://192.168.1.20:8080/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hooks",
    ],
)
def test_private_and_loopback_targets_are_refused_unless_the_operator_allows_them(
    client: TestClient, people: People, receiver: Receiver, target: str
) -> None:
    owner = people.create()
    url = receiver.url() if target == "loopback" else target

    refused = client.post(
        hooks_url(owner.workspace_id), headers=owner.headers, json={"url": url, "events": ["file.ready"]}
    )

    assert refused.status_code == 422, refused.text
    assert error_code(refused) == "webhook_url_not_allowed"
    assert get_json(client, owner, hooks_url(owner.workspace_id))["items"] == []
    # A public address is fine, and cannot be changed into a private one.
    public = create_webhook(client, owner, PUBLIC_URL, ["file.ready"])
    patched = client.patch(f"{hooks_url(owner.workspace_id)}/{public['id']}", headers=owner.headers, json={"url": url})
    assert patched.status_code == 422, patched.text
    assert error_code(patched) == "webhook_url_not_allowed"
    assert get_json(client, owner, f"{hooks_url(owner.workspace_id)}/{public['id']}")["url"] == PUBLIC_URL


def test_members_and_viewers_cannot_see_or_manage_webhooks(
    client: TestClient, people: People, receiver: Receiver
) -> None:
    owner = people.create()
    created = create_webhook(client, owner, receiver.url(), ["file.ready"])
    url = f"{hooks_url(owner.workspace_id)}/{created['id']}"

    for role in ("member", "viewer"):
        person = joined(people, owner, role)
        calls = [
            client.get(hooks_url(owner.workspace_id), headers=person.headers),
            client.post(
                hooks_url(owner.workspace_id),
                headers=person.headers,
                json={"url": receiver.url(), "events": ["file.ready"]},
            ),
            client.get(url, headers=person.headers),
            client.patch(url, headers=person.headers, json={"enabled": False}),
            client.post(f"{url}/rotate-secret", headers=person.headers),
            client.get(f"{url}/deliveries", headers=person.headers),
            client.get(f"{hooks_url(owner.workspace_id)}/job-secret", headers=person.headers),
            client.delete(url, headers=person.headers),
        ]
        assert [call.status_code for call in calls] == [403] * len(calls), (role, [c.text for c in calls])

    endpoint = get_json(client, owner, url)
    assert endpoint["enabled"] is True
    assert len(get_json(client, owner, hooks_url(owner.workspace_id))["items"]) == 1


def test_another_workspaces_webhooks_are_not_found(client: TestClient, people: People, receiver: Receiver) -> None:
    owner = people.create()
    stranger = people.create()
    created = create_webhook(client, owner, receiver.url(), ["file.ready"])

    for workspace_id in (owner.workspace_id, stranger.workspace_id):
        url = f"{hooks_url(workspace_id)}/{created['id']}"
        calls = [
            client.get(url, headers=stranger.headers),
            client.patch(url, headers=stranger.headers, json={"enabled": False}),
            client.post(f"{url}/rotate-secret", headers=stranger.headers),
            client.get(f"{url}/deliveries", headers=stranger.headers),
            client.delete(url, headers=stranger.headers),
        ]
        assert [call.status_code for call in calls] == [404] * len(calls), [c.text for c in calls]
    assert client.get(hooks_url(owner.workspace_id), headers=stranger.headers).status_code == 404
    assert (
        client.post(
            hooks_url(owner.workspace_id),
            headers=stranger.headers,
            json={"url": receiver.url(), "events": ["file.ready"]},
        ).status_code
        == 404
    )
    assert get_json(client, stranger, hooks_url(stranger.workspace_id))["items"] == []
    assert get_json(client, owner, f"{hooks_url(owner.workspace_id)}/{created['id']}")["enabled"] is True


def test_the_job_secret_is_per_workspace_and_stable(client: TestClient, people: People) -> None:
    owner = people.create()
    other = people.create()

    first = get_json(client, owner, f"{hooks_url(owner.workspace_id)}/job-secret")["secret"]
    again = get_json(client, owner, f"{hooks_url(owner.workspace_id)}/job-secret")["secret"]
    others = get_json(client, other, f"{hooks_url(other.workspace_id)}/job-secret")["secret"]

    assert first.startswith("whsec_")
    assert first == again
    assert others != first


def test_every_change_to_an_endpoint_is_audited_without_its_secret(
    client: TestClient, people: People, receiver: Receiver, media: dict[str, Path], deliver: Callable[[], int]
) -> None:
    owner = people.create()
    admin = joined(people, owner, "admin")
    created = create_webhook(client, admin, receiver.url(), ["file.ready"])
    url = f"{hooks_url(owner.workspace_id)}/{created['id']}"
    upload_ready(client, owner, media["tone.wav"])
    deliver()
    delivery = all_deliveries(client, admin, created["id"])[0]

    assert client.patch(url, headers=admin.headers, json={"description": "CMS", "enabled": False}).status_code == 200
    rotated = client.post(f"{url}/rotate-secret", headers=admin.headers).json()["secret"]
    copy = client.post(f"{url}/deliveries/{delivery['id']}/redeliver", headers=admin.headers)
    assert copy.status_code == 202
    assert client.delete(url, headers=admin.headers).status_code == 204

    log = get_json(client, owner, f"/api/v1/workspaces/{owner.workspace_id}/audit-log?action=webhook.&limit=200")
    events = {event["action"]: event for event in log["items"]}
    assert [event["action"] for event in log["items"]] == [
        "webhook.deleted",
        "webhook.redelivered",
        "webhook.secret_rotated",
        "webhook.updated",
        "webhook.created",
    ]
    for event in log["items"]:
        assert event["actor_user_id"] == admin.id
        assert created["secret"] not in str(event) and rotated not in str(event)
    for action in ("webhook.created", "webhook.updated", "webhook.secret_rotated", "webhook.deleted"):
        assert (events[action]["target_type"], events[action]["target_id"]) == ("webhook", created["id"])
    assert events["webhook.created"]["summary"] == {"url": receiver.url(), "events": ["file.ready"]}
    assert events["webhook.updated"]["summary"] == {"description": "CMS", "enabled": False}
    assert events["webhook.deleted"]["summary"] == {"url": receiver.url()}
    assert events["webhook.redelivered"]["target_id"] == copy.json()["id"]
    assert events["webhook.redelivered"]["summary"] == {"original": delivery["id"]}
