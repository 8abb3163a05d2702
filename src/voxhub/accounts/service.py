"""Accounts: signup, email verification, login with rotating refresh tokens, sessions, password reset, profile."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import available_timezones

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from voxhub import geo
from voxhub.accounts.devices import describe_device
from voxhub.accounts.models import LoginAttempt, LoginSession, RefreshToken, User, UserToken
from voxhub.audit import service as audit
from voxhub.audit.service import Actor
from voxhub.clock import as_utc, utcnow
from voxhub.context import AppContext
from voxhub.db import affected
from voxhub.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
    field_errors,
)
from voxhub.hooks import Hook
from voxhub.security import (
    hash_password,
    hash_token,
    new_token,
    password_needs_rehash,
    password_weakness,
    verify_password,
)

VERIFY_EMAIL = "verify_email"
PASSWORD_RESET = "password_reset"
SIGNIN_ALERT = "signin_alert"
# The purpose of the signed token in a sign-in alert's link: it signs out the one session it names, nothing else.
REVOKE_SESSION_PURPOSE = "revoke_session"
# Why a session ended when its owner followed the alert's link: such a sign-in was not them, so its country and
# device do not become "known" for later comparisons.
REVOKED_FROM_ALERT = "not_me"


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    message = "The email or password is not correct."
    keep_changes = True  # the failed attempt must be counted even though the request fails


class LockedOut(TooManyRequests):
    code = "too_many_attempts"
    message = "Too many failed sign-in attempts; try again later."
    keep_changes = True


class RefreshTokenReused(Unauthorized):
    code = "refresh_token_reused"
    message = "This refresh token was already used; every token of this login has been revoked. Sign in again."
    keep_changes = True


@dataclass(frozen=True)
class UnrecognizedSignIn:
    """A sign-in from a country or a device the account has not signed in from before."""

    user_id: str
    session_id: str
    new_country: bool
    new_device: bool
    country: str | None
    city: str | None
    device: str


# Sent in the sign-in's transaction; workspaces records it in the audit log of each workspace the user belongs to.
sign_in_unrecognized: Hook[UnrecognizedSignIn] = Hook("accounts.sign_in_unrecognized")


@dataclass(frozen=True)
class SessionRevokedByLink:
    session_id: str
    already_signed_out: bool


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: str


# ---- small rules ----


def normalize_email(email: str) -> str:
    """Trimmed, validated and lower-cased, so one address is one account whatever its spelling."""
    try:
        normalized = validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise Unprocessable(str(exc), code="invalid_email", details=field_errors(("email", str(exc)))) from exc
    return normalized.lower()


def check_password_strength(password: str) -> None:
    """Refuse a weak password with 422 `weak_password`, naming the reason under the `password` field."""
    reason = password_weakness(password)
    if reason:
        raise Unprocessable(reason, code="weak_password", details=field_errors(("password", reason)))


def require_verified_email(ctx: AppContext, user: User | None) -> None:
    """Anything that spends resources (uploads, jobs) needs a verified email unless the operator turned it off."""
    if user is not None and ctx.settings.require_verified_email and not user.email_verified:
        raise Forbidden("Verify your email address first; we sent you a link.", code="email_not_verified")


def get_by_email(db: Session, email: str) -> User | None:
    """The active (not deleted) user with this email, or None."""
    return db.scalar(select(User).where(User.email == email, User.deleted_at.is_(None)))


# ---- signup and email verification ----


def create_user(
    db: Session, *, email: str, password: str, name: str, actor: Actor, verified: bool = False, superuser: bool = False
) -> User:
    """Write a new user (the personal workspace comes from `workspaces.flows.create_user`, above both rooms)."""
    email = normalize_email(email)
    check_password_strength(password)
    if get_by_email(db, email) is not None:
        raise Conflict("An account with this email already exists.", code="email_taken")
    user = User(
        email=email,
        name=name.strip() or email.split("@")[0],
        password_hash=hash_password(password),
        email_verified_at=utcnow() if verified else None,
        is_superuser=superuser,
    )
    db.add(user)
    db.flush()
    audit.record(
        db, actor=actor, action="user.signed_up", target_type="user", target_id=user.id, summary={"email": email}
    )
    return user


def _issue_user_token(db: Session, *, user: User | None, purpose: str, ttl: timedelta) -> str:
    """A one-time link's token, its hash stored for `user`. With no user it is made and hashed all the same, and
    stored nowhere: asking for a link costs the same whether or not the account exists."""
    token = new_token()
    token_hash = hash_token(token)
    if user is not None:
        db.add(
            UserToken(
                user_id=user.id, purpose=purpose, token_hash=token_hash, email=user.email, expires_at=utcnow() + ttl
            )
        )
    return token


def _consume_user_token(db: Session, *, token: str, purpose: str) -> User:
    row = db.scalar(select(UserToken).where(UserToken.token_hash == hash_token(token), UserToken.purpose == purpose))
    if row is None or row.used_at is not None:
        raise BadRequest("This link is not valid or was already used.", code="invalid_token")
    if as_utc(row.expires_at) <= utcnow():
        raise BadRequest("This link has expired; ask for a new one.", code="token_expired")
    user = db.get(User, row.user_id)
    if user is None or user.deleted_at is not None or user.email != row.email:
        raise BadRequest("This link is not valid or was already used.", code="invalid_token")
    claimed = affected(
        db, update(UserToken).where(UserToken.id == row.id, UserToken.used_at.is_(None)).values(used_at=utcnow())
    )
    if not claimed:
        raise BadRequest("This link was already used.", code="invalid_token")
    return user


def send_verification(db: Session, *, ctx: AppContext, user: User) -> None:
    """Mail the user a fresh email-verification link (sent once the transaction commits)."""
    hours = ctx.settings.email_token_ttl_h
    token = _issue_user_token(db, user=user, purpose=VERIFY_EMAIL, ttl=timedelta(hours=hours))
    ctx.mailer.send_after_commit(
        db,
        template=VERIFY_EMAIL,
        to=user.email,
        context={"name": user.name, "link": f"{ctx.settings.public_url}/verify-email?token={token}", "hours": hours},
    )


def resend_verification(db: Session, *, ctx: AppContext, email: str) -> None:
    """Answers the same whether or not the address has an account, so it reveals nothing."""
    try:
        user = get_by_email(db, normalize_email(email))
    except Unprocessable:
        return
    if user is not None and not user.email_verified:
        send_verification(db, ctx=ctx, user=user)


def verify_email(db: Session, *, token: str, actor: Actor) -> User:
    """Mark the user's email verified, using up the link's one-time token (400 if used, expired or unknown)."""
    user = _consume_user_token(db, token=token, purpose=VERIFY_EMAIL)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
        audit.record(db, actor=actor, action="user.email_verified", target_type="user", target_id=user.id)
    return user


# ---- login, refresh, logout ----


def _failures_since(db: Session, column: object, value: str, since: datetime) -> tuple[int, datetime | None]:
    count, oldest = db.execute(
        select(func.count(), func.min(LoginAttempt.created_at)).where(column == value, LoginAttempt.created_at > since)  # type: ignore[arg-type]
    ).one()
    return count, oldest


def _locked_for(db: Session, *, column: object, value: str, limit: int, window: timedelta) -> int | None:
    """Seconds until the oldest of `limit` or more recent failures counted against `value` leaves the window (the
    Retry-After of its lock); None while there are fewer."""
    count, oldest = _failures_since(db, column, value, utcnow() - window)
    if count < limit or oldest is None:
        return None
    return int((as_utc(oldest) + window - utcnow()).total_seconds()) + 1


def _signed_in_before_from(db: Session, *, user_id: str, ip: str) -> bool:
    return (
        db.scalar(select(LoginSession.id).where(LoginSession.user_id == user_id, LoginSession.ip == ip).limit(1))
        is not None
    )


def _record_failure(db: Session, *, ctx: AppContext, email: str, user: User | None, actor: Actor) -> None:
    db.add(LoginAttempt(email=email, ip=actor.ip[:64]))
    if user is None:
        return
    audit.security_event(db, user_id=user.id, kind="login.failed", actor=actor)
    db.flush()
    failures, _ = _failures_since(
        db, LoginAttempt.email, email, utcnow() - timedelta(seconds=ctx.settings.login_window_s)
    )
    if failures >= ctx.settings.login_max_failures_per_email:
        audit.security_event(db, user_id=user.id, kind="login.locked_out", actor=actor, details={"failures": failures})


def _start_session(db: Session, *, ctx: AppContext, user: User, actor: Actor) -> tuple[LoginSession, TokenPair]:
    settings = ctx.settings
    place = geo.locate(actor.ip)
    session = LoginSession(
        user_id=user.id,
        user_agent=actor.user_agent[:500],
        ip=actor.ip[:64],
        country=place.country if place else None,
        city=place.city if place else None,
        device=describe_device(actor.user_agent),
        expires_at=utcnow() + timedelta(days=settings.refresh_token_ttl_days),
    )
    db.add(session)
    db.flush()
    return session, _issue_pair(db, ctx=ctx, user_id=user.id, session=session)


def _compare_with_earlier_sign_ins(db: Session, *, session: LoginSession) -> UnrecognizedSignIn | None:
    """What is new about this sign-in next to the account's earlier ones (revoked and expired included, except those
    its owner disowned from an alert). None on the very first sign-in, which has nothing to compare with, and when
    nothing is new. A sign-in with no place (a private address) is never from a new country, and the first placed
    one is not either: there is no country to compare it with yet."""
    earlier = db.execute(
        select(LoginSession.country, LoginSession.device, LoginSession.user_agent)
        .where(
            LoginSession.user_id == session.user_id,
            LoginSession.id != session.id,
            LoginSession.revoked_reason.is_distinct_from(REVOKED_FROM_ALERT),
        )
        .distinct()
    ).all()
    if not earlier:
        return None
    countries = {country for country, _, _ in earlier if country}
    devices = {device or describe_device(user_agent) for _, device, user_agent in earlier}
    new_country = bool(session.country and countries and session.country not in countries)
    new_device = session.device not in devices
    if not (new_country or new_device):
        return None
    return UnrecognizedSignIn(
        user_id=session.user_id,
        session_id=session.id,
        new_country=new_country,
        new_device=new_device,
        country=session.country,
        city=session.city,
        device=session.device or "unknown",
    )


def _alert_unrecognized_sign_in(
    db: Session, *, ctx: AppContext, user: User, session: LoginSession, actor: Actor, found: UnrecognizedSignIn
) -> None:
    """Record the sign-in in the user's security log, tell the admins of their workspaces (the hook), and mail the
    user a "was this you?" with a link that signs out this session and no other."""
    place = geo.Place(found.country, geo.country_name(found.country), found.city) if found.country else None
    reasons = [reason for reason, new in (("new_country", found.new_country), ("new_device", found.new_device)) if new]
    audit.security_event(
        db,
        user_id=user.id,
        kind="login.unrecognized",
        actor=actor,
        details={"session_id": session.id, "reasons": reasons, "device": found.device},
    )
    sign_in_unrecognized.send(db, found)
    days = ctx.settings.refresh_token_ttl_days
    token, _ = ctx.keyring.sign_purpose_token(
        {"sub": user.id, "sid": session.id}, purpose=REVOKE_SESSION_PURPOSE, ttl=timedelta(days=days)
    )
    ctx.mailer.send_after_commit(
        db,
        template=SIGNIN_ALERT,
        to=user.email,
        context={
            "name": user.name,
            "when": f"{session.created_at:%Y-%m-%d %H:%M} UTC",
            "place": str(place) if place else "an unknown place",
            "new_country": found.new_country,
            "device": found.device,
            "new_device": found.new_device,
            "ip": session.ip or "unknown",
            "link": f"{ctx.settings.public_url}/revoke-session?token={token}",
            "days": days,
        },
    )


def _issue_pair(db: Session, *, ctx: AppContext, user_id: str, session: LoginSession) -> TokenPair:
    settings = ctx.settings
    refresh = new_token()
    db.add(
        RefreshToken(
            session_id=session.id,
            token_hash=hash_token(refresh),
            expires_at=utcnow() + timedelta(days=settings.refresh_token_ttl_days),
        )
    )
    access, _ = ctx.keyring.sign_jwt(
        {"sub": user_id, "sid": session.id, "typ": "access"}, timedelta(seconds=settings.access_token_ttl_s)
    )
    return TokenPair(
        access_token=access, refresh_token=refresh, expires_in=settings.access_token_ttl_s, session_id=session.id
    )


def login(db: Session, *, ctx: AppContext, email: str, password: str, actor: Actor) -> TokenPair:
    """A token pair for the right password. Failures are counted per email and per IP address. Past the email's
    limit even the right password waits. Past the address's limit its failures are refused, but the right password
    of an account already signed in from that address still gets in: one guesser behind an office's shared address
    does not lock the office out, and a list of stolen passwords tried from it learns nothing."""
    try:
        email = normalize_email(email)
    except Unprocessable:
        email = email.strip().lower()
    settings, ip = ctx.settings, actor.ip[:64]
    window = timedelta(seconds=settings.login_window_s)
    email_lock = _locked_for(
        db, column=LoginAttempt.email, value=email, limit=settings.login_max_failures_per_email, window=window
    )
    if email_lock is not None:
        raise LockedOut(retry_after_s=email_lock)
    ip_lock = _locked_for(db, column=LoginAttempt.ip, value=ip, limit=settings.login_max_failures_per_ip, window=window)
    user = get_by_email(db, email)
    if not verify_password(user.password_hash if user else None, password) or user is None:
        _record_failure(db, ctx=ctx, email=email, user=user, actor=actor)
        if ip_lock is not None:
            raise LockedOut(retry_after_s=ip_lock)
        raise InvalidCredentials()
    if ip_lock is not None and not _signed_in_before_from(db, user_id=user.id, ip=ip):
        raise LockedOut(retry_after_s=ip_lock)
    db.execute(delete(LoginAttempt).where(LoginAttempt.email == email))
    if password_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)  # the configured cost changed since this hash was made
    session, pair = _start_session(db, ctx=ctx, user=user, actor=actor)
    audit.record(
        db,
        actor=Actor(user.id, None, actor.ip, actor.user_agent),
        action="user.logged_in",
        target_type="session",
        target_id=pair.session_id,
    )
    found = _compare_with_earlier_sign_ins(db, session=session)
    if found is not None:
        _alert_unrecognized_sign_in(db, ctx=ctx, user=user, session=session, actor=actor, found=found)
    return pair


def refresh(db: Session, *, ctx: AppContext, refresh_token: str, actor: Actor) -> TokenPair:
    """Rotate: the presented token is spent and a new pair issued. A spent token presented again revokes the login."""
    row = db.scalar(select(RefreshToken).where(RefreshToken.token_hash == hash_token(refresh_token)))
    if row is None:
        raise Unauthorized("This refresh token is not valid.", code="invalid_refresh_token")
    session = db.get(LoginSession, row.session_id)
    if session is None or session.revoked_at is not None:
        raise Unauthorized("This login has been signed out; sign in again.", code="invalid_refresh_token")
    spent = row.used_at is not None or not affected(
        db,
        update(RefreshToken).where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None)).values(used_at=utcnow()),
    )
    if spent:
        session.revoked_at = utcnow()
        session.revoked_reason = "refresh_token_reuse"
        audit.security_event(
            db, user_id=session.user_id, kind="refresh_token.reused", actor=actor, details={"session_id": session.id}
        )
        raise RefreshTokenReused()
    now = utcnow()
    if as_utc(row.expires_at) <= now or as_utc(session.expires_at) <= now:
        raise Unauthorized("This refresh token has expired; sign in again.", code="invalid_refresh_token")
    user = db.get(User, session.user_id)
    if user is None or user.deleted_at is not None:
        raise Unauthorized("This refresh token is not valid.", code="invalid_refresh_token")
    session.last_used_at = now
    if actor.ip and actor.ip[:64] != session.ip:
        place = geo.locate(actor.ip)
        session.ip = actor.ip[:64]
        session.country, session.city = (place.country, place.city) if place else (None, None)
    # Sliding expiry: a login in use stays signed in; one left alone for the refresh lifetime ends.
    session.expires_at = now + timedelta(days=ctx.settings.refresh_token_ttl_days)
    return _issue_pair(db, ctx=ctx, user_id=user.id, session=session)


def _revoke(session: LoginSession, reason: str) -> None:
    if session.revoked_at is None:
        session.revoked_at = utcnow()
        session.revoked_reason = reason


def revoke_all_sessions(db: Session, *, user_id: str, reason: str, except_session_id: str | None = None) -> int:
    """Sign the user out everywhere (optionally but for one session); returns how many were revoked."""
    query = select(LoginSession).where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
    if except_session_id:
        query = query.where(LoginSession.id != except_session_id)
    sessions = list(db.scalars(query))
    for session in sessions:
        _revoke(session, reason)
    return len(sessions)


def logout(db: Session, *, user: User, session_id: str, actor: Actor) -> None:
    """End one of the user's own login sessions; a session that is not theirs is left alone."""
    session = db.get(LoginSession, session_id)
    if session is not None and session.user_id == user.id:
        _revoke(session, "logout")
        audit.record(db, actor=actor, action="user.logged_out", target_type="session", target_id=session_id)


