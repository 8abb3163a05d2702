"""The S3 store unreachable: a SeaweedFS of this module's own is killed. Uploads are answered 503
`storage_unavailable` with Retry-After and leave no file row and no object; once the store is back, the files it
held download again and uploads work."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import People, Person
from tests.faults.servers import SeaweedFS
from tests.jobs_helpers import download, upload
from tests.storage.stores import S3Server
from tests.waiting import wait_until
from voxhub.config import Settings
from voxhub.files.models import File

pytestmark = pytest.mark.xdist_group("faults-s3")
PREFIX = f"faults-{uuid.uuid4().hex[:8]}"


def _downloaded(client: TestClient, person: Person, settings: Settings, file_id: str, target: Path) -> Path | None:
    try:
        return download(client, person, settings, file_id, target)
    except AssertionError:  # the store is not serving yet
        return None


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    store = SeaweedFS(tmp_path_factory.mktemp("faults-s3"))
    store.create()
    try:
        yield store
    finally:
        store.stop()


@pytest.fixture
def settings(settings: Settings, seaweed: SeaweedFS) -> Settings:
    server = seaweed.server
    assert server is not None
    return settings.model_copy(
        update={
            "storage_url": server.storage_url(PREFIX),
            "storage_access_key_id": server.access_key_id,
            "storage_secret_access_key": server.secret_access_key,
        }
    )


def test_uploads_answer_503_while_the_store_is_down_and_files_download_again_once_it_is_back(
    client: TestClient, people: People, media: dict[str, Path], seaweed: SeaweedFS, settings: Settings, app: Any,
    tmp_path: Path,
) -> None:  # fmt: skip
    owner = people.create()
    kept = upload(client, owner, media["tone.wav"])
    server: S3Server = seaweed.server  # type: ignore[assignment]

    seaweed.stop()
    try:
        with media["quiet.wav"].open("rb") as handle:
            refused = client.post(
                f"/api/v1/workspaces/{owner.workspace_id}/files",
                headers=owner.headers,
                files={"file": ("quiet.wav", handle, "audio/wav")},
            )
        listing = client.get(f"/api/v1/workspaces/{owner.workspace_id}/files", headers=owner.headers)
    finally:
        seaweed.start()

    # SeaweedFS answers S3 requests a moment before its volume server has registered again (a 500 InternalError for
    # an object meanwhile): "back" is when it serves the bytes it held.
    fetched = wait_until(
        lambda: _downloaded(client, owner, settings, kept, tmp_path / "kept.wav"),
        timeout=60,
        what="the store to serve the kept file again",
        every=0.5,
    )
    again = upload(client, owner, media["quiet.wav"])

    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "storage_unavailable"
    assert int(refused.headers["Retry-After"]) > 0
    assert "127.0.0.1" not in refused.text  # the store's address is not the client's business
    assert listing.status_code == 200  # what needs only the database kept working
    assert [item["id"] for item in listing.json()["items"]] == [kept]
    with app.state.db.session() as session:
        rows = session.scalar(select(func.count()).select_from(File).where(File.workspace_id == owner.workspace_id))
    assert rows == 2  # the refused upload left no row
    assert fetched.read_bytes() == media["tone.wav"].read_bytes()
    # Only the two files' objects are in the store: the refused upload left no bytes either.
    assert len(server.keys(PREFIX)) == 2, server.keys(PREFIX)
    assert again != kept
