"""The web console: static ES modules served at `/console/…`, and its one HTML page at every address the console
shows (`/`, `/login`, the links voxhub mails, `/w/{workspace}/…`). The page talks only to the public `/api/v1`.
Every console response carries a strict Content-Security-Policy: scripts, styles, fonts and images from voxhub
itself, nothing inline, no frames."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxhub.config import Settings

STATIC = Path(__file__).parent / "static"
ASSETS_URL = "/console"


def storage_origins(settings: Settings) -> list[str]:
    """Where signed file links point when the bytes are not served by voxhub: the S3 endpoint and the CDN. The
    console's players load media from there."""
    origins = []
    url = urlsplit(settings.resolved_storage_url)
    if url.scheme == "s3":
        endpoint = parse_qs(url.query).get("endpoint", [""])[0]
        if endpoint:
            parts = urlsplit(endpoint)
            origins.append(f"{parts.scheme}://{parts.netloc}")
        else:
            origins.append("https://*.amazonaws.com")
    if settings.storage_cdn_url:
        parts = urlsplit(settings.storage_cdn_url)
        origins.append(f"{parts.scheme}://{parts.netloc}")
    return origins


def security_headers(settings: Settings) -> dict[str, str]:
    media = " ".join(["'self'", "blob:", *storage_origins(settings)])
    policy = "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            f"media-src {media}",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
        "Permissions-Policy": "camera=(), geolocation=(), microphone=(self)",
        "Cache-Control": "no-cache",
    }


# The addresses of the console's pages; anything else keeps the API's JSON 404.
PAGES = (
    "/",
    "/login",
    "/signup",
    "/forgot-password",
    "/verify-email",
    "/reset-password",
    "/accept-invitation",
    "/revoke-session",
    "/unsubscribe",
    "/account",
    "/security",
    "/email",
    "/admin",
    "/admin/email",
    "/billing/success",
    "/billing/canceled",
    "/w/{rest:path}",
)

router = APIRouter(include_in_schema=False)


class SecurityHeaders:
    """Adds the console's security headers to every response of the wrapped app."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.headers = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


MISSING = """<!doctype html><html lang="en"><meta charset="utf-8"><title>voxhub</title>
<p>The console's files are missing from this installation ({path}); reinstall voxhub. The API works: see /docs.</p>"""


def console_page(request: Request) -> Response:
    """The console's page; the scripts it loads read the address and draw what it names."""
    headers = request.app.state.console_headers
    index = STATIC / "index.html"
    if not index.is_file():
        return HTMLResponse(MISSING.format(path=index), status_code=500, headers=headers)
    return FileResponse(index, media_type="text/html", headers=headers)


for _path in PAGES:
    router.add_api_route(_path, console_page, methods=["GET"], include_in_schema=False)


def install(app: FastAPI, settings: Settings) -> None:
    """Serve the console: its page at each of its addresses and its files under `/console`."""
    app.state.console_headers = headers = security_headers(settings)
    app.include_router(router)
    # Revalidated on each load (ETag and Last-Modified), so an upgrade shows at once without hashed file names.
    app.mount(ASSETS_URL, SecurityHeaders(StaticFiles(directory=STATIC, check_dir=False), headers), name="console")
