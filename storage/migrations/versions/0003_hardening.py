"""hardening

Revision ID: 0003
Revises: 0002

Reserved for hardening; no schema change yet.
"""

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