def logout_refresh_token(db: Session, *, refresh_token: str, actor: Actor) -> None:
    """End the login a refresh token belongs to, spent or not (a browser signing out holds only its cookie's
    token); an unknown token changes nothing."""
    row = db.scalar(select(RefreshToken).where(RefreshToken.token_hash == hash_token(refresh_token)))
    session = db.get(LoginSession, row.session_id) if row is not None else None
    if session is None or session.revoked_at is not None:
        return
    _revoke(session, "logout")
    by_user = Actor(user_id=session.user_id, ip=actor.ip, user_agent=actor.user_agent)
    audit.record(db, actor=by_user, action="user.logged_out", target_type="session", target_id=session.id)


def list_sessions(db: Session, *, user_id: str) -> list[LoginSession]:
    """The user's live login sessions, most recently used first."""
    return list(
        db.scalars(
            select(LoginSession)
            .where(
                LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None), LoginSession.expires_at > utcnow()
            )
            .order_by(LoginSession.last_used_at.desc())
        )
    )


def revoke_session(db: Session, *, user: User, session_id: str, actor: Actor) -> None:
    """End one of the user's own sessions (404 otherwise) and record it as a security event."""
    session = db.get(LoginSession, session_id)
    if session is None or session.user_id != user.id or session.revoked_at is not None:
        raise NotFound("Session not found.", code="session_not_found")
    _revoke(session, "revoked_by_user")
    audit.record(db, actor=actor, action="user.session_revoked", target_type="session", target_id=session_id)
    audit.security_event(db, user_id=user.id, kind="session.revoked", actor=actor, details={"session_id": session_id})


