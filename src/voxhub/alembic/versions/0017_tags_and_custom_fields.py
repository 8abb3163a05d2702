"""tags and custom fields on files, jobs, podcasts and dubs (issue 18)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 17:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from voxhub.db import tenant_wall_statements

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

TABLES = ("tags", "item_tags", "custom_fields", "custom_field_values")


def upgrade() -> None:
    op.create_table(
        "tags",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("name_key", sa.String(length=80), nullable=False),
        sa.Column("color", sa.String(length=7), nullable=True),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_tags_workspace_id_workspaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("workspace_id", "name_key", name="uq_tags_workspace_name"),
    )
    op.create_table(
        "item_tags",
        sa.Column("tag_id", sa.String(length=36), nullable=False),
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], name=op.f("fk_item_tags_tag_id_tags"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_item_tags_workspace_id_workspaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tag_id", "target_type", "target_id", name=op.f("pk_item_tags")),
    )
    op.create_index("ix_item_tags_target", "item_tags", ["workspace_id", "target_type", "target_id"])
    op.create_table(
        "custom_fields",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_custom_fields_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_fields")),
        sa.UniqueConstraint("workspace_id", "key", name="uq_custom_fields_workspace_key"),
    )
    op.create_table(
        "custom_field_values",
        sa.Column("field_id", sa.String(length=36), nullable=False),
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("text_value", sa.String(length=500), nullable=True),
        sa.Column("number_value", sa.Float(), nullable=True),
        sa.Column("date_value", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["field_id"],
            ["custom_fields.id"],
            name=op.f("fk_custom_field_values_field_id_custom_fields"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_custom_field_values_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("field_id", "target_type", "target_id", name=op.f("pk_custom_field_values")),
    )
    op.create_index(
        "ix_custom_field_values_target", "custom_field_values", ["workspace_id", "target_type", "target_id"]
    )
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            for statement in tenant_wall_statements(table):
                op.execute(statement)


def downgrade() -> None:
    op.drop_index("ix_custom_field_values_target", table_name="custom_field_values")
    op.drop_table("custom_field_values")
    op.drop_table("custom_fields")
    op.drop_index("ix_item_tags_target", table_name="item_tags")
    op.drop_table("item_tags")
    op.drop_table("tags")
