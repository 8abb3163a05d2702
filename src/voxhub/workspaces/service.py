"""Workspaces, roles, members and invitations: the rules of who may do what where."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from voxhub.accounts import service as accounts
from voxhub.accounts.models import User
from voxhub.audit import service as audit
from voxhub.audit.service import Actor
from voxhub.clock import as_utc, utcnow
from voxhub.context import AppContext
from voxhub.db import affected
from voxhub.errors import BadRequest, Conflict, Forbidden, NotFound
from voxhub.hooks import Hook
from voxhub.security import hash_token, new_token
from voxhub.workspaces.models import Invitation, Membership, Role, Workspace
from voxhub.workspaces.schemas import WorkspaceOut

# An API key acts with the role its highest scope stands for; no scope reaches owner.
ROLE_FOR_SCOPE = {"read": Role.VIEWER, "write": Role.MEMBER, "admin": Role.ADMIN}
SCOPE_FOR_ROLE = {role: scope for scope, role in ROLE_FOR_SCOPE.items()}


@dataclass(frozen=True)
class WorkspaceAccess:
    """A caller's standing in one workspace: the role it acts with, and who it is (a user or an API key)."""

    workspace: Workspace
    role: Role
    actor: Actor
    user: User | None = None
    api_key_id: str | None = None

    @property
    def workspace_id(self) -> str:
        return self.workspace.id

    def require(self, at_least: Role) -> None:
        if self.role.at_least(at_least):
            return
        if self.api_key_id is not None:
            needed = SCOPE_FOR_ROLE.get(at_least)
            message = (
                f"This API key needs the {needed} scope." if needed else "API keys cannot do this; sign in as an owner."
            )
            raise Forbidden(message, code="insufficient_scope")
        raise Forbidden(f"This needs the {at_least.value} role or higher.", code="insufficient_role")


# ---- workspaces ----

# Sent once a new workspace and its owner's membership are written (billing opens its account here).
workspace_created: Hook[Workspace] = Hook("workspace.created")
# A workspace was deleted: what rooms above keep outside its soft-deleted rows (search passages) goes at once.
workspace_deleted: Hook[Workspace] = Hook("workspace.deleted")


def create_workspace(db: Session, *, owner: User, name: str, actor: Actor, personal: bool = False) -> Workspace:
    """Make a workspace owned by `owner`, announce it to listeners (billing) and audit it."""
    workspace = Workspace(name=name.strip(), personal=personal, created_by=owner.id)
    db.add(workspace)
    db.flush()
    db.add(Membership(workspace_id=workspace.id, user_id=owner.id, role=Role.OWNER.value))
    workspace_created.send(db, workspace)
    audit.record(
        db,
        actor=actor,
        action="workspace.created",
        workspace_id=workspace.id,
        target_type="workspace",
        target_id=workspace.id,
        summary={"name": workspace.name, "personal": personal},
    )
    return workspace


# Built once: these run on nearly every request, and building a statement costs more than running it.
_MY_WORKSPACES = (
    select(Workspace, Membership.role)
    .join(Membership, Membership.workspace_id == Workspace.id)
    .where(Membership.user_id == bindparam("user_id"), Workspace.deleted_at.is_(None))
    .order_by(Workspace.id)
)
_MY_WORKSPACE = (
    select(Workspace, Membership.role)
    .join(Membership, Membership.workspace_id == Workspace.id)
    .where(
        Workspace.id == bindparam("workspace_id"),
        Membership.user_id == bindparam("user_id"),
        Workspace.deleted_at.is_(None),
    )
)


# The list a signed-in user reads on nearly every page: columns, not entities, so no ORM state is built per row.
_MY_WORKSPACE_ROWS = (
    select(
        Workspace.id,
        Workspace.name,
        Workspace.personal,
        Workspace.retention_days,
        Workspace.created_at,
        Membership.role,
    )
    .join(Membership, Membership.workspace_id == Workspace.id)
    .where(Membership.user_id == bindparam("user_id"), Workspace.deleted_at.is_(None))
    .order_by(Workspace.id)
)


