"""HTTP routes for signup, login, tokens, sessions, password reset and the signed-in user's profile."""

from __future__ import annotations

from fastapi import APIRouter, Response

from voxhub.accounts import service
from voxhub.accounts.models import User
from voxhub.accounts.schemas import (
    AcceptedOut,
    EmailIn,
    LoginIn,
    PasswordChangeIn,
    PasswordIn,
    PasswordResetConfirmIn,
    ProfilePatch,
    RefreshIn,
    SessionOut,
    SignupIn,
    TokenIn,
    TokenPairOut,
    UserOut,
)
from voxhub.deps import AnonymousActor, Ctx, CurrentUser, DbSession
from voxhub.errors import responses
from voxhub.pagination import Page
from voxhub.workspaces import flows

auth = APIRouter(prefix="/api/v1/auth", tags=["auth"])
me = APIRouter(prefix="/api/v1/me", tags=["me"])


def user_out(user: User) -> UserOut:
    return UserOut.model_validate(user)


def pair_out(pair: service.TokenPair) -> TokenPairOut:
    return TokenPairOut(access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in)


@auth.post("/signup", status_code=201, summary="Create an account", responses=responses(403, 409, 422, 400))
def signup(body: SignupIn, db: DbSession, ctx: Ctx, actor: AnonymousActor) -> UserOut:
    """Create an account and its personal workspace, and mail a link to verify the address."""
    return user_out(
        flows.signup(
            db,
            ctx=ctx,
            email=body.email,
            password=body.password,
            name=body.name,
            actor=actor,
            invitation_token=body.invitation_token,
        )
    )


@auth.post("/verify-email", summary="Verify an email address", responses=responses(400, 422))
def verify_email(body: TokenIn, db: DbSession, actor: AnonymousActor) -> UserOut:
    """Confirm the address with the token from the verification mail; each token works once."""
    return user_out(service.verify_email(db, token=body.token, actor=actor))


@auth.post(
    "/resend-verification", status_code=202, summary="Send the verification mail again", responses=responses(422)
)
def resend_verification(body: EmailIn, db: DbSession, ctx: Ctx) -> AcceptedOut:
    """Mail a fresh verification link if the address has an unverified account; the answer never tells."""
    service.resend_verification(db, ctx=ctx, email=body.email)
    return AcceptedOut(message="If this address has an unverified account, a new link is on its way.")


@auth.post("/login", summary="Sign in", responses=responses(401, 422, 429))
def login(body: LoginIn, db: DbSession, ctx: Ctx, actor: AnonymousActor) -> TokenPairOut:
    """Exchange email and password for a 15-minute access token and a 30-day refresh token."""
    return pair_out(service.login(db, ctx=ctx, email=body.email, password=body.password, actor=actor))


@auth.post("/refresh", summary="Rotate the refresh token", responses=responses(401, 422))
def refresh(body: RefreshIn, db: DbSession, ctx: Ctx, actor: AnonymousActor) -> TokenPairOut:
    """Spend a refresh token for a new pair. Presenting a spent token signs that login out everywhere."""
    return pair_out(service.refresh(db, ctx=ctx, refresh_token=body.refresh_token, actor=actor))


@auth.post("/logout", status_code=204, summary="Sign out", responses=responses(401))
def logout(db: DbSession, me: CurrentUser) -> Response:
    """End the current login: its refresh token stops working and its access token is refused."""
    service.logout(db, user=me.user, session_id=me.session.id, actor=me.actor)
    return Response(status_code=204)


@auth.get("/sessions", summary="List my sessions", responses=responses(401, 403))
def list_sessions(db: DbSession, me: CurrentUser) -> Page[SessionOut]:
    """Every active login of the signed-in user, most recently used first."""
    return Page(
        items=[
            SessionOut(
                id=s.id,
                user_agent=s.user_agent,
                ip=s.ip,
                created_at=s.created_at,
                last_used_at=s.last_used_at,
                expires_at=s.expires_at,
                current=s.id == me.session.id,
            )
            for s in service.list_sessions(db, user_id=me.user.id)
        ]
    )


@auth.delete("/sessions/{session_id}", status_code=204, summary="Revoke a session", responses=responses(401, 403, 404))
def revoke_session(session_id: str, db: DbSession, me: CurrentUser) -> Response:
    """Sign one of my logins out."""
    service.revoke_session(db, user=me.user, session_id=session_id, actor=me.actor)
    return Response(status_code=204)


@auth.post("/password-reset", status_code=202, summary="Ask for a password reset", responses=responses(422))
def password_reset(body: EmailIn, db: DbSession, ctx: Ctx, actor: AnonymousActor) -> AcceptedOut:
    """Mail a reset link if the account exists. Always 202, so it cannot be used to find accounts."""
    service.request_password_reset(db, ctx=ctx, email=body.email, actor=actor)
    return AcceptedOut(message="If this address has an account, a reset link is on its way.")


@auth.post("/password-reset/confirm", summary="Set a new password with a reset token", responses=responses(400, 422))
def password_reset_confirm(body: PasswordResetConfirmIn, db: DbSession, actor: AnonymousActor) -> UserOut:
    """Choose a new password; every session of the account is signed out."""
    return user_out(service.confirm_password_reset(db, token=body.token, new_password=body.new_password, actor=actor))


@me.get("", summary="Get my profile", responses=responses(401, 403))
async def get_me(me: CurrentUser) -> UserOut:
    """The signed-in user."""
    return user_out(me.user)


@me.patch("", summary="Update my profile", responses=responses(401, 403, 422))
def patch_me(body: ProfilePatch, db: DbSession, me: CurrentUser) -> UserOut:
    """Change name, avatar URL or time zone."""
    user = service.update_profile(
        db,
        user=me.user,
        actor=me.actor,
        name=body.name,
        avatar_url=str(body.avatar_url) if body.avatar_url else None,
        timezone=body.timezone,
        fields_set=body.model_fields_set,
    )
    return user_out(user)


@me.post("/password", status_code=204, summary="Change my password", responses=responses(401, 403, 422))
def change_password(body: PasswordChangeIn, db: DbSession, me: CurrentUser) -> Response:
    """Needs the current password; every other session is signed out."""
    service.change_password(
        db,
        user=me.user,
        current_session_id=me.session.id,
        current_password=body.current_password,
        new_password=body.new_password,
        actor=me.actor,
    )
    return Response(status_code=204)


@me.delete("", status_code=204, summary="Delete my account", responses=responses(401, 403, 409, 422))
def delete_me(body: PasswordIn, db: DbSession, me: CurrentUser) -> Response:
    """Delete the account (confirm with the password). Sole owners of shared workspaces must hand them over first."""
    flows.delete_account(db, user=me.user, password=body.password, actor=me.actor)
    return Response(status_code=204)
