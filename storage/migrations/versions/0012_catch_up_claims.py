"""the reconcile and the check for deleted issues claimed per workspace

Revision ID: 0012
Revises: 0011

Every process ran both catch-up jobs for every workspace (k processes: k times the Jira
requests). Each now takes its turn at a workspace by a claim on the connection row, as the
status poll does (`poll_due_at` / `poll_claimed_by`): `reconcile_due_at`,
`deleted_check_due_at` (NULL: first due one period after the connection was made) and the
process holding the turn. `deleted_checked_after` is where a check that stopped part-way
goes on (the last item checked), so another process's next turn goes on from there too.
Nothing to fill: existing connections are due one period after their creation, at once.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jira_connections") as batch:
        batch.add_column(sa.Column("reconcile_due_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("reconcile_claimed_by", sa.String(64), nullable=True))
        batch.add_column(
            sa.Column("deleted_check_due_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("deleted_check_claimed_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("deleted_checked_after", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jira_connections") as batch:
        batch.drop_column("deleted_checked_after")
        batch.drop_column("deleted_check_claimed_by")
        batch.drop_column("deleted_check_due_at")
        batch.drop_column("reconcile_claimed_by")
        batch.drop_column("reconcile_due_at")
