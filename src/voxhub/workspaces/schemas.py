"""Request and response bodies for workspaces, members and invitations."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from voxhub.workspaces.models import Role


class WorkspaceIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)  # "   " is no name

    name: str = Field(min_length=1, max_length=200)


class WorkspacePatch(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    name: str | None = Field(default=None, min_length=1, max_length=200)
    retention_days: int | None = Field(
        default=None, ge=1, le=3650, description="Files older than this are deleted; null keeps them."
    )


class WorkspaceOut(BaseModel):
    id: str
    name: str
    personal: bool
    retention_days: int | None = Field(default=None, description="Files older than this many days are deleted.")
    role: Role = Field(description="The caller's role in this workspace.")
    created_at: datetime


class MemberOut(BaseModel):
    user_id: str
    email: str
    name: str
    role: Role
    joined_at: datetime


class RoleIn(BaseModel):
    role: Role


class InvitationIn(BaseModel):
    email: str = Field(max_length=320, json_schema_extra={"format": "email"})
    role: Role = Role.MEMBER


class InvitationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    workspace_id: str
    email: str
    role: Role
    status: str = Field(description="pending, accepted, revoked or expired")
    invited_by: str | None
    created_at: datetime
    expires_at: datetime


class InvitationPreviewOut(BaseModel):
    workspace_id: str
    workspace_name: str
    email: str
    role: Role
    expires_at: datetime
