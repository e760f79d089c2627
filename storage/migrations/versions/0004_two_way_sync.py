"""two way sync

Revision ID: 0004
Revises: 0003

Per-field sync state of action items (the base of the three-way merge), the issue's last
`updated` read, deleted issues, and the workspace's sync direction.

Items already synced get a base from what the app last pushed: their Slack values at the
last push are their current values when no edit is waiting (revision == synced_revision);
the Jira side of the base is left unknown, so the first read of each issue adopts what
Jira holds as the base instead of treating it as an edit. Items with an edit still waiting
get no base: their next push sends every field, as before. Items synced without a site
(never expected) take the connected site's URL.
"""


import sqlalchemy as sa
from alembic import op


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

FILLED_AT = "1970-01-01T00:00:00+00:00"  # "some time before any edit still to come"


def upgrade() -> None:
    with op.batch_alter_table("action_items") as batch:
        batch.add_column(sa.Column("field_base", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("slack_edited", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("jira_updated_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("jira_deleted_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("sync_settings") as batch:
        batch.add_column(
            sa.Column(
                "sync_direction", sa.String(length=16), nullable=False, server_default="two_way"
            )
        )
    _fill_sites()
    _fill_bases()


def _fill_sites() -> None:
    op.execute(
        "UPDATE action_items SET jira_site_url = (SELECT c.site_url FROM jira_connections c "
        "WHERE c.workspace_id = action_items.workspace_id) "
        "WHERE jira_issue_id IS NOT NULL AND jira_site_url IS NULL"
    )


def _fill_bases() -> None:
    conn = op.get_bind()
    items = sa.table(
        "action_items",
        sa.column("id", sa.Integer),
        sa.column("title", sa.String),
        sa.column("description", sa.Text),
        sa.column("assignee_user_id", sa.String),
        sa.column("due_date", sa.Date),
        sa.column("jira_issue_id", sa.String),
        sa.column("revision", sa.Integer),
        sa.column("synced_revision", sa.Integer),
        sa.column("field_base", sa.JSON),
    )
    rows = conn.execute(
        sa.select(
            items.c.id, items.c.title, items.c.description, items.c.assignee_user_id,
            items.c.due_date,
        ).where(
            items.c.jira_issue_id.is_not(None), items.c.revision == items.c.synced_revision
        )
    ).all()
    for row in rows:
        due = row.due_date.isoformat() if row.due_date is not None else None
        slack = {
            "title": row.title,
            "description": row.description or "",
            "assignee": row.assignee_user_id,
            "due": due,
        }
        base = {name: {"s": value, "at": FILLED_AT, "by": "slack"} for name, value in slack.items()}
        conn.execute(items.update().where(items.c.id == row.id).values(field_base=base))


def downgrade() -> None:
    with op.batch_alter_table("sync_settings") as batch:
        batch.drop_column("sync_direction")
    with op.batch_alter_table("action_items") as batch:
        batch.drop_column("jira_deleted_at")
        batch.drop_column("jira_updated_at")
        batch.drop_column("slack_edited")
        batch.drop_column("field_base")
