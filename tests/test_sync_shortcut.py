"""The Sync to Jira message shortcut: on an item's message it pushes the item now;
on any other message it opens the prefilled item modal and, on submit, creates the item
and syncs it at once. The app here has the default 60-second cycle, so anything that
reaches Jira within the test did so at once."""

from __future__ import annotations

import time

from bot.views import retro_ids, sync_ids
from tests.flows_retro import (
    add_item,
    all_item_lines,
    item_values,
    open_item_modal,
    replies,
    start_retro,
    submit_item,
    summary_message,
)
from tests.flows_sync import (
    commit_retro,
    connect_world,
    issues_labelled,
    items,
    sync_app_fixture,
    wait_for_keys,
)
from tests.harness import install_workspace
from tests.waiting import wait_until

sync_app = sync_app_fixture()


def shortcut(sync_app, slack_emulator, team, message, *, user=None):
    return sync_app.slack.message_shortcut(team.team_id, user or team.member, team.channel, message)


def shortcut_modal(sync_app, slack_emulator, team, message):
    return open_item_modal(
        sync_app.slack,
        slack_emulator,
        team,
        lambda: shortcut(sync_app, slack_emulator, team, message),
    )


def reply_text(sync_app, slack_emulator) -> str:
    return replies(slack_emulator, sync_app.slack.last_response_url)[0].text


def test_on_any_message_the_modal_is_prefilled_and_the_item_synced_at_once(
    sync_app, slack_emulator, jira_emulator, site
):
    world = connect_world(sync_app, slack_emulator, site)
    team = world.team
    start_retro(sync_app.slack, slack_emulator, team, "Sprint 42")
    message = slack_emulator.add_user_message(
        team.team_id, team.channel, team.admin, "Flaky deploy step\nIt fails *every* Monday"
    )
    view = shortcut_modal(sync_app, slack_emulator, team, message)
    assert view.callback_id == sync_ids.SYNC_ITEM_MODAL
    inputs = {b["block_id"]: b["element"] for b in view.blocks if b["type"] == "input"}
    assert inputs[retro_ids.TITLE_BLOCK]["initial_value"] == "Flaky deploy step"
    description = inputs[retro_ids.DESCRIPTION_BLOCK]["initial_value"]
    assert description.startswith("Flaky deploy step\nIt fails *every* Monday")
    permalink = next(w for w in description.split() if w.startswith("http"))
    assert message.ts.replace(".", "") in permalink

    submit_item(
        sync_app.slack, team, view, item_values("Flaky deploy step", description=description)
    )
    [row] = wait_for_keys(sync_app.db, team, 1, timeout=5)
    assert row["retro_id"] is not None  # in the channel's open retro, not committed yet
    assert row["source_permalink"] == permalink
    [issue] = issues_labelled(site, row["sync_label"])
    assert issue.fields["summary"] == "Flaky deploy step"
    assert permalink in str(issue.fields["description"])
    wait_until(
        lambda: row["jira_key"] in all_item_lines(slack_emulator, team)[row["id"]],
        "the key on the summary's line",
    )
    wait_until(
        lambda: any(
            "sent it to Jira" in e.text
            for e in slack_emulator.ephemerals
            if e.team_id == team.team_id
        ),
        "the confirmation",
    )


