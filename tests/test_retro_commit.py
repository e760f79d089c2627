"""/retro commit and the Commit button with Jira connected: every item is queued in one
go, the summary shows each key as it arrives, committing again sends only what is new,
and an edit of an item already in Jira is marked for the next sync cycle."""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
from sqlalchemy import text

from bot.views import item_control_ids as controls
from bot.views import retro_ids
from tests.flows_jira import choose_default_project, connect_with_token, set_channel_override
from tests.flows_retro import (
    add_item,
    all_item_lines,
    choose,
    commit,
    item_values,
    open_item_modal,
    replies,
    start_retro,
    submit_item,
)
from tests.waiting import wait_until


def keys_on_summary(slack_emulator, team, site, count: int) -> dict[int, str]:
    """Wait until `count` lines show their Jira key as a browse link; {item id: line}."""

    def linked():
        lines = all_item_lines(slack_emulator, team)
        found = {i: line for i, line in lines.items() if f"<{site.url}/browse/" in line}
        return len(found) >= count and found

    return slack_emulator.wait_for(linked, timeout=10, message=f"{count} Jira keys on the summary")


def items(db, team) -> list[dict]:
    return db.rows(
        "SELECT * FROM action_items WHERE workspace_id = :w ORDER BY id", w=team.workspace_id
    )


def connected(slack, slack_emulator, team, site):
    connect_with_token(slack, slack_emulator, team, site)
    choose_default_project(slack, slack_emulator, team, project_key="TEAM", issue_type="Task")


def test_commit_sends_every_item_and_the_summary_shows_each_key(
    slack, slack_emulator, team, site, db
):
    connected(slack, slack_emulator, team, site)
    start_retro(slack, slack_emulator, team, "Sprint 42")
    due = date.today() + timedelta(days=4)
    add_item(slack, slack_emulator, team, "Fix the deploy", due=due)
    add_item(slack, slack_emulator, team, "Write the runbook")

    text = commit(slack, slack_emulator, team)
    assert text.startswith("Sending 2 action items from *Sprint 42* to Jira.")
    retro = db.rows("SELECT * FROM retros WHERE workspace_id = :w", w=team.workspace_id)[0]
    assert retro["phase"] == "commit" and retro["committed_at"] is not None
    assert all(row["sync_state"] != "local" for row in items(db, team))  # all queued at once

    lines = keys_on_summary(slack_emulator, team, site, 2)
    created = {issue.fields["summary"]: key for key, issue in site.issues.items()}
    assert set(created) == {"Fix the deploy", "Write the runbook"}
    for line in lines.values():
        key = next(k for title, k in created.items() if title in line)
        assert f"<{site.url}/browse/{key}|{key}>" in line
        assert "syncing" not in line
    assert site.issues[created["Fix the deploy"]].fields["duedate"] == due.isoformat()
    slack_emulator.assert_no_violations()


def test_committing_again_sends_only_the_items_added_since(slack, slack_emulator, team, site, db):
    connected(slack, slack_emulator, team, site)
    start_retro(slack, slack_emulator, team, "Sprint 42")
    add_item(slack, slack_emulator, team, "First")
    commit(slack, slack_emulator, team)
    keys_on_summary(slack_emulator, team, site, 1)

    assert "already in Jira" in commit(slack, slack_emulator, team)

    late = add_item(slack, slack_emulator, team, "Added after the commit")
    confirmation = slack_emulator.wait_for(
        lambda: [
            e
            for e in slack_emulator.ephemerals
            if e.team_id == team.team_id and "Added after" in e.text
        ]
    )
    assert "`/retro commit` again" in confirmation[-1].text
    assert next(r for r in items(db, team) if r["id"] == late)["sync_state"] == "local"

    again = commit(slack, slack_emulator, team)
    assert again.startswith("Sending 1 more action item from *Sprint 42*")
    keys_on_summary(slack_emulator, team, site, 2)
    assert len(site.issues) == 2  # nothing sent twice


def test_committing_again_resends_the_items_whose_sync_failed(
    slack, slack_emulator, team, site, db
):
    connected(slack, slack_emulator, team, site)
    start_retro(slack, slack_emulator, team, "Sprint 42")
    add_item(slack, slack_emulator, team, "Refused at first")
    site.deny_create("TEAM")  # the account lost Create issues: a failure no retry fixes
    commit(slack, slack_emulator, team)
    wait_until(lambda: items(db, team)[0]["sync_state"] == "error", "the sync to fail")

    site.allow_create("TEAM")
    again = commit(slack, slack_emulator, team)

    assert again.startswith("Sending 1 more action item from *Sprint 42*"), again
    keys_on_summary(slack_emulator, team, site, 1)
    assert len(site.issues) == 1


def test_a_channel_with_its_own_project_commits_without_a_workspace_default(
    slack, slack_emulator, team, site, db
):
    connect_with_token(slack, slack_emulator, team, site)
    set_channel_override(slack, slack_emulator, team, team.channel, "OPS", "Bug")
    start_retro(slack, slack_emulator, team, "Sprint 42")
    add_item(slack, slack_emulator, team, "Page the right person")

    text = commit(slack, slack_emulator, team)

    assert text.startswith("Sending 1 action item from *Sprint 42* to Jira."), text
    keys_on_summary(slack_emulator, team, site, 1)
    assert [key.split("-")[0] for key in site.issues] == ["OPS"]


