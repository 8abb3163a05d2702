"""Billing rules: a workspace's plan and periods, what a job costs, holding it before the job runs and settling it
once the job ends, grants, usage, alerts and period rollover. Services never commit; every change to credits goes
through the ledger under the account's lock."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from voxhub.audit import service as audit
from voxhub.audit.service import Actor
from voxhub.billing import ledger
from voxhub.billing.catalog import (
    ALLOWANCE_METERS,
    METER_UNITS,
    Catalog,
    Plan,
    Price,
    catalog_of,
    credits_for_seconds,
    credits_for_tokens,
)
from voxhub.billing.charges import Charge, ChargeAllowance, ChargedPrice, ChargeEstimate, ChargeState
from voxhub.billing.models import (
    AllowanceUse,
    BillingAlert,
    CreditAccount,
    EntryKind,
    LedgerEntry,
    Subscription,
    SyncCharge,
    SyncChargeStatus,
    UsageRecord,
)
from voxhub.clock import as_utc, utcnow
from voxhub.context import AppContext
from voxhub.db import Database, affected
from voxhub.engines.textnorm import estimate_seconds
from voxhub.errors import Conflict, NotFound, PaymentRequired, Unprocessable, field_errors
from voxhub.ids import new_id
from voxhub.notify import delivery
from voxhub.pagination import paginate
from voxhub.workspaces import service as workspaces
from voxhub.workspaces.models import Workspace

log = logging.getLogger("voxhub.billing")

# ---- periods ----


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` plus whole months, keeping the day of the month where the month has it (Jan 31 + 1 = Feb 28)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    days_in_month = [31, 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28, 31, 30, 31, 30, 31,
                     31, 30, 31, 30, 31][month - 1]  # fmt: skip
    return moment.replace(year=year, month=month, day=min(moment.day, days_in_month))


def _months_in(interval: str) -> int:
    return 12 if interval == "year" else 1


def allowance_window(period_start: datetime, now: datetime) -> tuple[datetime, datetime]:
    """The month of the period (counted from its start) that `now` falls in: allowances reset monthly."""
    months = max(0, (now.year - period_start.year) * 12 + now.month - period_start.month)
    while months > 0 and add_months(period_start, months) > now:
        months -= 1
    return add_months(period_start, months), add_months(period_start, months + 1)


def _roll(db: Session, sub: Subscription, now: datetime) -> bool:
    """Bring `sub` up to `now`: renew ended periods (ending a cancellation by moving to free) and move the
    allowance month forward. Returns whether anything changed."""
    changed = False
    if as_utc(sub.current_period_end) <= now:
        if sub.cancel_at_period_end or sub.status == "canceled":
            sub.plan, sub.interval, sub.status = "free", "month", "active"
            sub.provider = sub.external_id = None
            sub.cancel_at_period_end = False
            sub.anchor_at = sub.current_period_end
        anchor, months = as_utc(sub.anchor_at), _months_in(sub.interval)
        periods = 1
        while add_months(anchor, months * periods) <= now:
            periods += 1
        sub.current_period_start = add_months(anchor, months * (periods - 1))
        sub.current_period_end = add_months(anchor, months * periods)
        changed = True
    window_start, window_end = allowance_window(as_utc(sub.current_period_start), now)
    if as_utc(sub.allowance_period_start) != window_start:
        sub.allowance_period_start, sub.allowance_period_end = window_start, window_end
        changed = True
    if changed:
        db.flush()
    return changed


def _free_subscription(workspace_id: str, now: datetime) -> dict[str, Any]:
    start = now.replace(microsecond=0)
    return {
        "workspace_id": workspace_id,
        "plan": "free",
        "interval": "month",
        "status": "active",
        "cancel_at_period_end": False,
        "anchor_at": start,
        "current_period_start": start,
        "current_period_end": add_months(start, 1),
        "allowance_period_start": start,
        "allowance_period_end": add_months(start, 1),
        "created_at": now,
        "updated_at": now,
    }


def open_account(db: Session, *, workspace_id: str) -> None:
    """A new workspace starts on the free plan with no credits. (Made with the workspace, so that its first
    requests only read them; `subscription` still makes them for workspaces older than billing.)"""
    db.add(Subscription(**_free_subscription(workspace_id, utcnow())))
    db.add(CreditAccount(workspace_id=workspace_id, balance=0, held=0))


@workspaces.workspace_created.connect
def _open_account_of_new_workspace(db: Session, workspace: Workspace) -> None:
    open_account(db, workspace_id=workspace.id)


def subscription(db: Session, *, workspace_id: str, now: datetime | None = None) -> Subscription:
    """The workspace's subscription as of `now`, started on the free plan the first time it is asked for."""
    now = now or utcnow()
    sub = db.get(Subscription, workspace_id)
    if sub is None:
        ledger.insert_ignoring_conflict(db, Subscription, _free_subscription(workspace_id, now), ["workspace_id"])
        sub = db.get(Subscription, workspace_id, populate_existing=True)
        assert sub is not None
    _roll(db, sub, now)
    return sub


