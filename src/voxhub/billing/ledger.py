"""The credit ledger: every change to a workspace's credits is an entry, written in the same transaction as the
account row it moves, under that row's lock. Nothing here commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from voxhub.billing.models import BALANCE_KINDS, HELD_KINDS, CreditAccount, EntryKind, LedgerEntry
from voxhub.clock import utcnow
from voxhub.ids import new_id

# The most credits one grant may move: beyond any package or plan, and it keeps every balance far inside BIGINT.
MAX_GRANT = 1_000_000_000
MAX_REASON = 500  # characters of an entry's reason (its column's width)


class LedgerInvariantError(RuntimeError):
    """An entry would make the balance negative or hold more than the balance: a bug, never a user's mistake."""


def insert_ignoring_conflict(db: Session, model: type[Any], values: dict[str, Any], key: list[str]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING on either database; whether the row was inserted. (RETURNING says so on
    both: psycopg's rowcount for this statement is -1.)"""
    dialect = db.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    table = model.__table__
    statement = (
        module.insert(model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=key)
        .returning(*[table.c[name] for name in key])
    )
    return db.execute(statement).first() is not None


def lock_account(db: Session, workspace_id: str) -> CreditAccount:
    """The workspace's credit account, locked until this transaction ends; created at zero the first time.

    PostgreSQL locks the row (SELECT … FOR UPDATE). SQLite has one writer at a time, so a write takes the lock:
    a no-op UPDATE as the transaction's first write waits for (and then holds) the database's write lock, and
    every read after it sees the latest committed state.
    """
    if db.get_bind().dialect.name == "sqlite":
        locked = db.execute(
            update(CreditAccount)
            .where(CreditAccount.workspace_id == workspace_id)
            .values(balance=CreditAccount.balance)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if not locked:
            insert_ignoring_conflict(db, CreditAccount, {"workspace_id": workspace_id}, ["workspace_id"])
        account = db.get(CreditAccount, workspace_id, populate_existing=True)
    else:
        query = select(CreditAccount).where(CreditAccount.workspace_id == workspace_id).with_for_update()
        account = db.scalars(query.execution_options(populate_existing=True)).one_or_none()
        if account is None:
            insert_ignoring_conflict(db, CreditAccount, {"workspace_id": workspace_id}, ["workspace_id"])
            account = db.scalars(query.execution_options(populate_existing=True)).one()
    assert account is not None
    return account


def read_account(db: Session, workspace_id: str) -> CreditAccount:
    """The account as last committed, without a lock (a fresh one reads as zero)."""
    account = db.get(CreditAccount, workspace_id)
    return account or CreditAccount(workspace_id=workspace_id, balance=0, held=0)


def post(
    db: Session,
    *,
    account: CreditAccount,
    kind: EntryKind,
    amount: int,
    idempotency_key: str,
    actor: str,
    job_id: str | None = None,
    payment_id: str | None = None,
    reason: str | None = None,
    new_key: bool = False,
) -> LedgerEntry | None:
    """Append one entry and move the locked `account` by it. `amount` is signed: it is added to the balance
    (purchase, grant, capture, refund, adjustment, expiry), to the held credits (hold, release), or to both
    (capture). Returns None, changing nothing, when an entry with this idempotency key exists. A caller whose
    key is new by construction says `new_key` and saves the lookup (the unique key still guards it)."""
    if not new_key and db.scalar(select(LedgerEntry.id).where(LedgerEntry.idempotency_key == idempotency_key)):
        return None
    balance = account.balance + (amount if kind in BALANCE_KINDS else 0)
    held = account.held + (amount if kind in HELD_KINDS else 0)
    if balance < 0 or held < 0 or held > balance:
        raise LedgerInvariantError(
            f"{kind} {amount:+d} on {account.workspace_id} would leave balance {balance}, held {held}"
        )
    account.balance, account.held = balance, held
    entry = LedgerEntry(
        id=new_id(),
        created_at=utcnow(),
        workspace_id=account.workspace_id,
        kind=kind,
        amount=amount,
        balance_after=balance,
        held_after=held,
        job_id=job_id,
        payment_id=payment_id,
        idempotency_key=idempotency_key,
        actor=actor,
        reason=reason,
    )
    db.add(entry)  # written with the rest of the transaction's changes, in one flush
    return entry


def totals(db: Session, workspace_id: str) -> tuple[int, int]:
    """(balance, held) as the ledger adds them up; they equal the account row's whenever the books are right."""
    rows = db.execute(
        select(LedgerEntry.kind, func.coalesce(func.sum(LedgerEntry.amount), 0))
        .where(LedgerEntry.workspace_id == workspace_id)
        .group_by(LedgerEntry.kind)
    ).all()
    balance = sum(int(total) for kind, total in rows if kind in BALANCE_KINDS)
    held = sum(int(total) for kind, total in rows if kind in HELD_KINDS)
    return balance, held
