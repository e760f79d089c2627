"""catch-up turns retried sooner after a failure

Revision ID: 0013
Revises: 0012

A reconcile or a check for deleted issues that failed (Jira down, a 429, its time budget
spent) waited a whole period for its next turn. It is now tried again after a wait that
doubles with each failure in a row, at most a period, as a failed status poll is; so each
job counts its failures since its last successful turn on the connection row:
`reconcile_failures`, `deleted_check_failures` (0 for every existing connection).
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jira_connections") as batch:
        batch.add_column(
            sa.Column("reconcile_failures", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("deleted_check_failures", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("jira_connections") as batch:
        batch.drop_column("deleted_check_failures")
        batch.drop_column("reconcile_failures")
