"""Carry-over: a new retro's summary message (and /retro list) shows what is still open from
the channel's earlier retros, newest retro first, with live status and the same controls;
completing one there completes the original item."""

from __future__ import annotations

import pytest

from bot.views import item_control_ids as controls
from tests.flows_retro import (
    add_item,
    choose,
    insert_items,
    line_block,
    menu_options,
    replies,
    retro_command,
    start_retro,
    summary_message,
)
from tests.flows_webhooks import synced_items, token_webhook
from tests.waiting import wait_until

CARRIED = controls.CARRIED_BLOCK_PREFIX


@pytest.fixture
def hook(app, slack, slack_emulator, db, team, site):
    return token_webhook(app, slack, slack_emulator, db, team, site)


def carried_lines(message) -> dict[int, str]:
    return {
        int(b["block_id"].split(":")[1]): b["text"]["text"]
        for b in message.blocks
        if str(b.get("block_id", "")).startswith(CARRIED)
    }


def close(slack, slack_emulator, team):
    assert retro_command(slack, slack_emulator, team, "close").startswith("Closed")


def add_open_items(db, team, retro_title: str, count: int) -> None:
    """Many unassigned items straight into a retro's table (set-up only)."""
    retro_id = db.scalar(
        "SELECT id FROM retros WHERE workspace_id = :w AND title = :t",
        w=team.workspace_id,
        t=retro_title,
    )
    insert_items(
        db, team, count, title=lambda n: f"Old item {n}", retro_id=retro_id, assigned=False
    )


def test_a_new_retro_shows_what_is_still_open_and_completing_it_completes_the_original(
    slack, slack_emulator, db, team
):
    first = start_retro(slack, slack_emulator, team, "Sprint 1")
    still_open = add_item(slack, slack_emulator, team, "Still to do", assignee=team.member)
    finished = add_item(slack, slack_emulator, team, "Finished")
    choose(slack, team, finished, controls.DONE, message_ts=first.ts)
    wait_until(
        lambda: (
            db.scalar("SELECT status FROM action_items WHERE id = :i", i=finished) == "complete"
        ),
        "the item done",
    )
    close(slack, slack_emulator, team)

    second = start_retro(slack, slack_emulator, team, "Sprint 2")

    assert "Still open from earlier retros" in str(second.blocks)
    lines = carried_lines(second)
    assert set(lines) == {still_open}
    assert "Still to do" in lines[still_open] and "_from Sprint 1_" in lines[still_open]
    assert set(menu_options(line_block(second.blocks, still_open, CARRIED))) == {
        controls.EDIT,
        controls.DONE,
        controls.SYNC,
        controls.DELETE,
    }

    choose(slack, team, still_open, controls.DONE, message_ts=second.ts, prefix=CARRIED)

    wait_until(
        lambda: (
            db.scalar("SELECT status FROM action_items WHERE id = :i", i=still_open) == "complete"
        ),
        "the original item completed",
    )
    refreshed = slack_emulator.wait_for(
        lambda: (
            (m := summary_message(slack_emulator, team, title="Sprint 2"))
            and carried_lines(m).get(still_open, "").startswith("✅")
            and m
        ),
        message="the carried line checked on the new summary",
    )
    assert f"done by <@{team.member}>" in carried_lines(refreshed)[still_open]
    old = summary_message(slack_emulator, team, title="Sprint 1")
    assert "✅" in str(line_block(old.blocks, still_open))  # the original retro's line too


def test_at_most_ten_newest_retro_first_and_the_rest_in_retro_list(slack, slack_emulator, db, team):
    start_retro(slack, slack_emulator, team, "Sprint 1")
    add_open_items(db, team, "Sprint 1", 11)
    close(slack, slack_emulator, team)
    start_retro(slack, slack_emulator, team, "Sprint 2")
    newer = add_item(slack, slack_emulator, team, "From sprint 2")
    close(slack, slack_emulator, team)

    third = start_retro(slack, slack_emulator, team, "Sprint 3")

    lines = carried_lines(third)
    assert len(lines) == 10
    assert next(iter(lines)) == newer  # the newest retro's items come first
    assert "+2 more open from earlier retros" in str(third.blocks)
    assert "/retro list" in str(third.blocks)

    slack.command(team.team_id, team.member, team.channel, "/retro", "list")
    url = slack.last_response_url

    def listed_so_far():
        # /retro list may answer in several posts; wait for the one with the carried items.
        return {i for m in slack_emulator.responses_to(url) for i in carried_lines(m)}

    listed = wait_until(lambda: len(listed_so_far()) >= 12 and listed_so_far(), "/retro list")
    messages = replies(slack_emulator, url)
    assert len(listed) == 12 and newer in listed
    assert "Still open from earlier retros" in str([m.blocks for m in messages])


def test_carried_lines_show_the_key_and_live_status(slack, slack_emulator, db, team, site, hook):
    [item] = synced_items(slack, slack_emulator, db, team, "Migrate the queue")
    close(slack, slack_emulator, team)
    start_retro(slack, slack_emulator, team, "Next sprint")

    site.transition(item.key, "In Progress", by=hook.jira_user)

    def live():
        lines = carried_lines(summary_message(slack_emulator, team, title="Next sprint"))
        line = lines.get(item.id, "")
        return item.key in line and "In Progress" in line and line

    slack_emulator.wait_for(live, message="the carried line with the issue's status")
