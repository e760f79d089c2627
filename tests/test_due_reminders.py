"""Due-date reminders: at 09:00 in the assignee's Slack time zone on an open item's due
date, one direct message with the item, its key and Mark done / Open in Jira; never twice,
however many processes run the job; an item still open after its due date is overdue."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from freezegun import freeze_time

from bot import due_reminders
from bot.views import item_control_ids as controls
from tests.flows_retro import add_item, start_retro, wait_for_line
from tests.flows_webhooks import run_in_process, run_in_processes, synced_items, token_webhook

DUE = date(2030, 3, 15)  # New York is on daylight time (UTC-4): 09:00 there is 13:00 UTC


@pytest.fixture
def hook(app, slack, slack_emulator, db, team, site):
    return token_webhook(app, slack, slack_emulator, db, team, site)


def reminders_to(slack_emulator, user: str) -> list:
    return [
        c
        for c in slack_emulator.calls_to("chat.postMessage")
        if c.args.get("channel") == user and "Due today" in str(c.args.get("text"))
    ]


def run_twice_at_once(app):
    """Two processes' runs of the job at the same moment (two runtimes, one database)."""
    return run_in_processes(app, due_reminders.send_due_reminders, count=2)


def test_one_dm_at_nine_in_the_assignees_time_zone(
    app, slack, slack_emulator, db, team, site, hook
):
    slack_emulator.workspace(team.team_id).users[team.member]["tz"] = "America/New_York"
    [item] = synced_items(slack, slack_emulator, db, team, "Ship the report")
    db.execute(
        "UPDATE action_items SET due_date = :d, assignee_user_id = :u WHERE id = :i",
        d=DUE,
        u=team.member,
        i=item.id,
    )

    with freeze_time("2030-03-15 12:59:00"):  # 08:59 in New York
        assert run_in_process(app, due_reminders.send_due_reminders) == 0
    assert reminders_to(slack_emulator, team.member) == []

    with freeze_time("2030-03-15 13:00:30"):  # 09:00 in New York: two processes at once
        sent = run_twice_at_once(app)
    assert sorted(sent) == [0, 1]
    with freeze_time("2030-03-15 15:00:00"):  # a restart later that day
        assert run_in_process(app, due_reminders.send_due_reminders) == 0

    [dm] = reminders_to(slack_emulator, team.member)
    blocks = str(dm.args["blocks"])
    assert "Ship the report" in blocks and item.key in blocks
    assert controls.MARK_DONE_BUTTON in blocks and f"{site.url}/browse/{item.key}" in blocks

    # Mark done from the DM completes the item.
    message = slack_emulator.messages(f"D{team.member[1:]}", team_id=team.team_id)[-1]
    slack.block_action(
        team.team_id,
        team.member,
        controls.MARK_DONE_BUTTON,
        value=str(item.id),
        channel_id=f"D{team.member[1:]}",
        message_ts=message.ts,
    )
    slack_emulator.wait_for(
        lambda: db.scalar("SELECT status FROM action_items WHERE id = :i", i=item.id) == "complete"
    )


def test_no_reminder_for_a_done_item_or_on_another_day(app, slack, slack_emulator, db, team):
    start_retro(slack, slack_emulator, team, "Quiet sprint")
    item_id = add_item(slack, slack_emulator, team, "Not today", assignee=team.member)
    db.execute("UPDATE action_items SET due_date = :d WHERE id = :i", d=DUE, i=item_id)
    with freeze_time("2030-03-14 13:00:00"):  # the day before
        assert run_in_process(app, due_reminders.send_due_reminders) == 0
    db.execute("UPDATE action_items SET status = 'complete' WHERE id = :i", i=item_id)
    with freeze_time("2030-03-15 13:00:00"):
        assert run_in_process(app, due_reminders.send_due_reminders) == 0


def test_an_item_open_after_its_due_date_shows_as_overdue(slack, slack_emulator, db, team):
    start_retro(slack, slack_emulator, team, "Late sprint")
    item_id = add_item(slack, slack_emulator, team, "Was due", assignee=team.member)
    past = date.today() - timedelta(days=3)
    db.execute("UPDATE action_items SET due_date = :d WHERE id = :i", d=past, i=item_id)
    add_item(slack, slack_emulator, team, "Anything that refreshes the summary")
    _, line = wait_for_line(slack_emulator, team, "Was due")
    assert "overdue" in line


def test_a_due_date_moved_after_its_reminder_is_reminded_again_on_the_new_day(
    app, slack, slack_emulator, db, team
):
    """The reminder is claimed for a date: an item whose due date moves on (here a week
    later) gets one more on its new due date."""
    start_retro(slack, slack_emulator, team, "Moving sprint")
    item_id = add_item(slack, slack_emulator, team, "Moved on", assignee=team.member)
    db.execute("UPDATE action_items SET due_date = :d WHERE id = :i", d=DUE, i=item_id)
    with freeze_time("2030-03-15 13:30:00"):  # 13:30 in Lisbon, the member's time zone
        assert run_in_process(app, due_reminders.send_due_reminders) == 1

    later = DUE + timedelta(days=7)
    db.execute("UPDATE action_items SET due_date = :d WHERE id = :i", d=later, i=item_id)
    with freeze_time("2030-03-22 13:30:00"):
        assert run_in_process(app, due_reminders.send_due_reminders) == 1
    assert len(reminders_to(slack_emulator, team.member)) == 2
