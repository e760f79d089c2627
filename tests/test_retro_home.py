"""App Home for everyone: the open retros a person takes part in and their own action
items, each with Edit; large lists are counted, not cut off at Slack's limits."""

from __future__ import annotations

from datetime import date, timedelta

from bot.views import item_control_ids as controls
from bot.views import retro_ids
from tests.flows_retro import (
    add_item,
    choose,
    item_values,
    open_item_modal,
    retro_command,
    start_retro,
    submit_item,
)


def open_home(slack, slack_emulator, team, user):
    before = sum(
        1 for c in slack_emulator.calls_to("views.publish") if c.args.get("user_id") == user
    )
    response = slack.app_home_opened(team.team_id, user)
    assert response.status_code == 200
    slack_emulator.wait_for(
        lambda: (
            sum(
                1 for c in slack_emulator.calls_to("views.publish") if c.args.get("user_id") == user
            )
            > before
        )
    )
    return slack_emulator.home(team.team_id, user)


def item_sections(home) -> dict[int, dict]:
    return {
        int(b["block_id"].split(":")[1]): b
        for b in home["blocks"]
        if str(b.get("block_id", "")).startswith(retro_ids.HOME_ITEM_BLOCK_PREFIX)
    }


def test_home_lists_my_open_retros_and_my_items_with_edit(slack, slack_emulator, team):
    other_channel = "CX" + team.team_id[1:7]
    start_retro(slack, slack_emulator, team, "Sprint 42", user=team.member)
    due = date.today() + timedelta(days=2)
    mine = add_item(slack, slack_emulator, team, "Fix the deploy", assignee=team.member, due=due)
    theirs = add_item(slack, slack_emulator, team, "Admin's item", assignee=team.admin)
    # A retro the member has nothing to do with.
    start_retro(slack, slack_emulator, team, "Ops review", user=team.admin, channel=other_channel)

    home = open_home(slack, slack_emulator, team, team.member)
    text = str(home["blocks"])
    assert "Your retros" in text and "Sprint 42" in text and f"<#{team.channel}>" in text
    assert "2 action items, 1 yours" in text
    assert "Ops review" not in text

    sections = item_sections(home)
    assert set(sections) == {mine}  # only the items assigned to them
    line = sections[mine]["text"]["text"]
    assert "Fix the deploy" in line and f"due {due:%b} {due.day}" in line and "Sprint 42" in line
    assert sections[mine]["accessory"]["action_id"] == controls.ITEM_MENU
    assert controls.option_value(controls.EDIT, mine) in [
        o["value"] for o in sections[mine]["accessory"]["options"]
    ]

    # The admin takes part in both retros (facilitator of one, assignee in the other).
    admin_home = open_home(slack, slack_emulator, team, team.admin)
    admin_text = str(admin_home["blocks"])
    assert "Sprint 42" in admin_text and "Ops review" in admin_text
    assert set(item_sections(admin_home)) == {theirs}
    slack_emulator.assert_no_violations()


def test_someone_new_sees_how_to_start(slack, slack_emulator, team):
    home = open_home(slack, slack_emulator, team, team.member)
    text = str(home["blocks"])
    assert "/retro start" in text and "Nothing is assigned to you" in text


def test_edit_from_home_saves_and_refreshes_home(slack, slack_emulator, team, db):
    start_retro(slack, slack_emulator, team, "Sprint 42")
    item_id = add_item(slack, slack_emulator, team, "Fix the deploy", assignee=team.member)
    home = open_home(slack, slack_emulator, team, team.member)

    view = open_item_modal(
        slack,
        slack_emulator,
        team,
        lambda: choose(
            slack, team, item_id, controls.EDIT, view=home, prefix=retro_ids.HOME_ITEM_BLOCK_PREFIX
        ),
    )
    assert view.callback_id == retro_ids.ITEM_MODAL
    submit_item(slack, team, view, item_values("Fix the deploy today", assignee=team.member))

    refreshed = slack_emulator.wait_for(
        lambda: (
            "Fix the deploy today" in str(slack_emulator.home(team.team_id, team.member))
            and slack_emulator.home(team.team_id, team.member)
        )
    )
    assert f"edit:{item_id}" in str(refreshed["blocks"])
    assert db.scalar("SELECT title FROM action_items WHERE id = :i", i=item_id) == (
        "Fix the deploy today"
    )
    # The summary message in the channel follows too.
    slack_emulator.wait_for(
        lambda: any(
            "Fix the deploy today" in str(m.blocks)
            for m in slack_emulator.messages(team.channel, team_id=team.team_id)
        )
    )


def test_closed_retros_leave_home_but_their_open_items_stay(slack, slack_emulator, team):
    start_retro(slack, slack_emulator, team, "Sprint 42")
    item_id = add_item(slack, slack_emulator, team, "Fix the deploy", assignee=team.member)
    retro_command(slack, slack_emulator, team, "close")
    home = open_home(slack, slack_emulator, team, team.member)
    assert "Sprint 42 in" not in str(home["blocks"]).replace("*", "")
    assert set(item_sections(home)) == {item_id}


def test_a_home_with_60_items_stays_within_limits_and_counts_the_rest(
    slack, slack_emulator, team, db
):
    start_retro(slack, slack_emulator, team, "Big retro")
    first = add_item(slack, slack_emulator, team, "Seed item", assignee=team.member)
    # Set-up: 59 more items assigned to the member, written directly (the modal path is
    # covered above and in test_retro_summary.py); some failed to sync (two blocks each).
    retro_id = db.scalar("SELECT retro_id FROM action_items WHERE id = :i", i=first)
    for n in range(2, 61):
        db.execute(
            "INSERT INTO action_items (workspace_id, retro_id, channel_id, title, "
            "assignee_user_id, status, created_by_user_id, revision, synced_revision, "
            "sync_state, attempts, sync_label, last_error, created_at, updated_at) VALUES "
            "(:w, :r, :c, :t, :u, 'open', :u, 1, 0, :s, 0, :l, :e, "
            "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            w=team.workspace_id,
            r=retro_id,
            c=team.channel,
            t=f"Home item {n:02d} " + "x" * 200,
            u=team.member,
            s="error" if n % 4 == 0 else "local",
            l=f"unpack-home-{team.team_id}-{n}",
            e="Jira refused it" if n % 4 == 0 else None,
        )

    home = open_home(slack, slack_emulator, team, team.member)
    slack_emulator.assert_no_violations()
    assert len(home["blocks"]) <= 100
    shown = item_sections(home)
    assert 10 < len(shown) < 60
    assert f"…and {60 - len(shown)} more open action items" in str(home["blocks"])