def workspaces_of(db: Session, *, user_id: str) -> list[WorkspaceOut]:
    """The workspaces the user belongs to, with the user's role in each, as the API shows them."""
    return [WorkspaceOut.model_validate(row._mapping) for row in db.execute(_MY_WORKSPACE_ROWS, {"user_id": user_id})]


def list_for_user(db: Session, *, user_id: str) -> list[tuple[Workspace, Role]]:
    """The workspaces the user belongs to, each with the user's role there."""
    rows = db.execute(_MY_WORKSPACES, {"user_id": user_id})
    return [(workspace, Role(role)) for workspace, role in rows]


def owners(db: Session, *, workspace_id: str) -> list[User]:
    """The workspace's owners: who is told by mail about its billing and its webhooks."""
    return list(
        db.scalars(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.workspace_id == workspace_id, Membership.role == Role.OWNER.value)
        )
    )


def get_live(db: Session, *, workspace_id: str) -> Workspace:
    """A workspace that exists and is not deleted; NotFound otherwise."""
    workspace = db.get(Workspace, workspace_id)
    if workspace is None or workspace.deleted_at is not None:
        raise NotFound("Workspace not found.", code="workspace_not_found")
    return workspace


def access_for_user(db: Session, *, workspace_id: str, user: User, actor: Actor) -> WorkspaceAccess:
    """The user's access to a workspace. Not being a member looks exactly like the workspace not existing."""
    row = db.execute(_MY_WORKSPACE, {"workspace_id": workspace_id, "user_id": user.id}).first()
    if row is None:
        raise NotFound("Workspace not found.", code="workspace_not_found")
    return WorkspaceAccess(workspace=row[0], role=Role(row[1]), actor=actor, user=user)


def rename(db: Session, *, access: WorkspaceAccess, name: str) -> Workspace:
    """Give the workspace a new name (trimmed); audited."""
    workspace = access.workspace
    old_name, workspace.name = workspace.name, name.strip()
    audit.record(
        db,
        actor=access.actor,
        action="workspace.renamed",
        workspace_id=workspace.id,
        target_type="workspace",
        target_id=workspace.id,
        summary={"from": old_name, "to": workspace.name},
    )
    return workspace


def set_retention(db: Session, *, access: WorkspaceAccess, days: int | None) -> Workspace:
    """Files older than `days` are deleted by the retention task; None keeps them until deleted by hand."""
    access.require(Role.ADMIN)
    workspace = access.workspace
    old, workspace.retention_days = workspace.retention_days, days
    audit.record(
        db,
        actor=access.actor,
        action="workspace.retention_changed",
        workspace_id=workspace.id,
        target_type="workspace",
        target_id=workspace.id,
        summary={"from": old, "to": days},
    )
    return workspace


def delete(db: Session, *, access: WorkspaceAccess) -> None:
    """Soft delete: every member and API key loses access at once; rows stay for retention and audit."""
    access.require(Role.OWNER)
    access.workspace.deleted_at = utcnow()
    workspace_deleted.send(db, access.workspace)
    audit.record(
        db,
        actor=access.actor,
        action="workspace.deleted",
        workspace_id=access.workspace_id,
        target_type="workspace",
        target_id=access.workspace_id,
        summary={"name": access.workspace.name},
    )


# ---- members ----


def list_members(db: Session, *, workspace_id: str) -> list[tuple[Membership, User]]:
    """The workspace's members with their accounts, in the order they joined."""
    rows = db.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == workspace_id)
        .order_by(Membership.created_at, Membership.id)
    )
    return [(membership, user) for membership, user in rows]


def _membership(db: Session, *, workspace_id: str, user_id: str) -> Membership:
    membership = db.scalar(
        select(Membership).where(Membership.workspace_id == workspace_id, Membership.user_id == user_id)
    )
    if membership is None:
        raise NotFound("Member not found.", code="member_not_found")
    return membership


