"""presentation

Revision ID: 0006
Revises: 0005

Owners told once per commit (owner_notices, retros.commit_seq), a retro's "all done" said
once (retros.all_done_at), and assignee notes that named a person's email reworded: the
notes show on public lines.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("retros") as batch:
        batch.add_column(
            sa.Column("commit_seq", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("all_done_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "owner_notices",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "workspace_id",
            sa.Integer(),
            sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "retro_id", sa.Integer(), sa.ForeignKey("retros.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("commit_seq", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint(
            "workspace_id", "retro_id", "commit_seq", "user_id", name="uq_owner_notices_once"
        ),
    )
    # Retros committed before: their commit counts as the first.
    op.execute("UPDATE retros SET commit_seq = 1 WHERE committed_at IS NOT NULL")
    op.execute(
        "UPDATE action_items SET assignee_note = "
        "'unassigned in Jira: no Jira account matches the assignee''s email' "
        "WHERE assignee_note LIKE 'unassigned in Jira: no Jira account matches %@%'"
    )
    op.execute(
        "UPDATE action_items SET assignee_note = "
        "'unassigned in Jira: the assignee can''t be assigned issues in the project' "
        "WHERE assignee_note LIKE 'unassigned in Jira: %@% cannot be assigned issues in %'"
    )


def downgrade() -> None:
    op.drop_table("owner_notices")
    with op.batch_alter_table("retros") as batch:
        batch.drop_column("all_done_at")
        batch.drop_column("commit_seq")
