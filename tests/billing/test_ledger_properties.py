"""Property-based tests of the credit books: random sequences of grants, take-backs, holds and settlements, driven
through the billing service one transaction each (as requests do), keep every account within its invariants and
equal to a small model of what it should hold; and what a job costs grows with its size, rounds minutes up and
never takes more allowance than is left."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.conftest import PASSWORD
from voxhub.accounts.models import User
from voxhub.audit.service import Actor
from voxhub.billing import ledger
from voxhub.billing import service as billing
from voxhub.billing.catalog import Catalog, Price, catalog_of, load_catalog
from voxhub.billing.models import BALANCE_KINDS, HELD_KINDS, AllowanceUse, CreditAccount, EntryKind, LedgerEntry
from voxhub.clock import as_utc, utcnow
from voxhub.errors import PaymentRequired, Unprocessable
from voxhub.ids import new_id
from voxhub.workspaces import service as workspaces
from voxhub.workspaces.flows import create_user

ACTOR = Actor.system()
CATALOG = load_catalog(None)
# Priced per job, per minute of input audio, per minute of output audio; and one type that costs nothing.
JOB_TYPES = ("translate", "transcribe", "synthesize", "media.convert")
PLANS = ("free", "starter", "business")


# ---- the steps ----


@dataclass(frozen=True)
class Grant:
    credits: int


@dataclass(frozen=True)
class TakeBack:
    """A negative adjustment, as an administrator's correction or a refund takes credits back."""

    credits: int


@dataclass(frozen=True)
class ReplayGrant:
    """An earlier grant sent again with its idempotency key (a client retrying after a timeout)."""

    which: int


@dataclass(frozen=True)
class ReplayEntry:
    """Any ledger entry's idempotency key posted again, with whatever kind and amount."""

    which: int
    kind: EntryKind
    amount: int


@dataclass(frozen=True)
class Hold:
    job_type: str
    ms: int
    characters: int


@dataclass(frozen=True)
class Settle:
    which: int
    status: str
    # What the job reports it measured (None: nothing, so the estimate is charged); and a second settlement after it.
    reported: tuple[int, int] | None
    again_as: str


@dataclass(frozen=True)
class Retry:
    """A failed or canceled charge held again, as a retried job is."""

    which: int


@dataclass(frozen=True)
class ChangePlan:
    plan: str


@dataclass(frozen=True)
class Advance:
    """Days pass (holds and settlements are told the time): periods renew, allowance months start afresh."""

    days: int


Step = Grant | TakeBack | ReplayGrant | ReplayEntry | Hold | Settle | Retry | ChangePlan | Advance

# Whole minutes and a remainder, so that long jobs come as often as short ones and minute edges are hit exactly.
durations = st.builds(
    lambda minutes, ms: minutes * 60_000 + ms,
    st.integers(0, 40),
    st.sampled_from((0, 1, 999, 1000)) | st.integers(0, 59_999),
)
characters = st.integers(1, 30_000)  # the free plan includes 20,000
measures = st.tuples(durations, characters)
grants = st.builds(Grant, st.integers(1, 1000))
holds = st.builds(Hold, st.sampled_from(JOB_TYPES), durations, characters)
settlements = st.builds(
    Settle,
    st.integers(0, 50),
    st.sampled_from(("succeeded", "failed", "canceled")),
    st.none() | measures,
    st.sampled_from(("succeeded", "failed")),
)
# Holds and settlements most often: they are where credits and allowances move.
STEPS = st.one_of(
    grants,
    holds,
    holds,
    holds,
    settlements,
    settlements,
    settlements,
    st.builds(TakeBack, st.integers(1, 300)),
    st.builds(ReplayGrant, st.integers(0, 50)),
    st.builds(
        ReplayEntry,
        st.integers(0, 50),
        st.sampled_from(sorted(BALANCE_KINDS | HELD_KINDS)),
        st.integers(-1000, 1000),
    ),
    st.builds(Retry, st.integers(0, 50)),
    st.builds(ChangePlan, st.sampled_from(PLANS)),
    st.builds(Advance, st.integers(1, 45)),
)


# ---- the model ----


