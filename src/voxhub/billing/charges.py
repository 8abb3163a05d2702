"""What a job (or a synchronous call) holds and was charged: the shape billing writes onto `Job.credits` and
`SyncCharge.credits`, and clients read as a job's `credits`."""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import BaseModel, Field

from voxhub.billing.catalog import Price


class ChargeState(enum.StrEnum):
    HELD = "held"
    CAPTURED = "captured"
    RELEASED = "released"


class ChargedPrice(Price):
    """The price when the hold was made: the price charged, whatever the catalog says when the job ends."""

    rounding: str = Field(description="How durations are rounded: started_minute or second.")


class ChargeEstimate(BaseModel):
    seconds: float = Field(default=0.0, description="Audio duration the hold was sized for.")
    characters: int = Field(default=0, description="Characters of text the hold was sized for.")
    tokens: int = Field(default=0, description="Tokens of text (prompt and completion) the hold was sized for.")


class ChargeAllowance(BaseModel):
    meter: str | None = Field(description="The plan allowance this job draws on, if any.")
    held: float = Field(description="Allowance held, in the meter's API units (minutes, characters, jobs).")
    used: float | None = Field(description="Allowance used once the job ended.")
    held_units: int = Field(description="Allowance held, in the meter's stored units (seconds, characters, jobs).")
    period_start: datetime | None = Field(description="The allowance period the hold belongs to.")


class Charge(BaseModel):
    state: ChargeState
    holds: int = Field(description="How many times credits were held for this job (a retry holds again).")
    price: ChargedPrice
    estimated: ChargeEstimate
    held: int = Field(description="Credits held for this job.")
    charged: int | None = Field(description="Credits taken once the job ended; the rest was released.")
    allowance: ChargeAllowance
