"""/blobs/{token}, the local store's signed links: a token voxhub did not sign is refused with one 403 whatever its
characters, and a client that goes away mid-PUT leaves nothing stored and no server error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.live_server import LiveServer, hang_up_mid_request, requests_counted, served
from tests.test_app import assert_error_shape
from voxhub.config import Settings
from voxhub.storage import LocalBlobStore

pytestmark = pytest.mark.parametrize("store_kind", ["local"])  # signed links are voxhub's only on the local store


def store_of(app: Any) -> LocalBlobStore:
    store = app.state.ctx.store
    assert isinstance(store, LocalBlobStore)
    return store


def token_of(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[1]


def test_a_token_voxhub_did_not_sign_is_refused_the_same_way_whatever_its_characters(
    client: TestClient, app: Any
) -> None:
    genuine = token_of(store_of(app).signed_put_url("probe/genuine.bin", ttl_s=60, content_type="audio/wav"))
    payload, _, signature = genuine.rpartition(".")
    forged = [
        "not-a-token",
        quote("\U000168b8Ç") + "abc",  # /blobs/%F0%96%A2%B8%C3%87abc, as the probe sent it
        f"{payload}.{quote('é' * len(signature))}",  # a genuine payload, a signature with non-ASCII characters
        quote("é") + "." + quote("é"),
        f"{payload}.{signature[:-1]}0" if not signature.endswith("0") else f"{payload}.{signature[:-1]}1",
    ]

    for token in forged:
        for method in ("PUT", "GET"):
            answer = client.request(method, f"/blobs/{token}", content=b"bytes" if method == "PUT" else None)
            assert_error_shape(answer, 403, "invalid_signature")
    assert client.put(f"/blobs/{genuine}", content=b"bytes").status_code == 200


@pytest.fixture
def live_server(settings: Settings, app: Any) -> Iterator[LiveServer]:
    with served(settings) as server:
        yield server


def test_a_put_whose_client_hangs_up_stores_nothing_and_is_not_a_server_error(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    assert live_server.server is not None
    store = store_of(live_server.server.config.app)  # the live server's own store, whose links point at it
    url = store.signed_put_url("probe/hung-up.bin", ttl_s=60, content_type="audio/wav")

    with caplog.at_level("INFO"):
        hang_up_mid_request(url, "PUT", {}, length=4 * 1024 * 1024, body=b"x" * 2 * 1024 * 1024)
        counted = requests_counted(live_server, "PUT", "/blobs/{token}")

    assert counted == {"499": 1}  # not the 200 of a whole object, nor a 500
    assert not store.exists("probe/hung-up.bin")
    assert not [record for record in caplog.records if record.levelname == "ERROR"], caplog.text
    assert "client disconnected" in caplog.text