@dataclass
class FakeCharge:
    """What billing.hold and billing.settle_job read and write on a job, and nothing else."""

    id: str
    type: str
    workspace_id: str
    credits: dict[str, Any] | None = None
    status: str = "queued"
    result: dict[str, Any] | None = None


@dataclass
class Charge:
    """A fake charge and what the model expects it holds."""

    fake: FakeCharge
    ms: int
    characters: int
    state: str = "none"  # none | held | captured | released
    held_credits: int = 0
    held_units: int = 0
    period: str = ""


def units(price: Price, ms: int, characters: int) -> int:
    """What one job counts on its price's meter: started seconds of audio, characters, or one job."""
    if price.meter == "audio_minutes":
        return math.ceil(Fraction(ms, 1000))
    if price.meter == "tts_characters":
        return characters
    return 1


def paid_credits(price: Price, ms: int, characters: int, allowance_units: int) -> int:
    """Credits for the part of a job its allowance does not cover, worked out in exact fractions: each started minute
    of the paid share costs the price (the shipped catalog's rounding)."""
    wanted = units(price, ms, characters) if price.meter else 0
    share = (
        Fraction(1) if price.meter is None else Fraction(wanted - allowance_units, wanted) if wanted else Fraction(0)
    )
    if share == 0:
        return 0
    if price.per == "job":
        return price.credits
    return math.ceil(Fraction(ms, 1000) * share / 60) * price.credits


@dataclass
class Books:
    """What the account should hold, by hand."""

    balance: int = 0
    held: int = 0
    plan: str = "free"
    # (allowance period start, meter) -> [used, held], in stored units
    allowance: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    @property
    def available(self) -> int:
        return self.balance - self.held

    def use(self, period: str, meter: str) -> list[int]:
        return self.allowance.setdefault((period, meter), [0, 0])


# ---- running steps against the service and the model side by side ----


