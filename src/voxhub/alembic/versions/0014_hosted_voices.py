"""voices a workspace cloned or configured at hosted providers (issue 18)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 17:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from voxhub.db import tenant_wall_statements

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hosted_voices",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("provider_voice_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("sample_file_id", sa.String(length=36), nullable=True),
        sa.Column("consented_by", sa.String(length=200), nullable=False),
        sa.Column("consented_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_by_api_key", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_hosted_voices_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hosted_voices")),
        sa.UniqueConstraint(
            "workspace_id", "provider", "provider_voice_id", name=op.f("uq_hosted_voices_workspace_id")
        ),
    )
    op.create_index("ix_hosted_voices_ws_id", "hosted_voices", ["workspace_id", "id"])
    if op.get_bind().dialect.name == "postgresql":
        for statement in tenant_wall_statements("hosted_voices"):
            op.execute(statement)


def downgrade() -> None:
    op.drop_index("ix_hosted_voices_ws_id", table_name="hosted_voices")
    op.drop_table("hosted_voices")
