"""The presentation migration counts a retro committed before it as committed once (so its
owners are not told again) and rewords assignee notes that named a person's email, since
those notes show on public lines."""

from __future__ import annotations

from pathlib import Path

from tests.harness import Database, fresh_database_url
from tests.test_migration_two_way import item, upgrade


def test_committed_retros_and_email_notes_are_carried_forward(tmp_path: Path):
    db = Database(fresh_database_url(tmp_path))
    upgrade(db, "0005")
    db.execute(
        "INSERT INTO workspaces (id, slack_team_id, created_at) VALUES (1, 'T1', CURRENT_TIMESTAMP)"
    )
    for retro_id, channel in ((1, "C1"), (2, "C2")):
        db.execute(
            "INSERT INTO retros (id, workspace_id, channel_id, title, facilitator_user_id, phase, "
            "created_at) VALUES (:i, 1, :c, 'R', 'U1', 'commit', CURRENT_TIMESTAMP)",
            i=retro_id,
            c=channel,
        )
    db.execute("UPDATE retros SET committed_at = CURRENT_TIMESTAMP WHERE id = 1")
    item(db, "Unmatched", key="TEAM-1", revision=1, synced=1)
    item(db, "Unassignable", key="TEAM-2", revision=1, synced=1)
    db.execute(
        "UPDATE action_items SET assignee_note = :n WHERE title = 'Unmatched'",
        n="unassigned in Jira: no Jira account matches max@example.com",
    )
    db.execute(
        "UPDATE action_items SET assignee_note = :n WHERE title = 'Unassignable'",
        n="unassigned in Jira: max@example.com cannot be assigned issues in TEAM",
    )

    upgrade(db, "head")

    seqs = {r["id"]: r["commit_seq"] for r in db.rows("SELECT id, commit_seq FROM retros")}
    assert seqs == {1: 1, 2: 0}
    notes = [r["assignee_note"] for r in db.rows("SELECT assignee_note FROM action_items")]
    assert all("@" not in note for note in notes), notes
    assert db.scalar("SELECT count(*) FROM owner_notices") == 0
