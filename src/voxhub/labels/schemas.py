"""Request and response bodies for tags and custom fields."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from voxhub.labels.models import FieldType

TAG_NAME_MAX = 40
TEXT_VALUE_MAX = 500
OPTION_MAX = 100

TagName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TAG_NAME_MAX)]
Color = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$", max_length=7)]
FieldKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$", max_length=40)]
Option = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=OPTION_MAX)]
# What an item's field holds, as JSON shows it: text and select options as strings, numbers as numbers, dates as
# YYYY-MM-DD.
FieldValueOut = str | float | date
FieldValueIn = Annotated[str, StringConstraints(max_length=TEXT_VALUE_MAX)] | float | None


class TagCreate(BaseModel):
    name: TagName = Field(description="Unique in the workspace, whatever its case.")
    color: Color | None = Field(default=None, description="#rrggbb, for the console.")


class TagUpdate(BaseModel):
    name: TagName | None = None
    color: Color | None = None


class TagOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    color: str | None
    items: int = Field(default=0, description="How many files, jobs, podcasts and dubs carry it.")
    created_at: datetime


class ItemTagsIn(BaseModel):
    tags: list[TagName] = Field(max_length=20, description="The item's tags from now on, by name (any case).")


class ItemTagsOut(BaseModel):
    tags: list[str]


class FieldCreate(BaseModel):
    key: FieldKey = Field(description="Names the field in JSON and in `field.<key>=` filters; never changes.")
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    type: FieldType
    options: list[Option] = Field(default=[], max_length=50, description="The choices of a select field.")
    required: StrictBool = Field(default=False, description="A value, once given, can be changed but not removed.")


class FieldUpdate(BaseModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)] | None = None
    options: list[Option] | None = Field(default=None, max_length=50)
    required: StrictBool | None = None


class FieldOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    key: str
    name: str
    type: FieldType
    options: list[str]
    required: bool
    created_at: datetime


class FieldValuesIn(BaseModel):
    values: dict[FieldKey, FieldValueIn] = Field(
        max_length=50,
        description="Field key → value (a string for text and select, a number, a YYYY-MM-DD date); null removes it. "
        "Fields not named keep their values.",
    )


class FieldValuesOut(BaseModel):
    custom_fields: dict[str, FieldValueOut]
