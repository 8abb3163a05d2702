"""Every storage test runs on both stores: local disk and the real S3 server."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.storage.stores import stored_objects, use_store
from voxhub.config import Settings
from voxhub.security import Keyring
from voxhub.storage import BlobStore, open_store


@pytest.fixture(params=["local", "s3"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(settings: Settings, store_kind: str, request: pytest.FixtureRequest) -> Settings:
    return use_store(settings, store_kind, request)


@pytest.fixture
def store(settings: Settings) -> BlobStore:
    """The store voxhub would open with these settings, used directly through the BlobStore protocol."""
    return open_store(settings, Keyring(settings.resolved_secret_key))


@pytest.fixture
def stored(settings: Settings, request: pytest.FixtureRequest) -> Callable[[], list[str]]:
    """What the store holds right now for this test."""
    return lambda: stored_objects(settings, request)