def revoke_session_by_link(db: Session, *, ctx: AppContext, token: str, actor: Actor) -> SessionRevokedByLink:
    """Sign out the session a sign-in alert named, without signing in: the link's token is signed for this purpose
    only and names one session of one user. Following it again answers the same and changes nothing."""
    claims = ctx.keyring.read_purpose_token(token, purpose=REVOKE_SESSION_PURPOSE)
    session = db.get(LoginSession, str(claims.get("sid"))) if claims else None
    if claims is None or session is None or session.user_id != claims.get("sub"):
        raise BadRequest("This link is not valid or has expired.", code="invalid_token")
    if session.revoked_at is not None:
        return SessionRevokedByLink(session_id=session.id, already_signed_out=True)
    _revoke(session, REVOKED_FROM_ALERT)
    by_owner = Actor(user_id=session.user_id, ip=actor.ip, user_agent=actor.user_agent)
    audit.record(db, actor=by_owner, action="user.session_revoked", target_type="session", target_id=session.id)
    audit.security_event(
        db, user_id=session.user_id, kind="session.revoked_from_alert", actor=actor, details={"session_id": session.id}
    )
    return SessionRevokedByLink(session_id=session.id, already_signed_out=False)


# Built once: this runs on every authenticated request, and building the statement costs more than running it.
_SIGNED_IN = (
    select(User, LoginSession)
    .join(LoginSession, LoginSession.user_id == User.id)
    .where(LoginSession.id == bindparam("session_id"), User.id == bindparam("user_id"))
)


