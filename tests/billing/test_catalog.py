"""The billing catalog: the shipped one is valid, a broken one is refused at start-up with what is wrong in it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from voxhub.billing.catalog import DEFAULT_CATALOG, CatalogError, load_catalog
from voxhub.cli import app as cli


def test_the_shipped_catalog_has_the_plans_packages_and_prices_the_docs_promise() -> None:
    catalog = load_catalog(None)

    assert list(catalog.plans) == ["free", "starter", "pro", "business"]
    assert catalog.plans["free"].allowance_units("audio_minutes") == 25 * 60
    assert catalog.plans["business"].allowance_units("tts_characters") is None
    assert {name: (p.credits, p.price_cents) for name, p in catalog.packages.items()} == {
        "starter": (100, 500),
        "basic": (250, 1000),
        "professional": (500, 1800),
        "enterprise": (1000, 3000),
    }
    assert catalog.credits_for_seconds(catalog.prices["transcribe"], 61) == 20  # two started minutes


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda text: text.replace("[plans.free]", "[plans.gratis]"), 'needs a "free" plan'),
        (lambda text: text.replace("credits = 250", "credits = -250"), "packages.basic.credits"),
        (lambda text: text.replace('per = "job"', 'per = "hour"'), "prices.translate.per"),
        (lambda text: text + "\n[plans.free.allowances]\nbogus = 1\n", "not valid TOML"),
        (lambda text: text.replace('of = "input"\n', "", 1), "per-minute price needs"),
    ],
)
def test_a_broken_catalog_is_refused_saying_where(tmp_path: Path, change: object, complaint: str) -> None:
    path = tmp_path / "billing.toml"
    path.write_text(change(DEFAULT_CATALOG.read_text()))  # type: ignore[operator]

    with pytest.raises(CatalogError) as refused:
        load_catalog(path)

    assert complaint in str(refused.value)
    assert str(path) in str(refused.value)


def test_serve_with_a_broken_catalog_stops_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    broken = tmp_path / "billing.toml"
    broken.write_text("currency = 'usd'\n")

    result = CliRunner().invoke(
        cli, ["serve"], env={"VOXHUB_DATA_DIR": str(tmp_path / "var"), "VOXHUB_BILLING_CATALOG": str(broken)}
    )

    assert result.exit_code == 2
    assert "Billing catalog" in result.output and "plans" in result.output
