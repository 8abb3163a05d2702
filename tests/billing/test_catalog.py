"""The billing catalog: the shipped one is valid, a broken one is refused at start-up with what is wrong in it."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.catalogs import REMOVED, edited_catalog
from voxhub.billing.catalog import DEFAULT_CATALOG, CatalogError, load_catalog
from voxhub.cli import app as cli

SHIPPED = tomllib.loads(DEFAULT_CATALOG.read_text())


def test_the_shipped_catalog_has_the_plans_packages_and_prices_the_docs_promise() -> None:
    catalog = load_catalog(None)

    assert list(catalog.plans) == ["free", "starter", "pro", "business"]
    assert catalog.plans["free"].allowance_units("audio_minutes") == 25 * 60
    assert catalog.plans["business"].allowance_units("tts_characters") is None
    assert {name: (p.credits, p.price_cents) for name, p in catalog.packages.items()} == {
        "credits-100": (100, 500),
        "basic": (250, 1000),
        "professional": (500, 1800),
        "enterprise": (1000, 3000),
    }
    assert catalog.credits_for_seconds(catalog.prices["transcribe"], 61) == 20  # two started minutes


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"plans.free": REMOVED, "plans.gratis": SHIPPED["plans"]["free"]}, 'needs a "free" plan'),
        ({"packages.basic.credits": -250}, "packages.basic.credits"),
        ({"prices.translate.per": "hour"}, "prices.translate.per"),
        ({"prices.transcribe.of": REMOVED}, "per-minute price needs"),
        # A plan may not list what a workspace on it could not use without credits (issue 11: the free plan listed
        # translation with no allowance for it, and a new workspace got 402).
        (
            {"plans.free.allowances.translations": REMOVED},
            "plans.free lists 'translation' but gives no allowance for translate jobs (translations is 0)",
        ),
        ({"plans.free.allowances.translations": 0}, "plans.free lists 'translation'"),
        ({"prices.translate.meter": REMOVED}, "prices.translate has no meter, so every job is paid in credits"),
        ({"plans.free.allowances.audio_minutes": 0}, "plans.free lists 'transcription'"),
        # A package may not share a plan's name (issue 11: both were called "starter").
        (
            {"packages.credits-100": REMOVED, "packages.starter": SHIPPED["packages"]["credits-100"]},
            "'starter' names both a plan and a credit package",
        ),
    ],
)
def test_a_broken_catalog_is_refused_saying_where(tmp_path: Path, changes: dict[str, Any], complaint: str) -> None:
    path = edited_catalog(DEFAULT_CATALOG, tmp_path / "billing.toml", changes)

    with pytest.raises(CatalogError) as refused:
        load_catalog(path)

    assert complaint in str(refused.value)
    assert str(path) in str(refused.value)


def test_a_catalog_that_is_not_toml_is_refused_saying_where(tmp_path: Path) -> None:
    path = tmp_path / "billing.toml"
    # A table defined twice: text only, since no TOML writer would write it.
    path.write_text(DEFAULT_CATALOG.read_text() + "\n[plans.free.allowances]\nbogus = 1\n")

    with pytest.raises(CatalogError) as refused:
        load_catalog(path)

    assert "not valid TOML" in str(refused.value)
    assert str(path) in str(refused.value)


def test_a_plan_may_leave_out_a_feature_it_gives_no_allowance_for(tmp_path: Path) -> None:
    path = edited_catalog(
        DEFAULT_CATALOG,
        tmp_path / "billing.toml",
        {"plans.free.allowances.translations": REMOVED, "plans.free.features": ["transcription", "synthesis"]},
    )

    free = load_catalog(path).plans["free"]

    assert "translation" not in free.features and free.allowance_units("translations") == 0


def test_serve_with_a_broken_catalog_stops_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    broken = tmp_path / "billing.toml"
    broken.write_text("currency = 'usd'\n")

    result = CliRunner().invoke(
        cli, ["serve"], env={"VOXHUB_DATA_DIR": str(tmp_path / "var"), "VOXHUB_BILLING_CATALOG": str(broken)}
    )

    assert result.exit_code == 2
    assert "Billing catalog" in result.output and "plans" in result.output


# ---- the tests' own catalog edits (tests/catalogs.py) ----


def test_a_catalog_edit_of_a_key_the_catalog_lacks_fails_instead_of_doing_nothing(tmp_path: Path) -> None:
    target = tmp_path / "billing.toml"

    for misspelt in ({"plans.free.request_per_minute": 3}, {"plans.fre.requests_per_minute": 3}):
        with pytest.raises(AssertionError, match="there is no"):
            edited_catalog(DEFAULT_CATALOG, target, misspelt)
    with pytest.raises(AssertionError, match="there is no"):
        edited_catalog(DEFAULT_CATALOG, target, {"plans.free.sso": REMOVED})


def test_a_catalog_edit_may_add_a_table_and_reads_back_as_asked(tmp_path: Path) -> None:
    price = {"credits": 1, "per": "job"}

    path = edited_catalog(
        DEFAULT_CATALOG,
        tmp_path / "billing.toml",
        {'prices."media.convert"': price, "plans.free.requests_per_minute": 3},
    )

    written = tomllib.loads(path.read_text())
    assert written["prices"]["media.convert"] == price
    assert written["plans"]["free"]["requests_per_minute"] == 3
    assert written["plans"]["starter"] == SHIPPED["plans"]["starter"]