class Run:
    """One workspace's books driven step by step through the service, each step in its own transaction, beside the
    model of what they should be. `event()` notes what was exercised (pytest --hypothesis-show-statistics)."""

    def __init__(self, app: Any, workspace_id: str) -> None:
        self.app = app
        self.ctx = app.state.ctx
        self.workspace_id = workspace_id
        self.books = Books()
        self.charges: list[Charge] = []
        self.now = utcnow()
        self.grants: list[
            tuple[str, int, str]
        ] = []  # (idempotency key, credits, ledger entry id) of grants and take-backs
        assert catalog_of(self.ctx.settings).rounding == "started_minute"  # what paid_credits() models

    def step(self, step: Step) -> None:
        match step:
            case Grant(credits):
                self.grant(credits)
            case TakeBack(credits):
                self.grant(-credits)
            case ReplayGrant(which):
                self.replay_grant(which)
            case ReplayEntry(which, kind, amount):
                self.replay_entry(which, kind, amount)
            case Hold(job_type, ms, characters):
                charge = Charge(FakeCharge(new_id(), job_type, self.workspace_id), ms, characters)
                self.charges.append(charge)
                self.hold(charge)
            case Settle(which, status, reported, again_as):
                queued = [charge for charge in self.charges if charge.fake.status == "queued"]
                if queued:
                    self.settle(queued[which % len(queued)], status, reported, again_as)
            case Retry(which):
                retriable = [c for c in self.charges if c.fake.status in ("failed", "canceled")]
                if retriable:
                    event("retried")
                    self.hold(retriable[which % len(retriable)])
            case Advance(days):
                self.now += timedelta(days=days)
            case ChangePlan(plan):
                # set_plan reads the real clock: the new period starts now, maybe before the time Advance reached.
                with self.app.state.db.session() as db:
                    billing.set_plan(
                        db, ctx=self.ctx, workspace_id=self.workspace_id, plan=plan, interval="month", actor=ACTOR
                    )
                self.books.plan = plan

    def grant(self, credits: int) -> None:
        key = f"grant:{self.workspace_id}:{uuid.uuid4()}"
        refused = credits < 0 and -credits > self.books.available
        try:
            with self.app.state.db.session() as db:
                entry = billing.grant(
                    db,
                    ctx=self.ctx,
                    workspace_id=self.workspace_id,
                    credits=credits,
                    reason="property test",
                    actor=ACTOR,
                    idempotency_key=key,
                )
                entry_id = entry.id
        except Unprocessable as exc:
            assert refused, f"take-back of {-credits} with {self.books.available} available refused: {exc.message}"
            assert exc.code == "insufficient_credits"
            event("take-back refused")
            return
        assert not refused, f"took back {-credits} credits with only {self.books.available} available"
        self.books.balance += credits
        self.grants.append((key, credits, entry_id))

    def replay_grant(self, which: int) -> None:
        if not self.grants:
            return
        key, credits, entry_id = self.grants[which % len(self.grants)]
        with self.app.state.db.session() as db:
            entry = billing.grant(
                db,
                ctx=self.ctx,
                workspace_id=self.workspace_id,
                credits=credits,
                reason="property test",
                actor=ACTOR,
                idempotency_key=key,
            )
            assert entry.id == entry_id

    def replay_entry(self, which: int, kind: EntryKind, amount: int) -> None:
        with self.app.state.db.session() as db:
            keys = list(
                db.scalars(
                    select(LedgerEntry.idempotency_key)
                    .where(LedgerEntry.workspace_id == self.workspace_id)
                    .order_by(LedgerEntry.id)
                )
            )
            if not keys:
                return
            account = ledger.lock_account(db, self.workspace_id)
            posted = ledger.post(
                db,
                account=account,
                kind=kind,
                amount=amount,
                idempotency_key=keys[which % len(keys)],
                actor="property test",
            )
            assert posted is None

    def current_period(self) -> str:
        """The allowance month a hold made now falls in (the subscription brought up to now first, as the periodic
        task does)."""
        with self.app.state.db.session() as db:
            sub = billing.subscription(db, workspace_id=self.workspace_id, now=self.now)
            return as_utc(sub.allowance_period_start).isoformat()

    def hold(self, charge: Charge) -> None:
        books, fake = self.books, charge.fake
        price = catalog_of(self.ctx.settings).price_for(fake.type)
        period = self.current_period()
        taken, credits, left = 0, 0, None
        if price is not None:
            if price.meter is not None:
                included = catalog_of(self.ctx.settings).plan(books.plan).allowance_units(price.meter)
                used, held = books.use(period, price.meter)
                left = None if included is None else max(0, included - used - held)
            wanted = units(price, charge.ms, charge.characters) if price.meter else 0
            taken = 0 if price.meter is None else wanted if left is None else min(left, wanted)
            credits = paid_credits(price, charge.ms, charge.characters, taken)
        refused = credits > books.available
        status_before, fake.status = fake.status, "queued"
        try:
            with self.app.state.db.session() as db:
                billing.hold(
                    db,
                    ctx=self.ctx,
                    charge=fake,
                    measure=billing.Measure(seconds=charge.ms / 1000, characters=charge.characters),
                    actor=ACTOR,
                    now=self.now,
                )
        except PaymentRequired as exc:
            assert refused, f"{fake.type} needing {credits} refused with {books.available} available: {exc.message}"
            exhausted = price is not None and price.meter is not None and left == 0 and books.available == 0
            assert exc.code == ("quota_exceeded" if exhausted else "insufficient_credits")
            assert exc.details["needed"] == credits
            event(f"hold refused: {exc.code}")
            if charge.state == "none":
                self.charges.remove(charge)  # a job refused at creation never existed
            else:
                fake.status = status_before  # a refused retry leaves the job as it was
            return
        assert not refused, f"held {credits} for {fake.type} with only {books.available} available"
        if price is None:
            assert fake.credits is None
            charge.state = "none"
            return
        books.held += credits
        if price.meter is not None:
            books.use(period, price.meter)[1] += taken
        charge.state, charge.held_credits, charge.held_units, charge.period = "held", credits, taken, period
        if taken and credits:
            event("held allowance and credits")
        assert fake.credits is not None
        assert (fake.credits["state"], fake.credits["held"]) == ("held", credits)
        assert fake.credits["allowance"]["held_units"] == taken

    def settle(self, charge: Charge, status: str, reported: tuple[int, int] | None, again_as: str) -> None:
        fake, books = charge.fake, self.books
        fake.status = status
        fake.result = None if reported is None else {"duration_s": reported[0] / 1000, "characters": reported[1]}
        price = catalog_of(self.ctx.settings).price_for(fake.type)
        with self.app.state.db.session() as db:
            billing.settle_job(db, ctx=self.ctx, job=fake, now=self.now)
        if charge.state != "held":
            assert fake.credits is None
            return
        assert price is not None
        used, charged = 0, 0
        if status == "succeeded":
            ms, characters = reported or (charge.ms, charge.characters)
            wanted = units(price, ms, characters) if price.meter else 0
            used = min(charge.held_units, wanted)
            charged = min(charge.held_credits, paid_credits(price, ms, characters, used))
            event("captured less than held" if charged < charge.held_credits else "captured all it held")
        books.balance -= charged
        books.held -= charge.held_credits
        if price.meter is not None:
            use = books.use(charge.period, price.meter)
            use[0] += used
            use[1] -= charge.held_units
        charge.state = "captured" if status == "succeeded" else "released"
        event(f"settled as {status}")
        assert fake.credits is not None
        assert (fake.credits["state"], fake.credits["charged"]) == (charge.state, charged)

        # Settled again (a redelivered final event, another outcome): nothing moves.
        before = self.snapshot()
        fake.status = again_as
        with self.app.state.db.session() as db:
            billing.settle_job(db, ctx=self.ctx, job=fake, now=self.now)
        fake.status = status
        assert self.snapshot() == before

    def snapshot(self) -> tuple[int, int, int, dict[tuple[str, str], tuple[int, int]]]:
        with self.app.state.db.session() as db:
            account = db.get(CreditAccount, self.workspace_id)
            entries = db.scalar(
                select(func.count()).select_from(LedgerEntry).where(LedgerEntry.workspace_id == self.workspace_id)
            )
            rows = db.scalars(select(AllowanceUse).where(AllowanceUse.workspace_id == self.workspace_id))
            allowance = {(as_utc(row.period_start).isoformat(), row.meter): (row.used, row.held) for row in rows}
            balance, held = (account.balance, account.held) if account else (0, 0)
            return balance, held, int(entries or 0), allowance

    def check(self) -> None:
        """The invariants, and the account, the ledger and the allowances as the model has them."""
        books = self.books
        with self.app.state.db.session() as db:
            account = ledger.read_account(db, self.workspace_id)
            assert 0 <= account.held <= account.balance
            assert ledger.totals(db, self.workspace_id) == (account.balance, account.held)
            assert (account.balance, account.held) == (books.balance, books.held)
            rows = db.scalars(select(AllowanceUse).where(AllowanceUse.workspace_id == self.workspace_id))
            allowance = {(as_utc(row.period_start).isoformat(), row.meter): [row.used, row.held] for row in rows}
        expected = {key: use for key, use in books.allowance.items() if use != [0, 0]}
        assert {key: use for key, use in allowance.items() if use != [0, 0]} == expected
        assert all(used >= 0 and held >= 0 for used, held in allowance.values())


