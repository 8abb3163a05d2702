"""A workspace's private podcast feed: RSS 2.0 with the iTunes and Podcasting 2.0 tags, so finished episodes play in
any podcast app. The feed's URL carries a token (shown once, kept hashed, revoked by making a new one or turning the
feed off); its enclosures, chapters and transcripts are links back to voxhub with the same token, each answered by a
fresh signed link to the file, so a podcast app that fetches them days later still gets them."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from email.utils import format_datetime
from urllib.parse import quote
from xml.etree import ElementTree as ET

from sqlalchemy import select
from sqlalchemy.orm import Session

from voxhub.audit import service as audit
from voxhub.clock import as_utc, utcnow
from voxhub.context import AppContext
from voxhub.errors import NotFound
from voxhub.files.models import File, FileStatus
from voxhub.podcasts.models import Podcast, PodcastFeed
from voxhub.podcasts.schemas import FeedOut, Outputs, PodcastStatus
from voxhub.storage import cdn
from voxhub.storage.base import DownloadOptions
from voxhub.workspaces.models import Role, Workspace
from voxhub.workspaces.service import WorkspaceAccess

TOKEN_BYTES = 32
FEED_ITEMS = 300
NAMESPACES = {
    "itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd",
    "podcast": "https://podcastindex.org/namespace/1.0",
    "atom": "http://www.w3.org/2005/Atom",
}
# What each feed link serves: the episode's output, and the type it is announced with.
MEDIA = {
    "audio.mp3": ("mp3_file_id", "audio/mpeg"),
    "audio.m4a": ("m4a_file_id", "audio/mp4"),
    "chapters.json": ("chapters_file_id", "application/json+chapters"),
    "transcript.vtt": ("vtt_file_id", "text/vtt"),
    "transcript.srt": ("srt_file_id", "application/x-subrip"),
}

for _prefix, _uri in NAMESPACES.items():
    ET.register_namespace(_prefix, _uri)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def feed_url(ctx: AppContext, workspace_id: str, token: str) -> str:
    return f"{ctx.settings.public_url}/api/v1/workspaces/{workspace_id}/podcasts/feed.xml?token={quote(token)}"


def info(db: Session, *, access: WorkspaceAccess) -> FeedOut:
    feed = db.get(PodcastFeed, access.workspace_id)
    return FeedOut(enabled=feed is not None, url=None, created_at=as_utc(feed.created_at) if feed else None)


def make_token(db: Session, *, ctx: AppContext, access: WorkspaceAccess) -> FeedOut:
    """Turn the feed on with a new token (the old one stops working); the URL with the token is shown this once."""
    access.require(Role.ADMIN)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    feed = db.get(PodcastFeed, access.workspace_id)
    if feed is None:
        feed = PodcastFeed(workspace_id=access.workspace_id)
        db.add(feed)
    feed.token_hash = _hash(token)
    feed.created_by = access.user.id if access.user else None
    feed.created_at = utcnow()
    db.flush()
    audit.record(
        db, actor=access.actor, action="podcast.feed_token_created", workspace_id=access.workspace_id,
        target_type="podcast_feed", target_id=access.workspace_id, summary={},
    )  # fmt: skip
    return FeedOut(enabled=True, url=feed_url(ctx, access.workspace_id, token), created_at=as_utc(feed.created_at))


def turn_off(db: Session, *, access: WorkspaceAccess) -> None:
    access.require(Role.ADMIN)
    feed = db.get(PodcastFeed, access.workspace_id)
    if feed is None:
        raise NotFound("The feed is off.", code="feed_not_found")
    db.delete(feed)
    audit.record(
        db, actor=access.actor, action="podcast.feed_turned_off", workspace_id=access.workspace_id,
        target_type="podcast_feed", target_id=access.workspace_id, summary={},
    )  # fmt: skip


def _checked(db: Session, workspace_id: str, token: str) -> PodcastFeed:
    """The workspace's feed if `token` is its token; 404 otherwise (a wrong token says nothing more)."""
    feed = db.scalar(select(PodcastFeed).where(PodcastFeed.token_hash == _hash(token)))
    if feed is None or not secrets.compare_digest(feed.workspace_id, workspace_id):
        raise NotFound("Feed not found.", code="feed_not_found")
    return feed


