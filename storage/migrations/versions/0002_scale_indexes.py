"""scale indexes

Revision ID: 0002
Revises: 0001

Reserved for scale (indexes for the queue, leases, webhook lookups, housekeeping); no schema change yet.
"""

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
