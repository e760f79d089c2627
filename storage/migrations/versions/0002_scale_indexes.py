"""scale indexes

Revision ID: 0002
Revises: 0001

Costs that follow the work, not the history:
* the sync queue is one partial index of pending items in due order (an edit of a synced
  item now makes it pending, so rows that were "synced but edited since" become pending);
* leases have a partial index, so the earliest lapse is one index step;
* status polling is claimed per workspace on its connection row;
* every periodic delete (old webhook deliveries, expired OAuth and install states, old
  Sync Log rows) walks an index.
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PENDING = sa.text("sync_state = 'pending'")
CLAIMED = sa.text("claimed_until IS NOT NULL")


def upgrade() -> None:
    _queue_edited_items()
    with op.batch_alter_table("action_items") as batch:
        batch.drop_index("ix_action_items_due_work")
        batch.create_index(
            "ix_action_items_queue",
            ["next_attempt_at", "id"],
            sqlite_where=PENDING,
            postgresql_where=PENDING,
        )
        batch.create_index(
            "ix_action_items_leases",
            ["claimed_until"],
            sqlite_where=CLAIMED,
            postgresql_where=CLAIMED,
        )
    with op.batch_alter_table("jira_connections") as batch:
        batch.add_column(sa.Column("poll_due_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("poll_claimed_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("last_polled_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_jira_connections_poll_due_at", ["poll_due_at"])
    op.create_index("ix_webhook_deliveries_received_at", "webhook_deliveries", ["received_at"])
    op.create_index("ix_jira_oauth_flows_expires_at", "jira_oauth_flows", ["expires_at"])
    op.create_index("ix_slack_oauth_states_expires_at", "slack_oauth_states", ["expires_at"])
    op.create_index("ix_sync_attempts_at", "sync_attempts", ["at"])


def _queue_edited_items() -> None:
    """Items edited since their last push, and edits queued without a time, become due now:
    the queue index only holds pending rows with a next attempt time."""
    items = sa.table(
        "action_items",
        sa.column("sync_state", sa.String),
        sa.column("revision", sa.Integer),
        sa.column("synced_revision", sa.Integer),
        sa.column("next_attempt_at", sa.DateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    op.execute(
        items.update()
        .where(items.c.sync_state == "synced", items.c.revision > items.c.synced_revision)
        .values(sync_state="pending", next_attempt_at=now)
    )
    op.execute(
        items.update()
        .where(items.c.sync_state == "pending", items.c.next_attempt_at.is_(None))
        .values(next_attempt_at=now)
    )


def downgrade() -> None:
    op.drop_index("ix_sync_attempts_at", "sync_attempts")
    op.drop_index("ix_slack_oauth_states_expires_at", "slack_oauth_states")
    op.drop_index("ix_jira_oauth_flows_expires_at", "jira_oauth_flows")
    op.drop_index("ix_webhook_deliveries_received_at", "webhook_deliveries")
    with op.batch_alter_table("jira_connections") as batch:
        batch.drop_index("ix_jira_connections_poll_due_at")
        batch.drop_column("last_polled_at")
        batch.drop_column("poll_claimed_by")
        batch.drop_column("poll_due_at")
    with op.batch_alter_table("action_items") as batch:
        batch.drop_index("ix_action_items_leases")
        batch.drop_index("ix_action_items_queue")
        batch.create_index("ix_action_items_due_work", ["sync_state", "next_attempt_at"])