def _owner_count(db: Session, *, workspace_id: str) -> int:
    return (
        db.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.workspace_id == workspace_id, Membership.role == Role.OWNER.value)
        )
        or 0
    )


def _guard_last_owner(db: Session, *, membership: Membership, leaving_owner_role: bool) -> None:
    if (
        leaving_owner_role
        and membership.role == Role.OWNER.value
        and _owner_count(db, workspace_id=membership.workspace_id) <= 1
    ):
        raise Conflict("A workspace must keep at least one owner; make someone else owner first.", code="last_owner")


def _guard_manageable(access: WorkspaceAccess, target_role: Role) -> None:
    access.require(Role.ADMIN)
    if not access.role.at_least(target_role):
        raise Forbidden("You cannot manage a member whose role is above yours.", code="insufficient_role")


def change_role(db: Session, *, access: WorkspaceAccess, user_id: str, role: Role) -> Membership:
    """Change a member's role, never above the caller's own nor leaving the workspace without an owner."""
    membership = _membership(db, workspace_id=access.workspace_id, user_id=user_id)
    old_role = Role(membership.role)
    _guard_manageable(access, old_role)
    if not access.role.at_least(role):
        raise Forbidden("You cannot grant a role above your own.", code="role_too_high")
    if old_role == role:
        return membership
    _guard_last_owner(db, membership=membership, leaving_owner_role=role != Role.OWNER)
    membership.role = role.value
    audit.record(
        db,
        actor=access.actor,
        action="workspace.member.role_changed",
        workspace_id=access.workspace_id,
        target_type="user",
        target_id=user_id,
        summary={"from": old_role.value, "to": role.value},
    )
    return membership


def remove_member(db: Session, *, access: WorkspaceAccess, user_id: str) -> None:
    """Remove a member the caller may manage, never the last owner; audited."""
    membership = _membership(db, workspace_id=access.workspace_id, user_id=user_id)
    _guard_manageable(access, Role(membership.role))
    _guard_last_owner(db, membership=membership, leaving_owner_role=True)
    db.delete(membership)
    audit.record(
        db,
        actor=access.actor,
        action="workspace.member.removed",
        workspace_id=access.workspace_id,
        target_type="user",
        target_id=user_id,
        summary={"role": membership.role},
    )


def leave(db: Session, *, access: WorkspaceAccess) -> None:
    """Take the caller out of the workspace, unless they are its last owner; API keys cannot leave."""
    if access.user is None:
        raise Forbidden("An API key cannot leave a workspace; revoke it instead.", code="user_token_required")
    membership = _membership(db, workspace_id=access.workspace_id, user_id=access.user.id)
    _guard_last_owner(db, membership=membership, leaving_owner_role=True)
    db.delete(membership)
    audit.record(
        db,
        actor=access.actor,
        action="workspace.member.left",
        workspace_id=access.workspace_id,
        target_type="user",
        target_id=access.user.id,
        summary={"role": membership.role},
    )


def sole_owned_with_others(db: Session, *, user_id: str) -> list[Workspace]:
    """Live workspaces where `user_id` is the only owner and other people are members."""
    result = []
    for workspace, role in list_for_user(db, user_id=user_id):
        if role != Role.OWNER or _owner_count(db, workspace_id=workspace.id) > 1:
            continue
        members = (
            db.scalar(select(func.count()).select_from(Membership).where(Membership.workspace_id == workspace.id)) or 0
        )
        if members > 1:
            result.append(workspace)
    return result


def drop_user(db: Session, *, user_id: str, actor: Actor) -> None:
    """Remove a departing user everywhere: workspaces they alone used are deleted with them."""
    for workspace, _role in list_for_user(db, user_id=user_id):
        members = (
            db.scalar(select(func.count()).select_from(Membership).where(Membership.workspace_id == workspace.id)) or 0
        )
        if members <= 1:
            workspace.deleted_at = utcnow()
            workspace_deleted.send(db, workspace)
            audit.record(
                db,
                actor=actor,
                action="workspace.deleted",
                workspace_id=workspace.id,
                target_type="workspace",
                target_id=workspace.id,
                summary={"reason": "owner_account_deleted"},
            )
    for membership in db.scalars(select(Membership).where(Membership.user_id == user_id)):
        db.delete(membership)


