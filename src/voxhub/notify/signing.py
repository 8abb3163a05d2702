"""Standard Webhooks secrets and signatures: an endpoint's secret (made, sealed at rest, opened to sign), the
per-workspace secret of jobs' own `webhook_url`s, and the `webhook-signature` header's value."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from voxhub.context import AppContext


def new_secret() -> str:
    """A fresh random signing secret in the Standard Webhooks form (`whsec_` and base64)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value (`v1,<base64 HMAC-SHA256>`) of one message under `secret`."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def job_webhook_secret(ctx: AppContext, workspace_id: str) -> str:
    """The secret signing deliveries to a job's own webhook_url: derived per workspace, never stored."""
    raw = ctx.keyring.sign(f"job-webhook:{workspace_id}", purpose="webhooks")
    return "whsec_" + base64.b64encode(bytes.fromhex(raw)[:24]).decode()


def seal_secret(ctx: AppContext, *, endpoint_id: str, secret: str) -> str:
    """The endpoint's secret encrypted for storage, bound to that endpoint."""
    return ctx.keyring.encrypt(secret, context=_context(endpoint_id))


def open_secret(ctx: AppContext, *, endpoint_id: str, ciphertext: str) -> str:
    """The endpoint's secret back from its stored ciphertext, to sign a delivery."""
    return ctx.keyring.decrypt(ciphertext, context=_context(endpoint_id))


def _context(endpoint_id: str) -> str:
    return f"webhook-endpoint:{endpoint_id}"
