"""Imports every table so Base.metadata is complete (for Alembic and tests)."""

from voxhub.accounts.models import LoginAttempt, LoginSession, RefreshToken, User, UserToken
from voxhub.apikeys.models import ApiKey, ProviderKey
from voxhub.audit.models import AuditEvent, SecurityEvent
from voxhub.workspaces.models import Invitation, Membership, Workspace

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Invitation",
    "LoginAttempt",
    "LoginSession",
    "Membership",
    "ProviderKey",
    "RefreshToken",
    "SecurityEvent",
    "User",
    "UserToken",
    "Workspace",
]