def plan_of(db: Session, *, catalog: Catalog, workspace_id: str) -> Plan:
    """The catalog plan the workspace is subscribed to now."""
    return catalog.plan(subscription(db, workspace_id=workspace_id).plan)


@dataclass(frozen=True)
class PlanLimits:
    max_file_bytes: int
    storage_quota_bytes: int
    concurrent_jobs: int | None
    requests_per_minute: int | None


def limits(db: Session, *, ctx: AppContext, workspace_id: str) -> PlanLimits:
    """What the workspace may use: the plan's limits within the server's own (the smaller of the two wins)."""
    settings = ctx.settings
    server_file, server_quota = settings.max_file_size_mb * 2**20, settings.storage_quota_mb * 2**20
    if not settings.billing_enabled:
        return PlanLimits(server_file, server_quota, None, None)
    plan = plan_of(db, catalog=catalog_of(ctx.settings), workspace_id=workspace_id)
    return PlanLimits(
        max_file_bytes=min(server_file, plan.max_file_size_mb * 2**20),
        storage_quota_bytes=min(server_quota, plan.storage_quota_mb * 2**20),
        concurrent_jobs=plan.concurrent_jobs,
        requests_per_minute=plan.requests_per_minute,
    )


# ---- allowances ----


def _allowance_row(db: Session, *, workspace_id: str, period_start: datetime, meter: str) -> AllowanceUse:
    query = select(AllowanceUse).where(
        AllowanceUse.workspace_id == workspace_id,
        AllowanceUse.period_start == period_start,
        AllowanceUse.meter == meter,
    )
    row = db.scalar(query)
    if row is None:
        row = AllowanceUse(workspace_id=workspace_id, period_start=period_start, meter=meter, used=0, held=0)
        db.add(row)
        db.flush()
    return row


def _in_api_units(meter: str, units: int | None) -> float | int | None:
    if units is None:
        return None
    value = round(units / METER_UNITS[meter], 2)
    return int(value) if value == int(value) else value


# ---- what a job costs ----


@dataclass(frozen=True)
class Measure:
    """How big a job is, in the quantities prices and meters count."""

    seconds: float = 0.0
    characters: int = 0
    tokens: int = 0  # of text generation: prompt and completion

    def meter_units(self, meter: str) -> int:
        if meter == "audio_minutes":
            return math.ceil(self.seconds)
        if meter == "tts_characters":
            return self.characters
        if meter == "text_tokens":
            return self.tokens
        return 1  # podcasts and the like count jobs


@dataclass(frozen=True)
class JobSize:
    """What a job's price is counted from, as its caller knows it before the job runs."""

    input_seconds: float = 0.0  # the probed duration of its input file
    text: str = ""  # the text it speaks or translates
    speed: float = 1.0  # the speaking rate of the speech that text should make
    tokens: int = 0  # the most a language model should read and write for it
    output_seconds: float = 0.0  # the longest its output should be, where its caller knows (a podcast episode)


def estimate(*, price: Price, size: JobSize) -> Measure:
    """The job's size before it runs: the duration of its input file, or its text and the speech that text
    should make."""
    seconds = 0.0
    if price.of == "input":
        seconds = size.input_seconds
    elif price.of == "output" and size.output_seconds:
        seconds = size.output_seconds
    elif price.of == "output" and size.text:
        seconds = estimate_seconds(size.text, speed=size.speed)
    return Measure(seconds=seconds, characters=len(size.text), tokens=size.tokens)


def measured(result: dict[str, Any] | None, estimated: Measure) -> Measure:
    """The job's size as it turned out: the duration it processed or produced (the estimate where not reported)."""
    result = result or {}
    seconds = result.get("duration_s")
    characters = result.get("characters")
    tokens = result.get("tokens")
    return Measure(
        seconds=float(seconds) if isinstance(seconds, int | float) else estimated.seconds,
        characters=int(characters) if isinstance(characters, int) else estimated.characters,
        tokens=int(tokens) if isinstance(tokens, int) else estimated.tokens,
    )


def _credits(rounding: str, price: Price, measure: Measure, paid_share: float) -> int:
    """Credits for the `paid_share` (0 to 1) of the job that the allowance does not cover."""
    if paid_share <= 0:
        return 0
    if price.per == "job":
        return price.credits
    if price.per == "1k_tokens":
        return credits_for_tokens(price, measure.tokens * paid_share)
    return credits_for_seconds(price, measure.seconds * paid_share, rounding)


