"""The provider-key vault: stored encrypted, shown as last four characters, and readable across a secret rotation."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from tests.conftest import PASSWORD, People, Person
from voxhub import cli
from voxhub.apikeys.models import ProviderKey
from voxhub.apikeys.service import reencrypt_all, reveal_provider_key
from voxhub.app import create_app
from voxhub.config import PREVIOUS_SECRET_KEYS_FILE, SECRET_KEY_FILE, Settings
from voxhub.security import Keyring

WORKSPACES = "/api/v1/workspaces"
OPENAI_KEY = "sk-proj-Zx8pQ2vLmN4rT6yU1wE3sA5dF7gH9jK0abcd"
GROQ_KEY = "gsk_9f8e7d6c5b4a3210fedcba9876543210wxyz"


def provider_url(workspace_id: str, provider: str = "") -> str:
    return f"{WORKSPACES}/{workspace_id}/provider-keys" + (f"/{provider}" if provider else "")


def put_key(client, person: Person, provider: str, api_key: str, workspace_id: str | None = None, **extra):
    return client.put(
        provider_url(workspace_id or person.workspace_id, provider),
        headers=person.headers,
        json={"api_key": api_key, **extra},
    )


def stored_row(db, workspace_id: str, provider: str) -> ProviderKey:
    db.expire_all()
    row = db.scalar(
        select(ProviderKey).where(ProviderKey.workspace_id == workspace_id, ProviderKey.provider == provider)
    )
    assert row is not None
    return row


def error_code(response) -> str:
    return response.json()["error"]["code"]


# ---- storing and reading ----


def test_store_read_replace_and_delete_a_provider_key(client, people: People) -> None:
    owner = people.create()

    stored = put_key(client, owner, "openai", OPENAI_KEY)
    assert stored.status_code == 200, stored.text
    assert stored.json()["provider"] == "openai"
    assert stored.json()["last4"] == "abcd"
    assert stored.json()["base_url"] is None
    assert stored.json()["updated_by"] == owner.id
    assert OPENAI_KEY not in stored.text

    read = client.get(provider_url(owner.workspace_id, "openai"), headers=owner.headers)
    assert read.status_code == 200
    assert read.json()["last4"] == "abcd"
    assert OPENAI_KEY not in read.text and OPENAI_KEY[:-4] not in read.text

    replaced = put_key(client, owner, "openai", OPENAI_KEY[:-4] + "WXYZ")
    assert replaced.status_code == 200
    listed = client.get(provider_url(owner.workspace_id), headers=owner.headers)
    assert [(p["provider"], p["last4"]) for p in listed.json()["items"]] == [("openai", "WXYZ")]

    deleted = client.delete(provider_url(owner.workspace_id, "openai"), headers=owner.headers)
    assert deleted.status_code == 204
    gone = client.get(provider_url(owner.workspace_id, "openai"), headers=owner.headers)
    assert gone.status_code == 404
    assert error_code(gone) == "provider_key_not_found"
    assert client.get(provider_url(owner.workspace_id), headers=owner.headers).json()["items"] == []
    again = client.delete(provider_url(owner.workspace_id, "openai"), headers=owner.headers)
    assert again.status_code == 404


def test_an_openai_compatible_provider_keeps_its_base_url(client, people: People) -> None:
    owner = people.create()
    stored = put_key(client, owner, "groq", GROQ_KEY, base_url="https://api.groq.com/openai/v1")
    assert stored.status_code == 200, stored.text
    assert stored.json()["base_url"] == "https://api.groq.com/openai/v1"
    listed = client.get(provider_url(owner.workspace_id), headers=owner.headers).json()["items"]
    assert listed == [stored.json()]


def test_bad_provider_names_and_keys_are_refused(client, people: People) -> None:
    owner = people.create()
    for provider, body in (
        ("OpenAI", {"api_key": OPENAI_KEY}),
        ("open.ai", {"api_key": OPENAI_KEY}),
        ("-openai", {"api_key": OPENAI_KEY}),
        ("openai", {"api_key": "short"}),
        ("openai", {"api_key": OPENAI_KEY, "base_url": "not a url"}),
    ):
        response = client.put(provider_url(owner.workspace_id, provider), headers=owner.headers, json=body)
        assert response.status_code == 422, (provider, body, response.text)
        assert error_code(response) == "validation_error"
    assert client.get(provider_url(owner.workspace_id), headers=owner.headers).json()["items"] == []


def test_only_admins_touch_the_vault(client, people: People) -> None:
    owner = people.create()
    member = people.add_to(owner, owner.workspace_id, "member")
    assert put_key(client, owner, "openai", OPENAI_KEY).status_code == 200
    for response in (
        put_key(client, member, "openai", "sk-member-key-0000", workspace_id=owner.workspace_id),
        client.get(provider_url(owner.workspace_id, "openai"), headers=member.headers),
        client.get(provider_url(owner.workspace_id), headers=member.headers),
        client.delete(provider_url(owner.workspace_id, "openai"), headers=member.headers),
    ):
        assert response.status_code == 403
        assert error_code(response) == "insufficient_role"
    assert client.get(provider_url(owner.workspace_id, "openai"), headers=owner.headers).json()["last4"] == "abcd"


def test_the_vault_is_per_workspace(client, people: People) -> None:
    owner, stranger = people.create(), people.create()
    assert put_key(client, owner, "openai", OPENAI_KEY).status_code == 200
    assert client.get(provider_url(stranger.workspace_id), headers=stranger.headers).json()["items"] == []
    stolen = client.get(provider_url(owner.workspace_id, "openai"), headers=stranger.headers)
    assert stolen.status_code == 404
    assert error_code(stolen) == "workspace_not_found"


# ---- encryption at rest ----


def test_the_database_holds_ciphertext_not_the_key(client, people: People, db, app) -> None:
    owner = people.create()
    assert put_key(client, owner, "openai", OPENAI_KEY).status_code == 200

    row = stored_row(db, owner.workspace_id, "openai")
    columns = " ".join(str(getattr(row, column.key)) for column in ProviderKey.__table__.columns)
    assert OPENAI_KEY not in columns
    assert OPENAI_KEY[:-4] not in columns
    assert row.ciphertext.startswith("v1.")
    assert row.last4 == "abcd"

    keyring = app.state.ctx.keyring
    assert reveal_provider_key(db, keyring=keyring, workspace_id=owner.workspace_id, provider="openai") == OPENAI_KEY


def test_storing_the_same_key_twice_gives_different_ciphertexts(client, people: People, db) -> None:
    owner = people.create()
    put_key(client, owner, "openai", OPENAI_KEY)
    first = stored_row(db, owner.workspace_id, "openai").ciphertext
    put_key(client, owner, "openai", OPENAI_KEY)
    assert stored_row(db, owner.workspace_id, "openai").ciphertext != first


def test_a_ciphertext_copied_to_another_workspace_does_not_decrypt(client, people: People, db, app) -> None:
    owner, other = people.create(), people.create()
    put_key(client, owner, "openai", OPENAI_KEY)
    put_key(client, other, "openai", "sk-other-workspace-key-1234")
    stolen = stored_row(db, owner.workspace_id, "openai").ciphertext

    db.execute(update(ProviderKey).where(ProviderKey.workspace_id == other.workspace_id).values(ciphertext=stolen))
    db.commit()
    with pytest.raises(InvalidTag):
        reveal_provider_key(db, keyring=app.state.ctx.keyring, workspace_id=other.workspace_id, provider="openai")


# ---- rotating the secret ----


def _settings_like(settings: Settings, **overrides: Any) -> Settings:
    return Settings(_env_file=None, **{**settings.model_dump(), **overrides})  # type: ignore[call-arg]


@pytest.fixture
def rotated_app(settings: Settings) -> Iterator[Any]:
    """A second deployment of the same database: a new secret B, the old secret A still accepted for reading."""
    rotated = create_app(
        _settings_like(settings, secret_key="rotated-secret-key-" + "y" * 32, previous_secret_keys=settings.secret_key)
    )
    yield rotated
    rotated.state.ctx.close()
    rotated.state.db.dispose()


def test_rotation_keeps_keys_readable_and_reencrypts_them(
    client, people: People, db, app, rotated_app, settings: Settings
) -> None:
    owner = people.create()
    team = client.post(WORKSPACES, headers=owner.headers, json={"name": "Team"}).json()
    assert put_key(client, owner, "openai", OPENAI_KEY).status_code == 200
    assert put_key(client, owner, "groq", GROQ_KEY, workspace_id=team["id"]).status_code == 200
    old_ciphertext = stored_row(db, owner.workspace_id, "openai").ciphertext

    old_only: Keyring = app.state.ctx.keyring
    during: Keyring = rotated_app.state.ctx.keyring
    new_only = Keyring(during.current)

    # During the rotation the new deployment reads what the old one wrote, and signed-in users stay signed in.
    assert reveal_provider_key(db, keyring=during, workspace_id=owner.workspace_id, provider="openai") == OPENAI_KEY
    with TestClient(rotated_app) as rotated_client:
        read = rotated_client.get(provider_url(owner.workspace_id, "openai"), headers=owner.headers)
        assert read.status_code == 200, read.text
        assert read.json()["last4"] == "abcd"

    assert reencrypt_all(db, keyring=during) == 2
    db.commit()

    assert stored_row(db, owner.workspace_id, "openai").ciphertext != old_ciphertext
    assert reveal_provider_key(db, keyring=new_only, workspace_id=owner.workspace_id, provider="openai") == OPENAI_KEY
    assert reveal_provider_key(db, keyring=new_only, workspace_id=team["id"], provider="groq") == GROQ_KEY
    with pytest.raises(ValueError, match="no longer configured"):
        reveal_provider_key(db, keyring=old_only, workspace_id=owner.workspace_id, provider="openai")

    # Running it again finds nothing left to do.
    assert reencrypt_all(db, keyring=during) == 0


def test_a_key_stored_during_rotation_is_sealed_with_the_new_secret(people: People, db, rotated_app) -> None:
    owner = people.create()
    with TestClient(rotated_app) as rotated_client:
        stored = rotated_client.put(
            provider_url(owner.workspace_id, "openai"), headers=owner.headers, json={"api_key": OPENAI_KEY}
        )
        assert stored.status_code == 200, stored.text
    new_only = Keyring(rotated_app.state.ctx.keyring.current)
    assert reveal_provider_key(db, keyring=new_only, workspace_id=owner.workspace_id, provider="openai") == OPENAI_KEY
    assert reencrypt_all(db, keyring=rotated_app.state.ctx.keyring) == 0


# ---- `voxhub admin rotate-secret --generate` ----


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str | None]]:
    """Environment for the CLI: its own SQLite database and data dir, no configured secret, no .env file."""
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield {
        "VOXHUB_DATA_DIR": str(tmp_path / "cli-var"),
        "VOXHUB_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "VOXHUB_SECRET_KEY": None,
        "VOXHUB_PREVIOUS_SECRET_KEYS": None,
        "VOXHUB_SMTP_URL": None,
    }
    # The CLI configures logging for a real process; give pytest its handlers back.
    root.handlers, root.level = handlers, level


def _cli_settings(env: dict[str, str | None]) -> Settings:
    """What a server started with the CLI's environment would run with."""
    return Settings(
        _env_file=None,
        data_dir=Path(env["VOXHUB_DATA_DIR"]),  # type: ignore[arg-type, call-arg]
        database_url=env["VOXHUB_DATABASE_URL"],
        run_periodic_tasks=False,
        password_hash_time_cost=1,
        password_hash_memory_kib=1024,
        password_hash_parallelism=1,
    )


