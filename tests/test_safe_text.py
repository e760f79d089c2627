"""User text is shown literally wherever the app shows it: a hostile title's formatting
characters, mentions, ampersands and tags neither format, notify nor link, in the blocks
and in the top-level `text` fallback that notifications and screen readers use. Every
surface that carries a title is read: the card and its fallback, View all, /retro list,
App Home, the owner's direct message, the thread's notices, the Sync Log and the due-date
reminder. A Jira person's display name is user text too."""

from __future__ import annotations

from datetime import date

from freezegun import freeze_time

from bot import due_reminders
from bot.views import retro_ids as ids
from bot.views.sync_ids import HOME_FAILURE_PREFIX
from tests.flows_retro import (
    add_item,
    choose,
    click_for_modal,
    commit,
    insert_items,
    item_lines,
    item_values,
    open_item_modal,
    readable,
    replies,
    retro_command,
    start_retro,
    submit_item,
    summary_message,
)
from tests.flows_sync import wait_for_state
from tests.flows_webhooks import run_in_process, token_webhook, wait_for_thread
from tests.test_retro_home import open_home

HOSTILE = "Fix *all* _the_ ~old~ `alerts` <!channel> <@U0HOSTILE> & <b>"
HOSTILE_NAME = "Eve *Ops* <!here>"  # a Jira display name, shown when she moves an issue
LIVE = ("<!channel>", "<@U0HOSTILE>", "<b>", "*all*", "_the_", "~old~", "`alerts`")
LIVE_NAME = ("<!here>", "*Ops*")
REMINDER_DAY = date(2031, 6, 11)  # no other test's item is due that day


def mrkdwn_texts(blocks: list) -> list[str]:
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks or [])
    return found


def assert_nothing_live(raw: str) -> None:
    for live in (*LIVE, *LIVE_NAME):
        assert live not in raw, f"{live!r} would be live in {raw!r}"
    assert " & " not in raw, raw  # a bare ampersand must be &amp;


def assert_literal(raw: str) -> None:
    """`raw` shows the hostile title as typed, and nothing of it formats or notifies."""
    assert HOSTILE in readable(raw), raw
    assert_nothing_live(raw)


def assert_safe(text: str | None, blocks: list | None, *, shows: str | None = HOSTILE) -> None:
    """Every mrkdwn piece of a message or view, and its fallback, has nothing live; the
    fallback (when there is one) and some block show `shows` literally."""
    pieces = mrkdwn_texts(blocks)
    for piece in [text or "", *pieces]:
        assert_nothing_live(piece)
    if shows is None:
        return
    if text is not None:
        assert shows in readable(text), text
    if blocks:
        assert any(shows in readable(p) for p in pieces), pieces


def dms(slack_emulator, team, user: str) -> list:
    return slack_emulator.messages(f"D{user[1:]}", team_id=team.team_id)


def button_in(message, action_id: str) -> dict:
    return next(
        e
        for b in message.blocks
        for e in [b.get("accessory") or {}, *b.get("elements", [])]
        if e.get("action_id") == action_id
    )


def test_a_hostile_title_is_literal_on_the_card_view_all_retro_list_and_home(
    slack, slack_emulator, team, db
):
    summary = start_retro(slack, slack_emulator, team, HOSTILE)
    assert_literal(replies(slack_emulator, slack.last_response_url)[0].text)
    assert_literal(summary.text)

    item_id = add_item(slack, slack_emulator, team, HOSTILE, assignee=team.member)
    insert_items(db, team, 15, first=2)
    # Any change redraws the card (and View all appears): here an edit through its menu.
    card = summary_message(slack_emulator, team)
    edit = open_item_modal(
        slack,
        slack_emulator,
        team,
        lambda: choose(slack, team, item_id, "edit", message_ts=card.ts),
    )
    submit_item(slack, team, edit, item_values(HOSTILE, description="Now", assignee=team.member))
    card = slack_emulator.wait_for(
        lambda: (m := summary_message(slack_emulator, team)) and "16 action items" in m.text and m,
        message="the card to count 16 items",
    )
    assert_safe(card.text, card.blocks)
    assert_literal(item_lines(card)[item_id])

    view_all = button_in(card, ids.VIEW_ALL)["value"]
    listing = click_for_modal(slack, slack_emulator, team, ids.VIEW_ALL, card.ts, value=view_all)
    assert listing.callback_id == ids.ALL_ITEMS_MODAL
    assert_safe(None, listing.view["blocks"])

    retro_command(slack, slack_emulator, team, "list")
    [listed] = replies(slack_emulator, slack.last_response_url)
    assert_safe(listed.json["text"], listed.json["blocks"])

    home = open_home(slack, slack_emulator, team, team.member)
    assert_safe(None, home["blocks"])


