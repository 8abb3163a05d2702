"""The README stays true: it shows the two commands and documents every setting."""

from __future__ import annotations

from pathlib import Path

from voxhub.config import Settings

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_readme_opens_with_run_and_test_commands() -> None:
    opening = README[:600]
    assert "make run" in opening and "make test" in opening


def test_every_setting_is_documented_in_readme() -> None:
    missing = [f"VOXHUB_{name.upper()}" for name in Settings.model_fields if f"`VOXHUB_{name.upper()}`" not in README]
    assert missing == []