@dataclass(frozen=True)
class Split:
    meter: str | None
    allowance_units: int  # taken from the allowance, in stored units
    credits: int


def split_cost(catalog: Catalog, price: Price, measure: Measure, allowance_left: int | None) -> Split:
    """Use the plan's allowance first, then credits for the rest."""
    if price.meter is None:
        return Split(None, 0, _credits(catalog.rounding, price, measure, 1.0))
    wanted = measure.meter_units(price.meter)
    taken = wanted if allowance_left is None else max(0, min(allowance_left, wanted))
    paid_share = 0.0 if wanted == 0 else (wanted - taken) / wanted
    return Split(price.meter, taken, _credits(catalog.rounding, price, measure, paid_share))


def _actor_name(actor: Actor) -> str:
    if actor.user_id:
        return f"user:{actor.user_id}"
    if actor.api_key_id:
        return f"api_key:{actor.api_key_id}"
    return actor.user_agent[:100] or "system"


def hold_for_job(
    db: Session, *, ctx: AppContext, job: Any, size: JobSize, actor: Actor, now: datetime | None = None
) -> None:
    """Reserve what `job` will cost before it is queued: its plan's allowance first, then credits. Raises 402
    (and the caller's transaction, job included, rolls back) when neither covers it."""
    price = catalog_of(ctx.settings).price_for(job.type) if ctx.settings.billing_enabled else None
    if price is None:
        job.credits = None
        return
    measure = estimate(price=price, size=size)
    hold(db, ctx=ctx, charge=job, measure=measure, actor=actor, now=now)


def hold(
    db: Session, *, ctx: AppContext, charge: Any, measure: Measure, actor: Actor, now: datetime | None = None
) -> None:
    """Reserve the cost of `measure` for `charge` (a job, or a synchronous call: anything with an id, a type,
    a workspace_id and a `credits` dict), recording what was held on it for `settle_job`."""
    catalog = catalog_of(ctx.settings)
    price = catalog.price_for(charge.type) if ctx.settings.billing_enabled else None
    if price is None:
        charge.credits = None
        return
    now = now or utcnow()
    account = ledger.lock_account(db, charge.workspace_id)
    sub = subscription(db, workspace_id=charge.workspace_id, now=now)
    plan = catalog.plan(sub.plan)
    allowance_left: int | None = 0
    row: AllowanceUse | None = None
    if price.meter is not None:
        included = plan.allowance_units(price.meter)
        row = _allowance_row(
            db, workspace_id=charge.workspace_id, period_start=as_utc(sub.allowance_period_start), meter=price.meter
        )
        allowance_left = None if included is None else max(0, included - row.used - row.held)
    cost = split_cost(catalog, price, measure, allowance_left)
    available = account.balance - account.held
    if cost.credits > available:
        exhausted = price.meter is not None and allowance_left == 0 and available == 0
        raise PaymentRequired(
            "The plan's allowance is used up for this period; buy credits or change plan."
            if exhausted
            else f"This job needs {cost.credits} credits and {available} are available.",
            code="quota_exceeded" if exhausted else "insufficient_credits",
            details={
                "reason": "allowance_used_up" if exhausted else "not_enough_credits",
                "needed": cost.credits,
                "available": available,
                "allowance_left": _in_api_units(price.meter, allowance_left) if price.meter else None,
                "meter": price.meter,
                # what this period used of the plan's allowance, and what the plan includes
                "current": {price.meter: _in_api_units(price.meter, row.used + row.held)}
                if row and price.meter
                else {},
                "limits": {price.meter: _in_api_units(price.meter, plan.allowance_units(price.meter))}
                if price.meter
                else {},
                "plan": sub.plan,
                "resets_at": as_utc(sub.allowance_period_end).isoformat(),
            },
        )
    holds = (charge.credits or {}).get("holds", 0) + 1
    if row is not None and cost.allowance_units:
        row.held += cost.allowance_units
    if cost.credits:
        ledger.post(
            db,
            account=account,
            kind=EntryKind.HOLD,
            amount=cost.credits,
            idempotency_key=f"hold:{charge.id}:{holds}",
            actor=_actor_name(actor),
            job_id=charge.id,
            new_key=True,  # a new hold number of this job: no entry can have it yet
        )
    charge.credits = Charge(
        state=ChargeState.HELD,
        holds=holds,
        price=ChargedPrice(**price.model_dump(), rounding=catalog.rounding),
        estimated=ChargeEstimate(
            seconds=round(measure.seconds, 3), characters=measure.characters, tokens=measure.tokens
        ),
        held=cost.credits,
        charged=None,
        allowance=ChargeAllowance(
            meter=cost.meter,
            held=_in_api_units(cost.meter, cost.allowance_units) if cost.meter else 0,
            used=None,
            held_units=cost.allowance_units,
            period_start=as_utc(sub.allowance_period_start),
        ),
    ).model_dump(mode="json")


