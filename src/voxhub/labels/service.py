"""A workspace's labels: the tag vocabulary (members add words, admins rename and remove them), custom fields
(admins define them), tags on files, jobs, podcasts and dubs and field values on files and jobs (whoever may edit
the item sets them), and the list filters built from them.

This room sits below the rooms it labels: it knows an item only by type and id. The labelled room's routes find the
item first (its own 404) and then call here."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, Protocol, TypeVar

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from voxhub.audit import service as audit
from voxhub.errors import Conflict, NotFound, Unprocessable, field_errors
from voxhub.labels.models import CustomField, FieldType, FieldValue, ItemTag, Tag, TargetType
from voxhub.labels.schemas import FieldCreate, FieldUpdate, FieldValueIn, FieldValueOut, TagUpdate
from voxhub.workspaces.models import Role
from voxhub.workspaces.service import WorkspaceAccess

MAX_TAGS = 500  # a vocabulary, not a place for free text
MAX_TAGS_PER_ITEM = 20
MAX_FIELDS = 50
MAX_FILTER_TAGS = 10
MAX_FILTER_FIELDS = 10
FIELD_TARGETS = (TargetType.FILE, TargetType.JOB)
FIELD_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def name_key(name: str) -> str:
    """What makes two tag names the same: their case-folded form."""
    return name.strip().casefold()


# ---- the tag vocabulary ----


def list_tags(db: Session, *, workspace_id: str) -> list[tuple[Tag, int]]:
    """Every tag of the workspace by name, with how many items carry it."""
    used = (
        select(ItemTag.tag_id, func.count().label("uses"))
        .where(ItemTag.workspace_id == workspace_id)
        .group_by(ItemTag.tag_id)
        .subquery()
    )
    rows = db.execute(
        select(Tag, func.coalesce(used.c.uses, 0))
        .outerjoin(used, used.c.tag_id == Tag.id)
        .where(Tag.workspace_id == workspace_id)
        .order_by(Tag.name_key)
    )
    return [(tag, int(items)) for tag, items in rows]


def get_tag(db: Session, *, workspace_id: str, tag_id: str) -> Tag:
    """The workspace's tag, or 404 `tag_not_found` (another workspace's too)."""
    tag = db.get(Tag, tag_id)
    if tag is None or tag.workspace_id != workspace_id:
        raise NotFound("Tag not found.", code="tag_not_found")
    return tag


def _refuse_taken_name(db: Session, *, workspace_id: str, name: str, but: str | None = None) -> None:
    taken = db.scalar(select(Tag).where(Tag.workspace_id == workspace_id, Tag.name_key == name_key(name)))
    if taken is not None and taken.id != but:
        raise Conflict(
            f"The workspace already has the tag '{taken.name}'.", code="tag_exists", details={"tag_id": taken.id}
        )


def create_tag(db: Session, *, access: WorkspaceAccess, name: str, color: str | None) -> Tag:
    """Add a word to the vocabulary (members and up); unique whatever its case; audited."""
    access.require(Role.MEMBER)
    count = db.scalar(select(func.count()).select_from(Tag).where(Tag.workspace_id == access.workspace_id)) or 0
    if count >= MAX_TAGS:
        raise Conflict(f"A workspace has at most {MAX_TAGS} tags.", code="tag_limit_reached")
    _refuse_taken_name(db, workspace_id=access.workspace_id, name=name)
    tag = Tag(
        workspace_id=access.workspace_id,
        name=name.strip(),
        name_key=name_key(name),
        color=color.lower() if color else None,
        created_by=access.user.id if access.user else None,
    )
    db.add(tag)
    db.flush()
    audit.record(
        db,
        actor=access.actor,
        action="tag.created",
        workspace_id=access.workspace_id,
        target_type="tag",
        target_id=tag.id,
        summary={"name": tag.name},
    )
    return tag


def update_tag(db: Session, *, access: WorkspaceAccess, tag_id: str, changes: TagUpdate) -> Tag:
    """Rename or recolour a tag (admins): every item that carries it shows the new name; audited."""
    access.require(Role.ADMIN)
    tag = get_tag(db, workspace_id=access.workspace_id, tag_id=tag_id)
    before = {"name": tag.name, "color": tag.color}
    if changes.name is not None:
        _refuse_taken_name(db, workspace_id=access.workspace_id, name=changes.name, but=tag.id)
        tag.name, tag.name_key = changes.name.strip(), name_key(changes.name)
    if "color" in changes.model_fields_set:
        tag.color = changes.color.lower() if changes.color else None
    audit.record(
        db,
        actor=access.actor,
        action="tag.updated",
        workspace_id=access.workspace_id,
        target_type="tag",
        target_id=tag.id,
        summary={"from": before, "to": {"name": tag.name, "color": tag.color}},
    )
    return tag


def delete_tag(db: Session, *, access: WorkspaceAccess, tag_id: str) -> None:
    """Remove a tag from the vocabulary and from every item that carries it (admins); audited."""
    access.require(Role.ADMIN)
    tag = get_tag(db, workspace_id=access.workspace_id, tag_id=tag_id)
    db.execute(delete(ItemTag).where(ItemTag.tag_id == tag.id))
    audit.record(
        db,
        actor=access.actor,
        action="tag.deleted",
        workspace_id=access.workspace_id,
        target_type="tag",
        target_id=tag.id,
        summary={"name": tag.name},
    )
    db.delete(tag)


# ---- tags on items ----


def forget(db: Session, *, workspace_id: str, target_type: TargetType, target_id: str) -> None:
    """A deleted item's tags and field values go with it (the labelled room calls this as it deletes the item), so a
    tag's count of items and an option's "still in use" count only what is left."""
    for model in (ItemTag, FieldValue):
        db.execute(
            delete(model).where(
                model.workspace_id == workspace_id,
                model.target_type == target_type.value,
                model.target_id == target_id,
            )
        )


def tags_of(db: Session, *, workspace_id: str, target_type: TargetType, target_id: str) -> list[str]:
    """The names of one item's tags, alphabetically."""
    return list(
        db.scalars(
            select(Tag.name)
            .join(ItemTag, ItemTag.tag_id == Tag.id)
            .where(
                ItemTag.workspace_id == workspace_id,
                ItemTag.target_type == target_type.value,
                ItemTag.target_id == target_id,
            )
            .order_by(Tag.name_key)
        )
    )


