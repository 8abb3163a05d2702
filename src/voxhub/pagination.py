"""Cursor pagination over time-ordered ids, newest first."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Query
from pydantic import BaseModel, BeforeValidator
from sqlalchemy import Select, tuple_
from sqlalchemy.orm import Session

from voxhub.clock import as_utc
from voxhub.errors import Unprocessable

T = TypeVar("T")

MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


# What `encode_cursor` makes of a row's id (36 characters): 48 URL-safe base64 characters, as the schema of every
# list's `cursor` parameter states. decode_cursor refuses any other (422 `invalid_cursor`), and one of that shape that
# no page handed out.
Cursor = Annotated[
    str | None,
    Query(
        description="`next_cursor` of the previous page.",
        json_schema_extra={"pattern": "^[A-Za-z0-9_-]{48}$", "minLength": 48, "maxLength": 48},
    ),
]


def encode_cursor(row_id: str) -> str:
    return base64.urlsafe_b64encode(row_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        value = ""
    if len(value) != 36:
        raise Unprocessable("The cursor is not valid; pass next_cursor from a previous page.", code="invalid_cursor")
    return value


def created_between(query: Select[Any], column: Any, after: datetime | None, before: datetime | None) -> Select[Any]:
    """Narrow a list to rows created in [after, before); times without a zone are taken as UTC."""
    if after:
        query = query.where(column >= as_utc(after))
    if before:
        query = query.where(column < as_utc(before))
    return query


Sort = Literal["newest", "oldest"]

_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _date_time_text(value: Any) -> Any:
    if isinstance(value, str) and not _DATE_TIME.match(value.strip()):
        raise ValueError("expected a date-time such as 2026-01-31T12:00:00Z")
    return value


# A time filter in a query: an ISO 8601 date-time, as the schema says, never a number taken as Unix seconds.
QueryTime = Annotated[datetime, BeforeValidator(_date_time_text)]


def paginate(
    db: Session, query: Select[Any], id_column: Any, *, cursor: str | None, limit: int, sort: Sort = "newest"
) -> tuple[list[Any], str | None]:
    """Rows of `query` in creation order (ids are time-ordered), after `cursor`; returns the rows and the cursor
    of the next page."""
    limit = max(1, min(limit, MAX_LIMIT))
    newest = sort == "newest"
    if cursor:
        after = decode_cursor(cursor)
        query = query.where(id_column < after if newest else id_column > after)
    rows = list(db.scalars(query.order_by(id_column.desc() if newest else id_column.asc()).limit(limit + 1)))
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def paginate_by(
    db: Session,
    query: Select[Any],
    model: Any,
    *,
    column: Any,
    descending: bool,
    cursor: str | None,
    limit: int,
    workspace_id: str,
) -> tuple[list[Any], str | None]:
    """Rows of `query` ordered by `column` (a creation or change time), ties by id, after the row `cursor` names,
    which must be one of the workspace's rows; returns the rows and the cursor of the next page."""
    limit = max(1, min(limit, MAX_LIMIT))
    if cursor:
        after = db.get(model, decode_cursor(cursor))
        if after is None or after.workspace_id != workspace_id:
            raise Unprocessable(
                "The cursor is not valid; pass next_cursor from a previous page.", code="invalid_cursor"
            )
        key, mark = tuple_(column, model.id), tuple_(getattr(after, column.key), after.id)
        query = query.where(key < mark if descending else key > mark)
    ordering = (column.desc(), model.id.desc()) if descending else (column.asc(), model.id.asc())
    rows = list(db.scalars(query.order_by(*ordering).limit(limit + 1)))
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor
