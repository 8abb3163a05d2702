"""Imports every table so Base.metadata is complete (for Alembic and tests)."""

from voxhub.accounts.models import LoginAttempt, LoginSession, RefreshToken, User, UserToken
from voxhub.apikeys.models import ApiKey, ProviderKey
from voxhub.audit.models import AuditEvent, SecurityEvent
from voxhub.files.models import File, Upload
from voxhub.jobs.models import Job, JobAttempt, JobEvent
from voxhub.notify.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from voxhub.transcripts.models import TranscriptVersion
from voxhub.workspaces.models import Invitation, Membership, Workspace

__all__ = [
    "ApiKey",
    "AuditEvent",
    "File",
    "Invitation",
    "Job",
    "JobAttempt",
    "JobEvent",
    "LoginAttempt",
    "LoginSession",
    "Membership",
    "ProviderKey",
    "RefreshToken",
    "SecurityEvent",
    "TranscriptVersion",
    "Upload",
    "User",
    "UserToken",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "Workspace",
]
