"""Sample values for every mail, so `voxhub admin email-preview TEMPLATE` shows it as a person would receive it."""

from __future__ import annotations

from typing import Any

SAMPLE_USER_ID = "01900000-0000-7000-8000-00000000a11e"
_WORKSPACE = {"workspace_id": "01900000-0000-7000-8000-0000000000a5", "workspace_name": "Ada's workspace"}

SAMPLES: dict[str, dict[str, Any]] = {
    "verify_email": {"name": "Ada", "link": "{public_url}/verify-email?token=sample-token", "hours": 24},
    "password_reset": {"name": "Ada", "link": "{public_url}/reset-password?token=sample-token", "hours": 24},
    "invitation": {
        **_WORKSPACE,
        "link": "{public_url}/accept-invitation?token=sample-token",
        "inviter_name": "Grace",
        "role": "member",
        "email": "ada@example.com",
        "days": 7,
    },
    "webhook_disabled": {"name": "Ada", "url": "https://example.com/hooks/voxhub"},
    "billing_alert": {
        **_WORKSPACE,
        "kind": "allowance",
        "meter": "transcription_minutes",
        "threshold": 80,
        "used": 480,
        "included": 600,
        "resets_at": "2026-01-01T00:00:00+00:00",
        "available": 0,
    },
    "payment_failed": {**_WORKSPACE, "provider": "stripe"},
    "podcast_ready": {
        **_WORKSPACE,
        "title": "Notes on the launch",
        "minutes": 12.5,
        "podcast_id": "01900000-0000-7000-8000-0000000000b0",
    },
    "job_ready": {
        **_WORKSPACE,
        "name": "Ada",
        "job_label": "transcription",
        "filename": "interview.mp3",
        "minutes": 3.2,
        "job_id": "01900000-0000-7000-8000-0000000000c0",
    },
    "signin_alert": {
        "name": "Ada",
        "when": "2026-01-01 09:30 UTC",
        "place": "Lisbon, Portugal",
        "ip": "203.0.113.7",
        "device": "Firefox on Linux",
        "new_country": True,
        "new_device": False,
        "link": "{public_url}/revoke-session?token=sample-token",
        "days": 7,
    },
}


def sample_context(template: str, *, public_url: str) -> dict[str, Any]:
    """Sample values for `template`, its links on this voxhub's public URL."""
    return {
        key: value.replace("{public_url}", public_url) if isinstance(value, str) else value
        for key, value in SAMPLES.get(template, {}).items()
    }
