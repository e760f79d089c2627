"""poll backoff

Revision ID: 0007
Revises: 0006

A workspace whose status poll keeps failing waits longer after each failure (exponential,
capped), so it is counted on its connection row: `poll_failures`, failures since its last
successful poll (0 for every existing connection).
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jira_connections") as batch:
        batch.add_column(
            sa.Column("poll_failures", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("jira_connections") as batch:
        batch.drop_column("poll_failures")
