"""The workspace's private feed: RSS that podcast apps read, with enclosures, durations, chapters and transcripts that
lead to the episode's files; its token is the only credential, shown once, and a new token or turning the feed off
locks the old URL out."""

from __future__ import annotations

from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

from fastapi.testclient import TestClient

from tests.conftest import People
from tests.podcasts.conftest import error_of, make_podcast, podcasts_url

PODCAST = "{https://podcastindex.org/namespace/1.0}"
ITUNES = "{http://www.itunes.com/dtds/podcast-1.0.dtd}"


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def follow(client: TestClient, url: str) -> bytes:
    """What a podcast app gets from a feed link: a redirect to a signed link, then the bytes."""
    moved = client.get(local(url), follow_redirects=False)
    assert moved.status_code == 302, moved.text
    fetched = client.get(local(moved.headers["location"]))
    assert fetched.status_code == 200, fetched.text
    return fetched.content


def test_the_feed_lists_finished_episodes_with_their_files(client: TestClient, people: People) -> None:
    owner = people.create()
    done = make_podcast(client, owner, duration={"minutes": 1}, title="Bees & rain <live>")
    make_podcast(client, owner, duration={"minutes": 1}, review=True, title="Still in review")
    assert done["status"] == "succeeded", done
    feed_url = f"{podcasts_url(owner)}/feed"
    assert client.get(feed_url, headers=owner.headers).json() == {"enabled": False, "url": None, "created_at": None}

    made = client.post(feed_url, headers=owner.headers)
    assert made.status_code == 200, made.text
    url = made.json()["url"]
    assert "token=" in url and client.get(feed_url, headers=owner.headers).json()["url"] is None  # shown once
    answer = client.get(local(url))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/rss+xml")
    channel = ET.fromstring(answer.content).find("channel")
    assert channel is not None
    items = channel.findall("item")
    assert [item.findtext("title") for item in items] == ["Bees & rain <live>"]  # escaped, and only finished ones
    item = items[0]
    assert item.findtext("guid") == done["id"]
    assert int(item.findtext(f"{ITUNES}duration") or 0) == round(done["duration_s"])
    enclosure = item.find("enclosure")
    assert enclosure is not None and enclosure.get("type") == "audio/mpeg"
    audio = follow(client, enclosure.get("url", ""))
    assert len(audio) == int(enclosure.get("length", "0")) and audio[:3] in (b"ID3", b"\xff\xfb")
    chapters_link = item.find(f"{PODCAST}chapters")
    assert chapters_link is not None and chapters_link.get("type") == "application/json+chapters"
    assert b'"chapters"' in follow(client, chapters_link.get("url", ""))
    transcripts = {link.get("type"): link.get("url", "") for link in item.findall(f"{PODCAST}transcript")}
    assert set(transcripts) == {"text/vtt", "application/x-subrip"}
    assert follow(client, transcripts["text/vtt"]).startswith(b"WEBVTT")


def test_a_new_token_or_turning_the_feed_off_locks_the_old_url_out(client: TestClient, people: People) -> None:
    owner, stranger = people.create(), people.create()
    feed_url = f"{podcasts_url(owner)}/feed"
    old = client.post(feed_url, headers=owner.headers).json()["url"]
    new = client.post(feed_url, headers=owner.headers).json()["url"]

    assert error_of(client.get(local(old)), 404)["code"] == "feed_not_found"
    assert client.get(local(new)).status_code == 200
    # The token opens only its own workspace's feed; a stranger cannot make or see it.
    stolen = local(new).replace(owner.workspace_id, stranger.workspace_id)
    assert error_of(client.get(stolen), 404)["code"] == "feed_not_found"
    assert client.post(feed_url, headers=stranger.headers).status_code in (403, 404)
    assert client.get(local(new).split("?")[0]).status_code == 422  # no token at all

    assert client.delete(feed_url, headers=owner.headers).status_code == 204
    assert error_of(client.get(local(new)), 404)["code"] == "feed_not_found"
    assert client.get(feed_url, headers=owner.headers).json()["enabled"] is False