# ---- invitations ----


def _invitation_link(ctx: AppContext, token: str) -> str:
    return f"{ctx.settings.public_url}/accept-invitation?token={token}"


def _mail_invitation(
    db: Session, *, ctx: AppContext, access: WorkspaceAccess, invitation: Invitation, token: str
) -> None:
    ctx.mailer.send_after_commit(
        db,
        template="invitation",
        to=invitation.email,
        context={
            "link": _invitation_link(ctx, token),
            "workspace_name": access.workspace.name,
            "inviter_name": access.user.name if access.user else access.workspace.name,
            "role": invitation.role,
            "email": invitation.email,
            "days": ctx.settings.invitation_ttl_days,
        },
        workspace_id=access.workspace.id,
    )


def create_invitation(db: Session, *, ctx: AppContext, access: WorkspaceAccess, email: str, role: Role) -> Invitation:
    """Invite `email` with `role` (admins only); the invitee gets an email with a one-time link."""
    access.require(Role.ADMIN)
    if not access.role.at_least(role):
        raise Forbidden("An invitation cannot grant a role above your own.", code="role_too_high")
    already_member = db.scalar(
        select(Membership.id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == access.workspace_id, User.email == email)
    )
    if already_member:
        raise Conflict("This person is already a member of the workspace.", code="already_member")
    pending = db.scalar(
        select(Invitation).where(
            Invitation.workspace_id == access.workspace_id,
            Invitation.email == email,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > utcnow(),
        )
    )
    if pending is not None:
        raise Conflict(
            "There is already a pending invitation for this email; resend or revoke it.",
            code="already_invited",
            details={"invitation_id": pending.id},
        )
    token = new_token()
    invitation = Invitation(
        workspace_id=access.workspace_id,
        email=email,
        role=role.value,
        token_hash=hash_token(token),
        invited_by=access.user.id if access.user else None,
        expires_at=utcnow() + timedelta(days=ctx.settings.invitation_ttl_days),
    )
    db.add(invitation)
    db.flush()
    _mail_invitation(db, ctx=ctx, access=access, invitation=invitation, token=token)
    audit.record(
        db,
        actor=access.actor,
        action="workspace.invitation.created",
        workspace_id=access.workspace_id,
        target_type="invitation",
        target_id=invitation.id,
        summary={"email": email, "role": role.value},
    )
    return invitation


def list_invitations(db: Session, *, workspace_id: str) -> list[Invitation]:
    """Every invitation of the workspace, pending or not, newest first."""
    return list(
        db.scalars(select(Invitation).where(Invitation.workspace_id == workspace_id).order_by(Invitation.id.desc()))
    )


def _pending_invitation(db: Session, *, workspace_id: str, invitation_id: str) -> Invitation:
    invitation = db.get(Invitation, invitation_id)
    if invitation is None or invitation.workspace_id != workspace_id:
        raise NotFound("Invitation not found.", code="invitation_not_found")
    if invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise Conflict("This invitation was already accepted or revoked.", code="invitation_closed")
    return invitation


def revoke_invitation(db: Session, *, access: WorkspaceAccess, invitation_id: str) -> Invitation:
    """Withdraw a pending invitation (admins only) so its link stops working."""
    access.require(Role.ADMIN)
    invitation = _pending_invitation(db, workspace_id=access.workspace_id, invitation_id=invitation_id)
    invitation.revoked_at = utcnow()
    audit.record(
        db,
        actor=access.actor,
        action="workspace.invitation.revoked",
        workspace_id=access.workspace_id,
        target_type="invitation",
        target_id=invitation.id,
        summary={"email": invitation.email},
    )
    return invitation