def _invoke(env: dict[str, str | None], *args: str):
    return CliRunner().invoke(cli.app, list(args), env=env)


def test_rotate_secret_generate_makes_a_new_key_and_keeps_the_vault_readable(cli_env) -> None:
    migrated = _invoke(cli_env, "migrate")
    assert migrated.exit_code == 0, migrated.output

    before = create_app(_cli_settings(cli_env))
    try:
        with TestClient(before) as http:
            signup = http.post(
                "/api/v1/auth/signup", json={"email": "ops@example.com", "password": PASSWORD, "name": "Ops"}
            )
            assert signup.status_code == 201, signup.text
            tokens = http.post("/api/v1/auth/login", json={"email": "ops@example.com", "password": PASSWORD}).json()
            headers = {"Authorization": f"Bearer {tokens['access_token']}"}
            workspace_id = http.get(WORKSPACES, headers=headers).json()["items"][0]["id"]
            assert (
                http.put(
                    provider_url(workspace_id, "openai"), headers=headers, json={"api_key": OPENAI_KEY}
                ).status_code
                == 200
            )
        with before.state.db.session() as session:
            old_ciphertext = stored_row(session, workspace_id, "openai").ciphertext
    finally:
        before.state.ctx.close()
        before.state.db.dispose()
    data_dir = Path(cli_env["VOXHUB_DATA_DIR"])  # type: ignore[arg-type]
    old_secret = (data_dir / SECRET_KEY_FILE).read_text().strip()

    rotated = _invoke(cli_env, "admin", "rotate-secret", "--generate")
    assert rotated.exit_code == 0, rotated.output
    assert "Restart every voxhub process" in rotated.output

    new_secret = (data_dir / SECRET_KEY_FILE).read_text().strip()
    assert new_secret and new_secret != old_secret
    assert old_secret in (data_dir / PREVIOUS_SECRET_KEYS_FILE).read_text().splitlines()
    assert (data_dir / SECRET_KEY_FILE).stat().st_mode & 0o077 == 0

    after = create_app(_cli_settings(cli_env))  # the restart
    try:
        with after.state.db.session() as session:
            # Nothing is re-encrypted until the processes know the new key; the restarted one reads the old.
            assert stored_row(session, workspace_id, "openai").ciphertext == old_ciphertext
            assert (
                reveal_provider_key(
                    session, keyring=after.state.ctx.keyring, workspace_id=workspace_id, provider="openai"
                )
                == OPENAI_KEY
            )
        reencrypted = _invoke(cli_env, "admin", "rotate-secret")
        assert reencrypted.exit_code == 0, reencrypted.output
        assert "Re-encrypted 1 stored secret(s)" in reencrypted.output
        with after.state.db.session() as session:
            assert stored_row(session, workspace_id, "openai").ciphertext != old_ciphertext
            assert (
                reveal_provider_key(session, keyring=Keyring(new_secret), workspace_id=workspace_id, provider="openai")
                == OPENAI_KEY
            )
            assert (
                reveal_provider_key(
                    session, keyring=after.state.ctx.keyring, workspace_id=workspace_id, provider="openai"
                )
                == OPENAI_KEY
            )
        with TestClient(after) as http:
            # A token signed before the rotation still works: the old secret stays readable.
            read = http.get(provider_url(workspace_id, "openai"), headers=headers)
            assert read.status_code == 200, read.text
            assert read.json()["last4"] == "abcd"
    finally:
        after.state.ctx.close()
        after.state.db.dispose()

    again = _invoke(cli_env, "admin", "rotate-secret")
    assert again.exit_code == 0, again.output
    assert "Re-encrypted 0 stored secret(s)" in again.output


