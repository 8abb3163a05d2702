"""HTTP routes for workspaces, members and invitations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from voxhub.accounts.schemas import TokenIn
from voxhub.accounts.service import normalize_email
from voxhub.apikeys.service import access_for_key
from voxhub.clock import as_utc, utcnow
from voxhub.deps import (
    AdminAccess,
    Ctx,
    CurrentPrincipal,
    CurrentUser,
    DbSession,
    OwnerAccess,
    ViewerAccess,
    read_db,
)
from voxhub.errors import responses
from voxhub.pagination import Page
from voxhub.workspaces import service
from voxhub.workspaces.models import Invitation, Role, Workspace
from voxhub.workspaces.schemas import (
    InvitationIn,
    InvitationOut,
    InvitationPreviewOut,
    MemberOut,
    RoleIn,
    WorkspaceIn,
    WorkspaceOut,
    WorkspacePatch,
)

router = APIRouter(prefix="/api/v1/workspaces", tags=["workspaces"])
invitations = APIRouter(prefix="/api/v1/invitations", tags=["workspaces"])

WS = responses(401, 403, 404)


def workspace_out(workspace: Workspace, role: Role) -> WorkspaceOut:
    return WorkspaceOut(
        id=workspace.id,
        name=workspace.name,
        personal=workspace.personal,
        role=role,
        retention_days=workspace.retention_days,
        created_at=workspace.created_at,
    )


def invitation_out(invitation: Invitation) -> InvitationOut:
    if invitation.accepted_at:
        status = "accepted"
    elif invitation.revoked_at:
        status = "revoked"
    elif as_utc(invitation.expires_at) <= utcnow():
        status = "expired"
    else:
        status = "pending"
    return InvitationOut(
        id=invitation.id,
        workspace_id=invitation.workspace_id,
        email=invitation.email,
        role=Role(invitation.role),
        status=status,
        invited_by=invitation.invited_by,
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
    )


@router.post("", status_code=201, summary="Create a workspace", responses=responses(401, 403, 422))
def create_workspace(body: WorkspaceIn, db: DbSession, me: CurrentUser) -> WorkspaceOut:
    """Create a workspace; the caller becomes its owner."""
    workspace = service.create_workspace(db, owner=me.user, name=body.name, actor=me.actor)
    return workspace_out(workspace, Role.OWNER)


@router.get("", summary="List my workspaces", responses=responses(401))
async def list_workspaces(request: Request, db: DbSession, principal: CurrentPrincipal) -> Page[WorkspaceOut]:
    """Workspaces the caller belongs to, with the caller's role. An API key sees its own workspace."""

    def read() -> list[WorkspaceOut]:
        if principal.api_key is not None:
            access = access_for_key(
                db, key=principal.api_key, workspace_id=principal.api_key.workspace_id, actor=principal.actor
            )
            return [workspace_out(access.workspace, access.role)]
        assert principal.user is not None
        return service.workspaces_of(db, user_id=principal.user.id)

    # The query runs by read_db (no thread hop on SQLite); the answer is serialised on the event loop.
    return Page(items=await read_db(request, read))


@router.get("/{workspace_id}", summary="Get a workspace", responses=WS)
async def get_workspace(access: ViewerAccess) -> WorkspaceOut:
    """One workspace and the caller's role in it."""
    return workspace_out(access.workspace, access.role)


@router.patch("/{workspace_id}", summary="Change a workspace", responses=responses(401, 403, 404, 422))
def update_workspace(body: WorkspacePatch, db: DbSession, access: AdminAccess) -> WorkspaceOut:
    """Rename the workspace, or set how many days its files are kept (`retention_days`; null keeps them)."""
    if body.name is not None:
        service.rename(db, access=access, name=body.name)
    if "retention_days" in body.model_fields_set:
        service.set_retention(db, access=access, days=body.retention_days)
    return workspace_out(access.workspace, access.role)


@router.delete("/{workspace_id}", status_code=204, summary="Delete a workspace", responses=WS)
def delete_workspace(db: DbSession, access: OwnerAccess) -> Response:
    """Delete the workspace (owner only). Members and API keys lose access at once."""
    service.delete(db, access=access)
    return Response(status_code=204)


@router.get("/{workspace_id}/members", summary="List members", responses=WS)
def list_members(db: DbSession, access: ViewerAccess) -> Page[MemberOut]:
    """Everyone in the workspace with their role."""
    return Page(
        items=[
            MemberOut(user_id=user.id, email=user.email, name=user.name, role=Role(m.role), joined_at=m.created_at)
            for m, user in service.list_members(db, workspace_id=access.workspace_id)
        ]
    )


