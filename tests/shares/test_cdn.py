"""The CDN (VOXHUB_STORAGE_CDN_URL): shared items, podcast enclosures and the console's players link through it,
signed as the CDN checks (CloudFront's canned policy, verified here with the public key; BunnyCDN's token, recomputed
here), while downloads keep the store's own links. A small HTTP server stands in for the CDN: it checks the signature
as the CDN would and pulls from voxhub, the origin."""

from __future__ import annotations

import base64
import hashlib
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from xml.etree import ElementTree as ET

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi.testclient import TestClient

from tests.conftest import People
from tests.live_server import free_port, served
from tests.shares.items import make_items, make_media
from tests.storage.stores import S3Server
from voxhub.config import Settings
from voxhub.security import Keyring
from voxhub.storage import DownloadOptions, open_store
from voxhub.storage.cdn import check_settings, delivery_url

CDN = "https://cdn.voxhub.test"
KEY_PAIR_ID = "K2JCJMDEHXQW5F"
TOKEN_KEY = "bunny-token-key-for-tests"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_media(tmp_path_factory.mktemp("cdn-media"))


def pem_file(folder: Path, key: rsa.RSAPrivateKey) -> Path:
    path = folder / "cloudfront.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


def with_cdn(settings: Settings, scheme: str, key: rsa.RSAPrivateKey, folder: Path, url: str = CDN) -> Settings:
    secret = str(pem_file(folder, key)) if scheme == "cloudfront" else TOKEN_KEY
    update = {"storage_cdn_url": url, "storage_cdn_signing": scheme, "storage_cdn_signing_key": secret}
    return settings.model_copy(update={**update, "storage_cdn_key_id": KEY_PAIR_ID})


