"""The `voxhub` command: serve, migrate, administer, and transcribe or speak files locally."""

from __future__ import annotations

import getpass
import os
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from voxhub import speech_cli
from voxhub.config import PREVIOUS_SECRET_KEYS_FILE, SECRET_KEY_FILE, Settings
from voxhub.db import Database, grant_app_role, migrate, schema_state, wall_bypassed
from voxhub.jobs.registry import QUEUES
from voxhub.observability import configure_logging

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from voxhub.audit.service import Actor
    from voxhub.context import AppContext

app = typer.Typer(help="voxhub — a self-hosted backend for AI audio products.", no_args_is_help=True)
admin = typer.Typer(help="Administration: users, credits, secrets.", no_args_is_help=True)
app.add_typer(admin, name="admin")


def _settings() -> Settings:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return settings


speech_cli.register(app, _settings)


def prepare_database(settings: Settings) -> None:
    """SQLite is migrated in place (one machine, one process); PostgreSQL must be migrated on purpose."""
    database = Database(settings)
    try:
        state = schema_state(database.engine)
        if state == "current":
            if wall_bypassed(database.engine):
                typer.echo(
                    "warning: voxhub connects to PostgreSQL as a superuser (or a role with BYPASSRLS), so the "
                    "row-level security under each workspace does not apply. Run it as a role of its own: "
                    "`voxhub migrate --app-role NAME`, then use NAME in VOXHUB_DATABASE_URL.",
                    err=True,
                )
            return
        if settings.is_sqlite:
            typer.echo(f"Migrating the SQLite database at {database.engine.url.database} …", err=True)
            migrate(database.engine)
            return
        typer.echo(
            "The database schema is not current. Run `voxhub migrate` (with the same VOXHUB_DATABASE_URL) "
            "before starting voxhub.",
            err=True,
        )
        raise typer.Exit(code=2)
    finally:
        database.dispose()


def check_catalog(settings: Settings) -> None:
    """A broken billing catalog stops the start with what is wrong in it, not with a traceback."""
    from voxhub.billing.catalog import CatalogError, load_catalog

    try:
        load_catalog(settings.billing_catalog)
    except CatalogError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Uvicorn worker processes.")] = 1,
) -> None:
    """Run the HTTP API."""
    import uvicorn

    settings = _settings()
    check_catalog(settings)
    prepare_database(settings)
    settings.resolved_secret_key  # noqa: B018  (create the key file before workers race for it)
    url = f"http://{host}:{port}"
    typer.echo(f"voxhub is serving on {url} — API docs at {url}/docs", err=True)
    uvicorn.run("voxhub.asgi:app", host=host, port=port, workers=workers, log_config=None, proxy_headers=False)


@app.command()
def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated queues to take jobs from.")] = ",".join(QUEUES),
    concurrency: Annotated[int | None, typer.Option(help="Jobs run at once; default CPU count.")] = None,
) -> None:
    """Run a Celery worker for jobs (needs VOXHUB_QUEUE_URL=redis://…)."""
    from voxhub.worker import celery_for_cli

    settings = _settings()
    check_catalog(settings)
    prepare_database(settings)
    args = [
        "worker",
        "--queues",
        queues,
        "--loglevel",
        settings.log_level,
        "--hostname",
        "voxhub@%h",
        "--concurrency",
        str(concurrency or settings.resolved_workers),
    ]
    celery_for_cli().worker_main(args)


@app.command()
def beat() -> None:
    """Run Celery beat: the periodic work (stale-job reaper, webhook deliveries, upload expiry, retention)."""
    import tempfile

    from voxhub.worker import celery_for_cli

    settings = _settings()
    schedule = settings.data_dir / "celerybeat-schedule"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    celery_for_cli().start(
        [
            "beat",
            "--loglevel",
            settings.log_level,
            "--schedule",
            str(schedule),
            "--pidfile",
            str(Path(tempfile.gettempdir()) / f"voxhub-beat-{os.getpid()}.pid"),
        ]
    )


