"""Security headers on every response, and the request's scheme taken from a trusted proxy's X-Forwarded-Proto.

Every answer says `nosniff`, sends no referrer and may not be framed; over HTTPS it asks browsers to keep to HTTPS
(HSTS, VOXHUB_HSTS_MAX_AGE_S). HTML gets a Content-Security-Policy: the console sets its own (voxhub.console); the API
docs get one that allows exactly their bundled files and their one inline script; any other HTML (a receipt) may run
no script at all. JSON answers programs and carries no policy. A header a route set itself is left as it is.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxhub.config import Settings

# Headers every response carries unless its route chose its own.
EVERY_RESPONSE = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}

# The pages of /docs (Swagger UI) and /redoc: their scripts, styles and icon come from voxhub (app.install_docs);
# both libraries style elements from script and ReDoc searches in a worker it starts from a blob: URL.
DOCS_PAGES = frozenset({"/docs", "/redoc"})
DOCS_POLICY = (
    "default-src 'none'",
    "script-src 'self'{hashes}",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
)

# Any other HTML voxhub answers with (a receipt): its own inline styles and images, no script, no frames.
DOCUMENT_POLICY = "; ".join(
    (
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)

_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def is_https(scope: Scope, *, trust_proxy: bool) -> bool:
    """The request reached voxhub over TLS, or reached a proxy voxhub trusts over TLS (its X-Forwarded-Proto)."""
    if scope.get("scheme") == "https":
        return True
    if trust_proxy:
        for name, value in scope.get("headers", ()):
            if name == b"x-forwarded-proto":
                # A chain of proxies lists one scheme each, the client's first.
                return value.split(b",")[0].strip().lower() == b"https"
    return False


def docs_policy(html: bytes) -> str:
    """The docs page's policy: voxhub's own files, plus the inline script the page itself holds, by its hash. The
    page is built from the app's settings alone (no request input reaches it), so its script is the one voxhub
    wrote."""
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'" for body in _INLINE_SCRIPT.findall(html)
    )
    return "; ".join(DOCS_POLICY).format(hashes=hashes)


class SecurityHeadersMiddleware:
    """Adds the headers above to each response that lacks them. Behind a trusted proxy (VOXHUB_TRUST_PROXY_HEADERS)
    a request the proxy received over HTTPS is treated as HTTPS throughout: its URLs, its cookies' Secure flag, HSTS.
    Plain ASGI; only the small docs pages are held in memory, to hash their inline script."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.trust_proxy = settings.trust_proxy_headers
        self.hsts = f"max-age={settings.hsts_max_age_s}".encode() if settings.hsts_max_age_s > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = is_https(scope, trust_proxy=self.trust_proxy)
        if https and scope.get("scheme") != "https":
            scope = {**scope, "scheme": "https"}
        extra = [(name.encode(), value.encode()) for name, value in EVERY_RESPONSE.items()]
        if https and self.hsts:
            extra.append((b"strict-transport-security", self.hsts))
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        on_docs = path in DOCS_PAGES
        held: list[Message] = []

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                added = [(name, value) for name, value in extra if name not in present]
                html = _header(headers, b"content-type").startswith(b"text/html")
                if html and b"content-security-policy" not in present:
                    if on_docs:
                        # The policy needs the page's inline script: wait for the (small) body.
                        held.append({**message, "headers": headers + added})
                        return
                    added.append((b"content-security-policy", DOCUMENT_POLICY.encode()))
                message = {**message, "headers": headers + added}
            elif held:
                held.append(message)
                if message.get("more_body", False):
                    return
                await _send_docs_page(held, send)
                return
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _send_docs_page(messages: list[Message], send: Send) -> None:
    start, *parts = messages
    body = b"".join(part.get("body", b"") for part in parts)
    headers = [*start["headers"], (b"content-security-policy", docs_policy(body).encode())]
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes:
    for key, value in headers:
        if key.lower() == name:
            return bytes(value).lower()
    return b""
