"""HTTP routes for signup, login, tokens, sessions, password reset and the signed-in user's profile, and the cookie
sessions of browsers (the console)."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Cookie, Header, Request, Response

from voxhub.accounts import service
from voxhub.accounts.devices import describe_device
from voxhub.accounts.models import User
from voxhub.accounts.schemas import (
    AcceptedOut,
    AccessTokenOut,
    EmailIn,
    LoginIn,
    PasswordChangeIn,
    PasswordIn,
    PasswordResetConfirmIn,
    ProfilePatch,
    RefreshIn,
    SessionOut,
    SessionRevokedOut,
    SignupIn,
    TokenIn,
    TokenPairOut,
    UserOut,
)
from voxhub.audit.schemas import PlaceOut
from voxhub.deps import AnonymousActor, Ctx, CurrentUser, DbSession
from voxhub.errors import Forbidden, Unauthorized, responses
from voxhub.pagination import Page
from voxhub.workspaces import flows

auth = APIRouter(prefix="/api/v1/auth", tags=["auth"])
me = APIRouter(prefix="/api/v1/me", tags=["me"])
browser = APIRouter(prefix="/api/v1/auth/browser", tags=["auth"])

# A browser keeps its refresh token where scripts cannot read it (an httpOnly cookie sent only to these routes) and
# its access token in memory. The cookie goes out with any request to these routes, so each also needs the CSRF
# token: a second cookie that scripts of this origin can read and echo in a header, which another site cannot.
REFRESH_COOKIE = "vx_refresh"
CSRF_COOKIE = "vx_csrf"
CSRF_HEADER = "X-CSRF-Token"


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
    """Every active login of the signed-in user, most recently used first, with its device and the place of its IP."""
    return Page(
        items=[
            SessionOut(
                id=s.id,
                user_agent=s.user_agent,
                device=s.device or describe_device(s.user_agent),
                ip=s.ip,
                place=PlaceOut.of(s.country, s.city),
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


@auth.post(
    "/sessions/revoke-from-alert", summary="Sign out a session from a sign-in alert", responses=responses(400, 422)
)
def revoke_session_from_alert(body: TokenIn, db: DbSession, ctx: Ctx, actor: AnonymousActor) -> SessionRevokedOut:
    """The "this was not me" link of a sign-in alert mail: signs out the one session the mail was about, without
    signing in. The token works for that session only; following it again changes nothing."""
    done = service.revoke_session_by_link(db, ctx=ctx, token=body.token, actor=actor)
    return SessionRevokedOut(
        session_id=done.session_id, status="already_signed_out" if done.already_signed_out else "revoked"
    )


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


def set_browser_cookies(response: Response, request: Request, *, ctx_ttl_days: int, refresh_token: str) -> None:
    """The refresh token (httpOnly, sent only to the browser-session routes) and a fresh CSRF token."""
    secure = request.url.scheme == "https"
    max_age = ctx_ttl_days * 86400
    response.set_cookie(
        REFRESH_COOKIE,
        refresh_token,
        max_age=max_age,
        path=browser.prefix,
        httponly=True,
        secure=secure,
        samesite="strict",
    )
    response.set_cookie(
        CSRF_COOKIE, secrets.token_urlsafe(32), max_age=max_age, path="/", secure=secure, samesite="strict"
    )


def clear_browser_cookies(response: Response) -> None:
    response.delete_cookie(REFRESH_COOKIE, path=browser.prefix, httponly=True, samesite="strict")
    response.delete_cookie(CSRF_COOKIE, path="/", samesite="strict")


def browser_refresh_token(refresh: str | None, csrf_cookie: str | None, csrf_header: str | None) -> str:
    """The cookie's refresh token, once the request proves it comes from a page of this origin."""
    if not refresh:
        raise Unauthorized("This browser is not signed in.", code="not_authenticated")
    if not (csrf_cookie and csrf_header and hmac.compare_digest(csrf_cookie.encode(), csrf_header.encode())):
        raise Forbidden(f"Send the {CSRF_COOKIE} cookie's value in the {CSRF_HEADER} header.", code="csrf_failed")
    return refresh


RefreshCookie = Annotated[str | None, Cookie(alias=REFRESH_COOKIE, max_length=512)]
CsrfCookie = Annotated[str | None, Cookie(alias=CSRF_COOKIE, max_length=128)]
CsrfHeader = Annotated[str | None, Header(alias=CSRF_HEADER, max_length=128)]


@browser.post("/login", summary="Sign a browser in", responses=responses(401, 422, 429))
def browser_login(
    body: LoginIn, request: Request, response: Response, db: DbSession, ctx: Ctx, actor: AnonymousActor
) -> AccessTokenOut:
    """Like `/auth/login`, but the refresh token goes into an httpOnly, SameSite=Strict cookie (Secure over HTTPS)
    instead of the body, with a CSRF token in a cookie that the page echoes in `X-CSRF-Token`. Keep the access token
    in memory and get the next one from `/auth/browser/refresh`."""
    pair = service.login(db, ctx=ctx, email=body.email, password=body.password, actor=actor)
    set_browser_cookies(
        response, request, ctx_ttl_days=ctx.settings.refresh_token_ttl_days, refresh_token=pair.refresh_token
    )
    return AccessTokenOut(access_token=pair.access_token, expires_in=pair.expires_in)


@browser.post("/refresh", summary="A new access token for a signed-in browser", responses=responses(401, 403))
def browser_refresh(
    request: Request,
    response: Response,
    db: DbSession,
    ctx: Ctx,
    actor: AnonymousActor,
    refresh_cookie: RefreshCookie = None,
    csrf_cookie: CsrfCookie = None,
    csrf_header: CsrfHeader = None,
) -> AccessTokenOut:
    """Spends the cookie's refresh token (needs `X-CSRF-Token`) and sets the next one. Tabs of one browser share the
    cookie: refresh from one tab at a time, since a token presented twice signs that login out."""
    token = browser_refresh_token(refresh_cookie, csrf_cookie, csrf_header)
    pair = service.refresh(db, ctx=ctx, refresh_token=token, actor=actor)
    set_browser_cookies(
        response, request, ctx_ttl_days=ctx.settings.refresh_token_ttl_days, refresh_token=pair.refresh_token
    )
    return AccessTokenOut(access_token=pair.access_token, expires_in=pair.expires_in)


@browser.post("/logout", status_code=204, summary="Sign a browser out", responses=responses(401, 403))
def browser_logout(
    db: DbSession,
    actor: AnonymousActor,
    refresh_cookie: RefreshCookie = None,
    csrf_cookie: CsrfCookie = None,
    csrf_header: CsrfHeader = None,
) -> Response:
    """Ends the cookie's login (needs `X-CSRF-Token`) and clears the cookies."""
    token = browser_refresh_token(refresh_cookie, csrf_cookie, csrf_header)
    service.logout_refresh_token(db, refresh_token=token, actor=actor)
    response = Response(status_code=204)
    clear_browser_cookies(response)
    return response
