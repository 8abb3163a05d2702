"""A translation too long for its slot is said again shorter by the bundled language model (the 0.5B model, one
thread): fewer characters, the same language, never longer than asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engines.test_llm import LLM_SETTINGS
from voxhub import engines
from voxhub.config import Settings
from voxhub.pipelines.dub import _shorten


@pytest.fixture(scope="session")
def llm_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dub-llm") / "var"


def test_a_line_too_long_for_its_slot_is_said_again_shorter(llm_data_dir: Path) -> None:
    settings = Settings(_env_file=None, data_dir=llm_data_dir, llm_engine="local", **LLM_SETTINGS)
    generator = engines.text_generator(settings)
    assert generator is not None
    line = "Nós precisamos de mais pessoas na nossa equipe de vendas para o próximo trimestre, sem falta."
    shorter = _shorten(generator, line, "pt", 60)
    assert shorter is not None and len(shorter) <= len(line) * 0.95, shorter
    assert any(word in shorter.lower() for word in ("equipe", "vendas", "pessoas")), shorter
