"""billing events remember the payment they are about; a refund waiting for its payment is a status

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 15:27:05.941204
"""

from __future__ import annotations

import ast

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# Before 0006 a refund that arrived before its payment was flagged with this note, and found again by it.
OLD_WAITING_NOTE = "refund for unknown payment "

events = sa.table(
    'billing_events',
    sa.column('id', sa.String),
    sa.column('status', sa.String),
    sa.column('note', sa.Text),
    sa.column('payment_ref', sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table('billing_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payment_ref', sa.String(length=200), nullable=True))
        batch_op.create_index('ix_billing_events_payment', ['provider', 'payment_ref'], unique=False)

    connection = op.get_bind()
    waiting = connection.execute(
        sa.select(events.c.id, events.c.note).where(
            events.c.status == 'flagged', events.c.note.like(OLD_WAITING_NOTE + '%')
        )
    ).all()
    for event_id, note in waiting:
        try:
            payment_ref = ast.literal_eval(note[len(OLD_WAITING_NOTE):])  # the note held repr(payment id)
        except (ValueError, SyntaxError):
            continue
        if isinstance(payment_ref, str) and len(payment_ref) <= 200:
            connection.execute(
                events.update()
                .where(events.c.id == event_id)
                .values(status='awaiting_payment', payment_ref=payment_ref)
            )


def downgrade() -> None:
    connection = op.get_bind()
    waiting = connection.execute(
        sa.select(events.c.id, events.c.payment_ref).where(events.c.status == 'awaiting_payment')
    ).all()
    for event_id, payment_ref in waiting:
        connection.execute(
            events.update()
            .where(events.c.id == event_id)
            .values(status='flagged', note=OLD_WAITING_NOTE + repr(payment_ref))
        )
    with op.batch_alter_table('billing_events', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_events_payment')
        batch_op.drop_column('payment_ref')
