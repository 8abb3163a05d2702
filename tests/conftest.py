"""Builds voxhub apps on a real database (SQLite, or PostgreSQL when VOXHUB_TEST_DATABASE_URL is set)
with a real SMTP server (aiosmtpd) receiving the mail they send."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import voxhub.models  # noqa: F401
from tests.catalogs import edited_catalog
from tests.live_server import free_port
from tests.storage.stores import S3Server, running_s3_server
from voxhub.app import create_app
from voxhub.audit.service import Actor
from voxhub.config import Settings
from voxhub.db import Base, Database, grant_app_role, make_engine, migrate

# Shared fixtures live in these modules; a test package overrides one by defining it again in its conftest.
pytest_plugins = ["tests.fixtures.media", "tests.fixtures.servers", "tests.fixtures.workers"]

# anyio imports its file functions lazily, and anyio is a pytest plugin, so pytest's assertion rewriter parses that
# module when a live server first serves a file, in the server's thread; CPython 3.11 can fail ("AST constructor
# recursion depth mismatch") when that parse races another thread's. Imported here, before any server runs.
_ = anyio.open_file

PASSWORD = "correct horse battery staple"


# ---- a real SMTP server ----


class _Collector:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"


@dataclass
class Mailbox:
    """What the SMTP server received during one test."""

    collector: _Collector
    start: int = 0

    def all(self) -> list[EmailMessage]:
        with self.collector.lock:
            return list(self.collector.messages[self.start :])

    def wait_for(self, to: str, subject: str = "", timeout: float = 10.0, count: int = 1) -> EmailMessage:
        """The newest mail to `to` whose subject contains `subject`, once at least `count` such mails arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            matches = [m for m in self.all() if to.lower() in str(m["To"]).lower() and subject in str(m["Subject"])]
            if len(matches) >= count:
                return matches[-1]
            time.sleep(0.02)
        raise AssertionError(
            f"no mail to {to} with subject containing {subject!r} within {timeout}s: "
            f"{[(m['To'], m['Subject']) for m in self.all()]}"
        )

    def sent_to(self, to: str) -> list[EmailMessage]:
        return [m for m in self.all() if to.lower() in str(m["To"]).lower()]


def body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()  # type: ignore[no-any-return]


def token_from(message: EmailMessage) -> str:
    """The ?token=… of the link in a mail."""
    match = re.search(r"\?token=([A-Za-z0-9_\-]+)", body_text(message))
    assert match, body_text(message)
    return match.group(1)


def within_one_rate_minute(seconds: float = 5.0) -> None:
    """Rate limits count in clock minutes, a sliding window over two: a burst that crosses a minute's edge has its
    first part counted at a discount, so one more request may pass. Before a burst that must meet the limit exactly,
    wait for the next minute when fewer than `seconds` are left of this one."""
    left = 60 - time.time() % 60
    if left < seconds:
        time.sleep(left + 0.05)


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[_Collector, int]]:
    collector = _Collector()
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    yield collector, port
    controller.stop()


@pytest.fixture
def mailbox(smtp_server: tuple[_Collector, int]) -> Mailbox:
    collector, _port = smtp_server
    with collector.lock:
        return Mailbox(collector=collector, start=len(collector.messages))


# ---- a real S3-compatible server ----


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """SeaweedFS on free ports for the whole run, or the server named by VOXHUB_TEST_S3_URL."""
    with running_s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


# ---- a real database ----


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("VOXHUB_TEST_DATABASE_URL")
    if url:
        # One fresh database per pytest-xdist worker, so parallel workers never share tables.
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        server = make_url(url)
        name = f"{server.database}_{worker}"
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = server.set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'voxhub-test.db'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    yield url


