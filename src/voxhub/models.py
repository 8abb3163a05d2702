"""Imports every table so Base.metadata is complete (for Alembic and tests)."""

from voxhub.accounts.models import LoginAttempt, LoginSession, RefreshToken, User, UserToken
from voxhub.apikeys.models import ApiKey, ProviderKey
from voxhub.audit.models import AuditEvent, SecurityEvent
from voxhub.billing.models import (
    AllowanceUse,
    BillingAlert,
    Checkout,
    CreditAccount,
    EwayTokenCustomer,
    LedgerEntry,
    Payment,
    ProviderEventRecord,
    Subscription,
    SyncCharge,
    UsageRecord,
)
from voxhub.dubbing.models import Dub
from voxhub.files.models import File, Upload
from voxhub.insights.models import Insights
from voxhub.jobs.models import Job, JobAttempt, JobEvent
from voxhub.labels.models import CustomField, FieldValue, ItemTag, Tag
from voxhub.mail.models import EmailLog, EmailPreferences, EmailSuppression
from voxhub.notify.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from voxhub.podcasts.models import Podcast, PodcastFeed
from voxhub.search.models import ChatMessage, Conversation, SearchChunk, SearchSource
from voxhub.shares.models import Share
from voxhub.transcripts.models import TranscriptVersion
from voxhub.voices.models import HostedVoice
from voxhub.workspaces.models import Invitation, Membership, Workspace

__all__ = [
    "AllowanceUse",
    "ApiKey",
    "AuditEvent",
    "BillingAlert",
    "ChatMessage",
    "Checkout",
    "Conversation",
    "CreditAccount",
    "CustomField",
    "Dub",
    "EmailLog",
    "EmailPreferences",
    "EmailSuppression",
    "EwayTokenCustomer",
    "FieldValue",
    "File",
    "HostedVoice",
    "Insights",
    "Invitation",
    "ItemTag",
    "Job",
    "JobAttempt",
    "JobEvent",
    "LedgerEntry",
    "LoginAttempt",
    "LoginSession",
    "Membership",
    "Payment",
    "Podcast",
    "PodcastFeed",
    "ProviderEventRecord",
    "ProviderKey",
    "RefreshToken",
    "SearchChunk",
    "SearchSource",
    "SecurityEvent",
    "Share",
    "Subscription",
    "SyncCharge",
    "Tag",
    "TranscriptVersion",
    "Upload",
    "UsageRecord",
    "User",
    "UserToken",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "Workspace",
]
