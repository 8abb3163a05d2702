"""The billing catalog: plans, credit packages and job prices, read from a TOML file and checked at start-up."""

from __future__ import annotations

import math
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from voxhub.config import Settings

DEFAULT_CATALOG = Path(__file__).parent / "billing.toml"

# Meters, and how many stored units make one of the unit the catalog and the API speak in: audio is stored in
# seconds and spoken of in minutes; the others are counted as they are.
METER_UNITS: dict[str, int] = {
    "audio_minutes": 60,
    "tts_characters": 1,
    "podcasts": 1,
    "translations": 1,
    "text_tokens": 1,
    "storage_bytes": 1,
    "api_requests": 1,
}
ALLOWANCE_METERS = ("audio_minutes", "tts_characters", "podcasts", "translations", "text_tokens")

Meter = Literal["audio_minutes", "tts_characters", "podcasts", "translations", "text_tokens"]

# The job type behind each feature a plan may list. A plan that lists one must let its workspaces run that job type
# within its allowances: someone new to voxhub tries every listed feature before buying anything. (Other features,
# such as "diarization" or "webhooks", are not jobs of their own.)
FEATURE_JOB_TYPES: dict[str, str] = {
    "transcription": "transcribe",
    "synthesis": "synthesize",
    "translation": "translate",
    "dubbing": "dub",
    "podcasts": "podcast",
}


class CatalogError(Exception):
    """The catalog file is missing, not TOML, or not a valid catalog; the message says where."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Plan(_Strict):
    id: str = ""
    name: str
    monthly_price_cents: int = Field(ge=0)
    yearly_price_cents: int = Field(ge=0)
    max_file_size_mb: int = Field(gt=0)
    storage_quota_mb: int = Field(gt=0)
    concurrent_jobs: int = Field(gt=0)
    requests_per_minute: int = Field(gt=0)
    retention_days: int = Field(gt=0)
    features: tuple[str, ...] = ()
    # None is unlimited.
    allowances: dict[Meter, int | None] = Field(default_factory=dict)
    product_ids: dict[str, str] = Field(default_factory=dict, description="The item's product id at each provider.")

    @field_validator("allowances", mode="before")
    @classmethod
    def _unlimited(cls, value: object) -> object:
        if isinstance(value, dict):
            return {key: None if item == "unlimited" else item for key, item in value.items()}
        return value

    @field_validator("allowances")
    @classmethod
    def _not_negative(cls, value: dict[Meter, int | None]) -> dict[Meter, int | None]:
        for meter, amount in value.items():
            if amount is not None and amount < 0:
                raise ValueError(f'{meter} must be 0 or more, or "unlimited"')
        return value

    def price_cents(self, interval: str) -> int:
        return self.yearly_price_cents if interval == "year" else self.monthly_price_cents

    def allowance_units(self, meter: str) -> int | None:
        """The monthly allowance on `meter` in stored units (seconds for audio); None is unlimited."""
        included = self.allowances.get(meter, 0)  # type: ignore[call-overload]
        return None if included is None else included * METER_UNITS[meter]


class Package(_Strict):
    id: str = ""
    credits: int = Field(gt=0)
    price_cents: int = Field(gt=0)
    product_ids: dict[str, str] = Field(default_factory=dict)


class Price(_Strict):
    credits: int = Field(ge=0)
    per: Literal["minute", "job", "1k_tokens"]
    of: Literal["input", "output"] | None = None
    meter: Meter | None = None

    @model_validator(mode="after")
    def _per_minute_needs_audio(self) -> Price:
        if self.per == "minute" and self.of is None:
            raise ValueError('a per-minute price needs of = "input" or "output"')
        return self


class Catalog(_Strict):
    currency: str = Field(min_length=3, max_length=3)
    low_balance_credits: int = Field(default=0, ge=0)
    alert_thresholds: tuple[int, ...] = (80, 100)
    rounding: Literal["started_minute", "second"] = "started_minute"
    plans: dict[str, Plan]
    packages: dict[str, Package]
    prices: dict[str, Price] = Field(default_factory=dict)

    @field_validator("currency")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @field_validator("alert_thresholds")
    @classmethod
    def _percentages(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 0 < t <= 100 for t in value):
            raise ValueError("thresholds are percentages between 1 and 100")
        return tuple(sorted(set(value)))

    @model_validator(mode="after")
    def _named(self) -> Catalog:
        if "free" not in self.plans:
            raise ValueError('the catalog needs a "free" plan: it is what every workspace starts on')
        for key, plan in self.plans.items():
            object.__setattr__(plan, "id", key)
        for key, package in self.packages.items():
            object.__setattr__(package, "id", key)
        shared = [name for name in self.packages if name in self.plans]
        if shared:
            raise ValueError(
                f"{', '.join(repr(name) for name in shared)} names both a plan and a credit package; "
                "give the package another name"
            )
        return self

    @model_validator(mode="after")
    def _plans_can_do_what_they_list(self) -> Catalog:
        problems = [
            f"plans.{plan_id} lists {feature!r} but gives no allowance for {job_type} jobs ({reason}); "
            f"give it an allowance, or drop the feature"
            for plan_id, plan in self.plans.items()
            for feature in plan.features
            if (job_type := FEATURE_JOB_TYPES.get(feature)) is not None
            and (reason := self._unusable(plan, job_type)) is not None
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _unusable(self, plan: Plan, job_type: str) -> str | None:
        """Why a workspace on `plan` with no credits could not run a `job_type` job; None when it can."""
        price = self.prices.get(job_type)
        if price is None or price.credits == 0:
            return None  # free
        if price.meter is None:
            return f"prices.{job_type} has no meter, so every job is paid in credits"
        if plan.allowances.get(price.meter, 0) == 0:
            return f"{price.meter} is 0"
        return None

    def plan(self, plan_id: str) -> Plan:
        # A plan removed from the catalog leaves its subscribers on the free plan's terms rather than broken.
        return self.plans.get(plan_id) or self.plans["free"]

    def price_for(self, job_type: str) -> Price | None:
        return self.prices.get(job_type)

    def credits_for_seconds(self, price: Price, seconds: float) -> int:
        """Credits for `seconds` of audio at a per-minute price, under the catalog's rounding rule."""
        return credits_for_seconds(price, seconds, self.rounding)