@app.command("migrate")
def migrate_command(
    app_role: Annotated[
        str | None,
        typer.Option(
            help="PostgreSQL: also let this role (one that owns nothing and is no superuser) use the tables; "
            "run voxhub as it, so row-level security holds."
        ),
    ] = None,
) -> None:
    """Bring the database schema up to date."""
    settings = _settings()
    database = Database(settings)
    try:
        migrate(database.engine)
        typer.echo(f"Database at {database.engine.url.render_as_string(hide_password=True)} is up to date.")
        if app_role:
            if database.is_sqlite:
                typer.echo("error: --app-role is for PostgreSQL; SQLite has no roles.", err=True)
                raise typer.Exit(code=2)
            grant_app_role(database.engine, app_role)
            typer.echo(f"The role {app_role} may read and write voxhub's tables, behind row-level security.")
    finally:
        database.dispose()


@app.command("new-migration")
def new_migration(message: str) -> None:
    """For developers: autogenerate a migration from the models, diffed against a scratch database."""
    import tempfile
    from pathlib import Path

    from alembic import command

    from voxhub.db import alembic_config, make_engine

    versions = Path(__file__).parent / "alembic" / "versions"
    number = 1 + max((int(p.name[:4]) for p in versions.glob("[0-9][0-9][0-9][0-9]_*.py")), default=0)
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        migrate(engine)
        with engine.begin() as connection:
            script = command.revision(
                alembic_config(connection), message=message, autogenerate=True, rev_id=f"{number:04d}"
            )
        engine.dispose()
    # Migrations describe plain columns; they must not import voxhub's column types.
    path = Path(script.path)  # type: ignore[union-attr]
    path.write_text(
        path.read_text()
        .replace("voxhub.db.UTCDateTime(timezone=True)", "sa.DateTime(timezone=True)")
        .replace("import voxhub.db\n", "")
    )
    typer.echo(f"Wrote {path}; read it before committing.")


@admin.command("create-user")
def create_user(
    email: str,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    password: Annotated[str | None, typer.Option(help="Password; asked for when omitted.")] = None,
    superuser: Annotated[bool, typer.Option("--superuser", help="Grant superuser rights.")] = False,
) -> None:
    """Create a verified user (and their personal workspace)."""
    from voxhub.audit.service import Actor
    from voxhub.errors import VoxhubError
    from voxhub.workspaces.flows import create_user as create

    settings = _settings()
    prepare_database(settings)
    if password is None:
        password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    database = Database(settings)
    try:
        with database.session() as db:
            user = create(
                db, email=email, password=password, name=name, actor=Actor.system(), verified=True, superuser=superuser
            )
            typer.echo(f"Created {'superuser' if superuser else 'user'} {user.email} ({user.id}).")
    except VoxhubError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(code=1) from exc
    finally:
        database.dispose()


@admin.command("list-users")
def list_users() -> None:
    """List users: id, email, verified, superuser, created."""
    from sqlalchemy import select

    from voxhub.accounts.models import User

    settings = _settings()
    prepare_database(settings)
    database = Database(settings)
    try:
        with database.session() as db:
            users = db.scalars(select(User).where(User.deleted_at.is_(None)).order_by(User.created_at))
            typer.echo(f"{'id':36}  {'email':40}  verified  superuser  created")
            for user in users:
                typer.echo(
                    f"{user.id:36}  {user.email:40}  {'yes' if user.email_verified else 'no':8}  "
                    f"{'yes' if user.is_superuser else 'no':9}  {user.created_at:%Y-%m-%d %H:%M}"
                )
    finally:
        database.dispose()


@admin.command("latest-mail")
def latest_mail(
    to: Annotated[str | None, typer.Option(help="Only mail sent to this address.")] = None,
    link: Annotated[bool, typer.Option("--link", help="Print only the first link in it.")] = False,
    wait: Annotated[float, typer.Option(help="Seconds to wait for a mail when there is none yet.")] = 5.0,
) -> None:
    """Print the newest mail voxhub wrote to DATA_DIR/mail/ (VOXHUB_SMTP_URL unset), decoded; with --link only its
    first link, e.g. to verify an address on a machine with no mail server."""
    import time

    from voxhub.mail import first_link, latest_written, plain_text

    settings = _settings()
    deadline = time.monotonic() + wait
    while (message := latest_written(settings.mail_dir, to=to)) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    if message is None:
        where = " (VOXHUB_SMTP_URL is set: mail goes to that server)" if settings.smtp_url else ""
        typer.echo(f"error: no mail{f' to {to}' if to else ''} in {settings.mail_dir}{where}", err=True)
        raise typer.Exit(code=1)
    if not link:
        for header in ("Date", "From", "To", "Subject"):
            typer.echo(f"{header}: {message[header]}")
        typer.echo(f"\n{plain_text(message)}")
        return
    found = first_link(message)
    if found is None:
        typer.echo(f"error: the newest mail ({message['Subject']}) has no link", err=True)
        raise typer.Exit(code=1)
    typer.echo(found)


