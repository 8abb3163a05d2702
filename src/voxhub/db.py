"""Database engine, sessions, the declarative Base, after-commit hooks and Alembic migrations."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import DateTime, Engine, MetaData, String, create_engine, event, inspect, text
from sqlalchemy.engine import Connection, CursorResult, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from voxhub.config import Settings
from voxhub.ids import new_id

ALEMBIC_DIR = Path(__file__).parent / "alembic"
log = logging.getLogger("voxhub.db")

# The largest value of an INTEGER column on PostgreSQL. Integers a request carries into a query (versions, event ids)
# are bounded by it, so a larger one is a 422 and not an OverflowError (SQLite refuses anything past 2**63 - 1).
MAX_INTEGER = 2**31 - 1

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}


def id_column() -> Mapped[str]:
    return mapped_column(String(36), primary_key=True, default=new_id)


# ---- after-commit hooks: work that must only happen once the transaction is durable (mail, queues) ----

_HOOKS = "voxhub_after_commit"


def on_commit(db: Session, callback: Callable[[], None]) -> None:
    """Run `callback` after `db` commits; dropped if it rolls back."""
    db.info.setdefault(_HOOKS, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    # The transaction is durable by now: a callback that fails (a queue or a mail server away) is logged, and neither
    # stops the callbacks after it nor turns a request that did its work into an error.
    callbacks = session.info.pop(_HOOKS, [])
    for callback in callbacks:
        try:
            callback()
        except Exception:
            log.exception("an after-commit callback failed: %r", callback)


@event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session: Session) -> None:
    session.info.pop(_HOOKS, None)


# ---- knowing whether a unit of work wrote anything: read-only requests then skip the commit ----

_WROTE = "voxhub_wrote"


@event.listens_for(Session, "after_flush")
def _note_flush(session: Session, _context: Any) -> None:
    session.info[_WROTE] = True


@event.listens_for(Session, "do_orm_execute")
def _note_dml(state: Any) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_WROTE] = True


def affected(db: Session, statement: Any) -> int:
    """Run an UPDATE or DELETE and return how many rows it changed: conditional updates are how voxhub claims
    a token, a job or a lease exactly once."""
    result: CursorResult[Any] = db.execute(statement)  # type: ignore[assignment]
    return result.rowcount


def has_work(db: Session) -> bool:
    return bool(db.info.get(_WROTE) or db.info.get(_HOOKS) or db.new or db.dirty or db.deleted)


def finish(db: Session, error: BaseException | None) -> None:
    """End a unit of work: commit what it wrote (also when the error asks to keep its changes), else roll back."""
    try:
        if (error is None or getattr(error, "keep_changes", False)) and has_work(db):
            db.commit()
    finally:
        db.info.pop(_WROTE, None)
        db.close()  # rolls back whatever was not committed


# ---- the tenant wall: PostgreSQL row-level security under the service's own workspace filters ----
#
# Every table with a `workspace_id` column has a policy (`tenant_wall_statements`): a row is visible and writable
# only when it belongs to the workspace named by the transaction's `app.workspace_id` setting, or when the
# transaction set `app.bypass` to `on`. Each transaction a session begins gets both settings from the session:
# a session scoped to a workspace (every workspace route, every job's pipeline) sees that workspace alone; a session
# nobody scoped is an operator's (sign-in, account and superuser routes, periodic work, a job's bookkeeping) and
# runs with the bypass. A connection that sets neither (a role connecting by hand) sees and writes nothing.
# SQLite has no such wall: there the service-level filters are the only one.

_WORKSPACE = "voxhub_workspace"
_job_workspace: ContextVar[str | None] = ContextVar("voxhub_job_workspace", default=None)
_SET_TENANT = "SELECT set_config('app.workspace_id', %(workspace)s, true), set_config('app.bypass', %(bypass)s, true)"


def tenant_wall_statements(table: str) -> list[str]:
    """The DDL that puts `table` (which has a `workspace_id` column) behind the wall, its owner included."""
    visible = "current_setting('app.bypass', true) = 'on' OR workspace_id = current_setting('app.workspace_id', true)"
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY workspace_wall ON {table} USING ({visible}) WITH CHECK ({visible})",
    ]


def _apply_tenant(connection: Connection, workspace_id: str | None) -> None:
    connection.exec_driver_sql(
        _SET_TENANT, {"workspace": workspace_id or "", "bypass": "off" if workspace_id else "on"}
    )


def scope_to_workspace(db: Session, workspace_id: str) -> None:
    """From now on `db` sees and writes only `workspace_id`'s rows on PostgreSQL, in this transaction and the next."""
    db.info[_WORKSPACE] = workspace_id
    if db.in_transaction() and db.get_bind().dialect.name == "postgresql":
        _apply_tenant(db.connection(), workspace_id)


@contextmanager
def job_workspace(workspace_id: str) -> Iterator[None]:
    """Sessions opened in this thread meanwhile are scoped to `workspace_id`: a job's pipeline sees its workspace."""
    token = _job_workspace.set(workspace_id)
    try:
        yield
    finally:
        _job_workspace.reset(token)


@event.listens_for(Session, "after_begin")
def _scope_transaction(session: Session, _transaction: Any, connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        _apply_tenant(connection, session.info.get(_WORKSPACE) or _job_workspace.get())


def grant_app_role(engine: Engine, role: str) -> None:
    """Let `role` (which should own nothing and be no superuser, so the wall holds for it) read and write voxhub's
    tables, now and after later migrations run by the owner."""
    quoted = engine.dialect.identifier_preparer.quote(role)
    with engine.begin() as connection:
        for statement in (
            f"GRANT USAGE ON SCHEMA public TO {quoted}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}",
            f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {quoted}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {quoted}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {quoted}",
        ):
            connection.execute(text(statement))


def wall_bypassed(engine: Engine) -> bool:
    """Whether this engine's role skips row-level security altogether (a superuser, or a role with BYPASSRLS)."""
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
        ).scalar()
    return bool(row)


# ---- engine and sessions ----


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # A pool as large as the request thread pool: opening a connection (and its PRAGMAs) per request is slow.
        # Past it, overflow without bound: requests take their connection on the event loop (deps.read_db), and a
        # checkout that waited for a free one would stop the loop that the holders need to give theirs back.
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 15}, pool_size=40, max_overflow=-1
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


class Database:
    """An engine and its session factory, made once per process from Settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = settings.resolved_database_url
        self.engine = make_engine(self.url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on error (keeping changes an error asks to keep)."""
        db = self.sessions()
        try:
            yield db
        except BaseException as exc:
            # Some errors must not undo what was recorded on the way (a failed login is still counted).
            finish(db, exc)
            raise
        finish(db, None)

    def dispose(self) -> None:
        self.engine.dispose()


# ---- migrations ----


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    # Reading the revision migrates nothing: without this, alembic's "Context impl …" lines open every CLI command.
    migration_log = logging.getLogger("alembic.runtime.migration")
    level = migration_log.level
    migration_log.setLevel(logging.WARNING)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        migration_log.setLevel(level)


SchemaState = Literal["empty", "current", "outdated"]


def schema_state(engine: Engine) -> SchemaState:
    current = current_revision(engine)
    if current is None:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names()) - {"alembic_version"}
        return "outdated" if tables else "empty"
    return "current" if current == head_revision() else "outdated"


def migrate(engine: Engine, revision: str = "head") -> None:
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Migrations are an operator's: data they move crosses workspaces.
            connection.exec_driver_sql("SELECT set_config('app.bypass', 'on', true)")
        command.upgrade(alembic_config(connection), revision)