def new_workspace(app: Any, owner_id: str) -> str:
    with app.state.db.session() as db:
        user = db.get(User, owner_id)
        assert user is not None
        workspace = workspaces.create_workspace(db, owner=user, name="Property books", actor=ACTOR)
        billing.subscription(db, workspace_id=workspace.id)
        return workspace.id


@pytest.fixture
def owner_id(app: Any) -> str:
    """A user to own the workspaces; made through the service, as no request is needed (nor the app started)."""
    with app.state.db.session() as db:
        user = create_user(db, email="books@example.com", password=PASSWORD, name="Books", actor=ACTOR, verified=True)
        return user.id


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(first=grants, steps=st.lists(STEPS, min_size=15, max_size=40))
def test_random_operations_keep_the_books_right(app: Any, owner_id: str, first: Grant, steps: list[Step]) -> None:
    run = Run(app, new_workspace(app, owner_id))
    try:
        for number, step in enumerate([first, *steps]):
            try:
                run.step(step)
                run.check()
            except AssertionError as exc:
                raise AssertionError(f"after step {number} {step}: {exc}") from exc
    finally:
        # Alerts go out by mail on a thread of their own (which draws from `random`): done before the next example.
        app.state.ctx.mailer.flush()


def test_a_replayed_take_back_returns_its_entry_after_credits_moved(app: Any, owner_id: str) -> None:
    workspace_id = new_workspace(app, owner_id)
    run = Run(app, workspace_id)
    run.grant(10)
    key = f"grant:{workspace_id}:take-back"
    with app.state.db.session() as db:
        first = billing.grant(
            db, ctx=run.ctx, workspace_id=workspace_id, credits=-10, reason="refund", actor=ACTOR, idempotency_key=key
        )
        first_id = first.id
    with app.state.db.session() as db:  # the client timed out and sends the same request again
        again = billing.grant(
            db, ctx=run.ctx, workspace_id=workspace_id, credits=-10, reason="refund", actor=ACTOR, idempotency_key=key
        )
        assert again.id == first_id
    with app.state.db.session() as db:
        assert ledger.totals(db, workspace_id) == (0, 0)


