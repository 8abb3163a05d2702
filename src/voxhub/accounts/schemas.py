"""Request and response bodies for accounts and the signed-in user."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from voxhub.audit.schemas import PlaceOut
from voxhub.security import MIN_PASSWORD_LENGTH


# A new password: the schema states the shortest allowed; the service refuses shorter ones (and common ones) itself,
# as 422 `weak_password`.
def new_password() -> Any:
    return Field(max_length=1024, json_schema_extra={"minLength": MIN_PASSWORD_LENGTH})


class SignupIn(BaseModel):
    email: str = Field(max_length=320, examples=["ada@example.com"], json_schema_extra={"format": "email"})
    password: str = new_password()
    name: str = Field(min_length=1, max_length=200)
    invitation_token: str | None = Field(
        default=None, max_length=512, description="Token from an invitation link, to join on signup."
    )


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str
    name: str
    email_verified: bool
    is_superuser: bool
    avatar_url: str | None
    timezone: str
    created_at: datetime


class TokenIn(BaseModel):
    token: str = Field(min_length=1, max_length=512)


class EmailIn(BaseModel):
    email: str = Field(max_length=320)


class LoginIn(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class TokenPairOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")


class AccessTokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=512)


class PasswordResetConfirmIn(BaseModel):
    token: str = Field(min_length=1, max_length=512)
    new_password: str = new_password()


class PasswordChangeIn(BaseModel):
    current_password: str = Field(max_length=1024)
    new_password: str = new_password()


class PasswordIn(BaseModel):
    password: str = Field(max_length=1024)


class ProfilePatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    avatar_url: HttpUrl | None = None
    timezone: str | None = Field(default=None, max_length=64)


class SessionOut(BaseModel):
    id: str
    user_agent: str
    device: str = Field(description='The browser or program and its system, e.g. "Firefox on Linux".')
    ip: str
    place: PlaceOut | None
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    current: bool


class AcceptedOut(BaseModel):
    status: str = "accepted"
    message: str


class SessionRevokedOut(BaseModel):
    session_id: str
    status: Literal["revoked", "already_signed_out"]