def authenticate_access_token(db: Session, *, ctx: AppContext, token: str) -> tuple[User, LoginSession]:
    """The user and login an access token stands for; 401 for a bad, expired or signed-out one."""
    claims = ctx.keyring.read_jwt(token)
    if claims is None or claims.get("typ") != "access":
        raise Unauthorized("The access token is not valid or has expired.", code="invalid_token")
    return signed_in(db, user_id=str(claims["sub"]), session_id=str(claims.get("sid")))


def signed_in(db: Session, *, user_id: str, session_id: str) -> tuple[User, LoginSession]:
    """The user and their login, while the login is live; 401 once it is signed out (or never was)."""
    row = db.execute(_SIGNED_IN, {"session_id": session_id, "user_id": user_id}).first()
    if row is None:
        raise Unauthorized("The access token is not valid or has expired.", code="invalid_token")
    user, session = row
    if user.deleted_at is not None or session.revoked_at is not None:
        raise Unauthorized("This login has been signed out; sign in again.", code="session_revoked")
    return user, session


# ---- password reset and change ----


def request_password_reset(db: Session, *, ctx: AppContext, email: str, actor: Actor) -> None:
    """Same answer, and the same work on the request path, whether or not the account exists: the link's token is
    made and hashed, a row written and the mail rendered either way; only an account's owner is sent it."""
    try:
        address = normalize_email(email)
    except Unprocessable:
        # Not an address, but still the mail's recipient below: nothing in it may start a new header line.
        address = "".join(char for char in email.strip().lower() if char.isprintable())[:320]
    user = get_by_email(db, address)
    hours = ctx.settings.email_token_ttl_h
    token = _issue_user_token(db, user=user, purpose=PASSWORD_RESET, ttl=timedelta(hours=hours))
    if user is not None:
        audit.security_event(db, user_id=user.id, kind="password.reset_requested", actor=actor)
    else:
        # Written in place of the token row: operators see addresses being probed, and the request costs the same.
        audit.record(db, actor=actor, action="user.password_reset_unknown_email", summary={"email": address})
    message = ctx.mailer.render(
        PASSWORD_RESET,
        user.email if user else address,
        {
            "name": user.name if user else "",
            "link": f"{ctx.settings.public_url}/reset-password?token={token}",
            "hours": hours,
        },
    )
    if user is not None:
        ctx.mailer.deliver_after_commit(db, message)


