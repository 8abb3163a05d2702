"""The `voxhub` command an operator runs: migrate the database, create users, list them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from tests.conftest import PASSWORD
from voxhub.app import create_app
from voxhub.cli import app as cli
from voxhub.config import Settings
from voxhub.db import make_engine, schema_state


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Every command calls configure_logging(), which rewires the root logger; put back what pytest had."""
    loggers = [logging.getLogger(name) for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access")]
    saved = [(logger, logger.handlers[:], logger.level, logger.propagate) for logger in loggers]
    yield
    for logger, handlers, level, propagate in saved:
        logger.handlers = handlers
        logger.setLevel(level)
        logger.propagate = propagate


@pytest.fixture
def database_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout
    return tmp_path / "cli" / "voxhub.db"


def voxhub(database_file: Path, *args: str, stdin: str | None = None) -> Result:
    env = {"VOXHUB_DATA_DIR": str(database_file.parent), "VOXHUB_DATABASE_URL": f"sqlite:///{database_file}"}
    return CliRunner().invoke(cli, list(args), env=env, input=stdin)


def listed_users(database_file: Path) -> dict[str, list[str]]:
    result = voxhub(database_file, "admin", "list-users")
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split()[:4] == ["id", "email", "verified", "superuser"]
    return {row.split()[1]: row.split() for row in rows}


def test_migrate_brings_an_empty_database_up_to_date(database_file: Path) -> None:
    result = voxhub(database_file, "migrate")

    assert result.exit_code == 0, result.output
    assert "up to date" in result.stdout
    engine = make_engine(f"sqlite:///{database_file}")
    assert schema_state(engine) == "current"
    engine.dispose()


def test_migrate_twice_is_harmless(database_file: Path) -> None:
    assert voxhub(database_file, "migrate").exit_code == 0

    assert voxhub(database_file, "migrate").exit_code == 0


def test_create_a_superuser_and_see_it_listed(database_file: Path) -> None:
    voxhub(database_file, "migrate")

    created = voxhub(database_file, "admin", "create-user", "x@y.z", "--password", PASSWORD, "--superuser")

    assert created.exit_code == 0, created.output
    assert "Created superuser x@y.z" in created.stdout
    row = listed_users(database_file)["x@y.z"]
    assert row[2:4] == ["yes", "yes"]  # verified, superuser


def test_create_a_user_reading_the_password_from_stdin(database_file: Path) -> None:
    created = voxhub(database_file, "admin", "create-user", " Ada@Example.com ", "--name", "Ada", stdin=PASSWORD + "\n")

    assert created.exit_code == 0, created.output
    assert "Created user ada@example.com" in created.stdout
    assert listed_users(database_file)["ada@example.com"][2:4] == ["yes", "no"]


def test_create_user_migrates_an_empty_sqlite_database_by_itself(database_file: Path) -> None:
    created = voxhub(database_file, "admin", "create-user", "x@y.z", "--password", PASSWORD)

    assert created.exit_code == 0, created.output
    assert "x@y.z" in listed_users(database_file)


def test_list_users_on_a_new_database_shows_only_the_header(database_file: Path) -> None:
    assert listed_users(database_file) == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["not-an-email", "--password", PASSWORD], "error:"),
        (["x@y.z", "--password", "short"], "at least 10 characters"),
        (["x@y.z", "--password", "password123"], "most common"),
    ],
)
def test_create_user_refuses_bad_input_with_a_message(database_file: Path, args: list[str], message: str) -> None:
    result = voxhub(database_file, "admin", "create-user", *args)

    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert listed_users(database_file) == {}


def test_create_user_refuses_a_taken_email(database_file: Path) -> None:
    voxhub(database_file, "admin", "create-user", "x@y.z", "--password", PASSWORD)

    again = voxhub(database_file, "admin", "create-user", "X@Y.Z", "--password", PASSWORD)

    assert again.exit_code == 1
    assert "already exists" in again.stderr
    assert list(listed_users(database_file)) == ["x@y.z"]


def test_a_user_created_on_the_command_line_can_sign_in(database_file: Path) -> None:
    voxhub(database_file, "admin", "create-user", "x@y.z", "--password", PASSWORD, "--superuser")
    settings = Settings(
        _env_file=None,
        data_dir=database_file.parent,
        database_url=f"sqlite:///{database_file}",
        secret_key="cli-test-secret-" + "k" * 32,
    )

    with TestClient(create_app(settings)) as client:
        login = client.post("/api/v1/auth/login", json={"email": "x@y.z", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        me = client.get("/api/v1/me", headers=headers)
        workspaces = client.get("/api/v1/workspaces", headers=headers)

    assert login.status_code == 200
    assert me.json()["is_superuser"] is True and me.json()["email_verified"] is True
    assert [w["role"] for w in workspaces.json()["items"]] == ["owner"]


def test_no_command_prints_the_help(database_file: Path) -> None:
    result = voxhub(database_file)

    assert "migrate" in result.output and "admin" in result.output and "serve" in result.output


# ---- the dev mailbox ----


def write_mail(database_file: Path, to: str, link: str) -> None:
    """A verification mail as voxhub writes it with no SMTP server: quoted-printable, so `=` reads `=3D` on disk."""
    from voxhub.mail import Mailer, write_eml

    settings = Settings(_env_file=None, data_dir=database_file.parent, public_url="http://127.0.0.1:8000")
    mailer = Mailer(settings)
    write_eml(settings.mail_dir, mailer.render("verify_email", to, {"name": "Ada", "link": link, "hours": 24}))
    mailer.close()


def test_latest_mail_prints_the_newest_mails_link_decoded(database_file: Path) -> None:
    ada = "http://127.0.0.1:8000/verify-email?token=" + "A" * 20 + "-_" + "z" * 21
    bob = "http://127.0.0.1:8000/verify-email?token=" + "b" * 43
    write_mail(database_file, "ada@example.com", ada)
    write_mail(database_file, "bob@example.com", bob)

    newest = voxhub(database_file, "admin", "latest-mail", "--link")
    adas = voxhub(database_file, "admin", "latest-mail", "--to", "Ada@Example.com", "--link")
    whole = voxhub(database_file, "admin", "latest-mail", "--to", "ada@example.com")

    assert "=3D" in next((database_file.parent / "mail").glob("*.eml")).read_text()  # what grep used to see
    assert (newest.exit_code, newest.stdout) == (0, bob + "\n")
    assert (adas.exit_code, adas.stdout) == (0, ada + "\n")
    assert whole.exit_code == 0
    assert "Subject: Confirm your email address" in whole.stdout and f"\n{ada}\n" in whole.stdout


def test_latest_mail_says_when_there_is_none(database_file: Path) -> None:
    write_mail(database_file, "ada@example.com", "http://127.0.0.1:8000/verify-email?token=x")

    result = voxhub(database_file, "admin", "latest-mail", "--to", "nobody@example.com", "--wait", "0")

    assert result.exit_code == 1
    assert "no mail to nobody@example.com" in result.stderr
