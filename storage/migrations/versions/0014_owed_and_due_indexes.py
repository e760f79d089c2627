"""indexes for the jobs that run every minute in every process

Revision ID: 0014
Revises: 0013

Two periodic reads walked a whole table, so their cost followed the history, not the
work: the owed-summary job read every retro ever held for the few whose summary is owed
(`summary_owed_at IS NOT NULL`), and the due-date reminder job every action item for the
ones due around today. Each now reads a partial index of what it looks for. The
predicates are written as the queries name them: SQLite uses a partial index only when
the query's WHERE implies it term for term.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

OWED = sa.text("summary_owed_at IS NOT NULL")
DUE = sa.text("due_date IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_retros_summary_owed",
        "retros",
        ["summary_owed_at"],
        sqlite_where=OWED,
        postgresql_where=OWED,
    )
    op.create_index(
        "ix_action_items_due_date",
        "action_items",
        ["due_date", "id"],
        sqlite_where=DUE,
        postgresql_where=DUE,
    )


def downgrade() -> None:
    op.drop_index("ix_action_items_due_date", "action_items")
    op.drop_index("ix_retros_summary_owed", "retros")