@pytest.fixture(params=["cloudfront", "token"])
def scheme(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(settings: Settings, scheme: str, rsa_key: rsa.RSAPrivateKey, tmp_path: Path) -> Settings:
    return with_cdn(settings, scheme, rsa_key, tmp_path)


# ---- what the CDN checks, written from its documentation rather than from voxhub's code ----


def verified(url: str, scheme: str, public_key: rsa.RSAPublicKey) -> str:
    """The URL the CDN fetches from its origin once the signature of `url` checks out (signing parameters removed);
    raises AssertionError (or InvalidSignature) otherwise."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if scheme == "cloudfront":
        assert [name for name, _ in query[-3:]] == ["Expires", "Signature", "Key-Pair-Id"], query
        expires, signature, key_pair_id = (value for _, value in query[-3:])
        assert key_pair_id == KEY_PAIR_ID and int(expires) > time.time()
        rest = urlencode(query[:-3])
        resource = f"{parts.scheme}://{parts.netloc}{parts.path}" + (f"?{rest}" if rest else "")
        policy = (
            '{"Statement":[{"Resource":"' + resource + '","Condition":{"DateLessThan":{"AWS:EpochTime":'
            + expires + "}}}]}"
        )  # fmt: skip
        raw = base64.b64decode(signature.translate(str.maketrans("-_~", "+=/")))
        public_key.verify(raw, policy.encode(), padding.PKCS1v15(), hashes.SHA1())
        return resource
    assert [name for name, _ in query[-2:]] == ["token", "expires"], query
    token, expires = (value for _, value in query[-2:])
    assert int(expires) > time.time()
    expected = base64.urlsafe_b64encode(hashlib.sha256(f"{TOKEN_KEY}{parts.path}{expires}".encode()).digest())
    assert token == expected.decode().rstrip("="), "the token does not match"
    rest = urlencode(query[:-2])
    return f"{parts.scheme}://{parts.netloc}{parts.path}" + (f"?{rest}" if rest else "")


def expiry_of(url: str) -> int:
    query = dict(parse_qsl(urlsplit(url).query))
    return int(query.get("Expires") or query["expires"])


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


# ---- the tests ----


def test_shared_media_and_feed_enclosures_link_through_the_cdn_signed(
    client: TestClient, people: People, app: Any, media: dict[str, Path], scheme: str, rsa_key: rsa.RSAPrivateKey
) -> None:
    owner = people.create()
    items = make_items(app, client, owner, media)
    url = f"/api/v1/workspaces/{owner.workspace_id}/shares"
    made = client.post(url, headers=owner.headers, json={"target_type": "podcast", "target_id": items.podcast})
    assert made.status_code == 201, made.text
    shared = client.get(local(made.json()["api_url"])).json()
    link = shared["media"]["url"]
    assert link.startswith(f"{CDN}/blobs/")
    origin = verified(link, scheme, rsa_key.public_key())
    assert expiry_of(link) <= time.time() + 900 + 5  # short-lived
    # With local storage the CDN pulls from voxhub, which checks its own signed path again.
    assert client.get(local(origin)).content == media["wav"].read_bytes()
    # An altered link fails the CDN's check.
    with pytest.raises((AssertionError, InvalidSignature)):
        verified(link.replace("/blobs/", "/blobs/x"), scheme, rsa_key.public_key())

    feed = client.post(f"/api/v1/workspaces/{owner.workspace_id}/podcasts/feed", headers=owner.headers)
    assert feed.status_code == 200, feed.text
    channel = ET.fromstring(client.get(local(feed.json()["url"])).content).find("channel")
    assert channel is not None
    enclosure = channel.find("item/enclosure")
    assert enclosure is not None
    enclosure_url = enclosure.get("url", "")
    assert enclosure_url.startswith(f"{CDN}/blobs/")
    assert client.get(local(verified(enclosure_url, scheme, rsa_key.public_key()))).content == media["wav"].read_bytes()
    # A feed reader may fetch an episode days after reading the feed: its links live VOXHUB_STORAGE_CDN_FEED_TTL_S.
    assert expiry_of(enclosure_url) >= time.time() + 6 * 86400


def test_the_consoles_players_use_the_cdn_and_downloads_keep_the_stores_links(
    client: TestClient, people: People, app: Any, media: dict[str, Path], scheme: str, rsa_key: rsa.RSAPrivateKey
) -> None:
    owner = people.create()
    items = make_items(app, client, owner, media)
    link_url = f"/api/v1/workspaces/{owner.workspace_id}/files/{items.recording_id}/link"
    played = client.get(link_url, headers=owner.headers, params={"inline": 1}).json()["url"]
    assert played.startswith(f"{CDN}/blobs/")
    verified(played, scheme, rsa_key.public_key())
    downloaded = client.get(link_url, headers=owner.headers).json()["url"]
    assert downloaded.startswith("http://voxhub.test/blobs/") and CDN not in downloaded
    # The console may play media from the CDN: its Content-Security-Policy says so.
    assert CDN in client.get("/login").headers["content-security-policy"]


class CdnStandIn(http.server.ThreadingHTTPServer):
    """A CDN edge: checks each link's signature as the CDN would, then pulls the object from the origin."""

    def __init__(self, port: int, scheme: str, public_key: rsa.RSAPublicKey) -> None:
        super().__init__(("127.0.0.1", port), CdnHandler)
        self.scheme, self.public_key = scheme, public_key
        self.origin = ""
        self.pulled: list[str] = []


class CdnHandler(http.server.BaseHTTPRequestHandler):
    server: CdnStandIn

    def do_GET(self) -> None:
        edge = f"http://127.0.0.1:{self.server.server_port}{self.path}"
        try:
            resource = verified(edge, self.server.scheme, self.server.public_key)
        except (AssertionError, InvalidSignature, ValueError):
            self.send_response(403)
            self.end_headers()
            return
        path = resource.split(str(self.server.server_port), 1)[1]
        answer = httpx.get(self.server.origin + path, timeout=30)
        self.server.pulled.append(path)
        self.send_response(answer.status_code)
        self.send_header("Content-Type", answer.headers.get("content-type", "application/octet-stream"))
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def cdn_stand_in(scheme: str, rsa_key: rsa.RSAPrivateKey) -> Iterator[CdnStandIn]:
    server = CdnStandIn(free_port(), scheme, rsa_key.public_key())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_a_player_gets_the_bytes_through_a_cdn_that_checks_signatures_and_pulls_from_voxhub(
    client: TestClient,
    people: People,
    app: Any,
    settings: Settings,
    media: dict[str, Path],
    scheme: str,
    rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,
    cdn_stand_in: CdnStandIn,
) -> None:
    owner = people.create()
    items = make_items(app, client, owner, media)
    edge = f"http://127.0.0.1:{cdn_stand_in.server_port}"
    with served(with_cdn(settings, scheme, rsa_key, tmp_path, url=edge)) as origin:
        cdn_stand_in.origin = origin.url
        with httpx.Client(base_url=origin.url, timeout=60) as api:
            made = api.post(
                f"/api/v1/workspaces/{owner.workspace_id}/shares",
                headers=owner.headers,
                json={"target_type": "dub", "target_id": items.dub},
            )
            assert made.status_code == 201, made.text
            link = api.get(made.json()["api_url"]).json()["media"]["url"]
        assert link.startswith(edge)
        through_cdn = httpx.get(link, timeout=60)
        assert through_cdn.status_code == 200 and through_cdn.content == media["webm"].read_bytes()
        assert len(cdn_stand_in.pulled) == 1 and cdn_stand_in.pulled[0].startswith("/blobs/")
        tampered = link.replace("expires=", "expires=1").replace("Expires=", "Expires=1")
        assert httpx.get(tampered, timeout=60).status_code == 403


def test_with_s3_the_cdn_path_is_the_objects_key_in_the_bucket(
    s3_server: S3Server, tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    plain = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        storage_url=s3_server.storage_url("cdn-test"),
        storage_access_key_id=s3_server.access_key_id,
        storage_secret_access_key=s3_server.secret_access_key,
    )
    settings = plain.model_copy(
        update={"storage_cdn_url": CDN + "/", "storage_cdn_signing": "token", "storage_cdn_signing_key": TOKEN_KEY}
    )
    store = open_store(settings, Keyring("k" * 40))
    options = DownloadOptions(filename="a b.wav", content_type="audio/wav", inline=True)
    url = delivery_url(settings, store, "ws/one/files/two", ttl_s=60, download=options)
    assert url.startswith(f"{CDN}/cdn-test/ws/one/files/two?token=")
    verified(url, "token", rsa_key.public_key())
    # Without a CDN the store's own presigned link is kept.
    assert delivery_url(plain, store, "ws/one/files/two", ttl_s=60, download=options).startswith(s3_server.endpoint)


def test_a_signing_scheme_without_its_key_is_refused_at_start(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    plain = Settings(_env_file=None, data_dir=tmp_path, storage_cdn_url=CDN)  # type: ignore[call-arg]
    check_settings(plain)  # no signing: nothing more needed
    for update, needed in (
        ({"storage_cdn_signing": "token"}, "VOXHUB_STORAGE_CDN_SIGNING_KEY"),
        ({"storage_cdn_signing": "cloudfront", "storage_cdn_signing_key": str(pem_file(tmp_path, rsa_key))}, "KEY_ID"),
    ):
        with pytest.raises(ValueError, match=needed):
            check_settings(plain.model_copy(update=update))
    check_settings(with_cdn(plain, "cloudfront", rsa_key, tmp_path))
