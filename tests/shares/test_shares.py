"""Share links: a finished transcript, podcast episode or dub shown to anyone holding the link, as JSON and as a page,
with exactly the item and nothing else of its workspace; expiring, revocable, behind an optional password (rate
limited), counting each view, audited, and walled off between workspaces."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest
from fastapi.testclient import TestClient

from tests.conftest import People, Person
from tests.shares.items import SEGMENTS, SPEAKERS, make_items, make_media
from voxhub.clock import utcnow
from voxhub.dubbing.models import Dub
from voxhub.podcasts.models import Podcast
from voxhub.shares.models import Share
from voxhub.shares.service import PASSWORD_TRIES_PER_MINUTE


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_media(tmp_path_factory.mktemp("share-media"))


def shares_url(person: Person, workspace_id: str | None = None) -> str:
    return f"/api/v1/workspaces/{workspace_id or person.workspace_id}/shares"


def share(
    client: TestClient, person: Person, target_type: str, target_id: str, *, in_: str | None = None, **body: Any
) -> dict[str, Any]:
    """`person` shares an item of their own workspace (or of workspace `in_`)."""
    answer = client.post(
        shares_url(person, in_),
        headers=person.headers,
        json={"target_type": target_type, "target_id": target_id, **body},
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def error_of(answer: httpx2.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    return dict(answer.json()["error"])


def test_each_kind_of_item_is_shown_without_signing_in_and_nothing_else_of_the_workspace(
    client: TestClient, people: People, app: Any, media: dict[str, Path]
) -> None:
    owner = people.create()
    viewer = people.add_to(owner, owner.workspace_id, "viewer")
    items = make_items(app, client, owner, media)
    secrets_of_the_workspace = [owner.workspace_id, owner.id, owner.email, viewer.email, items.recording_id]
    secrets_of_the_workspace += [items.video_id, items.transcript, items.podcast, items.dub]

    # Whoever may read an item may share it: a viewer shares the transcript.
    made = share(client, viewer, "transcript", items.transcript, in_=owner.workspace_id)
    assert made["status"] == "active" and made["title"] == "diary.wav" and made["password_protected"] is False
    assert made["url"].startswith("http://voxhub.test/s/") and made["view_count"] == 0
    opened = client.get(local(made["api_url"]))  # no Authorization header
    assert opened.status_code == 200, opened.text
    body = opened.json()
    assert body["type"] == "transcript" and body["title"] == "diary.wav" and body["language"] == "en"
    assert [(s["start"], s["speaker"], s["text"]) for s in body["segments"]] == [
        (start, SPEAKERS[label], text) for start, _end, label, text in SEGMENTS
    ]
    assert body["media"]["content_type"] == "audio/wav"
    played = client.get(local(body["media"]["url"]))
    assert played.status_code == 200 and played.content == media["wav"].read_bytes()
    assert not [value for value in secrets_of_the_workspace if value in opened.text]

    episode = share(client, owner, "podcast", items.podcast)
    body = client.get(local(episode["api_url"])).json()
    assert body["title"] == "Allotment diary, episode 1" and body["duration_s"] == 2.0
    assert [mark["title"] for mark in body["chapters"]] == ["Bees", "Rain"] and body["segments"] == []
    assert client.get(local(body["media"]["url"])).content == media["wav"].read_bytes()

    dub = share(client, owner, "dub", items.dub)
    answer = client.get(local(dub["api_url"]))
    body = answer.json()
    assert body["title"] == "Garden tour, in Portuguese" and body["languages"] == ["pt"]
    assert body["media"]["content_type"] == "video/webm"
    assert client.get(local(body["media"]["url"])).content == media["webm"].read_bytes()
    assert not [value for value in secrets_of_the_workspace if value in answer.text]

    # Each opening counts one view; the workspace sees the count.
    client.get(local(made["api_url"]))
    client.get(local(made["url"]))  # the page counts too
    counted = client.get(f"{shares_url(owner)}/{made['id']}", headers=owner.headers).json()
    assert counted["view_count"] == 3 and counted["last_viewed_at"] is not None


def test_the_public_page_is_readable_and_playable_with_no_way_into_the_workspace(
    client: TestClient, people: People, app: Any, media: dict[str, Path]
) -> None:
    owner = people.create()
    items = make_items(app, client, owner, media)
    made = share(client, owner, "transcript", items.transcript)
    page = client.get(local(made["url"]))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<h1 id="title">diary.wav</h1>' in page.text and "Today: bees, rain barrels and compost." in page.text
    assert '<audio id="player" controls' in page.text and 'name="viewport"' in page.text
    assert "/w/" not in page.text and owner.email not in page.text and owner.workspace_id not in page.text
    assert "media-src" in page.headers["content-security-policy"] and page.headers["cache-control"] == "no-store"
    src = page.text.split('src="', 2)[2].split('"', 1)[0].replace("&amp;", "&")  # the player's, after the script's
    assert client.get(local(src)).content == media["wav"].read_bytes()

    video = client.get(local(share(client, owner, "dub", items.dub)["url"]))
    assert '<video id="player" controls preload="metadata" playsinline' in video.text


def test_a_password_is_asked_for_checked_and_its_guesses_limited(
    client: TestClient, people: People, app: Any, media: dict[str, Path]
) -> None:
    owner = people.create()
    items = make_items(app, client, owner, media)
    made = share(client, owner, "podcast", items.podcast, password="bees-and-rain")
    assert made["password_protected"] is True
    with app.state.db.session() as db:
        stored = db.get(Share, made["id"])
        assert stored.password_hash.startswith("$argon2id$") and "bees-and-rain" not in stored.password_hash
    url = local(made["api_url"])

    assert error_of(client.get(url), 401)["code"] == "password_required"
    assert error_of(client.get(url, headers={"X-Share-Password": "wrong"}), 403)["code"] == "wrong_password"
    assert client.get(url, headers={"X-Share-Password": "bees-and-rain"}).json()["title"].startswith("Allotment")
    # The page asks with a form, and opens with the password it posts.
    form = client.get(local(made["url"]))
    assert form.status_code == 401 and '<form method="post"' in form.text and "Allotment" not in form.text
    wrong = client.post(local(made["url"]), data={"password": "nope"})
    assert wrong.status_code == 403 and "not right" in wrong.text
    opened = client.post(local(made["url"]), data={"password": "bees-and-rain"})
    assert opened.status_code == 200 and "Allotment diary" in opened.text and "<audio" in opened.text
    assert client.get(f"{shares_url(owner)}/{made['id']}", headers=owner.headers).json()["view_count"] == 2

    # Guessing runs into the limit (per share and address); then even the right password waits.
    codes = [client.get(url, headers={"X-Share-Password": f"guess-{n}"}).status_code for n in range(30)]
    assert codes[:2] == [403, 403] and 429 in codes and codes[-1] == 429
    assert codes.index(429) <= PASSWORD_TRIES_PER_MINUTE * 2
    limited = client.get(url, headers={"X-Share-Password": "bees-and-rain"})
    assert error_of(limited, 429)["code"] == "rate_limited" and "retry-after" in limited.headers
    assert client.get(f"{shares_url(owner)}/{made['id']}", headers=owner.headers).json()["view_count"] == 2


def test_revoked_and_expired_links_are_gone_and_made_up_ones_were_never_there(
    client: TestClient, people: People, app: Any, media: dict[str, Path]
) -> None:
    owner = people.create()
    items = make_items(app, client, owner, media)
    revoked = share(client, owner, "transcript", items.transcript)
    deleted = share(client, owner, "podcast", items.podcast)
    expiring = share(client, owner, "dub", items.dub, expires_at=(utcnow() + timedelta(hours=1)).isoformat())
    assert expiring["expires_at"] is not None and expiring["status"] == "active"

    answer = client.post(f"{shares_url(owner)}/{revoked['id']}/revoke", headers=owner.headers)
    assert answer.status_code == 200 and answer.json()["status"] == "revoked"
    assert client.delete(f"{shares_url(owner)}/{deleted['id']}", headers=owner.headers).status_code == 204
    with app.state.db.session() as db:
        db.get(Share, expiring["id"]).expires_at = utcnow() - timedelta(seconds=1)

    assert error_of(client.get(local(revoked["api_url"])), 410)["code"] == "share_revoked"
    assert error_of(client.get(local(deleted["api_url"])), 410)["code"] == "share_revoked"
    assert error_of(client.get(local(expiring["api_url"])), 410)["code"] == "share_expired"
    page = client.get(local(revoked["url"]))
    assert page.status_code == 410 and "revoked" in page.text and "diary" not in page.text
    listed = client.get(f"{shares_url(owner)}/{expiring['id']}", headers=owner.headers).json()
    assert listed["status"] == "expired"

    # A token that voxhub did not sign, or one altered by a character, names no share.
    token = revoked["api_url"].rsplit("/", 1)[1]
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert error_of(client.get(f"/api/v1/shared/{forged}"), 404)["code"] == "share_not_found"
    assert error_of(client.get("/api/v1/shared/not-a-token"), 404)["code"] == "share_not_found"
    assert client.get("/s/not-a-token").status_code == 404

    # An expiry must lie ahead.
    past = (utcnow() - timedelta(minutes=1)).isoformat()
    refused = client.post(
        shares_url(owner),
        headers=owner.headers,
        json={"target_type": "dub", "target_id": items.dub, "expires_at": past},
    )
    assert error_of(refused, 422)["code"] == "validation_error"

    # Making and revoking are audited; views are counted, not audited.
    log = client.get(f"/api/v1/workspaces/{owner.workspace_id}/audit-log", headers=owner.headers).json()["items"]
    actions = [(row["action"], row["target_id"]) for row in log if row["action"].startswith("share.")]
    assert ("share.created", revoked["id"]) in actions and ("share.revoked", revoked["id"]) in actions
    assert ("share.revoked", deleted["id"]) in actions and len(actions) == 5


def test_revoking_is_for_its_maker_or_an_admin_and_a_share_needs_a_finished_item(
    client: TestClient, people: People, app: Any, media: dict[str, Path]
) -> None:
    owner = people.create()
    viewer = people.add_to(owner, owner.workspace_id, "viewer")
    items = make_items(app, client, owner, media)
    owners = share(client, owner, "podcast", items.podcast)
    viewers = share(client, viewer, "podcast", items.podcast, in_=owner.workspace_id)
    refused = client.post(f"{shares_url(owner)}/{owners['id']}/revoke", headers=viewer.headers)
    assert error_of(refused, 403)["code"] == "insufficient_role"
    assert client.post(f"{shares_url(owner)}/{viewers['id']}/revoke", headers=viewer.headers).status_code == 200
    assert client.post(f"{shares_url(owner)}/{owners['id']}/revoke", headers=owner.headers).status_code == 200

    dub = share(client, owner, "dub", items.dub)
    with app.state.db.session() as db:
        db.get(Podcast, items.podcast).status = "awaiting_review"
        db.get(Dub, items.dub).status = "failed"
    unfinished = client.post(
        shares_url(owner), headers=owner.headers, json={"target_type": "podcast", "target_id": items.podcast}
    )
    assert error_of(unfinished, 409)["code"] == "share_target_not_ready"
    # A share whose item is no longer finished (or was deleted) shows nothing.
    assert error_of(client.get(local(dub["api_url"])), 410)["code"] == "share_target_gone"


def test_another_workspaces_items_and_shares_are_not_found(
    client: TestClient, people: People, app: Any, media: dict[str, Path]
) -> None:
    owner, stranger = people.create(), people.create()
    items = make_items(app, client, owner, media)
    made = share(client, owner, "dub", items.dub)
    for kind, target in (("transcript", items.transcript), ("podcast", items.podcast), ("dub", items.dub)):
        answer = client.post(
            shares_url(stranger), headers=stranger.headers, json={"target_type": kind, "target_id": target}
        )
        assert error_of(answer, 404)["code"] == "share_target_not_found"
    mine = f"{shares_url(stranger)}/{made['id']}"
    assert error_of(client.get(mine, headers=stranger.headers), 404)["code"] == "share_not_found"
    assert error_of(client.post(f"{mine}/revoke", headers=stranger.headers), 404)["code"] == "share_not_found"
    theirs = f"{shares_url(owner)}/{made['id']}"
    assert error_of(client.get(theirs, headers=stranger.headers), 404)["code"] == "workspace_not_found"
    assert client.get(shares_url(stranger), headers=stranger.headers).json() == {"items": [], "next_cursor": None}


def test_the_list_pages_with_a_cursor_and_filters_by_item(
    client: TestClient, people: People, app: Any, media: dict[str, Path]
) -> None:
    owner = people.create()
    items = make_items(app, client, owner, media)
    made = [share(client, owner, kind, target) for kind, target in (
        ("transcript", items.transcript), ("podcast", items.podcast), ("dub", items.dub)
    )]  # fmt: skip
    first = client.get(shares_url(owner), headers=owner.headers, params={"limit": 2}).json()
    assert [row["id"] for row in first["items"]] == [made[2]["id"], made[1]["id"]] and first["next_cursor"]
    rest = client.get(
        shares_url(owner), headers=owner.headers, params={"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert [row["id"] for row in rest["items"]] == [made[0]["id"]] and rest["next_cursor"] is None
    assert [row["title"] for row in first["items"]] == ["Garden tour, in Portuguese", "Allotment diary, episode 1"]
    one = client.get(shares_url(owner), headers=owner.headers, params={"target_id": items.podcast}).json()
    assert [row["id"] for row in one["items"]] == [made[1]["id"]]