@router.patch(
    "/{workspace_id}/members/{user_id}", summary="Change a member's role", responses=responses(401, 403, 404, 409, 422)
)
def change_member_role(user_id: str, body: RoleIn, db: DbSession, access: AdminAccess) -> MemberOut:
    """Give a member another role; nobody can grant above their own role, and one owner always remains."""
    membership = service.change_role(db, access=access, user_id=user_id, role=body.role)
    user = next(u for m, u in service.list_members(db, workspace_id=access.workspace_id) if m.id == membership.id)
    return MemberOut(
        user_id=user.id, email=user.email, name=user.name, role=Role(membership.role), joined_at=membership.created_at
    )


@router.delete(
    "/{workspace_id}/members/{user_id}",
    status_code=204,
    summary="Remove a member",
    responses=responses(401, 403, 404, 409),
)
def remove_member(user_id: str, db: DbSession, access: AdminAccess) -> Response:
    """Take someone out of the workspace."""
    service.remove_member(db, access=access, user_id=user_id)
    return Response(status_code=204)


@router.post(
    "/{workspace_id}/leave", status_code=204, summary="Leave a workspace", responses=responses(401, 403, 404, 409)
)
def leave_workspace(db: DbSession, access: ViewerAccess) -> Response:
    """Leave the workspace; the last owner must hand over ownership first."""
    service.leave(db, access=access)
    return Response(status_code=204)


@router.post(
    "/{workspace_id}/invitations",
    status_code=201,
    summary="Invite someone",
    responses=responses(401, 403, 404, 409, 422),
)
def create_invitation(body: InvitationIn, db: DbSession, ctx: Ctx, access: AdminAccess) -> InvitationOut:
    """Mail a single-use link, valid 7 days, that adds the person with the given role."""
    invitation = service.create_invitation(
        db, ctx=ctx, access=access, email=normalize_email(body.email), role=body.role
    )
    return invitation_out(invitation)


@router.get("/{workspace_id}/invitations", summary="List invitations", responses=WS)
def list_invitations(db: DbSession, access: AdminAccess) -> Page[InvitationOut]:
    """Every invitation of the workspace with its status."""
    return Page(items=[invitation_out(i) for i in service.list_invitations(db, workspace_id=access.workspace_id)])


@router.delete(
    "/{workspace_id}/invitations/{invitation_id}",
    status_code=204,
    summary="Revoke an invitation",
    responses=responses(401, 403, 404, 409),
)
def revoke_invitation(invitation_id: str, db: DbSession, access: AdminAccess) -> Response:
    """The link stops working."""
    service.revoke_invitation(db, access=access, invitation_id=invitation_id)
    return Response(status_code=204)


@router.post(
    "/{workspace_id}/invitations/{invitation_id}/resend",
    summary="Resend an invitation",
    responses=responses(401, 403, 404, 409),
)
def resend_invitation(invitation_id: str, db: DbSession, ctx: Ctx, access: AdminAccess) -> InvitationOut:
    """Mail a fresh link with a fresh 7 days; the old link stops working."""
    return invitation_out(service.resend_invitation(db, ctx=ctx, access=access, invitation_id=invitation_id))


@invitations.get("/preview", summary="Look at an invitation", responses=responses(400, 422))
def preview_invitation(
    token: Annotated[str, Query(min_length=1, max_length=512)], db: DbSession
) -> InvitationPreviewOut:
    """What an invitation link offers (workspace, email, role), so a page can show it before sign-in."""
    invitation, workspace = service.find_open_invitation(db, token=token)
    return InvitationPreviewOut(
        workspace_id=workspace.id,
        workspace_name=workspace.name,
        email=invitation.email,
        role=Role(invitation.role),
        expires_at=invitation.expires_at,
    )


@invitations.post("/accept", summary="Accept an invitation", responses=responses(400, 401, 403, 422))
def accept_invitation(body: TokenIn, db: DbSession, me: CurrentUser) -> WorkspaceOut:
    """Join the workspace with the token from the invitation mail; the signed-in account's verified email must match."""
    workspace = service.accept_invitation(db, token=body.token, user=me.user, actor=me.actor)
    access = service.access_for_user(db, workspace_id=workspace.id, user=me.user, actor=me.actor)
    return workspace_out(workspace, access.role)