# ---- what a job costs ----

pure = settings(max_examples=500)

SECOND_CATALOG = CATALOG.model_copy(update={"rounding": "second"})
catalogs = st.sampled_from((CATALOG, SECOND_CATALOG))
per_minute = st.sampled_from(sorted(name for name, price in CATALOG.prices.items() if price.per == "minute"))
priced = st.sampled_from(sorted(CATALOG.prices))
allowance_left = st.none() | st.integers(0, 3 * 60 * 60)


def measure_of(ms: int, characters: int) -> billing.Measure:
    return billing.Measure(seconds=ms / 1000, characters=characters)


@pure
@given(
    catalog=catalogs, job_type=priced, shorter=durations, longer=durations, characters=characters, left=allowance_left
)
def test_a_longer_job_never_costs_fewer_credits(
    catalog: Catalog, job_type: str, shorter: int, longer: int, characters: int, left: int | None
) -> None:
    shorter, longer = sorted((shorter, longer))
    price = catalog.prices[job_type]
    if price.per == "minute":
        assert catalog.credits_for_seconds(price, shorter / 1000) <= catalog.credits_for_seconds(price, longer / 1000)
    short = billing.split_cost(catalog, price, measure_of(shorter, characters), left)
    long = billing.split_cost(catalog, price, measure_of(longer, characters), left)
    assert short.credits <= long.credits


@pure
@given(job_type=per_minute, ms=durations)
def test_every_started_minute_is_charged_in_full(job_type: str, ms: int) -> None:
    price = CATALOG.prices[job_type]
    assert CATALOG.rounding == "started_minute"
    assert CATALOG.credits_for_seconds(price, ms / 1000) == math.ceil(Fraction(ms, 60_000)) * price.credits
    assert SECOND_CATALOG.credits_for_seconds(price, ms / 1000) == math.ceil(Fraction(ms, 60_000) * price.credits)


def test_sixty_one_seconds_cost_two_minutes() -> None:
    price = CATALOG.prices["transcribe"]
    assert [CATALOG.credits_for_seconds(price, s) for s in (0, 1, 60, 61, 120, 121)] == [0, 10, 10, 20, 20, 30]


@pure
@given(catalog=catalogs, job_type=priced, ms=durations, characters=characters, left=allowance_left)
def test_the_allowance_pays_first_and_never_beyond_what_is_left(
    catalog: Catalog, job_type: str, ms: int, characters: int, left: int | None
) -> None:
    price = catalog.prices[job_type]
    measure = measure_of(ms, characters)
    split = billing.split_cost(catalog, price, measure, left)
    whole_job = billing.split_cost(catalog, price, measure, 0)
    if price.meter is None:
        assert split.allowance_units == 0
    else:
        wanted = measure.meter_units(price.meter)
        assert 0 <= split.allowance_units <= (wanted if left is None else min(left, wanted))
        assert split.allowance_units == (wanted if left is None else min(left, wanted))
    assert 0 <= split.credits <= whole_job.credits
    if price.meter is not None and left is not None:
        more_left = billing.split_cost(catalog, price, measure, left + 60)
        assert more_left.credits <= split.credits
