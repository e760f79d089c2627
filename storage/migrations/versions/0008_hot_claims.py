"""claims update rows in place

Revision ID: 0008
Revises: 0007

A claim and its release write only the lease columns (claimed_by, claimed_until). While an
index names one of them, PostgreSQL cannot update the row in place (a HOT update): every
claim and release wrote a new entry in each of the table's six indexes. So the lease index
goes: a lease is only ever taken on a queued row, so the earliest lapse is found among
the queue's rows (its partial index), whose number follows the work waiting. On
PostgreSQL the table also keeps a tenth of each new page free, so a row's updated version
fits on its own page, which an in-place update needs.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

CLAIMED = sa.text("claimed_until IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("action_items") as batch:
        batch.drop_index("ix_action_items_leases")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE action_items SET (fillfactor = 90)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE action_items RESET (fillfactor)")
    with op.batch_alter_table("action_items") as batch:
        batch.create_index(
            "ix_action_items_leases",
            ["claimed_until"],
            sqlite_where=CLAIMED,
            postgresql_where=CLAIMED,
        )
