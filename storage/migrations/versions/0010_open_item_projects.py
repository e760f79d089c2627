"""open item projects

Revision ID: 0010
Revises: 0009

A status poll searches the projects of the workspace's open synced items as well as the
app's label. Read through the (workspace, issue) index, that list cost every open synced
item of the workspace on every poll: a thousand rows read per workspace and cycle once a
workspace has a thousand items. A partial index of open synced items by (workspace,
project) gives each distinct project in one probe.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

OPEN_SYNCED = sa.text("status = 'open' AND jira_issue_id IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_action_items_open_projects",
        "action_items",
        ["workspace_id", "jira_project_key"],
        sqlite_where=OPEN_SYNCED,
        postgresql_where=OPEN_SYNCED,
    )


def downgrade() -> None:
    op.drop_index("ix_action_items_open_projects", "action_items")