@admin.command("email-preview")
def email_preview(
    template: Annotated[str, typer.Argument(help="The mail's template, e.g. verify_email, job_ready.")],
    html: Annotated[bool, typer.Option("--html", help="Print the HTML part instead of the text.")] = False,
    to: Annotated[str, typer.Option(help="The address shown in To.")] = "ada@example.com",
) -> None:
    """Render a mail with sample values, as voxhub would send it (templates in DATA_DIR/email-templates/ first)."""
    from voxhub.mail import Mailer, plain_text
    from voxhub.mail.samples import SAMPLE_USER_ID, sample_context

    settings = _settings()
    mailer = Mailer(settings)
    try:
        if template not in mailer.templates():
            typer.echo(f"error: no template {template!r}; there are: {', '.join(mailer.templates())}", err=True)
            raise typer.Exit(code=1)
        message = mailer.render(
            template, to, sample_context(template, public_url=settings.public_url), user_id=SAMPLE_USER_ID
        )
    finally:
        mailer.close()
    for header in ("From", "To", "Subject", "List-Unsubscribe", "List-Unsubscribe-Post"):
        if message[header]:
            typer.echo(f"{header}: {message[header]}")
    if html:
        part = message.get_body(preferencelist=("html",))
        typer.echo(f"\n{part.get_content() if part is not None else ''}")
    else:
        typer.echo(f"\n{plain_text(message)}")


@admin.command("rotate-secret")
def rotate_secret(
    generate: Annotated[
        bool, typer.Option(help="Make a new generated key in the data dir (when VOXHUB_SECRET_KEY is unset).")
    ] = False,
) -> None:
    """Rotate the secret key without downtime.

    With VOXHUB_SECRET_KEY: set the new key there and the old one in VOXHUB_PREVIOUS_SECRET_KEYS on every
    process (both then read), run this to re-encrypt every stored secret, then drop the old key.
    With the generated key of the default setup: `--generate` makes the new key and keeps the old one readable
    (running processes keep working with the old one); restart voxhub, then run this again without --generate.
    """
    from voxhub.apikeys.service import reencrypt_all
    from voxhub.context import AppContext

    settings = _settings()
    if generate:
        if settings.secret_key:
            typer.echo("VOXHUB_SECRET_KEY is set; put the new key there instead of --generate.", err=True)
            raise typer.Exit(code=2)
        old_key = settings.resolved_secret_key
        _append_secret(settings.data_dir / PREVIOUS_SECRET_KEYS_FILE, old_key)
        _write_secret(settings.data_dir / SECRET_KEY_FILE, secrets.token_urlsafe(48))
        typer.echo(
            "Generated a new secret key; the old one stays readable. Restart every voxhub process, then run "
            "`voxhub admin rotate-secret` to re-encrypt stored secrets under the new key."
        )
        return
    ctx = AppContext.from_settings(settings)
    database = Database(settings)
    try:
        with database.session() as db:
            count = reencrypt_all(db, keyring=ctx.keyring)
        typer.echo(f"Re-encrypted {count} stored secret(s) under the current key.")
    finally:
        database.dispose()
        ctx.close()


def _write_secret(path: Path, value: str) -> None:
    """Replace a key file atomically; it is never readable by others, not even for a moment."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    os.replace(temp, path)


def _append_secret(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as handle:
        handle.write(value + "\n")


def main() -> None:
    app()


# ---- billing ----


@contextmanager
def _operator_session() -> Iterator[tuple[Session, AppContext]]:
    """A unit of work for an operator's command, with the app context; a refused change prints why and exits 1."""
    from voxhub.context import AppContext
    from voxhub.errors import VoxhubError

    settings = _settings()
    prepare_database(settings)
    ctx = AppContext.from_settings(settings)
    database = Database(settings)
    try:
        with database.session() as db:
            yield db, ctx
    except VoxhubError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(code=1) from exc
    finally:
        ctx.close()
        database.dispose()


def _operator() -> Actor:
    from voxhub.audit.service import Actor

    return Actor(user_agent=f"voxhub admin ({getpass.getuser()})")


