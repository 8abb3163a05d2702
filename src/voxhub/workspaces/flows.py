"""Flows that span accounts and workspaces: signing up with a personal workspace (or through an invitation), and
deleting an account once its workspaces are settled. They live here, above both rooms, so accounts never calls up."""

from __future__ import annotations

from sqlalchemy.orm import Session

from voxhub.accounts import service as accounts
from voxhub.accounts.models import User
from voxhub.audit.service import Actor
from voxhub.context import AppContext
from voxhub.errors import Conflict, Forbidden
from voxhub.security import verify_password
from voxhub.workspaces import service as workspaces


def create_user(
    db: Session, *, email: str, password: str, name: str, actor: Actor, verified: bool = False, superuser: bool = False
) -> User:
    """Create a user and their personal workspace."""
    user = accounts.create_user(
        db, email=email, password=password, name=name, actor=actor, verified=verified, superuser=superuser
    )
    workspaces.create_workspace(
        db,
        owner=user,
        name=f"{user.name}'s workspace",
        actor=Actor(user.id, None, actor.ip, actor.user_agent),
        personal=True,
    )
    return user


def signup(
    db: Session,
    *,
    ctx: AppContext,
    email: str,
    password: str,
    name: str,
    actor: Actor,
    invitation_token: str | None = None,
) -> User:
    """Create an account and its personal workspace. Signing up through an invitation link proves the mailbox."""
    email = accounts.normalize_email(email)
    invitation = None
    if invitation_token:
        invitation, _workspace = workspaces.find_open_invitation(db, token=invitation_token)
        if invitation.email != email:
            raise Forbidden("This invitation was sent to another email address.", code="invitation_email_mismatch")
    user = create_user(db, email=email, password=password, name=name, actor=actor, verified=invitation is not None)
    if invitation_token:
        workspaces.accept_invitation(
            db, token=invitation_token, user=user, actor=Actor(user.id, None, actor.ip, actor.user_agent)
        )
    else:
        accounts.send_verification(db, ctx=ctx, user=user)
    return user


def delete_account(db: Session, *, user: User, password: str, actor: Actor) -> None:
    """Anonymise the account and free its email. Workspaces others depend on must be handed over first."""
    if not verify_password(user.password_hash, password):
        raise Forbidden("The password is not correct.", code="wrong_password")
    blocking = workspaces.sole_owned_with_others(db, user_id=user.id)
    if blocking:
        raise Conflict(
            "You are the only owner of workspaces that have other members; transfer ownership first.",
            code="transfer_ownership_first",
            details={"workspace_ids": [workspace.id for workspace in blocking]},
        )
    workspaces.drop_user(db, user_id=user.id, actor=actor)
    accounts.delete_account(db, user=user, actor=actor)
