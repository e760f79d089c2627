"""item controls

Revision ID: 0005
Revises: 0004

Mark done / Reopen owed to Jira, who completed an item in Slack and when, the issue's
status name, due-date reminders, and the defaults of required Jira fields.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ITEM_COLUMNS = (
    ("completed_by_user_id", sa.String(length=32)),
    ("completed_at", sa.DateTime(timezone=True)),
    ("jira_transition", sa.String(length=16)),
    ("transition_note", sa.Text()),
    ("jira_status_name", sa.String(length=255)),
    ("due_reminded_on", sa.Date()),
)


def upgrade() -> None:
    with op.batch_alter_table("action_items") as batch:
        for name, kind in ITEM_COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))
    for table in ("sync_settings", "channel_overrides"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("required_fields", sa.JSON(), nullable=True))
    # Items already complete count as completed when they were last changed.
    op.execute("UPDATE action_items SET completed_at = updated_at WHERE status = 'complete'")


def downgrade() -> None:
    for table in ("channel_overrides", "sync_settings"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("required_fields")
    with op.batch_alter_table("action_items") as batch:
        for name, _kind in reversed(ITEM_COLUMNS):
            batch.drop_column(name)