def confirm_password_reset(db: Session, *, token: str, new_password: str, actor: Actor) -> User:
    """Set a new password from a reset link, which also proves the mailbox; every session ends."""
    check_password_strength(new_password)
    user = _consume_user_token(db, token=token, purpose=PASSWORD_RESET)
    user.password_hash = hash_password(new_password)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()  # the reset link proved the mailbox
    revoked = revoke_all_sessions(db, user_id=user.id, reason="password_reset")
    audit.security_event(db, user_id=user.id, kind="password.reset", actor=actor, details={"sessions_revoked": revoked})
    audit.record(
        db,
        actor=Actor(user.id, None, actor.ip, actor.user_agent),
        action="user.password_reset",
        target_type="user",
        target_id=user.id,
    )
    return user


def change_password(
    db: Session, *, user: User, current_session_id: str, current_password: str, new_password: str, actor: Actor
) -> None:
    """Change the password after checking the current one; every other session of the user ends."""
    if not verify_password(user.password_hash, current_password):
        raise Forbidden("The current password is not correct.", code="wrong_password")
    check_password_strength(new_password)
    user.password_hash = hash_password(new_password)
    revoked = revoke_all_sessions(db, user_id=user.id, reason="password_changed", except_session_id=current_session_id)
    audit.security_event(
        db, user_id=user.id, kind="password.changed", actor=actor, details={"sessions_revoked": revoked}
    )
    audit.record(db, actor=actor, action="user.password_changed", target_type="user", target_id=user.id)


