"""Cryptographic primitives: password hashing, random tokens, signed access tokens, authenticated encryption."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from voxhub.clock import utcnow

# argon2id; the default is the library's RFC 9106 "low memory" profile: 64 MiB, 3 passes.
_hasher = PasswordHasher()
# Compared against when an account does not exist, so both paths cost one argon2 verification. Made at the first
# verification (whichever path it takes), not at import: every voxhub process would pay for it at start-up.
_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
    return _DUMMY_HASH


def configure_password_hashing(*, time_cost: int, memory_kib: int, parallelism: int) -> None:
    """Set the argon2id cost (from Settings). Hashes made under other costs still verify, and are
    upgraded at the next successful sign-in."""
    global _hasher, _DUMMY_HASH
    if (_hasher.time_cost, _hasher.memory_cost, _hasher.parallelism) == (time_cost, memory_kib, parallelism):
        return
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
    _DUMMY_HASH = None


MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-cost check; a missing hash still spends one verification so timing reveals nothing."""
    try:
        dummy = _dummy_hash()  # on both paths, so neither pays for making it alone
        return _hasher.verify(password_hash or dummy, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def password_weakness(password: str) -> str | None:
    """Why a password is too weak, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if password.lower() in _common_passwords():
        return "This password is among the most common ones; choose another."
    if len(set(password)) < 3:
        return "This password repeats too few characters."
    return None


# ---- opaque tokens ----


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> str:
    """Opaque tokens carry 256 bits of randomness, so a plain SHA-256 is a safe way to store them."""
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


# ---- keys derived from VOXHUB_SECRET_KEY ----


@lru_cache(maxsize=64)
def _derive(secret: str, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"voxhub:{purpose}".encode()).derive(
        secret.encode()
    )


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:12]


@dataclass(frozen=True)
class Keyring:
    """The current secret and those still accepted for reading during a rotation."""

    current: str
    previous: tuple[str, ...] = ()

    def _keys(self, purpose: str) -> list[tuple[str, bytes]]:
        keys = [_derive(secret, purpose) for secret in (self.current, *self.previous)]
        return [(_key_id(key), key) for key in keys]

    # ---- signed access tokens (JWT, HS256) ----

    def sign_jwt(self, claims: dict[str, Any], ttl: timedelta) -> tuple[str, datetime]:
        kid, key = self._keys("jwt")[0]
        now = utcnow()
        expires = now + ttl
        payload = {**claims, "iat": int(now.timestamp()), "exp": int(expires.timestamp())}
        return jwt.encode(payload, key, algorithm="HS256", headers={"kid": kid}), expires

    def read_jwt(self, token: str) -> dict[str, Any] | None:
        """The claims of a valid, unexpired token signed by any key on the ring; None otherwise."""
        claims = _verified_claims(self, token)
        if claims is None or int(claims["exp"]) <= time.time():
            return None
        return claims

    def _verify_jwt(self, token: str) -> dict[str, Any] | None:
        """Signature and shape only; expiry is checked on every use by read_jwt."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            return None
        for key_id, key in self._keys("jwt"):
            if same(str(kid), key_id):
                try:
                    return jwt.decode(
                        token, key, algorithms=["HS256"], options={"require": ["exp", "sub"], "verify_exp": False}
                    )
                except jwt.PyJWTError:
                    return None
        return None

    # ---- single-purpose tokens (JWT, HS256, under a key of their own) ----

    def sign_purpose_token(self, claims: dict[str, Any], *, purpose: str, ttl: timedelta) -> tuple[str, datetime]:
        """A short-lived signed token good for `purpose` only: its key is derived for that purpose, so it is never
        an access token, nor a token of another purpose."""
        kid, key = self._keys(f"token:{purpose}")[0]
        now = utcnow()
        expires = now + ttl
        payload = {**claims, "pur": purpose, "iat": int(now.timestamp()), "exp": int(expires.timestamp())}
        return jwt.encode(payload, key, algorithm="HS256", headers={"kid": kid}), expires

    def read_purpose_token(self, token: str, *, purpose: str) -> dict[str, Any] | None:
        """The claims of an unexpired token signed for `purpose` by any key on the ring; None otherwise."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            return None
        for key_id, key in self._keys(f"token:{purpose}"):
            if same(str(kid), key_id):
                try:
                    claims: dict[str, Any] = jwt.decode(
                        token, key, algorithms=["HS256"], options={"require": ["exp", "pur"]}
                    )
                except jwt.PyJWTError:
                    return None
                return claims if claims["pur"] == purpose else None
        return None

    # ---- authenticated encryption for stored secrets (AES-256-GCM) ----

    def encrypt(self, plaintext: str, *, context: str) -> str:
        """`context` (e.g. the row's workspace and provider) is bound in, so ciphertexts can't be swapped."""
        kid, key = self._keys("vault")[0]
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), context.encode())
        return f"v1.{kid}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, ciphertext: str, *, context: str) -> str:
        version, kid, payload = ciphertext.split(".", 2)
        if version != "v1":
            raise ValueError("unknown ciphertext version")
        for key_id, key in self._keys("vault"):
            if key_id == kid:
                raw = base64.urlsafe_b64decode(payload)
                return AESGCM(key).decrypt(raw[:12], raw[12:], context.encode()).decode()
        raise ValueError("ciphertext was sealed with a key that is no longer configured")

    def is_current(self, ciphertext: str) -> bool:
        return ciphertext.split(".", 2)[1] == self._keys("vault")[0][0]

    # ---- HMAC signatures ----

    def sign(self, message: str, *, purpose: str) -> str:
        return hmac.new(self._keys(purpose)[0][1], message.encode(), hashlib.sha256).hexdigest()

    def verify(self, message: str, signature: str, *, purpose: str) -> bool:
        """Constant-time check against every key on the ring."""
        valid = False
        for _kid, key in self._keys(purpose):
            expected = hmac.new(key, message.encode(), hashlib.sha256).hexdigest()
            valid |= same(expected, signature)  # as bytes: compare_digest refuses str with non-ASCII characters
        return valid


@lru_cache(maxsize=4096)
def _verified_claims(keyring: Keyring, token: str) -> dict[str, Any] | None:
    # A client sends the same access token many times; checking its signature once is enough.
    return keyring._verify_jwt(token)