# A negative amount (`-30`) is an argument, not an unknown option `-3`.
@admin.command("grant-credits", context_settings={"ignore_unknown_options": True})
def grant_credits(
    workspace_id: str,
    credits: Annotated[int, typer.Argument(help="Credits to add; negative (e.g. -30) takes them back.")],
    reason: Annotated[str, typer.Option(help="Why: kept on the ledger entry and in the audit log.")],
) -> None:
    """Add credits to a workspace (or take some back), with a reason; the grant is audited."""
    from voxhub.billing.service import grant

    with _operator_session() as (db, ctx):
        entry = grant(db, ctx=ctx, workspace_id=workspace_id, credits=credits, reason=reason, actor=_operator())
        typer.echo(f"{entry.kind} of {entry.amount:+d} credits; the balance is now {entry.balance_after}.")


@admin.command("set-plan")
def set_plan(
    workspace_id: str,
    plan: str,
    interval: Annotated[str, typer.Option(help="month or year.")] = "month",
) -> None:
    """Put a workspace on a plan without a payment provider (self-hosting, or a deal made by hand)."""
    from voxhub.billing import service as billing
    from voxhub.workspaces.service import get_live

    if interval not in ("month", "year"):
        typer.echo("error: --interval is month or year", err=True)
        raise typer.Exit(code=2)
    with _operator_session() as (db, ctx):
        get_live(db, workspace_id=workspace_id)
        sub = billing.set_plan(db, ctx=ctx, workspace_id=workspace_id, plan=plan, interval=interval, actor=_operator())
        typer.echo(f"{workspace_id} is on the {sub.plan} plan until {sub.current_period_end:%Y-%m-%d}.")


@admin.command("billing")
def show_billing(workspace_id: str) -> None:
    """A workspace's plan, allowances left this month, and credits."""
    from voxhub.billing import service as billing
    from voxhub.workspaces.service import get_live

    with _operator_session() as (db, ctx):
        get_live(db, workspace_id=workspace_id)
        summary = billing.summary(db, ctx=ctx, workspace_id=workspace_id)
    typer.echo(
        f"plan {summary['plan']} ({summary['interval']}ly, {summary['status']}), "
        f"period {summary['period_start']:%Y-%m-%d} to {summary['period_end']:%Y-%m-%d}"
    )
    for meter, allowance in summary["allowances"].items():
        included = "unlimited" if allowance["included"] is None else allowance["included"]
        typer.echo(f"  {meter:15} used {allowance['used']} of {included}")
    typer.echo(f"credits: balance {summary['balance']}, held {summary['held']}, available {summary['available']}")


# ---- backups ----


@admin.command("backup")
def backup_command(
    destination: Annotated[Path, typer.Argument(help="A new (or empty) directory to write the backup into.")],
) -> None:
    """Back up the database (pg_dump, or SQLite's online backup) and every stored file, with sha256s and a manifest.

    On PostgreSQL, run it with the URL of the tables' owner or a superuser (the one `voxhub migrate` uses), with
    pg_dump of the server's major version on PATH.
    """
    from voxhub import backup

    settings = _settings()
    try:
        manifest = backup.backup(settings, destination, progress=lambda line: typer.echo(line, err=True))
    except backup.BackupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(f"Backed up into {destination}: {backup.describe(manifest)}.")


@admin.command("restore")
def restore_command(
    source: Annotated[Path, typer.Argument(help="A directory written by `voxhub admin backup`.")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace whatever the database and the store hold (it is deleted).")
    ] = False,
    older_schema: Annotated[
        bool,
        typer.Option("--older-schema", help="Restore a backup of an older schema as it is; run `voxhub migrate` next."),
    ] = False,
) -> None:
    """Restore a backup into an empty database and store (VOXHUB_DATABASE_URL, VOXHUB_STORAGE_URL).

    Every checksum is verified before anything is written, and the data is read back afterwards. Nothing is
    migrated: the backup's schema revision must be this voxhub's (or --older-schema).
    """
    from voxhub import backup
    from voxhub.db import head_revision

    settings = _settings()
    try:
        report = backup.restore(
            settings,
            source,
            force=force,
            older_schema=older_schema,
            progress=lambda line: typer.echo(line, err=True),
        )
    except backup.BackupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(f"Restored {backup.describe(report.manifest)}.")
    if report.manifest.database.revision != head_revision():
        typer.echo("The schema is older than this voxhub's: run `voxhub migrate` before starting it.")
