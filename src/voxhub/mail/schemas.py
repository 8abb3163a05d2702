"""Request and response bodies for mail preferences, the email log and provider events."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from voxhub.mail.models import EmailCategory, EmailStatus


class EmailPreferencesOut(BaseModel):
    """Which mail the user gets. Security and account mail cannot be turned off."""

    security: bool = True
    account: bool = True
    billing: bool
    jobs: bool
    product_news: bool


class EmailPreferencesPatch(BaseModel):
    """The optional categories to turn on or off; those not named stay as they are."""

    model_config = ConfigDict(extra="forbid")

    billing: StrictBool | None = None
    jobs: StrictBool | None = None
    product_news: StrictBool | None = None


class UnsubscribedOut(BaseModel):
    user_id: str
    category: EmailCategory
    subscribed: bool = False


class EmailLogOut(BaseModel):
    id: str
    workspace_id: str | None
    user_id: str | None
    to: str
    template: str
    category: str
    subject: str
    status: EmailStatus
    provider: str
    provider_message_id: str | None
    error: str | None
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    updated_at: datetime


class ProviderEventsAck(BaseModel):
    received: int = Field(description="Events in the delivery.")
    applied: int = Field(description="Events that changed a mail's status or suppressed an address.")
