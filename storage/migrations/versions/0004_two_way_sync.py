"""two way sync

Revision ID: 0004
Revises: 0003

Reserved for two-way sync (per-field base); no schema change yet.
"""

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
