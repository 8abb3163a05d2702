"""what eWAY and Dodo Payments need beyond the billing tables (issue 18): eWAY token customers charged for renewals,
and where a checkout sends its customer once voxhub has asked eWAY what became of the payment

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 17:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from voxhub.db import tenant_wall_statements

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "eway_token_customers",
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("token_customer_id", sa.String(length=40), nullable=False),
        sa.Column("plan", sa.String(length=40), nullable=False),
        sa.Column("interval", sa.String(length=8), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("paid_through", sa.DateTime(timezone=True), nullable=False),
        sa.Column("charging_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_eway_token_customers_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_eway_token_customers")),
    )
    op.create_index("ix_eway_token_customers_paid_through", "eway_token_customers", ["paid_through"], unique=False)
    with op.batch_alter_table("checkouts") as batch:
        batch.add_column(sa.Column("success_url", sa.String(length=2000), nullable=True))
        batch.add_column(sa.Column("cancel_url", sa.String(length=2000), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        for statement in tenant_wall_statements("eway_token_customers"):
            op.execute(statement)


def downgrade() -> None:
    with op.batch_alter_table("checkouts") as batch:
        batch.drop_column("cancel_url")
        batch.drop_column("success_url")
    op.drop_index("ix_eway_token_customers_paid_through", table_name="eway_token_customers")
    op.drop_table("eway_token_customers")