def test_a_hostile_title_and_jira_name_are_literal_in_dms_thread_notices_and_the_sync_log(
    app, slack, slack_emulator, db, team, site
):
    token_webhook(app, slack, slack_emulator, db, team, site)
    mover = site.add_user(f"eve.{team.team_id.lower()}@example.com", HOSTILE_NAME)
    card = start_retro(slack, slack_emulator, team, HOSTILE)
    retro_id = db.scalar("SELECT id FROM retros WHERE summary_ts = :ts", ts=card.ts)
    sent = add_item(slack, slack_emulator, team, HOSTILE, assignee=team.member)
    refused = add_item(slack, slack_emulator, team, HOSTILE, assignee=team.admin)
    # Jira refuses one element of the bulk create (a label it cannot take): a Sync Log entry.
    bad = f"not a label {team.team_id}"  # labels are unique across the session's database
    db.execute("UPDATE action_items SET sync_label = :l WHERE id = :i", l=bad, i=refused)
    commit(slack, slack_emulator, team)

    [told] = slack_emulator.wait_for(
        lambda: [m for m in dms(slack_emulator, team, team.member) if m.text.startswith("Your ")],
        timeout=10,
        message="the owner's DM",
    )
    assert_safe(told.text, told.blocks)
    wait_for_state(db, team, refused, "error")

    # The Sync Log, in /jira log and on an admin's Home.
    log = slack.command(team.team_id, team.admin, team.channel, "/jira", "log").json()
    assert_safe(log["text"], None, shows=None)
    assert_safe(None, log["blocks"])
    home = open_home(slack, slack_emulator, team, team.admin)["blocks"]
    assert_safe(None, home)
    failures = [b for b in home if b.get("block_id", "").startswith(HOME_FAILURE_PREFIX)]
    assert_safe(None, failures)

    # Thread notices: done in Jira by a person with a hostile name, done in Slack, the
    # "all done" line, and back out of Done in Jira.
    key = db.scalar("SELECT jira_key FROM action_items WHERE id = :i", i=sent)
    site.transition(key, "Done", by=mover)
    [finished] = wait_for_thread(slack_emulator, db, team, retro_id, " finished ")
    assert_literal(finished)
    assert HOSTILE_NAME in readable(finished)
    card = slack_emulator.wait_for(
        lambda: (m := summary_message(slack_emulator, team)) and "done in Jira by" in str(m) and m,
        message="the card to say who finished the item in Jira",
    )
    assert_safe(card.text, card.blocks)
    assert any(HOSTILE_NAME in readable(t) for t in mrkdwn_texts(card.blocks))

    choose(slack, team, refused, "done", message_ts=card.ts)
    [all_done] = wait_for_thread(slack_emulator, db, team, retro_id, "are done")
    assert_literal(all_done)
    site.transition(key, "To Do", by=mover)
    [moved_back] = wait_for_thread(slack_emulator, db, team, retro_id, " back to ")
    assert_literal(moved_back)
    thread = slack_emulator.thread(team.channel, card.ts, team_id=team.team_id)
    for message in thread:
        assert_safe(message.text, message.blocks, shows=None)
    assert sum(HOSTILE in readable(m.text) for m in thread) >= 4


def test_a_hostile_title_is_literal_in_the_due_date_reminder(app, slack, slack_emulator, db, team):
    slack_emulator.workspace(team.team_id).users[team.member]["tz"] = "UTC"
    start_retro(slack, slack_emulator, team, HOSTILE)
    item_id = add_item(slack, slack_emulator, team, HOSTILE, assignee=team.member)
    db.execute("UPDATE action_items SET due_date = :d WHERE id = :i", d=REMINDER_DAY, i=item_id)
    with freeze_time(f"{REMINDER_DAY} 09:30:00"):
        assert run_in_process(app, due_reminders.send_due_reminders) == 1
    [reminder] = [m for m in dms(slack_emulator, team, team.member) if "Due today" in m.text]
    assert_safe(reminder.text, reminder.blocks)


def test_the_jira_connect_fallback_does_not_carry_the_authorize_url(slack, team):
    from tests.flows_jira import start_oauth

    reply, url = start_oauth(slack, team)
    assert url.startswith("http")
    assert url not in reply.json()["text"] and "state" not in reply.json()["text"]