def credits_for_seconds(price: Price, seconds: float, rounding: str) -> int:
    """Credits for `seconds` of audio at a per-minute price: per started minute, or per second (rounded up to a
    whole credit)."""
    if seconds <= 0:
        return 0
    if rounding == "started_minute":
        return math.ceil(seconds / 60 - 1e-9) * price.credits
    return math.ceil(seconds * price.credits / 60 - 1e-9)


def credits_for_tokens(price: Price, tokens: float) -> int:
    """Credits for `tokens` of text (prompt and completion) at a per-1k-tokens price, rounded up to a whole credit."""
    if tokens <= 0:
        return 0
    return math.ceil(tokens * price.credits / 1000 - 1e-9)


def load_catalog(path: Path | None) -> Catalog:
    """Read and check the catalog at `path` (the shipped default when None)."""
    path = path or DEFAULT_CATALOG
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise CatalogError(f"Billing catalog {path} does not exist.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"Billing catalog {path} is not valid TOML: {exc}.") from exc
    try:
        return Catalog.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(top)'}: {error['msg']}" for error in exc.errors()
        )
        raise CatalogError(f"Billing catalog {path} is invalid: {problems}.") from exc


@lru_cache(maxsize=8)
def cached_catalog(path: Path | None) -> Catalog:
    return load_catalog(path)


def catalog_of(settings: Settings) -> Catalog:
    """The catalog these settings name, read once per process."""
    return cached_catalog(settings.billing_catalog)
