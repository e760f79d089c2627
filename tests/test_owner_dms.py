"""Owners are told: when a commit's items reach Jira, each owner gets one direct message
listing their items (key, title, due date) with Open in Jira and Mark done; a Retry that
brings the rest does not message them again. When a retro's last item is done, its thread
says so once."""

from __future__ import annotations

from datetime import date, timedelta

from bot.views import item_control_ids as controls
from bot.views import retro_ids as ids
from tests.flows_jira import choose_default_project, connect_with_token
from tests.flows_retro import add_item, choose, commit, readable, start_retro, summary_message


def dms(slack_emulator, team, user: str) -> list:
    return slack_emulator.messages(f"D{user[1:]}", team_id=team.team_id)


def owner_dms(slack_emulator, team, user: str) -> list:
    return [m for m in dms(slack_emulator, team, user) if m.text.startswith("Your ")]


def thread(slack_emulator, team, card) -> list[str]:
    return [m.text for m in slack_emulator.thread(team.channel, card.ts, team_id=team.team_id)]


def test_each_owner_is_told_once_per_commit_and_not_again_on_retry(
    slack, slack_emulator, team, site, db
):
    connect_with_token(slack, slack_emulator, team, site)
    choose_default_project(slack, slack_emulator, team, project_key="TEAM", issue_type="Task")
    card = start_retro(slack, slack_emulator, team, "Sprint 42")
    due = date.today() + timedelta(days=3)
    first = add_item(slack, slack_emulator, team, "Fix the deploy", assignee=team.member, due=due)
    second = add_item(slack, slack_emulator, team, "Write the runbook", assignee=team.member)
    refused = add_item(slack, slack_emulator, team, "Refused for now", assignee=team.member)
    theirs = add_item(slack, slack_emulator, team, "Admin's item", assignee=team.admin)
    # Jira refuses one element of the bulk create (a label it cannot take).
    db.execute("UPDATE action_items SET sync_label = 'not a label' WHERE id = :i", i=refused)
    commit(slack, slack_emulator, team)

    [told] = slack_emulator.wait_for(
        lambda: owner_dms(slack_emulator, team, team.member), timeout=10, message="the owner's DM"
    )
    keys = {r["id"]: r["jira_key"] for r in db.rows("SELECT id, jira_key FROM action_items")}
    shown = readable(str(told.blocks))
    assert "Your 2 action items from" in shown and "Sprint 42" in shown
    assert f"{keys[first]}>" in shown and "*Fix the deploy*" in shown
    assert f"due {due:%b} {due.day}, {due.year}" in shown
    assert "Write the runbook" in shown and "Refused for now" not in shown
    actions = [e for b in told.blocks if b["type"] == "actions" for e in b["elements"]]
    assert [e["action_id"] for e in actions].count(controls.MARK_DONE_BUTTON) == 2
    assert [e["url"] for e in actions if e["action_id"] == controls.OPEN_IN_JIRA_BUTTON] == [
        f"{site.url}/browse/{keys[first]}",
        f"{site.url}/browse/{keys[second]}",
    ]
    [admin_told] = slack_emulator.wait_for(lambda: owner_dms(slack_emulator, team, team.admin))
    assert "Your 1 action item from" in readable(str(admin_told.blocks))
    assert "Admin's item" in readable(str(admin_told.blocks)) and theirs

    # Retry brings the refused item: it reaches Jira, and nobody is messaged again.
    db.execute("UPDATE action_items SET sync_label = 'unpack-fixedlabel1' WHERE id = :i", i=refused)
    card = slack_emulator.wait_for(
        lambda: (
            (m := summary_message(slack_emulator, team)) and ids.RETRY_FAILED in str(m.blocks) and m
        ),
        timeout=10,
    )
    retry = next(
        b["accessory"]
        for b in card.blocks
        if b.get("block_id", "").startswith(ids.FAILURE_BLOCK_PREFIX)
    )
    slack.block_action(
        team.team_id, team.member, ids.RETRY_FAILED, value=retry["value"],
        channel_id=team.channel, message_ts=card.ts,
    )  # fmt: skip
    slack_emulator.wait_for(
        lambda: db.scalar("SELECT jira_key FROM action_items WHERE id = :i", i=refused),
        timeout=10,
        message="the retried item in Jira",
    )
    slack_emulator.wait_for(
        lambda: sum("Created" in t for t in thread(slack_emulator, team, card)) == 2,
        message="the second created notice",
    )
    # Mark done from the DM; once the last item is done the thread says so, once.
    for item_id in (first, second):
        response = slack.block_action(
            team.team_id, team.member, controls.MARK_DONE_BUTTON, value=str(item_id),
            channel_id=f"D{team.member[1:]}", message_ts=told.ts,
        )  # fmt: skip
        assert response.status_code == 200
    # The owners' messages follow the Retry's thread notice in the same sync cycle; the
    # moves to Done are pushed by a later cycle (one at a time), so once Jira has them, a
    # second message to an owner would be there too.
    slack_emulator.wait_for(
        lambda: all(
            db.scalar("SELECT jira_status_category FROM action_items WHERE id = :i", i=i) == "done"
            for i in (first, second)
        ),
        timeout=10,
        message="the moves to Done pushed by a later sync cycle",
    )
    assert len(owner_dms(slack_emulator, team, team.member)) == 1
    assert len(owner_dms(slack_emulator, team, team.admin)) == 1
    for item_id in (refused, theirs):
        choose(slack, team, item_id, controls.DONE, message_ts=card.ts)
    slack_emulator.wait_for(
        lambda: any("All 4 action items" in t for t in thread(slack_emulator, team, card)),
        timeout=10,
        message="the all-done line",
    )
    choose(slack, team, theirs, controls.REOPEN, message_ts=card.ts)
    choose(slack, team, theirs, controls.DONE, message_ts=card.ts)
    # A control's own "finished" line is posted after its all-done check: once it shows,
    # a second all-done line would have too.
    slack_emulator.wait_for(
        lambda: (
            sum("finished" in t and "Admin's item" in t for t in thread(slack_emulator, team, card))
            == 2
        ),
        message="the second 'finished' line of the reopened item",
    )
    assert sum("All 4 action items" in t for t in thread(slack_emulator, team, card)) == 1
