"""row-level security on every table with a workspace_id (PostgreSQL)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 14:30:00.000000
"""

from __future__ import annotations

from alembic import op

from voxhub.db import tenant_wall_statements

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# The tables that carry a workspace_id at this revision. A later migration that adds one puts it behind the wall too
# (tests/test_tenant_wall.py fails on a table with a workspace_id and no policy).
TABLES = (
    "allowance_use",
    "api_keys",
    "audit_events",
    "billing_alerts",
    "billing_events",
    "billing_subscriptions",
    "chat_messages",
    "checkouts",
    "conversations",
    "credit_accounts",
    "credit_ledger",
    "dubs",
    "files",
    "insights",
    "invitations",
    "jobs",
    "memberships",
    "payments",
    "podcast_feeds",
    "podcasts",
    "provider_keys",
    "search_chunks",
    "search_sources",
    "sync_charges",
    "transcript_versions",
    "uploads",
    "usage_records",
    "webhook_deliveries",
    "webhook_endpoints",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        for statement in tenant_wall_statements(table):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP POLICY workspace_wall ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
