"""share links for transcripts, episodes and dubs (issue 18)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 17:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from voxhub.db import tenant_wall_statements

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shares",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=36), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("view_count", sa.Integer(), nullable=False),
        sa.Column("last_viewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_by_api_key", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_shares_workspace_id_workspaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shares")),
    )
    with op.batch_alter_table("shares", schema=None) as batch_op:
        batch_op.create_index("ix_shares_workspace_target", ["workspace_id", "target_type", "target_id"], unique=False)
    # Behind the tenant wall like every table with a workspace_id; the public page reads a share by its signed token
    # without a workspace (the wall's bypass), then scopes its session to the share's workspace.
    if op.get_bind().dialect.name == "postgresql":
        for statement in tenant_wall_statements("shares"):
            op.execute(statement)


def downgrade() -> None:
    with op.batch_alter_table("shares", schema=None) as batch_op:
        batch_op.drop_index("ix_shares_workspace_target")
    op.drop_table("shares")
