"""Backups that restore: the database (pg_dump's custom format, or SQLite's online backup) and every object of the blob
store, each with a sha256, described by a manifest; and the restore that checks all of it before and after.

A backup is a directory:

    manifest.json     voxhub's version, the schema revision, the database's kind, row counts per table, timestamps,
                      the dump's sha256, and every object's key, size and sha256 (written last: no manifest, no backup)
    database.dump     `pg_dump --format=custom` (PostgreSQL), or database.sqlite3: a copy of the SQLite file
    blobs/KEY         every object of the store, under its key

The database is read first, in one snapshot (PostgreSQL: a repeatable-read transaction whose snapshot pg_dump
shares, so the row counts are those of the dump), and the store after it. A file uploaded meanwhile is an object
that no row names (harmless); stop voxhub, or back up when files are not being deleted, for an exact pair.

PostgreSQL runs behind row-level security: backups and restores connect as the tables' owner or a superuser (the URL
`voxhub migrate` uses) with `app.bypass` on. pg_dump keeps row security off, so a role the wall would hide rows from
gets an error rather than a partial dump.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from voxhub import __version__
from voxhub.config import Settings
from voxhub.db import alembic_config, head_revision, make_engine
from voxhub.security import Keyring
from voxhub.storage import BlobNotFound, BlobStore, StorageError, open_store

MANIFEST = "manifest.json"
BLOBS = "blobs"
FORMAT = 1
DUMP_FILES = {"postgresql": "database.dump", "sqlite": "database.sqlite3"}
CHUNK = 1024 * 1024

DatabaseKind = Literal["postgresql", "sqlite"]
Progress = Callable[[str], None]


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and what to do."""


class TargetNotEmpty(BackupError):
    """The restore's database or store already holds data, and --force was not given."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str


@dataclass(frozen=True)
class DatabaseDump:
    kind: DatabaseKind
    file: str
    size: int
    sha256: str
    revision: str | None
    tables: dict[str, int]  # rows per table, counted in the dump's own snapshot


@dataclass(frozen=True)
class Manifest:
    format: int
    voxhub_version: str
    started_at: str
    finished_at: str
    database: DatabaseDump
    store: str  # the kind of store it was taken from: local or s3
    objects: list[StoredObject] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(item.size for item in self.objects)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False) + "\n"

    @classmethod
    def read(cls, source: Path) -> Manifest:
        path = source / MANIFEST
        if not path.is_file():
            raise BackupError(f"{source} is not a voxhub backup: it has no {MANIFEST} (an unfinished backup has none)")
        try:
            raw = json.loads(path.read_text())
            if raw.get("format") != FORMAT:
                raise BackupError(f"{path} is a backup of format {raw.get('format')!r}; this voxhub reads {FORMAT}")
            database = DatabaseDump(**raw["database"])
            objects = [StoredObject(**item) for item in raw["objects"]]
            return cls(**{**raw, "database": database, "objects": objects})
        except (ValueError, KeyError, TypeError) as exc:
            raise BackupError(f"{path} is not a readable manifest: {exc}") from exc


@dataclass(frozen=True)
class RestoreReport:
    manifest: Manifest
    tables: dict[str, int]
    objects_verified: int


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _quiet(_message: str) -> None:
    pass


# ---- checksums ----


def _sha256_of_chunks(chunks: Iterable[bytes], sink: Callable[[bytes], Any] | None = None) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
        if sink is not None:
            sink(chunk)
    return digest.hexdigest(), size


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def sha256_file(path: Path) -> str:
    return _sha256_of_chunks(_file_chunks(path))[0]


# ---- the store ----


def _store(settings: Settings) -> BlobStore:
    # Backups never sign a URL: a throwaway key keeps a restore from generating DATA_DIR/secret_key as a side effect.
    return open_store(settings, Keyring(secrets.token_urlsafe(32)))


def _copy_store_out(store: BlobStore, target: Path, progress: Progress) -> list[StoredObject]:
    copied = []
    for key in sorted(store.iter_keys()):
        path = target / key
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with path.open("wb") as handle:
                sha, size = _sha256_of_chunks(store.open(key), handle.write)
        except BlobNotFound:
            # Deleted since it was listed: its row went first (files are deleted after their row commits).
            path.unlink(missing_ok=True)
            continue
        copied.append(StoredObject(key=key, size=size, sha256=sha))
    progress(f"copied {len(copied)} object(s), {sum(item.size for item in copied)} bytes, from the {store.name} store")
    return copied


# ---- the database: which kind, its tables, its row counts ----


def _kind(engine: Engine) -> DatabaseKind:
    name = engine.dialect.name
    if name not in ("postgresql", "sqlite"):
        raise BackupError(f"backups know PostgreSQL and SQLite, not {name}")
    return name  # type: ignore[return-value]


def _operator(connection: Connection) -> None:
    """Past the tenant wall: a backup reads, and a restore checks, every workspace's rows."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SELECT set_config('app.bypass', 'on', true)")


