"""where and from what device people sign in (issue 18)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 17:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# Columns only, on tables without a workspace_id: nothing new goes behind the tenant wall. Rows from before stay
# without a place (their addresses are not looked up again) and without a device (worked out from the user agent
# when a new sign-in is compared with them).


def upgrade() -> None:
    op.add_column("login_sessions", sa.Column("country", sa.String(2), nullable=True))
    op.add_column("login_sessions", sa.Column("city", sa.String(200), nullable=True))
    op.add_column("login_sessions", sa.Column("device", sa.String(120), nullable=True))
    op.add_column("security_events", sa.Column("country", sa.String(2), nullable=True))
    op.add_column("security_events", sa.Column("city", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("security_events") as batch:
        batch.drop_column("city")
        batch.drop_column("country")
    with op.batch_alter_table("login_sessions") as batch:
        batch.drop_column("device")
        batch.drop_column("city")
        batch.drop_column("country")
