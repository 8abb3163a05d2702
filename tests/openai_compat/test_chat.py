"""The OpenAI-compatible chat API, called as OpenAI's own Python client calls it, on the real bundled 0.5B model; and
voxhub's remote language-model engine pointed at a second voxhub that serves it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest
from fastapi.testclient import TestClient
from openai import OpenAI

from tests.conftest import PASSWORD, Person
from tests.engines.test_llm import LLM_SETTINGS, SMALL
from tests.live_server import LiveServer, free_port
from tests.openai_compat.conftest import Caller
from tests.openai_compat.helpers import create_api_key
from tests.waiting import wait_until
from voxhub.app import create_app
from voxhub.audit.service import Actor
from voxhub.config import Settings
from voxhub.db import Database, make_engine, migrate
from voxhub.engines.llm import RemoteGenerator, TextStream, generate_json, schema_errors
from voxhub.engines.remote import RemoteConfig
from voxhub.workspaces.flows import create_user

CAPITAL = [{"role": "user", "content": "What is the capital of France? Answer with one word."}]
CITY = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
    "required": ["city", "country"],
    "additionalProperties": False,
}
OPENAI_ERROR_KEYS = {"message", "type", "param", "code"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update=LLM_SETTINGS)


@pytest.fixture
def oai(live_server: LiveServer, caller: Caller) -> OpenAI:
    return OpenAI(base_url=f"{live_server.url}/v1", api_key=caller.key, max_retries=0, timeout=120)


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=120) as session:
        yield session


def openai_error(exc: openai.APIStatusError) -> dict[str, Any]:
    body = exc.response.json()
    assert set(body) == {"error"} and set(body["error"]) == OPENAI_ERROR_KEYS, body
    return dict(body["error"])


def workspace_get(http: httpx.Client, person: Person, path: str, **params: Any) -> Any:
    answer = http.get(f"/api/v1/workspaces/{person.workspace_id}{path}", headers=person.headers, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_completion_answers_is_charged_in_tokens_and_audited(oai: OpenAI, http: httpx.Client, caller: Caller) -> None:
    completion = oai.chat.completions.create(model=SMALL, messages=CAPITAL, max_tokens=8, temperature=0)  # type: ignore[arg-type]

    assert "paris" in (completion.choices[0].message.content or "").lower()
    assert completion.id.startswith("chatcmpl-") and completion.model == SMALL
    assert completion.choices[0].finish_reason in ("stop", "length")
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens > 0 and 0 < usage.completion_tokens <= 8
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens

    account = workspace_get(http, caller.person, "/billing")
    assert account["allowances"]["text_tokens"]["used"] == usage.total_tokens  # the free plan's tokens first
    assert (account["allowances"]["text_tokens"]["held"], account["held"]) == (0, 0)
    [event] = workspace_get(http, caller.person, "/audit-log", action="openai.chat")["items"]
    assert event["summary"]["prompt_tokens"] == usage.prompt_tokens and event["actor_api_key_id"]


def test_streaming_sends_pieces_then_the_usage_then_done(oai: OpenAI, http: httpx.Client, caller: Caller) -> None:
    chunks = list(
        oai.chat.completions.create(
            model=SMALL,
            # far more than 10 tokens to say: the stream ends at the limit ("length")
            messages=[{"role": "user", "content": "Write a long story about a lighthouse keeper and his dog."}],
            max_tokens=10,
            temperature=0,  # greedy: a sampled answer may end on its own before the limit ("One hundred one.")
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    # The stream's shape is what is tested here: several pieces (a piece may carry more than one token).
    assert len(pieces) >= 2 and "".join(pieces).strip()
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["length"]
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None and usage.completion_tokens == 10
    assert len({c.id for c in chunks}) == 1

    # A stream is settled once its last piece is out: a moment after the client has read it.
    wait_until(
        lambda: (
            workspace_get(http, caller.person, "/billing")["allowances"]["text_tokens"]["used"] == usage.total_tokens
        ),
        timeout=10,
        what="the streamed tokens counted on the plan's allowance",
    )

    body = {"model": SMALL, "messages": CAPITAL, "max_tokens": 3, "stream": True}
    with http.stream("POST", "/v1/chat/completions", json=body, headers=caller.headers) as answer:
        lines = [line for line in answer.iter_lines() if line]
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert lines[-1] == "data: [DONE]" and all(line.startswith("data: ") for line in lines)


def test_json_schema_and_json_object_answers_parse(oai: OpenAI) -> None:
    schema_format = {"type": "json_schema", "json_schema": {"name": "city", "schema": CITY, "strict": True}}
    answer = oai.chat.completions.create(
        model=SMALL,
        messages=[{"role": "user", "content": "Name the capital of France and its country."}],
        max_tokens=40,
        temperature=0,
        response_format=schema_format,  # type: ignore[arg-type]
    )
    city = json.loads(answer.choices[0].message.content or "")
    assert schema_errors(city, CITY) == [] and "paris" in city["city"].lower()

    anything = oai.chat.completions.create(
        model=SMALL,
        messages=[{"role": "user", "content": "Give a JSON object with a key `ok` set to true."}],
        max_tokens=20,
        temperature=0,
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(anything.choices[0].message.content or ""), dict)


def test_the_chat_model_is_listed(oai: OpenAI) -> None:
    assert SMALL in {model.id for model in oai.models.list()}
    assert oai.models.retrieve(SMALL).owned_by == "voxhub"
    with pytest.raises(openai.NotFoundError) as missing:
        oai.chat.completions.create(model="gpt-9", messages=CAPITAL)  # type: ignore[arg-type]
    assert openai_error(missing.value)["code"] == "model_not_found"


def test_without_an_api_key_it_is_401(live_server: LiveServer, caller: Caller, http: httpx.Client) -> None:
    for headers in ({}, caller.person.headers, {"Authorization": "Bearer vx_0123456789abcdef_" + "x" * 40}):
        answer = http.post("/v1/chat/completions", json={"model": SMALL, "messages": CAPITAL}, headers=headers)
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages.0.role"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"temperature": 2.5}, "temperature"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"n": 2}, "n"),
        ({"response_format": {"type": "json_schema"}}, "response_format"),
        ({"model": ""}, "model"),
    ],
)
def test_invalid_requests_are_400_naming_the_field(
    http: httpx.Client, caller: Caller, change: dict[str, Any], param: str
) -> None:
    answer = http.post(
        "/v1/chat/completions", json={"model": SMALL, "messages": CAPITAL, **change}, headers=caller.headers
    )
    assert answer.status_code == 400, answer.text  # OpenAI's clients never see 422
    error = answer.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "validation_error")
    assert error["param"].startswith(param), error


def test_a_prompt_longer_than_the_window_is_400_and_costs_nothing(http: httpx.Client, caller: Caller) -> None:
    body = {"model": SMALL, "messages": [{"role": "user", "content": "word " * 5000}], "max_tokens": 4}
    answer = http.post("/v1/chat/completions", json=body, headers=caller.headers)

    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "context_length_exceeded"
    account = workspace_get(http, caller.person, "/billing")
    assert account["allowances"]["text_tokens"]["used"] == 0 and account["allowances"]["text_tokens"]["held"] == 0


# ---- a second voxhub, the remote engine ----


@dataclass
class SecondVoxhub:
    server: LiveServer
    key: str

    def config(self, model: str = SMALL) -> RemoteConfig:
        return RemoteConfig(base_url=f"{self.server.url}/v1", api_key=self.key, model=model, timeout_s=120)


@pytest.fixture(scope="module")
def second_voxhub(tmp_path_factory: pytest.TempPathFactory, shared_data_dir: Any) -> Iterator[SecondVoxhub]:
    """Another deployment with its own database, serving the 0.5B model (joined into the same data dir as the
    tests' voxhub, so the process loads it once)."""
    root = tmp_path_factory.mktemp("second-voxhub")
    database_url = f"sqlite:///{root / 'voxhub.db'}"
    engine = make_engine(database_url)
    migrate(engine)
    engine.dispose()
    port = free_port()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=shared_data_dir,
        database_url=database_url,
        secret_key="second-voxhub-secret-" + "s" * 32,
        public_url=f"http://127.0.0.1:{port}",
        run_periodic_tasks=False,
        billing_enabled=False,
        **LLM_SETTINGS,
        password_hash_time_cost=1,
        password_hash_memory_kib=1024,
        password_hash_parallelism=1,
    )
    email = "owner@second.example.com"
    database = Database(settings)
    with database.session() as db:
        user_id = create_user(db, email=email, password=PASSWORD, name="Owner", actor=Actor.system(), verified=True).id
    database.dispose()
    server = LiveServer(settings, port)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            tokens = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()
            headers = {"Authorization": f"Bearer {tokens['access_token']}"}
            workspace_id = http.get("/api/v1/workspaces", headers=headers).json()["items"][0]["id"]
            owner = Person(user_id, email, PASSWORD, tokens["access_token"], tokens["refresh_token"], workspace_id)
            yield SecondVoxhub(server, create_api_key(http, owner, "write"))
    finally:
        server.stop()


