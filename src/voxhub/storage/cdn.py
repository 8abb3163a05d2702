"""Links through the CDN (VOXHUB_STORAGE_CDN_URL) for bytes that are played or shared: shared items, podcast
enclosures, the console's players. Private downloads keep the store's own signed links.

The CDN pulls from the bucket (S3: the link's path is the object's key) or from voxhub itself (local store: the path
is voxhub's own signed `/blobs/…` link, so the origin still checks it). Where the CDN checks signatures, its links are
signed as it expects: `cloudfront` (canned policy, RSA-SHA1, `Expires`/`Signature`/`Key-Pair-Id`) or `token`
(BunnyCDN's token authentication: `token` = base64url(SHA-256(key + path + expires)), `expires`)."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from voxhub.config import Settings
from voxhub.storage.base import BlobStore, DownloadOptions
from voxhub.storage.local import LocalBlobStore


class CdnSigning(StrEnum):
    NONE = "none"
    CLOUDFRONT = "cloudfront"
    TOKEN = "token"


def delivery_url(settings: Settings, store: BlobStore, key: str, *, ttl_s: int, download: DownloadOptions) -> str:
    """A link for playing or sharing an object: through the CDN when one is set (signed as it expects), else the
    store's own signed link."""
    if not settings.storage_cdn_url:
        return store.signed_get_url(key, ttl_s=ttl_s, download=download)
    if isinstance(store, LocalBlobStore):
        # The CDN pulls from voxhub: the path is voxhub's own signed link, checked again at the origin.
        own = urlsplit(store.signed_get_url(key, ttl_s=ttl_s, download=download))
        path = own.path + (f"?{own.query}" if own.query else "")
    else:
        # The CDN pulls from the bucket: the path is the object's key there (under the store's prefix).
        object_key = getattr(store, "object_key", None)
        path = "/" + quote(object_key(key) if object_key else key)
    url = settings.storage_cdn_url.rstrip("/") + path
    return sign(settings, url, expires=int(time.time()) + ttl_s)


def sign(settings: Settings, url: str, *, expires: int) -> str:
    """`url` with the query the configured CDN checks, valid until `expires` (Unix seconds)."""
    scheme = CdnSigning(settings.storage_cdn_signing)
    if scheme == CdnSigning.NONE:
        return url
    secret = settings.storage_cdn_signing_key or ""
    if scheme == CdnSigning.CLOUDFRONT:
        return sign_cloudfront(url, expires=expires, key_pair_id=settings.storage_cdn_key_id or "", private_key=secret)
    return sign_token(url, expires=expires, key=secret)


def cloudfront_policy(url: str, expires: int) -> bytes:
    """CloudFront's canned policy for `url`, byte for byte as CloudFront rebuilds it to check the signature."""
    statement = {"Resource": url, "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}
    return json.dumps({"Statement": [statement]}, separators=(",", ":")).encode()


def sign_cloudfront(url: str, *, expires: int, key_pair_id: str, private_key: str) -> str:
    """A CloudFront signed URL with a canned policy: RSA-SHA1 over the policy, in CloudFront's URL-safe base64."""
    # SHA-1 because CloudFront's signed URLs are RSA-SHA1 by definition; the policy is not a secret.
    policy = cloudfront_policy(url, expires)
    signature = _rsa_key(private_key).sign(policy, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    encoded = base64.b64encode(signature).decode().translate(str.maketrans("+=/", "-_~"))
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}Expires={expires}&Signature={encoded}&Key-Pair-Id={quote(key_pair_id)}"


def token_of(key: str, path: str, expires: int) -> str:
    """BunnyCDN's token: base64url without padding of SHA-256 over the key, the URL's path and the expiry."""
    digest = hashlib.sha256(f"{key}{path}{expires}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign_token(url: str, *, expires: int, key: str) -> str:
    token = token_of(key, urlsplit(url).path, expires)
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}token={token}&expires={expires}"


@lru_cache(maxsize=4)
def _rsa_key(value: str) -> rsa.RSAPrivateKey:
    """The CloudFront signing key: PEM text, or the path of a PEM file."""
    pem = value.encode() if value.lstrip().startswith("-----BEGIN") else Path(value).read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("VOXHUB_STORAGE_CDN_SIGNING_KEY must be an RSA private key for CloudFront")
    return key


def check_settings(settings: Settings) -> None:
    """Refuse at start-up a CDN signing scheme without what it needs (a key pair id and a readable RSA key, or a
    token key), rather than failing at the first link."""
    if not settings.storage_cdn_url or settings.storage_cdn_signing == CdnSigning.NONE:
        return
    if not settings.storage_cdn_signing_key:
        raise ValueError(
            f"VOXHUB_STORAGE_CDN_SIGNING={settings.storage_cdn_signing} needs VOXHUB_STORAGE_CDN_SIGNING_KEY"
        )
    if settings.storage_cdn_signing == CdnSigning.CLOUDFRONT:
        if not settings.storage_cdn_key_id:
            raise ValueError("VOXHUB_STORAGE_CDN_SIGNING=cloudfront needs VOXHUB_STORAGE_CDN_KEY_ID (the key pair id)")
        _rsa_key(settings.storage_cdn_signing_key)