def set_tags(
    db: Session, *, access: WorkspaceAccess, target_type: TargetType, target_id: str, names: list[str]
) -> list[str]:
    """Make an item's tags exactly `names` (members and up; the caller has found the item); each must be a tag of
    the workspace (422 `unknown_tag` names those that are not); audited when something changed."""
    access.require(Role.MEMBER)
    wanted: dict[str, str] = {}
    for name in names:
        wanted.setdefault(name_key(name), name)
    if len(wanted) > MAX_TAGS_PER_ITEM:
        raise Unprocessable(f"An item has at most {MAX_TAGS_PER_ITEM} tags.", code="too_many_tags")
    tags = {
        tag.name_key: tag
        for tag in db.scalars(select(Tag).where(Tag.workspace_id == access.workspace_id, Tag.name_key.in_(wanted)))
    }
    unknown = [name for key, name in wanted.items() if key not in tags]
    if unknown:
        raise Unprocessable(
            "No tag of that name in this workspace; add it to the workspace's tags first.",
            code="unknown_tag",
            details=field_errors(*((f"tags.{name}", "no such tag") for name in unknown)),
        )
    current = {
        item.tag_id: item
        for item in db.scalars(
            select(ItemTag).where(
                ItemTag.workspace_id == access.workspace_id,
                ItemTag.target_type == target_type.value,
                ItemTag.target_id == target_id,
            )
        )
    }
    keep = {tag.id for tag in tags.values()}
    added = [tag for tag in tags.values() if tag.id not in current]
    removed = [item for tag_id, item in current.items() if tag_id not in keep]
    for tag in added:
        db.add(
            ItemTag(workspace_id=access.workspace_id, tag_id=tag.id, target_type=target_type.value, target_id=target_id)
        )
    for item in removed:
        db.delete(item)
    if added or removed:
        db.flush()
        removed_names = db.scalars(select(Tag.name).where(Tag.id.in_([item.tag_id for item in removed])))
        audit.record(
            db,
            actor=access.actor,
            action=f"{target_type.value}.tags_changed",
            workspace_id=access.workspace_id,
            target_type=target_type.value,
            target_id=target_id,
            summary={"added": sorted(tag.name for tag in added), "removed": sorted(removed_names)},
        )
    return tags_of(db, workspace_id=access.workspace_id, target_type=target_type, target_id=target_id)