def check_can_pay(
    db: Session, *, ctx: AppContext, workspace_id: str, job_type: str, size: JobSize, actor: Actor
) -> None:
    """Raise the 402 that holding a `job_type` job of this size would raise now, holding nothing: for work that
    starts later (a podcast's audio, after its script is reviewed) but should be refused at once."""
    price = catalog_of(ctx.settings).price_for(job_type) if ctx.settings.billing_enabled else None
    if price is None:
        return
    probe = _Probe(id=new_id(), type=job_type, workspace_id=workspace_id)
    savepoint = db.begin_nested()
    try:
        hold(db, ctx=ctx, charge=probe, measure=estimate(price=price, size=size), actor=actor)
    finally:
        savepoint.rollback()


@dataclass
class _Probe:
    id: str
    type: str
    workspace_id: str
    credits: dict[str, Any] | None = None


def settle_job(db: Session, *, ctx: AppContext, job: Any, now: datetime | None = None) -> None:
    """A job (or synchronous call) reached a final state: a success captures its measured cost (never more than it
    held) and releases the rest; a failure or cancel releases everything. Runs once per hold, in the transaction
    that ended the job."""
    if not job.credits:
        return
    charge = Charge.model_validate(job.credits)
    if charge.state != ChargeState.HELD:
        return
    now = now or utcnow()
    price = Price.model_validate(charge.price.model_dump(exclude={"rounding"}))
    account = ledger.lock_account(db, job.workspace_id)
    allowance = charge.allowance
    held_units, held_credits = allowance.held_units, charge.held
    succeeded = job.status == SyncChargeStatus.SUCCEEDED  # a job succeeds with the same word as a call
    used_units, charged = 0, 0
    if succeeded:
        estimated = Measure(
            seconds=charge.estimated.seconds, characters=charge.estimated.characters, tokens=charge.estimated.tokens
        )
        actual = measured(job.result, estimated)
        wanted = actual.meter_units(price.meter) if price.meter else 0
        used_units = min(held_units, wanted)
        paid_share = 1.0 if not price.meter else (0.0 if wanted == 0 else (wanted - used_units) / wanted)
        charged = min(held_credits, _credits(charge.price.rounding, price, actual, paid_share))
        _record_usage(db, job=job, price=price, measure=actual, now=now)
    meter = allowance.meter
    if meter and allowance.period_start is not None and held_units:
        row = _allowance_row(db, workspace_id=job.workspace_id, period_start=allowance.period_start, meter=meter)
        row.held = max(0, row.held - held_units)
        row.used += used_units
    key = f"{job.id}:{charge.holds}"
    if charged:
        ledger.post(
            db, account=account, kind=EntryKind.CAPTURE, amount=-charged, idempotency_key=f"capture:{key}",
            actor="system", job_id=job.id,
        )  # fmt: skip
    if held_credits - charged:
        ledger.post(
            db, account=account, kind=EntryKind.RELEASE, amount=-(held_credits - charged),
            idempotency_key=f"release:{key}", actor="system", job_id=job.id,
        )  # fmt: skip
    allowance.used = _in_api_units(meter, used_units) if meter else 0
    charge.state = ChargeState.CAPTURED if succeeded else ChargeState.RELEASED
    charge.charged = charged
    job.credits = charge.model_dump(mode="json")
    if succeeded and (charged or used_units):
        check_alerts(db, ctx=ctx, workspace_id=job.workspace_id, account=account, now=now)


def _record_usage(db: Session, *, job: Any, price: Price, measure: Measure, now: datetime) -> None:
    sub = db.get(Subscription, job.workspace_id)
    period_start = as_utc(sub.allowance_period_start) if sub is not None else now
    meters: dict[str, int] = {}
    if price.meter:
        meters[price.meter] = measure.meter_units(price.meter)
    if price.of == "input" and price.meter != "audio_minutes":
        meters["audio_minutes"] = math.ceil(measure.seconds)
    for meter, quantity in meters.items():
        db.add(
            UsageRecord(
                workspace_id=job.workspace_id,
                meter=meter,
                quantity=quantity,
                job_id=job.id,
                period_start=period_start,
                recorded_at=now,
            )
        )


# ---- synchronous calls ----

SYNC_CHARGE_STALE_AFTER = timedelta(hours=1)