def rss(db: Session, *, ctx: AppContext, workspace_id: str, token: str) -> bytes:
    """The feed's XML: the workspace's finished episodes, newest first."""
    feed = _checked(db, workspace_id, token)
    workspace = db.get(Workspace, workspace_id)
    name = feed.title or f"{workspace.name if workspace else 'voxhub'} podcasts"
    episodes = list(
        db.scalars(
            select(Podcast)
            .where(Podcast.workspace_id == workspace_id, Podcast.status == PodcastStatus.SUCCEEDED.value)
            .order_by(Podcast.published_at.desc(), Podcast.id.desc())
            .limit(FEED_ITEMS)
        )
    )
    rss_el = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(rss_el, "channel")
    self_url = feed_url(ctx, workspace_id, token)
    _text(channel, "title", name)
    _text(channel, "link", f"{ctx.settings.public_url}/w/{workspace_id}/podcasts")
    _text(channel, "description", f"Episodes made with voxhub in {name}.")
    _text(channel, "language", _language(episodes))
    _text(channel, "generator", "voxhub")
    ET.SubElement(channel, _ns("atom", "link"), {"href": self_url, "rel": "self", "type": "application/rss+xml"})
    _text(channel, _ns("itunes", "author"), workspace.name if workspace else "voxhub")
    _text(channel, _ns("itunes", "explicit"), "false")
    _text(channel, _ns("podcast", "locked"), "yes")
    files = _files_of(db, episodes)
    for podcast in episodes:
        outputs = Outputs.model_validate(podcast.outputs or {})
        audio = files.get(outputs.mp3_file_id or "")
        if audio is None:
            continue
        item = ET.SubElement(channel, "item")
        _text(item, "title", podcast.title)
        _text(item, "guid", podcast.id, isPermaLink="false")
        _text(item, "pubDate", format_datetime(as_utc(podcast.published_at or podcast.updated_at)))
        _text(item, "description", _description(podcast))
        ET.SubElement(
            item,
            "enclosure",
            {
                "url": _media_url(ctx, podcast, "audio.mp3", token, audio),
                "length": str(audio.size_bytes),
                "type": "audio/mpeg",
            },
        )
        _text(item, _ns("itunes", "duration"), str(round(podcast.duration_s or 0)))
        _text(item, _ns("itunes", "episodeType"), "full")
        if outputs.chapters_file_id in files:
            ET.SubElement(
                item,
                _ns("podcast", "chapters"),
                {
                    "url": _media_url(ctx, podcast, "chapters.json", token, files[outputs.chapters_file_id or ""]),
                    "type": MEDIA["chapters.json"][1],
                },
            )
        for name_, key in (("transcript.vtt", outputs.vtt_file_id), ("transcript.srt", outputs.srt_file_id)):
            if key in files:
                ET.SubElement(
                    item,
                    _ns("podcast", "transcript"),
                    {
                        "url": _media_url(ctx, podcast, name_, token, files[key or ""]),
                        "type": MEDIA[name_][1],
                        "language": _lang(podcast),
                    },
                )
    return ET.tostring(rss_el, encoding="utf-8", xml_declaration=True)


def media_link(db: Session, *, ctx: AppContext, workspace_id: str, podcast_id: str, name: str, token: str) -> str:
    """A fresh signed link to one of an episode's files, for a feed reader holding the feed's token."""
    _checked(db, workspace_id, token)
    podcast = db.get(Podcast, podcast_id)
    if (
        podcast is None
        or podcast.workspace_id != workspace_id
        or podcast.status != PodcastStatus.SUCCEEDED
        or name not in MEDIA
    ):
        raise NotFound("Not found.", code="not_found")
    field, content_type = MEDIA[name]
    file = db.get(File, (podcast.outputs or {}).get(field) or "")
    if file is None or file.status != FileStatus.READY.value or file.deleted_at is not None:
        raise NotFound("Not found.", code="not_found")
    return cdn.delivery_url(
        ctx.settings,
        ctx.store,
        file.storage_key,
        ttl_s=ctx.settings.download_url_ttl,
        download=DownloadOptions(filename=file.filename, content_type=content_type, inline=True),
    )


def _files_of(db: Session, episodes: Sequence[Podcast]) -> dict[str, File]:
    ids = [file_id for podcast in episodes for file_id in (podcast.outputs or {}).values() if file_id]
    if not ids:
        return {}
    rows = db.scalars(select(File).where(File.id.in_(ids), File.status == FileStatus.READY.value))
    return {row.id: row for row in rows if row.deleted_at is None}


def _media_url(ctx: AppContext, podcast: Podcast, name: str, token: str, file: File) -> str:
    """An item's link: straight to the CDN when one is set (signed for as long as a feed reader may wait before
    fetching it), else back to voxhub with the feed's token, answered by a fresh signed link."""
    if ctx.settings.storage_cdn_url:
        return cdn.delivery_url(
            ctx.settings,
            ctx.store,
            file.storage_key,
            ttl_s=ctx.settings.storage_cdn_feed_ttl_s,
            download=DownloadOptions(filename=file.filename, content_type=MEDIA[name][1], inline=True),
        )
    return (
        f"{ctx.settings.public_url}/api/v1/workspaces/{podcast.workspace_id}/podcasts/{podcast.id}/feed/{name}"
        f"?token={quote(token)}"
    )


def _description(podcast: Podcast) -> str:
    script = podcast.script or {}
    titles = [segment.get("title", "") for segment in script.get("segments", [])]
    hosts = ", ".join(host.get("name", "") for host in (podcast.options or {}).get("hosts", []))
    return f"With {hosts}. " + " · ".join(title for title in titles if title)


def _lang(podcast: Podcast) -> str:
    return str((podcast.options or {}).get("language") or "en")


def _language(episodes: Sequence[Podcast]) -> str:
    return _lang(episodes[0]) if episodes else "en"


def _ns(prefix: str, tag: str) -> str:
    return f"{{{NAMESPACES[prefix]}}}{tag}"


def _text(parent: ET.Element, tag: str, text: str, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    element.text = text
    return element