# ---- profile and account deletion ----

_TIMEZONES: set[str] | None = None


def _valid_timezone(name: str) -> bool:
    global _TIMEZONES
    if _TIMEZONES is None:
        _TIMEZONES = available_timezones() | {"UTC"}
    return name in _TIMEZONES


def update_profile(
    db: Session,
    *,
    user: User,
    actor: Actor,
    name: str | None,
    avatar_url: str | None,
    timezone: str | None,
    fields_set: set[str],
) -> User:
    """Change the name, avatar or time zone the request set; only real changes are applied and audited."""
    changed: dict[str, object] = {}
    if "name" in fields_set and name is not None and not name.strip():
        raise Unprocessable("A name cannot be blank.", details=field_errors(("name", "blank")))
    if "name" in fields_set and name is not None and name.strip() != user.name:
        user.name = name.strip()
        changed["name"] = user.name
    if "avatar_url" in fields_set and avatar_url != user.avatar_url:
        user.avatar_url = avatar_url
        changed["avatar_url"] = avatar_url
    if "timezone" in fields_set and timezone is not None and timezone != user.timezone:
        if not _valid_timezone(timezone):
            raise Unprocessable(
                f"Unknown time zone {timezone!r}; use an IANA name like Europe/Lisbon.",
                code="invalid_timezone",
                details=field_errors(("timezone", "not an IANA time zone")),
            )
        user.timezone = timezone
        changed["timezone"] = timezone
    if changed:
        audit.record(
            db, actor=actor, action="user.profile_updated", target_type="user", target_id=user.id, summary=changed
        )
    return user


def delete_account(db: Session, *, user: User, actor: Actor) -> None:
    """Anonymise the account and free its email (its workspaces are settled first by `workspaces.flows`)."""
    revoke_all_sessions(db, user_id=user.id, reason="account_deleted")
    audit.record(db, actor=actor, action="user.deleted", target_type="user", target_id=user.id)
    user.deleted_at = utcnow()
    user.email = f"deleted-{user.id}@deleted.invalid"
    user.name = "Deleted user"
    user.avatar_url = None
    user.password_hash = hash_password(secrets.token_urlsafe(32))