def begin_sync_charge(
    database: Database, *, ctx: AppContext, workspace_id: str, job_type: str, measure: Measure, actor: Actor
) -> str | None:
    """Hold what a synchronous call will cost, committed at once in its own transaction; 402 if it cannot be paid.
    Returns the charge's id (None when the call costs nothing)."""
    if not ctx.settings.billing_enabled or catalog_of(ctx.settings).price_for(job_type) is None:
        return None
    with database.session() as db:
        charge = SyncCharge(workspace_id=workspace_id, type=job_type, status=SyncChargeStatus.RUNNING)
        db.add(charge)
        db.flush()
        hold(db, ctx=ctx, charge=charge, measure=measure, actor=actor)
        return charge.id


def end_sync_charge(
    db: Session, *, ctx: AppContext, charge_id: str | None, result: dict[str, Any] | None, now: datetime | None = None
) -> None:
    """The call ended: with a `result` (its measured size) it is captured, without one released. Once only."""
    if charge_id is None:
        return
    workspace_id = db.scalar(select(SyncCharge.workspace_id).where(SyncCharge.id == charge_id))
    if workspace_id is None:
        return
    ledger.lock_account(db, workspace_id)  # before the charge row, as jobs do
    ended = affected(
        db,
        update(SyncCharge)
        .where(SyncCharge.id == charge_id, SyncCharge.status == SyncChargeStatus.RUNNING)
        .values(
            status=SyncChargeStatus.SUCCEEDED if result is not None else SyncChargeStatus.FAILED,
            result=result,
            finished_at=now or utcnow(),
        ),
    )
    if ended:
        charge = db.get(SyncCharge, charge_id, populate_existing=True)
        settle_job(db, ctx=ctx, job=charge, now=now)


def abandon_sync_charge(database: Database, *, ctx: AppContext, charge_id: str | None) -> None:
    """The call failed: release its hold, in a transaction of its own (the request's is rolling back)."""
    if charge_id is not None:
        with database.session() as db:
            end_sync_charge(db, ctx=ctx, charge_id=charge_id, result=None)


def release_stale_sync_charges(db: Session, *, ctx: AppContext, now: datetime | None = None) -> int:
    """Periodic: release what calls held when their process died before settling."""
    now = now or utcnow()
    stale = list(
        db.scalars(
            select(SyncCharge.id).where(
                SyncCharge.status == SyncChargeStatus.RUNNING, SyncCharge.created_at < now - SYNC_CHARGE_STALE_AFTER
            )
        )
    )
    for charge_id in stale:
        end_sync_charge(db, ctx=ctx, charge_id=charge_id, result=None, now=now)
    return len(stale)


def record_api_requests(database: Database, counted: dict[tuple[str, str], int]) -> None:
    """Write counted API requests ({(workspace_id, day): n}) to the `api_requests` meter, in their own transaction.
    A workspace deleted meanwhile loses its count; the request that flushes never fails for it."""
    for (workspace_id, day), quantity in counted.items():
        at = datetime.fromisoformat(day).replace(tzinfo=UTC)
        try:
            with database.session() as db:
                db.add(
                    UsageRecord(
                        workspace_id=workspace_id,
                        meter="api_requests",
                        quantity=quantity,
                        period_start=at,
                        recorded_at=at,
                    )
                )
        except SQLAlchemyError:
            log.warning("could not record %d API requests of workspace %s", quantity, workspace_id, exc_info=True)


def record_storage(db: Session, *, stored_bytes: dict[str, int], now: datetime | None = None) -> int:
    """Periodic: each workspace's stored bytes (as the files room counts them) as today's reading of the
    `storage_bytes` meter, once a day."""
    now = now or utcnow()
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    measured = set(
        db.scalars(
            select(UsageRecord.workspace_id).where(UsageRecord.meter == "storage_bytes", UsageRecord.recorded_at == day)
        )
    )
    added = 0
    for workspace_id, total in stored_bytes.items():
        if workspace_id not in measured:
            added += 1
            db.add(
                UsageRecord(
                    workspace_id=workspace_id,
                    meter="storage_bytes",
                    quantity=total,
                    period_start=day,
                    recorded_at=day,
                )
            )
    return added


# ---- reading an account ----


