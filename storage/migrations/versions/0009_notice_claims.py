"""a completion notice's claim is a lease; a summary Slack refused stays owed

Revision ID: 0009
Revises: 0008

A notice used to be marked sent (notified_at) when a process claimed it, before posting:
a process killed between the two lost it for good. The claim is now its own column,
notice_claimed_at, which lapses: notified_at is written only once Slack took the message,
and a claim older than the lease is taken over by the recovery job. Rows already marked
sent stay sent.

retros.summary_owed_at is set while Slack keeps refusing a summary's refresh, so a later
run renders it again instead of leaving it showing an old state.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("notice_claimed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("retros") as batch:
        batch.add_column(sa.Column("summary_owed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("retros") as batch:
        batch.drop_column("summary_owed_at")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("notice_claimed_at")
