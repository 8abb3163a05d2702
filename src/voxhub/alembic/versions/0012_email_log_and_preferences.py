"""the email log, per-user mail preferences and suppressed addresses (issue 18)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 17:50:00.000000
"""

from __future__ import annotations

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