def summary(db: Session, *, ctx: AppContext, workspace_id: str, now: datetime | None = None) -> dict[str, Any]:
    """What the billing page shows: plan, period, allowances used and left, and the credit balance."""
    catalog = catalog_of(ctx.settings)
    sub = subscription(db, workspace_id=workspace_id, now=now)
    plan = catalog.plan(sub.plan)
    account = ledger.read_account(db, workspace_id)
    rows = {
        row.meter: row
        for row in db.scalars(
            select(AllowanceUse).where(
                AllowanceUse.workspace_id == workspace_id,
                AllowanceUse.period_start == as_utc(sub.allowance_period_start),
            )
        )
    }
    allowances: dict[str, Any] = {}
    for meter in ALLOWANCE_METERS:
        included = plan.allowance_units(meter)
        row = rows.get(meter)
        used, held = (row.used, row.held) if row else (0, 0)
        allowances[meter] = {
            "included": _in_api_units(meter, included),
            "used": _in_api_units(meter, used),
            "held": _in_api_units(meter, held),
            "left": None if included is None else _in_api_units(meter, max(0, included - used - held)),
        }
    return {
        "plan": plan.id,
        "plan_name": plan.name,
        "interval": sub.interval,
        "status": sub.status,
        "cancel_at_period_end": sub.cancel_at_period_end,
        "period_start": as_utc(sub.current_period_start),
        "period_end": as_utc(sub.current_period_end),
        "allowance_period_start": as_utc(sub.allowance_period_start),
        "allowance_period_end": as_utc(sub.allowance_period_end),
        "allowances": allowances,
        "balance": account.balance,
        "held": account.held,
        "available": account.balance - account.held,
        "currency": catalog.currency,
        "billing_enabled": ctx.settings.billing_enabled,
    }


def ledger_page(
    db: Session, *, workspace_id: str, cursor: str | None, limit: int
) -> tuple[list[LedgerEntry], str | None]:
    """One page of the workspace's credit ledger, newest first, and the next cursor."""
    query = select(LedgerEntry).where(LedgerEntry.workspace_id == workspace_id)
    return paginate(db, query, LedgerEntry.id, cursor=cursor, limit=limit, sort="newest")


def ledger_entry(db: Session, *, workspace_id: str, entry_id: str) -> LedgerEntry:
    """One entry of the workspace's ledger, or 404 `ledger_entry_not_found`."""
    entry = db.get(LedgerEntry, entry_id)
    if entry is None or entry.workspace_id != workspace_id:
        raise NotFound("Ledger entry not found.", code="ledger_entry_not_found")
    return entry


def usage(
    db: Session,
    *,
    workspace_id: str,
    meter: str | None,
    start: datetime,
    end: datetime,
    granularity: str,
) -> list[dict[str, Any]]:
    """Usage per meter and day (or month) between `start` and `end`, in the meter's API units."""
    if meter is not None and meter not in METER_UNITS:
        raise Unprocessable(
            f"Unknown meter {meter!r}; known: {', '.join(METER_UNITS)}.",
            code="validation_error",
            details=field_errors(("meter", "unknown meter")),
        )
    if end <= start or end - start > timedelta(days=400):
        raise Unprocessable(
            "`to` must be after `from`, and at most 400 days later.",
            code="validation_error",
            details=field_errors(("to", "out of range")),
        )
    query = select(UsageRecord.meter, UsageRecord.quantity, UsageRecord.recorded_at).where(
        UsageRecord.workspace_id == workspace_id, UsageRecord.recorded_at >= start, UsageRecord.recorded_at < end
    )
    if meter:
        query = query.where(UsageRecord.meter == meter)
    buckets: dict[tuple[str, str], int] = {}
    for name, quantity, at in db.execute(query):
        at = as_utc(at)
        key = at.strftime("%Y-%m-01") if granularity == "month" else at.strftime("%Y-%m-%d")
        if name == "storage_bytes":  # a daily reading, not an amount used: a period's figure is its highest
            buckets[(name, key)] = max(buckets.get((name, key), 0), int(quantity))
        else:
            buckets[(name, key)] = buckets.get((name, key), 0) + int(quantity)
    return [
        {"meter": name, "period": period, "quantity": _in_api_units(name, total)}
        for (name, period), total in sorted(buckets.items(), key=lambda item: (item[0][1], item[0][0]))
    ]


# ---- changing an account ----


