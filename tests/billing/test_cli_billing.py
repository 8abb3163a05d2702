"""`voxhub admin grant-credits`, `set-plan` and `billing`: what an operator does from a shell, audited."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from tests.conftest import PASSWORD
from voxhub.audit.models import AuditEvent
from voxhub.billing.models import LedgerEntry
from voxhub.cli import app as cli
from voxhub.db import make_engine
from voxhub.workspaces.models import Workspace


@pytest.fixture
def database_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout
    return tmp_path / "cli" / "voxhub.db"


def voxhub(database_file: Path, *args: str) -> Result:
    env = {"VOXHUB_DATA_DIR": str(database_file.parent), "VOXHUB_DATABASE_URL": f"sqlite:///{database_file}"}
    return CliRunner().invoke(cli, list(args), env=env)


@pytest.fixture
def workspace_id(database_file: Path) -> str:
    created = voxhub(database_file, "admin", "create-user", "ops@example.com", "--password", PASSWORD)
    assert created.exit_code == 0, created.output
    engine = make_engine(f"sqlite:///{database_file}")
    with engine.connect() as connection:
        found = connection.execute(select(Workspace.id)).scalar_one()
    engine.dispose()
    return str(found)


def test_an_operator_grants_credits_with_a_reason_and_it_is_on_the_ledger_and_in_the_audit_log(
    database_file: Path, workspace_id: str
) -> None:
    granted = voxhub(database_file, "admin", "grant-credits", workspace_id, "250", "--reason", "conference deal")
    taken = voxhub(database_file, "admin", "grant-credits", workspace_id, "--reason", "typo", "--", "-50")
    shown = voxhub(database_file, "admin", "billing", workspace_id)

    assert granted.exit_code == 0, granted.output
    assert "balance is now 250" in granted.output
    assert taken.exit_code == 0, taken.output
    assert "balance is now 200" in taken.output
    assert shown.exit_code == 0, shown.output
    assert "plan free" in shown.output
    assert "balance 200, held 0, available 200" in shown.output
    engine = make_engine(f"sqlite:///{database_file}")
    with engine.connect() as connection:
        entries = connection.execute(select(LedgerEntry.kind, LedgerEntry.amount, LedgerEntry.reason)).all()
        actions = connection.execute(select(AuditEvent.action).where(AuditEvent.workspace_id == workspace_id)).all()
    engine.dispose()
    assert sorted(entries) == [("adjustment", -50, "typo"), ("grant", 250, "conference deal")]
    assert {"billing.credits_granted", "billing.credits_adjusted"} <= {action for (action,) in actions}


def test_grant_credits_refuses_a_missing_reason_an_unknown_workspace_and_taking_more_than_is_there(
    database_file: Path, workspace_id: str
) -> None:
    no_reason = voxhub(database_file, "admin", "grant-credits", workspace_id, "10")
    unknown = voxhub(database_file, "admin", "grant-credits", "nope", "10", "--reason", "x")
    too_much = voxhub(database_file, "admin", "grant-credits", workspace_id, "--reason", "x", "--", "-1")

    assert no_reason.exit_code == 2  # typer: the option is required
    assert unknown.exit_code == 1 and "not found" in unknown.output.lower()
    assert too_much.exit_code == 1 and "can be taken back" in too_much.output


def test_an_operator_sets_a_plan_and_its_allowances_follow(database_file: Path, workspace_id: str) -> None:
    changed = voxhub(database_file, "admin", "set-plan", workspace_id, "pro", "--interval", "year")
    shown = voxhub(database_file, "admin", "billing", workspace_id)
    unknown = voxhub(database_file, "admin", "set-plan", workspace_id, "platinum")

    assert changed.exit_code == 0, changed.output
    assert "on the pro plan" in changed.output
    assert "plan pro (yearly, active)" in shown.output
    assert "audio_minutes   used 0 of 1000" in shown.output
    assert unknown.exit_code == 1 and "Unknown plan" in unknown.output


def test_a_negative_amount_takes_credits_back_as_an_operator_writes_it(database_file: Path, workspace_id: str) -> None:
    granted = voxhub(database_file, "admin", "grant-credits", workspace_id, "100", "--reason", "deal")
    taken = voxhub(database_file, "admin", "grant-credits", workspace_id, "-30", "--reason", "typo")
    taken_after_the_reason = voxhub(database_file, "admin", "grant-credits", workspace_id, "--reason", "typo", "-20")

    assert granted.exit_code == 0, granted.output
    assert taken.exit_code == 0, taken.output
    assert "adjustment of -30 credits; the balance is now 70" in taken.output
    assert taken_after_the_reason.exit_code == 0, taken_after_the_reason.output
    assert "balance is now 50" in taken_after_the_reason.output


def test_grant_credits_refuses_an_amount_past_what_the_ledger_takes_with_a_clear_error(
    database_file: Path, workspace_id: str
) -> None:
    huge = voxhub(database_file, "admin", "grant-credits", workspace_id, str(2**63), "--reason", "overflow")
    shown = voxhub(database_file, "admin", "billing", workspace_id)

    assert huge.exit_code == 1, huge.output
    assert "error: Grant at most 1,000,000,000 credits at a time" in huge.output
    assert "Traceback" not in huge.output
    assert shown.exit_code == 0 and "balance 0" in shown.output.lower(), shown.output
