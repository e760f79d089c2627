"""item controls

Revision ID: 0005
Revises: 0004

Reserved for item controls (required fields, due-date reminders); no schema change yet.
"""

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
