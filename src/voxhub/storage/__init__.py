"""Where bytes live: `open_store(settings)` picks local disk or S3 from VOXHUB_STORAGE_URL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from voxhub.config import Settings
from voxhub.security import Keyring
from voxhub.storage.base import BlobNotFound, BlobStore, DownloadOptions, Part, StorageError
from voxhub.storage.cdn import check_settings as check_cdn_settings
from voxhub.storage.local import LocalBlobStore, OffsetMismatch, UrlSigner

__all__ = [
    "BlobNotFound",
    "BlobStore",
    "DownloadOptions",
    "LocalBlobStore",
    "OffsetMismatch",
    "Part",
    "StorageError",
    "UrlSigner",
    "open_store",
]


def open_store(settings: Settings, keyring: Keyring) -> BlobStore:
    check_cdn_settings(settings)
    url = settings.resolved_storage_url
    scheme = urlsplit(url).scheme
    if scheme == "file":
        return LocalBlobStore(Path(urlsplit(url).path), UrlSigner(keyring, settings.public_url))
    if scheme == "s3":
        from voxhub.storage.s3 import S3BlobStore

        return S3BlobStore(
            url, access_key_id=settings.storage_access_key_id, secret_access_key=settings.storage_secret_access_key
        )
    raise ValueError(f"VOXHUB_STORAGE_URL must start with file:// or s3://, not {url!r}")
