"""Tables for a workspace's labels: its tag vocabulary and custom field definitions, and what is attached to which
file, job, podcast or dub (by type and id: the labelled rooms sit above this one)."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from voxhub.clock import utcnow
from voxhub.db import Base, id_column


class TargetType(enum.StrEnum):
    """What can carry labels: every type carries tags; files and jobs carry custom field values too."""

    FILE = "file"
    JOB = "job"
    PODCAST = "podcast"
    DUB = "dub"


class FieldType(enum.StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    SELECT = "select"


class Tag(Base):
    """One word of a workspace's vocabulary; `name_key` (the name case-folded) is unique in the workspace."""

    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("workspace_id", "name_key", name="uq_tags_workspace_name"),)

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))
    name_key: Mapped[str] = mapped_column(String(80))
    color: Mapped[str | None] = mapped_column(String(7))
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ItemTag(Base):
    """A tag on an item; goes with its tag."""

    __tablename__ = "item_tags"
    __table_args__ = (Index("ix_item_tags_target", "workspace_id", "target_type", "target_id"),)

    tag_id: Mapped[str] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    target_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    target_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomField(Base):
    """A field the workspace defined for its files and jobs; `key` names it in JSON and filters and never changes."""

    __tablename__ = "custom_fields"
    __table_args__ = (UniqueConstraint("workspace_id", "key", name="uq_custom_fields_workspace_key"),)

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(80))
    type: Mapped[str] = mapped_column(String(16))
    options: Mapped[list[str]] = mapped_column(JSON, default=list)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class FieldValue(Base):
    """One item's value of one field, in the column of the field's type (so filters compare like with like)."""

    __tablename__ = "custom_field_values"
    __table_args__ = (Index("ix_custom_field_values_target", "workspace_id", "target_type", "target_id"),)

    field_id: Mapped[str] = mapped_column(ForeignKey("custom_fields.id", ondelete="CASCADE"), primary_key=True)
    target_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    target_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    text_value: Mapped[str | None] = mapped_column(String(500))
    number_value: Mapped[float | None] = mapped_column(Float)
    date_value: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