# ---- custom fields ----


def list_fields(db: Session, *, workspace_id: str) -> list[CustomField]:
    """The workspace's custom fields, in the order they were made."""
    return list(
        db.scalars(select(CustomField).where(CustomField.workspace_id == workspace_id).order_by(CustomField.id))
    )


def get_field(db: Session, *, workspace_id: str, field_id: str) -> CustomField:
    """The workspace's field, or 404 `custom_field_not_found` (another workspace's too)."""
    found = db.get(CustomField, field_id)
    if found is None or found.workspace_id != workspace_id:
        raise NotFound("Custom field not found.", code="custom_field_not_found")
    return found


def _check_options(type_: str, options: list[str]) -> list[str]:
    unique = list(dict.fromkeys(option.strip() for option in options))
    if type_ == FieldType.SELECT and not unique:
        raise Unprocessable(
            "A select field needs its options.",
            code="validation_error",
            details=field_errors(("options", "at least one option")),
        )
    if type_ != FieldType.SELECT and unique:
        raise Unprocessable(
            "Only a select field has options.",
            code="validation_error",
            details=field_errors(("options", f"a {type_} field has no options")),
        )
    return unique


def create_field(db: Session, *, access: WorkspaceAccess, request: FieldCreate) -> CustomField:
    """Define a field for the workspace's files and jobs (admins); its key is unique; audited."""
    access.require(Role.ADMIN)
    existing = list_fields(db, workspace_id=access.workspace_id)
    if len(existing) >= MAX_FIELDS:
        raise Conflict(f"A workspace has at most {MAX_FIELDS} custom fields.", code="custom_field_limit_reached")
    if any(other.key == request.key for other in existing):
        raise Conflict(f"The workspace already has a field '{request.key}'.", code="custom_field_exists")
    created = CustomField(
        workspace_id=access.workspace_id,
        key=request.key,
        name=request.name,
        type=request.type.value,
        options=_check_options(request.type.value, request.options),
        required=request.required,
    )
    db.add(created)
    db.flush()
    audit.record(
        db,
        actor=access.actor,
        action="custom_field.created",
        workspace_id=access.workspace_id,
        target_type="custom_field",
        target_id=created.id,
        summary={"key": created.key, "type": created.type},
    )
    return created


def update_field(db: Session, *, access: WorkspaceAccess, field_id: str, changes: FieldUpdate) -> CustomField:
    """Rename a field, change a select's options or whether it is required (admins); its key and type stay. An
    option that items still hold cannot go (409 `option_in_use`); audited."""
    access.require(Role.ADMIN)
    found = get_field(db, workspace_id=access.workspace_id, field_id=field_id)
    if changes.options is not None:
        options = _check_options(found.type, changes.options)
        dropped = set(found.options) - set(options)
        held = db.scalars(
            select(FieldValue.text_value)
            .where(FieldValue.field_id == found.id, FieldValue.text_value.in_(dropped))
            .distinct()
        )
        in_use = sorted(value for value in held if value is not None)
        if in_use:
            raise Conflict(
                "Items still hold these options; change their values first.",
                code="option_in_use",
                details={"options": in_use},
            )
        found.options = options
    if changes.name is not None:
        found.name = changes.name
    if changes.required is not None:
        found.required = changes.required
    audit.record(
        db,
        actor=access.actor,
        action="custom_field.updated",
        workspace_id=access.workspace_id,
        target_type="custom_field",
        target_id=found.id,
        summary={"key": found.key, "changed": sorted(changes.model_fields_set)},
    )
    return found