def grant(
    db: Session,
    *,
    ctx: AppContext,
    workspace_id: str,
    credits: int,
    reason: str,
    actor: Actor,
    idempotency_key: str | None = None,
) -> LedgerEntry:
    """Credits given by an administrator (positive) or taken back as an adjustment (negative, never below what
    is held by running jobs)."""
    from voxhub.workspaces import service as workspaces

    workspaces.get_live(db, workspace_id=workspace_id)
    if credits == 0 or not reason.strip():
        raise Unprocessable(
            "Give a non-zero number of credits and a reason.",
            code="validation_error",
            details=field_errors(("credits" if credits == 0 else "reason", "required")),
        )
    if abs(credits) > ledger.MAX_GRANT or len(reason) > ledger.MAX_REASON:
        raise Unprocessable(
            f"Grant at most {ledger.MAX_GRANT:,} credits at a time, with a reason of at most {ledger.MAX_REASON} "
            "characters.",
            code="validation_error",
            details=field_errors(("credits" if abs(credits) > ledger.MAX_GRANT else "reason", "too large")),
        )
    account = ledger.lock_account(db, workspace_id)
    if idempotency_key:  # the same grant sent again gets its entry, whatever the balance is now
        existing = db.scalar(select(LedgerEntry).where(LedgerEntry.idempotency_key == idempotency_key))
        if existing is not None:
            if existing.workspace_id != workspace_id or existing.amount != credits:
                raise Conflict(
                    "This Idempotency-Key was used for another grant.",
                    code="idempotency_conflict",
                    details={"entry_id": existing.id},
                )
            return existing
    if credits < 0 and account.balance - account.held + credits < 0:
        raise Unprocessable(
            f"Only {account.balance - account.held} credits can be taken back (the rest are held by running jobs).",
            code="insufficient_credits",
            details={"available": account.balance - account.held},
        )
    entry = ledger.post(
        db,
        account=account,
        kind=EntryKind.GRANT if credits > 0 else EntryKind.ADJUSTMENT,
        amount=credits,
        idempotency_key=idempotency_key or f"grant:{new_id()}",
        actor=_actor_name(actor),
        reason=reason.strip()[:500],
    )
    assert entry is not None  # a new key, or the existing entry was returned above
    audit.record(
        db,
        actor=actor,
        action="billing.credits_granted" if credits > 0 else "billing.credits_adjusted",
        workspace_id=workspace_id,
        target_type="ledger_entry",
        target_id=entry.id,
        summary={"credits": credits, "reason": entry.reason, "balance_after": entry.balance_after},
    )
    return entry


def set_plan(
    db: Session,
    *,
    ctx: AppContext,
    workspace_id: str,
    plan: str,
    interval: str,
    actor: Actor,
    provider: str | None = None,
    external_id: str | None = None,
    period_start: datetime | None = None,
    period_end: datetime | None = None,
    status: str = "active",
    cancel_at_period_end: bool = False,
) -> Subscription:
    """Move the workspace to `plan`. A new period starts now unless the provider says when it runs."""
    catalog = catalog_of(ctx.settings)
    if plan not in catalog.plans:
        raise Unprocessable(
            f"Unknown plan {plan!r}; known: {', '.join(catalog.plans)}.",
            code="unknown_plan",
            details=field_errors(("plan", "unknown")),
        )
    ledger.lock_account(db, workspace_id)
    now = utcnow()
    sub = subscription(db, workspace_id=workspace_id, now=now)
    before = {"plan": sub.plan, "interval": sub.interval, "status": sub.status}
    new_period = sub.plan != plan or sub.interval != interval or period_start is not None
    sub.plan, sub.interval, sub.status = plan, interval, status
    if plan == "free":  # nothing is paid for any more
        sub.provider = sub.external_id = None
    else:
        sub.provider, sub.external_id = provider or sub.provider, external_id or sub.external_id
    sub.cancel_at_period_end = cancel_at_period_end
    if new_period:
        start = (period_start or now).replace(microsecond=0)
        sub.anchor_at = start
        sub.current_period_start = start
        sub.current_period_end = period_end or add_months(start, _months_in(interval))
        sub.allowance_period_start, sub.allowance_period_end = allowance_window(start, max(now, start))
    db.flush()
    audit.record(
        db,
        actor=actor,
        action="billing.plan_changed",
        workspace_id=workspace_id,
        target_type="subscription",
        target_id=workspace_id,
        summary={"before": before, "after": {"plan": plan, "interval": interval, "status": status}},
    )
    return sub


def cancel_at_period_end(db: Session, *, ctx: AppContext, workspace_id: str, actor: Actor) -> Subscription:
    """Let a paid subscription run to its period's end, then fall back to free; audited."""
    sub = subscription(db, workspace_id=workspace_id)
    if sub.plan == "free":
        raise Unprocessable("The free plan has nothing to cancel.", code="nothing_to_cancel")
    sub.cancel_at_period_end = True
    audit.record(
        db,
        actor=actor,
        action="billing.subscription_canceled",
        workspace_id=workspace_id,
        target_type="subscription",
        target_id=workspace_id,
        summary={"plan": sub.plan, "ends_at": as_utc(sub.current_period_end).isoformat()},
    )
    return sub


# ---- alerts and rollover ----


def owner_emails(db: Session, *, workspace_id: str) -> list[str]:
    """The email addresses of the workspace's owners (who get billing mail)."""
    return [owner.email for owner in workspaces.owners(db, workspace_id=workspace_id)]


def _alert_once(db: Session, *, workspace_id: str, period_start: datetime, key: str) -> bool:
    return bool(
        ledger.insert_ignoring_conflict(
            db,
            BillingAlert,
            {
                "id": new_id(),
                "workspace_id": workspace_id,
                "period_start": period_start,
                "key": key,
                "created_at": utcnow(),
            },
            ["workspace_id", "period_start", "key"],
        )
    )


def check_alerts(
    db: Session, *, ctx: AppContext, workspace_id: str, account: CreditAccount, now: datetime | None = None
) -> list[str]:
    """Send the alerts newly due: each allowance at each threshold, and credits running low; once per period."""
    catalog = catalog_of(ctx.settings)
    sub = subscription(db, workspace_id=workspace_id, now=now)
    plan = catalog.plan(sub.plan)
    period_start = as_utc(sub.allowance_period_start)
    sent: list[str] = []
    rows = db.scalars(
        select(AllowanceUse).where(AllowanceUse.workspace_id == workspace_id, AllowanceUse.period_start == period_start)
    )
    for row in rows:
        included = plan.allowance_units(row.meter)
        if not included:
            continue
        percent = 100 * row.used / included
        crossed = [t for t in catalog.alert_thresholds if percent >= t]
        if crossed and _alert_once(db, workspace_id=workspace_id, period_start=period_start,
                                   key=f"{row.meter}:{crossed[-1]}"):  # fmt: skip
            sent.append(f"{row.meter}:{crossed[-1]}")
            _send_alert(
                db,
                ctx=ctx,
                workspace_id=workspace_id,
                data={
                    "kind": "allowance",
                    "meter": row.meter,
                    "threshold": crossed[-1],
                    "used": _in_api_units(row.meter, row.used),
                    "included": _in_api_units(row.meter, included),
                    "resets_at": as_utc(sub.allowance_period_end).isoformat(),
                },
            )
    available = account.balance - account.held
    threshold = catalog.low_balance_credits
    ever_bought = db.scalar(
        select(LedgerEntry.id)
        .where(LedgerEntry.workspace_id == workspace_id, LedgerEntry.kind.in_([EntryKind.PURCHASE, EntryKind.GRANT]))
        .limit(1)
    )
    if (
        threshold
        and ever_bought
        and available < threshold
        and _alert_once(db, workspace_id=workspace_id, period_start=period_start, key="low_balance")
    ):
        sent.append("low_balance")
        _send_alert(
            db,
            ctx=ctx,
            workspace_id=workspace_id,
            data={"kind": "low_balance", "available": available, "threshold": threshold},
        )
    return sent


def _send_alert(db: Session, *, ctx: AppContext, workspace_id: str, data: dict[str, Any]) -> None:
    from voxhub.workspaces.models import Workspace

    workspace = db.get(Workspace, workspace_id)
    payload = {"workspace_id": workspace_id, **data}
    delivery.emit(db, workspace_id=workspace_id, event_type="billing.usage_alert", data=payload)
    for owner in workspaces.owners(db, workspace_id=workspace_id):
        ctx.mailer.send_after_commit(
            db,
            template="billing_alert",
            to=owner.email,
            context={"workspace_name": workspace.name if workspace else workspace_id, **payload},
            user_id=owner.id,
            workspace_id=workspace_id,
        )


def roll_periods(db: Session, *, ctx: AppContext, now: datetime | None = None, limit: int = 500) -> int:
    """Renew subscriptions whose period or allowance month ended (periodic task); returns how many moved."""
    now = now or utcnow()
    due = db.scalars(
        select(Subscription)
        .where((Subscription.allowance_period_end <= now) | (Subscription.current_period_end <= now))
        .limit(limit)
    )
    moved = 0
    for sub in due:
        ledger.lock_account(db, sub.workspace_id)
        db.refresh(sub)
        moved += _roll(db, sub, now)
    return moved


def running_jobs_over_limit(db: Session, *, ctx: AppContext, workspace_id: str, running: int) -> bool:
    """Whether a workspace already runs as many jobs as its plan allows (extra jobs wait in the queue)."""
    if not ctx.settings.billing_enabled:
        return False
    return running >= plan_of(db, catalog=catalog_of(ctx.settings), workspace_id=workspace_id).concurrent_jobs


def lock_credits(db: Session, *, workspace_id: str) -> None:
    """Lock the workspace's credit account until the transaction ends. Claims take it so two workers cannot both
    take a workspace's last running slot; settlements take it before the job row (one order everywhere)."""
    ledger.lock_account(db, workspace_id)