def _row_counts(connection: Connection) -> dict[str, int]:
    tables = sorted(inspect(connection).get_table_names())
    preparer = connection.dialect.identifier_preparer
    return {
        # The database's own table names, quoted.
        table: int(connection.execute(text(f"SELECT count(*) FROM {preparer.quote(table)}")).scalar_one())  # noqa: S608
        for table in tables
    }


def _revision(connection: Connection, tables: dict[str, int]) -> str | None:
    if "alembic_version" not in tables:
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


# ---- PostgreSQL through its own programs ----


def _program(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not on PATH. Install the PostgreSQL client programs of the server's major version "
            f"(e.g. Debian's postgresql-client-18), or put the directory holding {name} first on PATH."
        )
    return found


@dataclass(frozen=True)
class _Libpq:
    """A libpq connection string and environment for pg_dump/pg_restore; the password goes in the environment, never
    on a command line others can read."""

    uri: str
    env: dict[str, str]


def _libpq(url: str) -> _Libpq:
    parsed = make_url(url)
    env = {**os.environ, "PGOPTIONS": "-c app.bypass=on"}
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    uri = parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return _Libpq(uri=uri, env=env)


def _run(arguments: list[str], env: dict[str, str], what: str) -> str:
    # A program found on PATH and arguments made here, no shell.
    finished = subprocess.run(arguments, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if finished.returncode != 0:
        said = finished.stderr.strip() or finished.stdout.strip()
        hint = ""
        if "row-level security" in said or "row security" in said:
            hint = (
                "\nThe role hides rows behind the tenant wall: use the URL of the tables' owner or a superuser "
                "(the one `voxhub migrate` runs with)."
            )
        elif "version mismatch" in said:
            hint = "\nUse the client programs of the server's major version (put their directory first on PATH)."
        raise BackupError(f"{what} failed (exit {finished.returncode}):\n{said}{hint}")
    return finished.stdout


def _row_security(connection: Connection) -> list[str]:
    """pg_dump and pg_restore turn row security off, and fail for a role it holds (an owner that is no superuser:
    voxhub's policies are forced). For such a role they keep it on, and `app.bypass` (set in PGOPTIONS) lets every
    row through the policies; the row counts, taken the same way, show that nothing was left out."""
    exempt = connection.exec_driver_sql(
        "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
    ).scalar()
    return [] if exempt else ["--enable-row-security"]


def _dump_postgres(engine: Engine, url: str, target: Path) -> tuple[str | None, dict[str, int]]:
    pg_dump = _program("pg_dump")
    libpq = _libpq(url)
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection:
        _operator(connection)  # the transaction's first statement: its snapshot is taken here
        snapshot = connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
        tables = _row_counts(connection)
        revision = _revision(connection, tables)
        # pg_dump reads the very snapshot the counts were taken in, while this transaction holds it open.
        _run(
            [
                pg_dump,
                "--format=custom",
                f"--snapshot={snapshot}",
                *_row_security(connection),
                f"--file={target}",
                "--no-password",
                "--dbname",
                libpq.uri,
            ],
            libpq.env,
            "pg_dump",
        )
        connection.rollback()
    return revision, tables


def _restore_postgres(engine: Engine, url: str, dump: Path) -> None:
    pg_restore = _program("pg_restore")
    libpq = _libpq(url)
    with engine.connect() as connection:
        row_security = _row_security(connection)
    # Everything but the comments on extensions: only an extension's owner (a superuser, who created pgvector for an
    # owner that is none) may set them, and they are the extension's own text.
    contents = _run([pg_restore, "--list", str(dump)], libpq.env, "pg_restore --list")
    with tempfile.TemporaryDirectory(prefix="voxhub-restore-") as scratch:
        wanted = Path(scratch) / "contents.list"
        wanted.write_text(
            "".join(line for line in contents.splitlines(keepends=True) if " COMMENT - EXTENSION " not in line)
        )
        _run(
            [
                pg_restore,
                f"--use-list={wanted}",
                "--single-transaction",
                "--exit-on-error",
                *row_security,
                "--no-password",
                "--dbname",
                libpq.uri,
                str(dump),
            ],
            libpq.env,
            "pg_restore",
        )


def _empty_postgres(engine: Engine) -> None:
    """--force: what the target holds is dropped, and the dump brings it all back. A superuser drops the public schema
    with everything in it and makes it again as PostgreSQL makes it; the database's owner, which may not drop the
    extensions a superuser created for it, drops everything it owns."""
    with engine.begin() as connection:
        superuser = connection.exec_driver_sql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").scalar()
        if superuser:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public AUTHORIZATION pg_database_owner")
            connection.exec_driver_sql("GRANT USAGE ON SCHEMA public TO PUBLIC")
        else:
            connection.exec_driver_sql("DROP OWNED BY CURRENT_USER")


# ---- SQLite through its online backup API ----


def _sqlite_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(database)


@contextmanager
def _sqlite(path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(path, timeout=15)
    try:
        yield connection
    finally:
        connection.close()


def _dump_sqlite(engine: Engine, target: Path) -> tuple[str | None, dict[str, int]]:
    source_path = _sqlite_path(engine)
    if not source_path.is_file():
        raise BackupError(f"there is no SQLite database at {source_path}")
    with _sqlite(source_path) as source, _sqlite(target) as copy:
        source.backup(copy)  # a consistent copy while voxhub keeps writing: the online backup API
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    copied = make_engine(f"sqlite:///{target}")
    try:
        with copied.connect() as connection:
            tables = _row_counts(connection)
            revision = _revision(connection, tables)
    finally:
        copied.dispose()
    return revision, tables


def _restore_sqlite(engine: Engine, dump: Path) -> None:
    target = _sqlite_path(engine)
    target.parent.mkdir(parents=True, exist_ok=True)
    engine.dispose()  # no pooled connection of ours holds the file while its pages are replaced
    with _sqlite(dump) as source, _sqlite(target) as destination:
        source.backup(destination)
        destination.execute("PRAGMA journal_mode=WAL")  # as voxhub runs it


# ---- backup ----


@contextmanager
def _database_errors(what: str) -> Iterator[None]:
    """A database that refuses (unreachable, a missing privilege) ends the command with what it said."""
    try:
        yield
    except (SQLAlchemyError, sqlite3.Error) as exc:
        said = str(getattr(exc, "orig", None) or exc).strip()
        raise BackupError(f"{what} failed in the database: {said}") from exc


def backup(settings: Settings, destination: Path, *, progress: Progress = _quiet) -> Manifest:
    """Back up the database named by `settings` and its blob store into `destination` (new, or an empty directory)."""
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise BackupError(f"{destination} exists and is not an empty directory; back up into a new one")
    created = not destination.exists()
    destination.mkdir(parents=True, exist_ok=True)
    try:
        with _database_errors("the backup"):
            return _backup(settings, destination, progress)
    except BaseException:
        # Half a backup is none: what was written goes, so the directory can be used again.
        if created:
            shutil.rmtree(destination, ignore_errors=True)
        else:
            for entry in destination.iterdir():
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
        raise


def _backup(settings: Settings, destination: Path, progress: Progress) -> Manifest:
    started_at = _now()
    engine = make_engine(settings.resolved_database_url)
    try:
        kind = _kind(engine)
        dump = destination / DUMP_FILES[kind]
        if kind == "postgresql":
            revision, tables = _dump_postgres(engine, settings.resolved_database_url, dump)
        else:
            revision, tables = _dump_sqlite(engine, dump)
    finally:
        engine.dispose()
    if revision is None:
        raise BackupError("the database has no schema revision: it was never migrated, so there is nothing to back up")
    database = DatabaseDump(
        kind=kind,
        file=dump.name,
        size=dump.stat().st_size,
        sha256=sha256_file(dump),
        revision=revision,
        tables=tables,
    )
    progress(f"dumped the {kind} database at revision {revision}: {sum(tables.values())} rows in {len(tables)} tables")
    store = _store(settings)
    try:
        objects = _copy_store_out(store, destination / BLOBS, progress)
    except StorageError as exc:
        raise BackupError(f"reading the blob store failed: {exc}") from exc
    manifest = Manifest(
        format=FORMAT,
        voxhub_version=__version__,
        started_at=started_at,
        finished_at=_now(),
        database=database,
        store=store.name,
        objects=objects,
    )
    # Written last, and atomically: a directory with a manifest is a finished backup.
    temporary = destination / f".{MANIFEST}.tmp"
    temporary.write_text(manifest.to_json())
    os.replace(temporary, destination / MANIFEST)
    return manifest


# ---- restore ----


def verify(source: Path, manifest: Manifest | None = None) -> Manifest:
    """Check every file of the backup against its manifest's sha256; the manifest when all match."""
    manifest = manifest or Manifest.read(source)
    wrong: list[str] = []
    dump = source / manifest.database.file
    if not dump.is_file():
        wrong.append(f"{manifest.database.file} is missing")
    elif sha256_file(dump) != manifest.database.sha256:
        wrong.append(f"{manifest.database.file} does not match its sha256")
    for item in manifest.objects:
        path = source / BLOBS / item.key
        if not path.is_file():
            wrong.append(f"object {item.key} is missing")
        elif path.stat().st_size != item.size or sha256_file(path) != item.sha256:
            wrong.append(f"object {item.key} does not match its sha256")
    if wrong:
        listed = "\n  ".join(wrong[:20]) + (f"\n  … and {len(wrong) - 20} more" if len(wrong) > 20 else "")
        raise BackupError(f"the backup at {source} is damaged; nothing was restored:\n  {listed}")
    return manifest


def _check_revision(revision: str | None, *, older_schema: bool) -> None:
    head = head_revision()
    if revision == head:
        return
    scripts = ScriptDirectory.from_config(alembic_config())
    try:
        known = revision is not None and scripts.get_revision(revision) is not None
    except CommandError:
        known = False
    if not known:
        raise BackupError(
            f"the backup's schema revision {revision} is unknown to this voxhub (its schema is at {head}): the "
            "backup was taken by a newer voxhub. Restore it with that version (the manifest names it), then come "
            "back to this one only through its migrations."
        )
    if not older_schema:
        raise BackupError(
            f"the backup's schema is at revision {revision}, older than this voxhub's {head}. Nothing is migrated "
            "without being asked: restore it with the voxhub version named in the manifest, or pass --older-schema "
            "to restore it as it is and then run `voxhub migrate`."
        )


def _target_contents(engine: Engine, store: BlobStore) -> tuple[list[str], bool]:
    with engine.connect() as connection:
        tables = inspect(connection).get_table_names()
    return tables, next(iter(store.iter_keys()), None) is not None


def restore(
    settings: Settings,
    source: Path,
    *,
    force: bool = False,
    older_schema: bool = False,
    progress: Progress = _quiet,
) -> RestoreReport:
    """Restore the backup at `source` into the database and blob store named by `settings`. Both must be empty
    unless `force` (which empties them first). Checked before anything is written, and read back after."""
    with _database_errors("the restore"):
        return _restore(settings, source, force=force, older_schema=older_schema, progress=progress)


def _restore(settings: Settings, source: Path, *, force: bool, older_schema: bool, progress: Progress) -> RestoreReport:
    manifest = verify(source)
    progress(
        f"verified the backup: the database dump and {len(manifest.objects)} object(s), {manifest.total_bytes} bytes"
    )
    _check_revision(manifest.database.revision, older_schema=older_schema)
    engine = make_engine(settings.resolved_database_url)
    store = _store(settings)
    try:
        kind = _kind(engine)
        if kind != manifest.database.kind:
            raise BackupError(
                f"the backup holds a {manifest.database.kind} database and VOXHUB_DATABASE_URL names a {kind} one; "
                "a backup restores into the same kind of database"
            )
        try:
            tables, store_used = _target_contents(engine, store)
        except StorageError as exc:
            raise BackupError(f"reading the blob store failed: {exc}") from exc
        if (tables or store_used) and not force:
            holding = [
                *([f"the database holds {len(tables)} table(s)"] if tables else []),
                *([f"the {store.name} store holds objects"] if store_used else []),
            ]
            raise TargetNotEmpty(
                f"the restore target is not empty: {' and '.join(holding)}. Restore into an empty database and "
                "store, or pass --force to replace everything they hold."
            )
        dump = source / manifest.database.file
        if kind == "postgresql":
            if tables:
                _empty_postgres(engine)
            _restore_postgres(engine, settings.resolved_database_url, dump)
        else:
            _restore_sqlite(engine, dump)
        progress(f"restored the {kind} database at revision {manifest.database.revision}")
        try:
            _replace_objects(store, source / BLOBS, manifest.objects, empty_first=store_used)
        except StorageError as exc:
            raise BackupError(f"writing the blob store failed: {exc}") from exc
        progress(f"restored {len(manifest.objects)} object(s) into the {store.name} store")
        restored = _check_restored(engine, store, manifest)
    finally:
        engine.dispose()
    progress("read everything back: row counts and every object's sha256 match the manifest")
    return RestoreReport(manifest=manifest, tables=restored, objects_verified=len(manifest.objects))


def _replace_objects(store: BlobStore, blobs: Path, objects: list[StoredObject], *, empty_first: bool) -> None:
    if empty_first:
        wanted = {item.key for item in objects}
        for key in [key for key in store.iter_keys() if key not in wanted]:
            store.delete(key)
    for item in objects:
        with (blobs / item.key).open("rb") as handle:
            store.put(item.key, handle)


def _check_restored(engine: Engine, store: BlobStore, manifest: Manifest) -> dict[str, int]:
    with engine.connect() as connection:
        _operator(connection)
        tables = _row_counts(connection)
        revision = _revision(connection, tables)
        connection.rollback()
    wrong = [
        f"table {table}: {tables.get(table)} rows, the backup has {count}"
        for table, count in manifest.database.tables.items()
        if tables.get(table) != count
    ]
    if revision != manifest.database.revision:
        wrong.append(f"schema revision {revision}, the backup has {manifest.database.revision}")
    for item in manifest.objects:
        try:
            sha, size = _sha256_of_chunks(store.open(item.key))
        except BlobNotFound:
            wrong.append(f"object {item.key} is missing")
            continue
        if (sha, size) != (item.sha256, item.size):
            wrong.append(f"object {item.key} reads back with another sha256")
    if wrong:
        raise BackupError("the restored data does not match the backup:\n  " + "\n  ".join(wrong[:20]))
    return tables


def describe(manifest: Manifest) -> str:
    """One line for an operator."""
    rows = sum(manifest.database.tables.values())
    return (
        f"voxhub {manifest.voxhub_version}, schema {manifest.database.revision}, {manifest.database.kind} "
        f"({rows} rows in {len(manifest.database.tables)} tables), {len(manifest.objects)} object(s) "
        f"({manifest.total_bytes} bytes) from the {manifest.store} store, taken {manifest.finished_at}"
    )


__all__ = [
    "BackupError",
    "Manifest",
    "RestoreReport",
    "StoredObject",
    "TargetNotEmpty",
    "backup",
    "describe",
    "restore",
    "verify",
]