def delete_field(db: Session, *, access: WorkspaceAccess, field_id: str) -> None:
    """Remove a field and every item's value of it (admins); audited."""
    access.require(Role.ADMIN)
    found = get_field(db, workspace_id=access.workspace_id, field_id=field_id)
    db.execute(delete(FieldValue).where(FieldValue.field_id == found.id))
    audit.record(
        db,
        actor=access.actor,
        action="custom_field.deleted",
        workspace_id=access.workspace_id,
        target_type="custom_field",
        target_id=found.id,
        summary={"key": found.key},
    )
    db.delete(found)


# ---- field values on items ----


def value_out(row: FieldValue, type_: str) -> FieldValueOut | None:
    """The value a row holds, from the column of its field's type."""
    if type_ == FieldType.NUMBER:
        return row.number_value
    if type_ == FieldType.DATE:
        return row.date_value
    return row.text_value


def _parse(custom: CustomField, raw: str | float) -> str | float | date:
    """`raw` as a value of the field, or ValueError saying what the field takes."""
    if custom.type == FieldType.NUMBER:
        if isinstance(raw, str) or not math.isfinite(raw):
            raise ValueError("expected a number")
        return float(raw)
    if not isinstance(raw, str):
        raise ValueError("expected a date as YYYY-MM-DD" if custom.type == FieldType.DATE else "expected text")
    if custom.type == FieldType.DATE:
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            raise ValueError("expected a date as YYYY-MM-DD") from None
    if custom.type == FieldType.SELECT and raw.strip() not in custom.options:
        raise ValueError(f"expected one of: {', '.join(custom.options)}")
    return raw.strip()


def values_of(db: Session, *, workspace_id: str, target_type: TargetType, target_id: str) -> dict[str, FieldValueOut]:
    """One item's custom field values by key."""
    return labels_of(db, workspace_id=workspace_id, target_type=target_type, target_ids=[target_id])[
        target_id
    ].custom_fields


def set_values(
    db: Session,
    *,
    access: WorkspaceAccess,
    target_type: TargetType,
    target_id: str,
    values: dict[str, FieldValueIn],
) -> dict[str, FieldValueOut]:
    """Set (or, with null, remove) some of a file's or job's field values (members and up; the caller has found the
    item). Every value is checked against its field first: one 422 `invalid_field_value` names each wrong one, and
    nothing changes. A required field's value can change but not go. Audited when something changed."""
    access.require(Role.MEMBER)
    assert target_type in FIELD_TARGETS
    fields = {custom.key: custom for custom in list_fields(db, workspace_id=access.workspace_id)}
    problems: list[tuple[str, str]] = []
    parsed: dict[str, str | float | date | None] = {}
    for key, raw in values.items():
        custom = fields.get(key)
        if custom is None:
            problems.append((f"values.{key}", "no such custom field in this workspace"))
        elif raw is None or (isinstance(raw, str) and not raw.strip()):
            if custom.required:
                problems.append((f"values.{key}", "this field is required: it can change but not be removed"))
            parsed[key] = None
        else:
            try:
                parsed[key] = _parse(custom, raw)
            except ValueError as error:
                problems.append((f"values.{key}", str(error)))
    if problems:
        raise Unprocessable(
            "Some values do not fit their fields.", code="invalid_field_value", details=field_errors(*problems)
        )
    current = {
        row.field_id: row
        for row in db.scalars(
            select(FieldValue).where(
                FieldValue.workspace_id == access.workspace_id,
                FieldValue.target_type == target_type.value,
                FieldValue.target_id == target_id,
            )
        )
    }
    changed: dict[str, Any] = {}
    removed: list[str] = []
    for key, value in parsed.items():
        custom = fields[key]
        row = current.get(custom.id)
        if value is None:
            if row is not None:
                db.delete(row)
                removed.append(key)
            continue
        if row is None:
            row = FieldValue(
                workspace_id=access.workspace_id, field_id=custom.id, target_type=target_type.value, target_id=target_id
            )
            db.add(row)
        elif value_out(row, custom.type) == value:
            continue
        row.text_value = value if isinstance(value, str) else None
        row.number_value = value if isinstance(value, float) else None
        row.date_value = value if isinstance(value, date) else None
        changed[key] = value.isoformat() if isinstance(value, date) else value
    db.flush()
    if changed or removed:
        audit.record(
            db,
            actor=access.actor,
            action=f"{target_type.value}.fields_changed",
            workspace_id=access.workspace_id,
            target_type=target_type.value,
            target_id=target_id,
            summary={"set": changed, "removed": sorted(removed)},
        )
    return values_of(db, workspace_id=access.workspace_id, target_type=target_type, target_id=target_id)


