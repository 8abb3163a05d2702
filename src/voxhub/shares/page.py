"""The public page of a share link, drawn on the server: readable without scripts, media in the browser's own player,
fitted to a phone, and nothing of the workspace around it (no navigation, no people, no other items). Served under
the console's Content-Security-Policy; its style and its one small script (click a time to play from there) are
console files."""

from __future__ import annotations

from html import escape

from fastapi import Path
from fastapi.responses import HTMLResponse

from voxhub.errors import VoxhubError
from voxhub.shares.schemas import SharedItem, ShareTarget

TOKEN_PATH = Path(min_length=1, max_length=120, description="The token of the share link.")

KIND = {ShareTarget.TRANSCRIPT: "Transcript", ShareTarget.PODCAST: "Podcast episode", ShareTarget.DUB: "Dub"}


def page_headers(console_headers: dict[str, str]) -> dict[str, str]:
    """The console's security headers (its CSP lets media play from the store and the CDN), and: the page holds signed
    media links and each load counts a view, so it is never stored by a cache, nor indexed."""
    return {**console_headers, "Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"}


def _document(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{escape(title)}</title>
<link rel="icon" href="/console/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/console/css/share.css">
<script type="module" src="/console/share.js"></script>
</head>
<body>
<main class="share">
{body}
</main>
<footer class="share-footer">Shared read-only with voxhub</footer>
</body>
</html>
"""


def clock(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def item_page(item: SharedItem, headers: dict[str, str]) -> HTMLResponse:
    facts = [KIND[item.type]]
    if item.duration_s:
        facts.append(clock(item.duration_s))
    if item.language:
        facts.append(item.language)
    if item.languages:
        facts.append("dubbed into " + ", ".join(item.languages))
    parts = [
        f'<h1 id="title">{escape(item.title)}</h1>',
        f'<p class="facts">{escape(" · ".join(facts))}</p>',
    ]
    if item.media is not None:
        tag = "video" if item.media.content_type.startswith("video/") else "audio"
        extra = " playsinline" if tag == "video" else ""
        parts.append(
            f'<{tag} id="player" controls preload="metadata"{extra} src="{escape(item.media.url)}" '
            f'aria-label="{escape(KIND[item.type])}: {escape(item.title)}"></{tag}>'
        )
    if item.chapters:
        rows = "".join(
            f'<li><button type="button" class="time" data-start="{mark.start}">{clock(mark.start)}</button> '
            f"{escape(mark.title)}</li>"
            for mark in item.chapters
        )
        parts.append(f'<h2>Chapters</h2><ol class="chapters">{rows}</ol>')
    if item.segments:
        rows = "".join(
            f'<p class="segment"><button type="button" class="time" data-start="{segment.start}">'
            f"{clock(segment.start)}</button> "
            + (f'<span class="speaker">{escape(segment.speaker)}</span> ' if segment.speaker else "")
            + f"{escape(segment.text)}</p>"
            for segment in item.segments
        )
        parts.append(f'<section class="transcript" aria-label="Transcript">{rows}</section>')
    if item.expires_at is not None:
        parts.append(f'<p class="note">This link works until {item.expires_at:%Y-%m-%d %H:%M} UTC.</p>')
    return HTMLResponse(_document(item.title, "\n".join(parts)), headers=headers)


def refusal(refused: VoxhubError, headers: dict[str, str], *, password_tried: bool) -> HTMLResponse:
    """The page when the link cannot show its item (yet): a password form, or why not, with the error's status."""
    if refused.code in ("password_required", "wrong_password"):
        wrong = '<p class="error" role="alert">That password is not right.</p>' if password_tried else ""
        body = f"""<h1>This share is protected</h1>
<p>Enter the password you were given with the link.</p>
{wrong}
<form method="post" class="password">
<label for="password">Password</label>
<input id="password" name="password" type="password" required autocomplete="off" autofocus>
<button type="submit">Open</button>
</form>"""
        return HTMLResponse(_document("Protected share", body), status_code=refused.status_code, headers=headers)
    body = f"<h1>This link does not work</h1><p>{escape(refused.message)}</p>"
    return HTMLResponse(
        _document("Share link", body), status_code=refused.status_code, headers={**headers, **refused.headers}
    )