def test_the_remote_engine_generates_json_and_streams_through_another_voxhub(second_voxhub: SecondVoxhub) -> None:
    remote = RemoteGenerator(second_voxhub.config(), context_tokens=4096)

    city, generation = generate_json(
        remote, [{"role": "user", "content": "Name the capital of France and its country."}], CITY, max_tokens=40,
        temperature=0,
    )  # fmt: skip
    assert "paris" in city["city"].lower() and generation.model == SMALL and generation.prompt_tokens > 0

    stream = remote.stream([{"role": "user", "content": "Count from one to ten in words."}], max_tokens=8)
    pieces = list(stream)
    assert isinstance(stream, TextStream) and stream.result is not None
    assert len(pieces) >= 3 and "".join(pieces) == stream.result.text
    assert (stream.result.completion_tokens, stream.result.finish_reason) == (8, "length")


def test_voxhub_with_the_remote_engine_serves_another_voxhubs_model(
    settings: Settings, caller: Caller, second_voxhub: SecondVoxhub
) -> None:
    forwarding = settings.model_copy(
        update={
            "llm_engine": "remote",
            "remote_llm_url": f"{second_voxhub.server.url}/v1",
            "remote_llm_model": SMALL,
            "remote_api_key": second_voxhub.key,
        }
    )
    with TestClient(create_app(forwarding)) as client:
        listed = client.get("/v1/models", headers=caller.headers).json()
        answer = client.post(
            "/v1/chat/completions",
            json={"model": SMALL, "messages": CAPITAL, "max_tokens": 8, "temperature": 0},
            headers=caller.headers,
        )
    assert SMALL in {model["id"] for model in listed["data"]}
    assert answer.status_code == 200, answer.text
    assert "paris" in answer.json()["choices"][0]["message"]["content"].lower()
    assert answer.json()["usage"]["prompt_tokens"] > 0