# ---- labels in an item's JSON ----


@dataclass
class Labels:
    tags: list[str] = field(default_factory=list)
    custom_fields: dict[str, FieldValueOut] = field(default_factory=dict)


def labels_of(db: Session, *, workspace_id: str, target_type: TargetType, target_ids: list[str]) -> dict[str, Labels]:
    """Tags (and, for files and jobs, custom field values) of many items of one type, in two queries."""
    found: dict[str, Labels] = defaultdict(Labels)
    if not target_ids:
        return found
    tag_rows = db.execute(
        select(ItemTag.target_id, Tag.name)
        .join(Tag, Tag.id == ItemTag.tag_id)
        .where(
            ItemTag.workspace_id == workspace_id,
            ItemTag.target_type == target_type.value,
            ItemTag.target_id.in_(target_ids),
        )
        .order_by(Tag.name_key)
    )
    for target_id, name in tag_rows:
        found[target_id].tags.append(name)
    if target_type in FIELD_TARGETS:
        value_rows = db.execute(
            select(FieldValue, CustomField.key, CustomField.type)
            .join(CustomField, CustomField.id == FieldValue.field_id)
            .where(
                FieldValue.workspace_id == workspace_id,
                FieldValue.target_type == target_type.value,
                FieldValue.target_id.in_(target_ids),
            )
            .order_by(CustomField.id)
        )
        for row, key, type_ in value_rows:
            value = value_out(row, type_)
            if value is not None:
                found[row.target_id].custom_fields[key] = value
    return found


class Labelled(Protocol):
    id: str
    tags: list[str]


L = TypeVar("L", bound=Labelled)


def labelled(db: Session, *, workspace_id: str, target_type: TargetType, items: list[L]) -> list[L]:
    """`items` (response bodies with `id`, `tags` and, for files and jobs, `custom_fields`) with their labels."""
    found = labels_of(db, workspace_id=workspace_id, target_type=target_type, target_ids=[item.id for item in items])
    for item in items:
        labels = found.get(item.id, Labels())
        item.tags = labels.tags
        if target_type in FIELD_TARGETS:
            item.custom_fields = labels.custom_fields  # type: ignore[attr-defined]
    return items


# ---- list filters ----


@dataclass(frozen=True)
class FieldCondition:
    """`field.<key>=value` (equal), `field.<key>.min=` or `.max=` (inclusive bounds of a number or date field)."""

    key: str
    op: Literal["eq", "min", "max"]
    value: str


@dataclass(frozen=True)
class LabelFilter:
    """What a list asks of its items' labels: every one of `tags`, and every field condition."""

    tags: tuple[str, ...] = ()
    fields: tuple[FieldCondition, ...] = ()


