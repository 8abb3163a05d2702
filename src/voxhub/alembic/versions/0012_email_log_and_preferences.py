"""the email log, per-user mail preferences and suppressed addresses (issue 18)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 17:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from voxhub.db import tenant_wall_statements

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "email_log",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=True),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("provider_message_id", sa.String(length=200), nullable=True),
        sa.Column("event_key", sa.String(length=200), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_email_log_workspace_id_workspaces"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_email_log_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_log")),
        sa.UniqueConstraint("event_key", name=op.f("uq_email_log_event_key")),
    )
    with op.batch_alter_table("email_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_email_log_workspace_id"), ["workspace_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_email_log_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_email_log_to_address"), ["to_address"], unique=False)
        batch_op.create_index(batch_op.f("ix_email_log_provider_message_id"), ["provider_message_id"], unique=False)

    op.create_table(
        "email_preferences",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("billing", sa.Boolean(), nullable=False),
        sa.Column("jobs", sa.Boolean(), nullable=False),
        sa.Column("product_news", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_email_preferences_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_email_preferences")),
    )
    op.create_table(
        "email_suppressions",
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_email_suppressions")),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Mail of a workspace is that workspace's; mail of no workspace (sign-in, account) only operators read.
        for statement in tenant_wall_statements("email_log"):
            op.execute(statement)


def downgrade() -> None:
    op.drop_table("email_suppressions")
    op.drop_table("email_preferences")
    with op.batch_alter_table("email_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_log_provider_message_id"))
        batch_op.drop_index(batch_op.f("ix_email_log_to_address"))
        batch_op.drop_index(batch_op.f("ix_email_log_user_id"))
        batch_op.drop_index(batch_op.f("ix_email_log_workspace_id"))
    op.drop_table("email_log")
