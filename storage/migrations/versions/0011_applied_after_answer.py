"""a webhook delivery is recorded before Jira's 2xx and applied after it

Revision ID: 0011
Revises: 0010

Jira hears 2xx once a delivery is recorded; a batch applier applies what was recorded
afterwards (outcome NULL until then). What the apply needs from the body is kept beside
the row (the status category and who acted: the actor is shown only when Jira still
reports that category), and a partial index finds the deliveries not applied yet, so the
recovery job that applies what a killed process left behind walks only those.
`apply_claimed_at` is that job's lease (unindexed: claiming a row rewrites no index).
Every row recorded before this revision was applied in the transaction that recorded it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UNAPPLIED = sa.text("outcome IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("status_category", sa.String(32), nullable=True))
        batch.add_column(sa.Column("actor_name", sa.String(255), nullable=True))
        batch.add_column(sa.Column("apply_claimed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_webhook_deliveries_unapplied",
        "webhook_deliveries",
        ["received_at"],
        sqlite_where=UNAPPLIED,
        postgresql_where=UNAPPLIED,
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_unapplied", "webhook_deliveries")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("apply_claimed_at")
        batch.drop_column("actor_name")
        batch.drop_column("status_category")
