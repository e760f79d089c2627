"""Owners are told: when a commit's items reach Jira, each owner gets one direct message
listing their items (key, title, due date) with Open in Jira and Mark done; a Retry that
brings the rest does not message them again. When a retro's last item is done, its thread
says so once."""

from __future__ import annotations

from datetime import date, timedelta

from bot.views import item_control_ids as controls
from bot.views import retro_ids as ids
from tests.flows_jira import choose_default_project, connect_with_token
from tests.flows_retro import (
    add_item,
    choose,
    commit,
    insert_items,
    readable,
    start_retro,
    summary_message,
)
from tests.test_retro_summary import text_length


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
    newcomer = "UNEW" + team.team_id[1:7]
    slack_emulator.add_user(team.team_id, newcomer, name="Nia New")
    late = add_item(slack, slack_emulator, team, "Newcomer's item", assignee=newcomer)
    # Jira refuses two elements of the bulk create (labels it cannot take).
    # Labels are unique across the session's database: this team's own.
    for n, item_id in enumerate((refused, late)):
        bad = f"not a label {team.team_id}{n}"
        db.execute("UPDATE action_items SET sync_label = :l WHERE id = :i", l=bad, i=item_id)
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

    assert owner_dms(slack_emulator, team, newcomer) == []

    # Retry brings both refused items in one create: the newcomer is told about theirs, and
    # the member, told at the commit, is not told again.
    for n, item_id in enumerate((refused, late)):
        db.execute(
            "UPDATE action_items SET sync_label = :l WHERE id = :i",
            l=f"unpack-f{n}{team.team_id[1:9].lower()}",
            i=item_id,
        )
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
    retried = slack_emulator.wait_for(
        lambda: [t for t in thread(slack_emulator, team, card) if "Created 2 issues" in t],
        timeout=10,
        message="one created notice for both retried items",
    )
    keys = {r["id"]: r["jira_key"] for r in db.rows("SELECT id, jira_key FROM action_items")}
    assert keys[refused] in retried[0] and keys[late] in retried[0]
    # One create, so one round of owners' messages, in the order of the owners' items: the
    # member's (refused) before the newcomer's (late). Once the newcomer has theirs, a
    # second message to the member would be there already.
    slack_emulator.wait_for(
        lambda: owner_dms(slack_emulator, team, newcomer), message="the newcomer's message"
    )
    assert len(owner_dms(slack_emulator, team, team.member)) == 1
    assert len(owner_dms(slack_emulator, team, team.admin)) == 1

    # Mark done from the DM; once the last item is done the thread says so, once.
    for item_id in (first, second):
        response = slack.block_action(
            team.team_id, team.member, controls.MARK_DONE_BUTTON, value=str(item_id),
            channel_id=f"D{team.member[1:]}", message_ts=told.ts,
        )  # fmt: skip
        assert response.status_code == 200
    for item_id in (refused, theirs, late):
        choose(slack, team, item_id, controls.DONE, message_ts=card.ts)
    slack_emulator.wait_for(
        lambda: any("All 5 action items" in t for t in thread(slack_emulator, team, card)),
        message="the all-done line",
    )

    def lines_about(word: str) -> list[str]:
        return [t for t in thread(slack_emulator, team, card) if word in t and "Admin's" in t]

    def card_offers(control: str) -> bool:
        # A user can only pick what the card shows: its update follows the thread line.
        card_now = summary_message(slack_emulator, team)
        return f"'{control}:{theirs}'" in str(card_now.blocks)

    slack_emulator.wait_for(lambda: card_offers(controls.REOPEN), message="Reopen on the card")
    choose(slack, team, theirs, controls.REOPEN, message_ts=card.ts)
    slack_emulator.wait_for(lambda: lines_about(" reopened in Slack "), message="the reopened line")
    slack_emulator.wait_for(lambda: card_offers(controls.DONE), message="Mark done on the card")
    choose(slack, team, theirs, controls.DONE, message_ts=card.ts)
    # Its "marked done" line is posted after the all-done check of the same click.
    slack_emulator.wait_for(
        lambda: len(lines_about(" marked done in Slack ")) == 2, message="the second done line"
    )
    assert sum("All 5 action items" in t for t in thread(slack_emulator, team, card)) == 1


def test_an_owner_of_many_long_titles_gets_a_message_slack_takes(
    slack, slack_emulator, team, site, db
):
    """Each title escaped takes five times its length (`&` is `&amp;`): Slack refuses a
    message of much more than 13,000 characters of block text, so the rest are counted."""
    connect_with_token(slack, slack_emulator, team, site)
    choose_default_project(slack, slack_emulator, team, project_key="TEAM", issue_type="Task")
    start_retro(slack, slack_emulator, team, "Sprint 42")
    insert_items(db, team, 12, title=lambda n: "&" * 250 + f"{n:03d}")
    commit(slack, slack_emulator, team)

    [told] = slack_emulator.wait_for(
        lambda: owner_dms(slack_emulator, team, team.member), timeout=10, message="the owner's DM"
    )
    assert told.text.startswith("Your 12 action items from")
    assert text_length(told.blocks) < 12_000
    shown = sum(1 for b in told.blocks if b.get("type") == "actions")
    assert 0 < shown < 12 and f"…and {12 - shown} more" in str(told.blocks)


def test_an_owner_of_more_items_than_a_message_holds_gets_the_first_20_and_a_count(
    slack, slack_emulator, team, site, db
):
    """Two blocks an item: 20 items and the lines around them fill a message's 50."""
    connect_with_token(slack, slack_emulator, team, site)
    choose_default_project(slack, slack_emulator, team, project_key="TEAM", issue_type="Task")
    start_retro(slack, slack_emulator, team, "Sprint 42")
    insert_items(db, team, 25)
    commit(slack, slack_emulator, team)

    [told] = slack_emulator.wait_for(
        lambda: owner_dms(slack_emulator, team, team.member), timeout=10, message="the owner's DM"
    )
    assert told.text.startswith("Your 25 action items from")
    shown = [b for b in told.blocks if b.get("type") == "actions"]
    assert len(shown) == 20 and "…and 5 more" in str(told.blocks)
    assert len(told.blocks) <= 50