@pytest.fixture(scope="session")
def app_database_url(database_url: str) -> str:
    """The URL the app under test connects with. On PostgreSQL, a role that owns nothing and is no superuser, as in
    production: the tables' row-level security holds for it, so the whole suite runs behind the tenant wall."""
    if not database_url.startswith("postgresql"):
        return database_url
    server = make_url(database_url)
    role = f"voxhub_app_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}).first()
        if not exists:
            connection.execute(text(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS'))
    admin.dispose()
    owner = make_engine(database_url)
    grant_app_role(owner, role)
    owner.dispose()
    return server.set(username=role).render_as_string(hide_password=False)


def _empty_all_tables(url: str) -> None:
    engine = make_engine(url)
    tables = [table.name for table in Base.metadata.sorted_tables]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
        else:
            for name in reversed(tables):
                connection.execute(text(f"DELETE FROM {name}"))
    engine.dispose()


@pytest.fixture(scope="session")
def billing_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped catalog with room for tests that poll: the free plan's 60 requests a minute would throttle them.
    Tests of rate limits set their own."""
    from voxhub.billing.catalog import DEFAULT_CATALOG

    target = tmp_path_factory.mktemp("billing") / "billing.toml"
    return edited_catalog(DEFAULT_CATALOG, target, {"plans.free.requests_per_minute": 100_000})


@pytest.fixture
def settings(
    tmp_path: Path, app_database_url: str, smtp_server: tuple[_Collector, int], billing_catalog: Path
) -> Settings:
    _collector, port = smtp_server
    return Settings(
        billing_catalog=billing_catalog,
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "var",
        database_url=app_database_url,
        smtp_url=f"smtp://127.0.0.1:{port}",
        public_url="http://voxhub.test",
        secret_key="test-secret-key-" + "x" * 32,
        run_periodic_tasks=False,
        # Cheap argon2id: the suite hashes hundreds of passwords; production keeps the strong default.
        password_hash_time_cost=1,
        password_hash_memory_kib=1024,
        password_hash_parallelism=1,
    )


@pytest.fixture
def app(settings: Settings, database_url: str) -> Iterator[Any]:
    application = create_app(settings)
    yield application
    application.state.ctx.mailer.flush()
    application.state.ctx.close()
    application.state.db.dispose()
    _empty_all_tables(database_url)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def db(app: Any) -> Iterator[Any]:
    """A session on the app's database, for looking at rows the API wrote."""
    database: Database = app.state.db
    session = database.sessions()
    yield session
    session.close()


# ---- people ----


@dataclass
class Person:
    """A signed-in user and what a test needs to act as them."""

    id: str
    email: str
    password: str
    access_token: str
    refresh_token: str
    workspace_id: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


class People:
    def __init__(self, client: TestClient, app: Any, starting_credits: int = 0) -> None:
        self.client = client
        self.app = app
        self.count = 0
        # Credits granted to each new person's workspace (suites that run many paid jobs set this).
        self.starting_credits = starting_credits

    def create(
        self, email: str | None = None, *, verified: bool = True, name: str = "", superuser: bool = False
    ) -> Person:
        """A user made directly through the service (verified unless asked otherwise), then signed in over HTTP."""
        from voxhub.workspaces.flows import create_user

        self.count += 1
        email = email or f"user{self.count}-{os.urandom(3).hex()}@example.com"
        with self.app.state.db.session() as session:
            user = create_user(
                session,
                email=email,
                password=PASSWORD,
                name=name or f"User {self.count}",
                actor=Actor.system(),
                verified=verified,
                superuser=superuser,
            )
            user_id = user.id
        tokens = self.login(email)
        workspaces = self.client.get(
            "/api/v1/workspaces", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        assert workspaces.status_code == 200, workspaces.text
        person = Person(
            id=user_id,
            email=email.strip().lower(),
            password=PASSWORD,
            access_token=tokens["access_token"],
            refresh_token=tokens["refresh_token"],
            workspace_id=workspaces.json()["items"][0]["id"],
        )
        if self.starting_credits:
            self.grant(person.workspace_id, self.starting_credits)
        return person

    def grant(self, workspace_id: str, credits: int) -> None:
        """Credits for a workspace, granted through the billing service as a superuser would."""
        from voxhub.billing.service import grant

        with self.app.state.db.session() as session:
            grant(
                session,
                ctx=self.app.state.ctx,
                workspace_id=workspace_id,
                credits=credits,
                reason="test credits",
                actor=Actor.system(),
            )

    def login(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        response = self.client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def add_to(self, owner: Person, workspace_id: str, role: str, email: str | None = None) -> Person:
        """A new user who joined `workspace_id` with `role`, invited by `owner` through the real mail flow."""
        person = self.create(email)
        mailbox = self.app.state.test_mailbox
        response = self.client.post(
            f"/api/v1/workspaces/{workspace_id}/invitations",
            headers=owner.headers,
            json={"email": person.email, "role": role},
        )
        assert response.status_code == 201, response.text
        token = token_from(mailbox.wait_for(person.email, "invited"))
        accepted = self.client.post("/api/v1/invitations/accept", headers=person.headers, json={"token": token})
        assert accepted.status_code == 200, accepted.text
        return person


@pytest.fixture
def people(client: TestClient, app: Any, mailbox: Mailbox) -> People:
    app.state.test_mailbox = mailbox
    return People(client, app)