def test_rotate_secret_generate_refuses_when_the_secret_is_configured(cli_env) -> None:
    assert _invoke(cli_env, "migrate").exit_code == 0
    env = {**cli_env, "VOXHUB_SECRET_KEY": "configured-secret-" + "z" * 32}
    refused = _invoke(env, "admin", "rotate-secret", "--generate")
    assert refused.exit_code == 2
    assert "VOXHUB_SECRET_KEY is set" in refused.output
    assert not (Path(cli_env["VOXHUB_DATA_DIR"]) / SECRET_KEY_FILE).exists()  # type: ignore[arg-type]


def test_a_server_running_during_rotate_secret_generate_can_still_read_the_vault(cli_env) -> None:
    assert _invoke(cli_env, "migrate").exit_code == 0
    running = create_app(_cli_settings(cli_env))
    try:
        with TestClient(running) as http:
            assert (
                http.post(
                    "/api/v1/auth/signup", json={"email": "ops@example.com", "password": PASSWORD, "name": "Ops"}
                ).status_code
                == 201
            )
            tokens = http.post("/api/v1/auth/login", json={"email": "ops@example.com", "password": PASSWORD}).json()
            headers = {"Authorization": f"Bearer {tokens['access_token']}"}
            workspace_id = http.get(WORKSPACES, headers=headers).json()["items"][0]["id"]
            assert (
                http.put(
                    provider_url(workspace_id, "openai"), headers=headers, json={"api_key": OPENAI_KEY}
                ).status_code
                == 200
            )

            assert _invoke(cli_env, "admin", "rotate-secret", "--generate").exit_code == 0

            # The server that was serving all along still has to call the provider with the customer's key.
            with running.state.db.session() as session:
                assert (
                    reveal_provider_key(
                        session, keyring=running.state.ctx.keyring, workspace_id=workspace_id, provider="openai"
                    )
                    == OPENAI_KEY
                )
    finally:
        running.state.ctx.close()
        running.state.db.dispose()
