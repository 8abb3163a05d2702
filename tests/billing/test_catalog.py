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
        "credits-100": (100, 500),
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
        # A plan may not list what a workspace on it could not use without credits (issue 11: the free plan listed
        # translation with no allowance for it, and a new workspace got 402).
        (
            lambda text: text.replace("podcasts = 5, translations = 10 }", "podcasts = 5 }"),
            "plans.free lists 'translation' but gives no allowance for translate jobs (translations is 0)",
        ),
        (
            lambda text: text.replace("podcasts = 5, translations = 10 }", "podcasts = 5, translations = 0 }"),
            "plans.free lists 'translation'",
        ),
        (
            lambda text: text.replace('meter = "translations"\n', ""),
            "prices.translate has no meter, so every job is paid in credits",
        ),
        (
            lambda text: text.replace("allowances = { audio_minutes = 25,", "allowances = { audio_minutes = 0,"),
            "plans.free lists 'transcription'",
        ),
        # A package may not share a plan's name (issue 11: both were called "starter").
        (
            lambda text: text.replace("[packages.credits-100]", "[packages.starter]"),
            "'starter' names both a plan and a credit package",
        ),
    ],
)
def test_a_broken_catalog_is_refused_saying_where(tmp_path: Path, change: object, complaint: str) -> None:
    path = tmp_path / "billing.toml"
    path.write_text(change(DEFAULT_CATALOG.read_text()))  # type: ignore[operator]

    with pytest.raises(CatalogError) as refused:
        load_catalog(path)

    assert complaint in str(refused.value)
    assert str(path) in str(refused.value)


def test_a_plan_may_leave_out_a_feature_it_gives_no_allowance_for(tmp_path: Path) -> None:
    path = tmp_path / "billing.toml"
    text = DEFAULT_CATALOG.read_text()
    edited = text.replace("podcasts = 5, translations = 10 }", "podcasts = 5 }").replace(
        'features = ["transcription", "synthesis", "translation"]', 'features = ["transcription", "synthesis"]', 1
    )
    assert edited.count("translation") == text.count("translation") - 2
    path.write_text(edited)

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