def resend_invitation(db: Session, *, ctx: AppContext, access: WorkspaceAccess, invitation_id: str) -> Invitation:
    """A fresh link and a fresh validity period; the previous link stops working."""
    access.require(Role.ADMIN)
    invitation = _pending_invitation(db, workspace_id=access.workspace_id, invitation_id=invitation_id)
    token = new_token()
    invitation.token_hash = hash_token(token)
    invitation.expires_at = utcnow() + timedelta(days=ctx.settings.invitation_ttl_days)
    _mail_invitation(db, ctx=ctx, access=access, invitation=invitation, token=token)
    audit.record(
        db,
        actor=access.actor,
        action="workspace.invitation.resent",
        workspace_id=access.workspace_id,
        target_type="invitation",
        target_id=invitation.id,
        summary={"email": invitation.email},
    )
    return invitation


def find_open_invitation(db: Session, *, token: str) -> tuple[Invitation, Workspace]:
    """The invitation a mailed token names, if it can still be accepted."""
    invitation = db.scalar(select(Invitation).where(Invitation.token_hash == hash_token(token)))
    if invitation is None or invitation.revoked_at is not None or invitation.accepted_at is not None:
        raise BadRequest("This invitation link is not valid or was already used.", code="invalid_token")
    if as_utc(invitation.expires_at) <= utcnow():
        raise BadRequest("This invitation has expired; ask for a new one.", code="token_expired")
    workspace = db.get(Workspace, invitation.workspace_id)
    if workspace is None or workspace.deleted_at is not None:
        raise BadRequest("The workspace of this invitation no longer exists.", code="invalid_token")
    return invitation, workspace


def accept_invitation(db: Session, *, token: str, user: User, actor: Actor) -> Workspace:
    """Join the workspace through an invitation sent to the user's verified email; each link works once."""
    invitation, workspace = find_open_invitation(db, token=token)
    if user.email != invitation.email:
        raise Forbidden("This invitation was sent to another email address.", code="invitation_email_mismatch")
    if not user.email_verified:
        raise Forbidden("Verify your email address before accepting an invitation.", code="email_not_verified")
    # Claim the invitation with a conditional update so a link used twice at once admits one member.
    claimed = affected(
        db,
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.accepted_at.is_(None))
        .values(accepted_at=utcnow(), accepted_by=user.id),
    )
    if not claimed:
        raise BadRequest("This invitation link was already used.", code="invalid_token")
    existing = db.scalar(
        select(Membership).where(Membership.workspace_id == workspace.id, Membership.user_id == user.id)
    )
    if existing is None:
        db.add(Membership(workspace_id=workspace.id, user_id=user.id, role=invitation.role))
    elif Role(invitation.role).rank > Role(existing.role).rank:
        existing.role = invitation.role
    audit.record(
        db,
        actor=actor,
        action="workspace.invitation.accepted",
        workspace_id=workspace.id,
        target_type="invitation",
        target_id=invitation.id,
        summary={"email": user.email, "role": invitation.role},
    )
    return workspace


def record_unrecognized_sign_in(db: Session, event: accounts.UnrecognizedSignIn) -> None:
    """A member signed in from a new country or device: one audit event in each workspace they belong to, so its
    admins see it beside everything else in that workspace's log. It names the place and the device, not the IP
    address or the full user agent, which stay in the member's own security log."""
    workspace_ids = db.scalars(
        select(Membership.workspace_id)
        .join(Workspace, Workspace.id == Membership.workspace_id)
        .where(Membership.user_id == event.user_id, Workspace.deleted_at.is_(None))
    ).all()
    reasons = [name for name, new in (("new_country", event.new_country), ("new_device", event.new_device)) if new]
    for workspace_id in workspace_ids:
        audit.record(
            db,
            actor=Actor(user_id=event.user_id),
            action="user.sign_in_unrecognized",
            workspace_id=workspace_id,
            target_type="session",
            target_id=event.session_id,
            summary={"reasons": reasons, "country": event.country, "city": event.city, "device": event.device},
        )


accounts.sign_in_unrecognized.connect(record_unrecognized_sign_in)