def test_the_commit_button_on_the_summary(slack, slack_emulator, team, site, db):
    connected(slack, slack_emulator, team, site)
    summary = start_retro(slack, slack_emulator, team, "Sprint 42")
    add_item(slack, slack_emulator, team, "Fix the deploy")
    response = slack.block_action(
        team.team_id, team.admin, retro_ids.COMMIT, channel_id=team.channel, message_ts=summary.ts
    )
    assert response.status_code == 200
    [reply] = replies(slack_emulator, slack.last_response_url)
    assert reply.text.startswith("Sending 1 action item from *Sprint 42* to Jira")
    assert reply.json.get("response_type") == "ephemeral"
    keys_on_summary(slack_emulator, team, site, 1)


def test_commit_with_a_broken_connection_asks_for_a_reconnect(
    slack, slack_emulator, team, site, db
):
    connected(slack, slack_emulator, team, site)
    start_retro(slack, slack_emulator, team)
    add_item(slack, slack_emulator, team, "Fix the deploy")
    # Set-up: the state the connection is left in when Jira revokes the credentials.
    db.execute(
        "UPDATE jira_connections SET status = 'broken', broken_reason = 'credentials revoked' "
        "WHERE workspace_id = :w",
        w=team.workspace_id,
    )
    text = commit(slack, slack_emulator, team)
    # Connected with an API token: reconnecting means the token command, not OAuth.
    assert "needs attention" in text
    assert "A workspace admin needs to reconnect it with `/jira connect token`." in text
    status = slack.command(team.team_id, team.admin, team.channel, "/jira", "status").json()
    assert "won't sync until an admin reconnects with `/jira connect token`" in str(status)
    assert "`/jira connect`" not in str(status)
    assert items(db, team)[0]["sync_state"] == "local"


def test_commit_without_a_project_says_where_to_choose_one(slack, slack_emulator, team, site, db):
    connect_with_token(slack, slack_emulator, team, site)  # and no project chosen yet
    start_retro(slack, slack_emulator, team)
    add_item(slack, slack_emulator, team, "Fix the deploy")
    text = commit(slack, slack_emulator, team)
    assert "`/jira settings`" in text
    assert items(db, team)[0]["sync_state"] == "local"


def test_editing_a_synced_item_marks_it_for_the_next_cycle(slack, slack_emulator, team, site, db):
    connected(slack, slack_emulator, team, site)
    summary = start_retro(slack, slack_emulator, team, "Sprint 42")
    item_id = add_item(slack, slack_emulator, team, "Fix the deploy")
    commit(slack, slack_emulator, team)
    keys_on_summary(slack_emulator, team, site, 1)
    [synced] = items(db, team)
    assert synced["sync_state"] == "synced" and synced["synced_revision"] == synced["revision"]

    view = open_item_modal(
        slack,
        slack_emulator,
        team,
        lambda: choose(slack, team, item_id, controls.EDIT, message_ts=summary.ts),
    )
    assert synced["jira_key"] in str(view.blocks)
    submit_item(slack, team, view, item_values("Fix the deploy pipeline"))

    [edited] = items(db, team)
    assert edited["revision"] == synced["revision"] + 1
    # Queued again, due now (unless the engine's next pass already pushed it).
    queued = edited["sync_state"] == "pending" and edited["next_attempt_at"] is not None
    pushed = edited["sync_state"] == "synced" and edited["synced_revision"] == edited["revision"]
    assert queued or pushed, edited
    line = slack_emulator.wait_for(
        lambda: (
            "pipeline" in all_item_lines(slack_emulator, team)[item_id]
            and all_item_lines(slack_emulator, team)[item_id]
        )
    )
    assert synced["jira_key"] in line


@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"), reason="ordering the two by a row lock: PostgreSQL"
)
def test_a_commit_racing_a_close_leaves_the_retro_closed(slack, slack_emulator, team, site, db):
    """/retro close lands between a commit's read of the retro (open) and its write. The
    test holds the retro's row, so both wait at their write, the close first (a row's
    waiters go in turn); then lets go. The retro stays closed, its item is not sent, and
    the person who committed is told why. A commit that wrote what it had read would have
    set the closed retro back to Commit and sent the item."""
    connected(slack, slack_emulator, team, site)
    start_retro(slack, slack_emulator, team, "Sprint 42")
    add_item(slack, slack_emulator, team, "Fix the deploy")
    retro_id = db.scalar("SELECT id FROM retros WHERE workspace_id = :w", w=team.workspace_id)
    locked, release = threading.Event(), threading.Event()

    async def hold_the_row(session):
        await session.execute(
            text("SELECT id FROM retros WHERE id = :r FOR UPDATE"), {"r": retro_id}
        )
        locked.set()
        await asyncio.to_thread(release.wait, 20)

    before = len(slack_emulator.responses)

    def retro(command: str):
        return slack.command(team.team_id, team.member, team.channel, "/retro", command)

    with ThreadPoolExecutor(3) as pool:
        holder = pool.submit(db.run, hold_the_row)
        try:
            assert locked.wait(10), "the row held"
            closing = pool.submit(retro, "close")
            wait_until(lambda: db.lock_waits("UPDATE retros") == 1, "the close waiting")
            committing = pool.submit(retro, "commit")
            wait_until(lambda: db.lock_waits("UPDATE retros") == 2, "the commit waiting")
        finally:
            release.set()
        holder.result()
        assert [closing.result().status_code, committing.result().status_code] == [200, 200]
    said = slack_emulator.wait_for(
        lambda: len(found := [r.text for r in slack_emulator.responses[before:]]) >= 2 and found,
        message="both replies",
    )
    assert any(text.startswith("Closed") for text in said), said
    assert "*Sprint 42* was closed just now; nothing was sent to Jira." in said, said
    assert db.scalar("SELECT phase FROM retros WHERE id = :r", r=retro_id) == "closed"
    assert [row["sync_state"] for row in items(db, team)] == ["local"]