def parse_filter(*, tags: list[str], params: list[tuple[str, str]]) -> LabelFilter:
    """The filter from a list's `tag=` values and its `field.…` query parameters (422 naming a malformed one)."""
    if len(tags) > MAX_FILTER_TAGS:
        raise Unprocessable(
            f"Filter by at most {MAX_FILTER_TAGS} tags.",
            code="validation_error",
            details=field_errors(("tag", "too many")),
        )
    conditions = []
    for name, value in params:
        if not name.startswith("field."):
            continue
        key, _, op = name.removeprefix("field.").partition(".")
        if not FIELD_KEY.match(key) or op not in ("", "min", "max") or len(value) > 500:
            raise Unprocessable(
                "Filter by a field as field.<key>=value, field.<key>.min= or field.<key>.max=.",
                code="validation_error",
                details=field_errors((name, "not a field filter")),
            )
        conditions.append(FieldCondition(key=key, op=op or "eq", value=value))  # type: ignore[arg-type]
    if len(conditions) > MAX_FILTER_FIELDS:
        raise Unprocessable(
            f"Filter by at most {MAX_FILTER_FIELDS} field conditions.",
            code="validation_error",
            details=field_errors(("field", "too many")),
        )
    return LabelFilter(tags=tuple(tag.strip() for tag in tags if tag.strip()), fields=tuple(conditions))


def narrow(
    db: Session,
    query: Select[Any],
    id_column: Any,
    *,
    workspace_id: str,
    target_type: TargetType,
    wanted: LabelFilter | None,
) -> Select[Any]:
    """`query` (a list of items of `target_type`, whose id is `id_column`) narrowed to the items that carry every tag
    and meet every field condition of `wanted`. A tag the workspace lacks matches nothing; a field it lacks, or a
    value its field cannot hold, is a 422 naming the parameter."""
    if wanted is None:
        return query
    for tag in wanted.tags:
        tagged = (
            select(ItemTag.target_id)
            .join(Tag, Tag.id == ItemTag.tag_id)
            .where(
                Tag.workspace_id == workspace_id,
                Tag.name_key == name_key(tag),
                ItemTag.target_type == target_type.value,
            )
        )
        query = query.where(id_column.in_(tagged))
    if not wanted.fields:
        return query
    fields = {custom.key: custom for custom in list_fields(db, workspace_id=workspace_id)}
    problems: list[tuple[str, str]] = []
    for condition in wanted.fields:
        parameter = f"field.{condition.key}" + ("" if condition.op == "eq" else f".{condition.op}")
        custom = fields.get(condition.key)
        if custom is None or target_type not in FIELD_TARGETS:
            problems.append((parameter, "no such custom field in this workspace"))
            continue
        if condition.op != "eq" and custom.type not in (FieldType.NUMBER, FieldType.DATE):
            problems.append((parameter, "only number and date fields have ranges"))
            continue
        try:
            if custom.type == FieldType.NUMBER:
                number = float(condition.value)
                if not math.isfinite(number):
                    raise ValueError
                value: Any = number
            else:
                value = _parse(custom, condition.value) if custom.type == FieldType.DATE else condition.value.strip()
        except ValueError:
            problems.append((parameter, "expected a number" if custom.type == FieldType.NUMBER else "expected a date"))
            continue
        column: Any = {
            FieldType.NUMBER: FieldValue.number_value,
            FieldType.DATE: FieldValue.date_value,
        }.get(FieldType(custom.type), FieldValue.text_value)
        test = (
            column == value if condition.op == "eq" else column >= value if condition.op == "min" else column <= value
        )
        matching = select(FieldValue.target_id).where(
            FieldValue.field_id == custom.id, FieldValue.target_type == target_type.value, test
        )
        query = query.where(id_column.in_(matching))
    if problems:
        raise Unprocessable(
            "A field filter does not fit its field.", code="invalid_field_filter", details=field_errors(*problems)
        )
    return query