def test_without_an_open_retro_the_item_gets_its_own_message_and_a_push_from_it(
    sync_app, slack_emulator, jira_emulator, site
):
    world = connect_world(sync_app, slack_emulator, site)
    team = world.team
    message = slack_emulator.add_user_message(
        team.team_id, team.channel, team.member, "Rotate keys"
    )
    view = shortcut_modal(sync_app, slack_emulator, team, message)
    submit_item(sync_app.slack, team, view, item_values("Rotate keys"))
    [row] = wait_for_keys(sync_app.db, team, 1, timeout=5)
    assert row["retro_id"] is None and row["message_ts"]
    own = wait_until(
        lambda: (
            row["jira_key"]
            in str(
                (
                    m := slack_emulator.message(
                        team.channel, row["message_ts"], team_id=team.team_id
                    )
                ).blocks
            )
            and m
        ),
        "the item's own message to show its key",
    )
    assert own.thread_ts == message.ts  # in the thread of the message it came from

    # An edit waits for the next cycle (a minute away here)...
    sync_app.db.execute(
        "UPDATE action_items SET title = 'Rotate the keys', revision = revision + 1, "
        "sync_state = 'pending', next_attempt_at = NULL WHERE id = :i",
        i=row["id"],
    )
    [issue] = issues_labelled(site, row["sync_label"])
    assert issue.fields["summary"] == "Rotate keys"
    # ...and Sync to Jira on the item's own message pushes it now.
    asked_at = time.time()
    shortcut(sync_app, slack_emulator, team, own)
    assert "Syncing *Rotate the keys* to Jira now" in reply_text(sync_app, slack_emulator)
    wait_until(lambda: issue.fields["summary"] == "Rotate the keys", "the push", timeout=10)
    assert len(issues_labelled(site, row["sync_label"])) == 1
    # The one edit Jira received came after the shortcut, not with a cycle of its own.
    [edit] = [
        r
        for r in jira_emulator.requests_to("PUT", f"/issue/{issue.id}")
        if f"/sites/{site.name}/" in r.path
    ]
    assert edit.timestamp >= asked_at


def test_on_the_retro_summary_it_sends_items_added_after_the_commit(
    sync_app, slack_emulator, jira_emulator, site
):
    world = connect_world(sync_app, slack_emulator, site)
    team = world.team
    start_retro(sync_app.slack, slack_emulator, team, "Sprint 42")
    add_item(sync_app.slack, slack_emulator, team, "First")
    commit_retro(sync_app, slack_emulator, world)
    wait_for_keys(sync_app.db, team, 1)
    late = add_item(sync_app.slack, slack_emulator, team, "Added late")
    assert next(r for r in items(sync_app.db, team) if r["id"] == late)["sync_state"] == "local"

    shortcut(sync_app, slack_emulator, team, summary_message(slack_emulator, team))
    assert "Syncing 2 action items to Jira now" in reply_text(sync_app, slack_emulator)
    rows = wait_for_keys(sync_app.db, team, 2, timeout=5)
    assert all(len(issues_labelled(site, r["sync_label"])) == 1 for r in rows)


def test_a_prefilled_modal_slack_would_not_open_is_said(
    sync_app, slack_emulator, jira_emulator, site
):
    team = connect_world(sync_app, slack_emulator, site).team
    message = slack_emulator.add_user_message(team.team_id, team.channel, team.admin, "Flaky")
    # The trigger ran out while the app read the permalink and the time zone.
    slack_emulator.fail("views.open", error="expired_trigger_id", team_id=team.team_id)

    shortcut(sync_app, slack_emulator, team, message)

    assert reply_text(sync_app, slack_emulator) == (
        "Slack couldn't open the form in time. Please try again."
    )
    assert slack_emulator.open_views(team.member, team_id=team.team_id) == []


def test_without_jira_the_shortcut_says_what_to_do(sync_app, slack_emulator):
    team = install_workspace(sync_app.app, slack_emulator, sync_app.db)
    message = slack_emulator.add_user_message(team.team_id, team.channel, team.member, "Hello")
    shortcut(sync_app, slack_emulator, team, message)
    assert reply_text(sync_app, slack_emulator) == (
        "Jira isn't connected to this workspace. A workspace admin can connect it with "
        "`/jira connect`."
    )
    assert items(sync_app.db, team) == []


def test_another_workspaces_item_cannot_be_pushed(sync_app, slack_emulator, jira_emulator, site):
    world = connect_world(sync_app, slack_emulator, site)
    start_retro(sync_app.slack, slack_emulator, world.team, "Ours")
    ours = add_item(sync_app.slack, slack_emulator, world.team, "Ours only")
    other = connect_world(sync_app, slack_emulator, site)
    forged = slack_emulator.add_user_message(
        other.team.team_id,
        other.team.channel,
        other.team.member,
        "forged",
        blocks=[
            {
                "type": "section",
                "block_id": retro_ids.item_block_id(ours),
                "text": {"type": "mrkdwn", "text": "x"},
            }
        ],
    )
    shortcut(sync_app, slack_emulator, other.team, forged)
    assert "can't be found" in reply_text(sync_app, slack_emulator)
    assert items(sync_app.db, world.team)[0]["sync_state"] == "local"
