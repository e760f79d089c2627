"""/retro start, add, list, commit, close and the summary message's buttons, end to end."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

from bot.views import item_control_ids as controls
from bot.views import retro_ids
from tests.flows_retro import (
    add_item,
    all_item_lines,
    click_for_modal,
    commit,
    header_text,
    item_values,
    open_item_modal,
    replies,
    retro_command,
    start_retro,
    submit_item,
    summary_message,
)


def buttons(message) -> dict[str, dict]:
    return {
        el["action_id"]: el
        for block in message.blocks
        if block.get("type") == "actions"
        for el in block["elements"]
    }


def retro_rows(db, team) -> list[dict]:
    return db.rows("SELECT * FROM retros WHERE workspace_id = :w ORDER BY id", w=team.workspace_id)


def test_start_posts_a_public_summary_with_add_item(slack, slack_emulator, team, db):
    response = slack.command(team.team_id, team.member, team.channel, "/retro", "start Sprint 42")
    assert response.status_code == 200
    reply = replies(slack_emulator, slack.last_response_url)[0]
    assert reply.json["response_type"] == "ephemeral"
    assert "Started *Sprint 42*" in reply.text

    summary = summary_message(slack_emulator, team)
    assert summary.source == "chat.postMessage" and summary.bot_id  # public, in the channel
    assert header_text(summary) == "Retro: Sprint 42"
    assert f"<@{team.member}>" in str(summary.blocks)
    assert buttons(summary).keys() == {retro_ids.ADD_ITEM}  # nothing waits to be sent yet

    [retro] = retro_rows(db, team)
    assert retro["summary_ts"] == summary.ts
    assert retro["summary_permalink"].endswith("p" + summary.ts.replace(".", ""))
    assert (retro["phase"], retro["facilitator_user_id"]) == ("collect", team.member)
    slack_emulator.assert_no_violations()


def test_a_second_start_names_the_open_retro(slack, slack_emulator, team, db):
    start_retro(slack, slack_emulator, team, "Sprint 42")
    text = retro_command(slack, slack_emulator, team, "start Sprint 43", user=team.admin)
    assert "already has an open retro" in text and "Sprint 42" in text
    assert "/retro close" in text
    assert [r["title"] for r in retro_rows(db, team)] == ["Sprint 42"]


def test_start_without_a_title_names_the_retro_after_today(slack, slack_emulator, team):
    text = retro_command(slack, slack_emulator, team, "start")
    assert text.startswith("Started *Retro ")
    assert header_text(summary_message(slack_emulator, team)).startswith("Retro: Retro ")


def test_start_refuses_a_title_over_255_characters_and_takes_255(slack, slack_emulator, team, db):
    text = retro_command(slack, slack_emulator, team, "start " + "x" * 256)
    assert "255 characters" in text
    assert retro_rows(db, team) == []
    text = retro_command(slack, slack_emulator, team, "start " + "y" * 255)
    assert text.startswith("Started"), text
    assert [r["title"] for r in retro_rows(db, team)] == ["y" * 255]


def test_subcommands_are_read_whatever_their_case(slack, slack_emulator, team, db):
    text = retro_command(slack, slack_emulator, team, "START Sprint 42")
    assert text.startswith("Started *Sprint 42*"), text
    assert retro_command(slack, slack_emulator, team, "Close").startswith("Closed *Sprint 42*")


def test_start_drops_characters_nobody_types(slack, slack_emulator, team, db):
    """NUL (which PostgreSQL refuses) and other control characters in a forged command."""
    text = retro_command(slack, slack_emulator, team, "start Sprint\x00 42\x07\x1b")
    assert text.startswith("Started *Sprint 42*"), text
    assert [r["title"] for r in retro_rows(db, team)] == ["Sprint 42"]


def test_start_in_a_channel_the_app_cannot_post_in_says_how_to_fix_it(
    slack, slack_emulator, team, db
):
    slack_emulator.fail("chat.postMessage", error="not_in_channel", team_id=team.team_id)
    text = retro_command(slack, slack_emulator, team, "start Sprint 42")
    assert "/invite @Unpack" in text
    assert retro_rows(db, team) == []  # nothing half-made: the next start works
    assert retro_command(slack, slack_emulator, team, "start Sprint 42").startswith("Started")


def test_add_without_an_open_retro_says_how_to_start_one(slack, slack_emulator, team):
    text = retro_command(slack, slack_emulator, team, "add Fix the deploy")
    assert "no open retro" in text and "/retro start" in text
    assert slack_emulator.open_views(team.member, team_id=team.team_id) == []


def test_add_command_opens_the_modal_with_the_title_prefilled(slack, slack_emulator, team, db):
    start_retro(slack, slack_emulator, team, "Sprint 42")
    view = open_item_modal(
        slack,
        slack_emulator,
        team,
        lambda: slack.command(
            team.team_id, team.member, team.channel, "/retro", "add Fix the flaky deploy"
        ),
    )
    assert view.callback_id == retro_ids.ITEM_MODAL
    title_input = next(b for b in view.blocks if b.get("block_id") == retro_ids.TITLE_BLOCK)[
        "element"
    ]
    assert title_input["initial_value"] == "Fix the flaky deploy"
    assert "Sprint 42" in str(view.blocks)

    due = date.today() + timedelta(days=7)
    values = item_values(
        "Fix the flaky deploy", description="It failed *3 times*", assignee=team.admin, due=due
    )
    submit_item(slack, team, view, values)
    [item] = db.rows("SELECT * FROM action_items WHERE workspace_id = :w", w=team.workspace_id)
    assert (item["title"], item["assignee_user_id"], item["created_by_user_id"]) == (
        "Fix the flaky deploy",
        team.admin,
        team.member,
    )
    assert str(item["due_date"]) == due.isoformat()
    assert item["description"] == "It failed *3 times*"
    assert item["sync_state"] == "local" and item["channel_id"] == team.channel

    line = slack_emulator.wait_for(lambda: all_item_lines(slack_emulator, team).get(item["id"]))
    assert "Fix the flaky deploy" in line and f"<@{team.admin}>" in line
    assert f"due {due:%b} {due.day}, {due.year}" in line
    confirmation = slack_emulator.wait_for(
        lambda: [
            e
            for e in slack_emulator.ephemerals
            if e.user == team.member and e.team_id == team.team_id
        ]
    )
    assert "Added *Fix the flaky deploy* to *Sprint 42*" in confirmation[-1].text


def test_the_add_button_on_the_summary_opens_the_same_modal(slack, slack_emulator, team, db):
    summary = start_retro(slack, slack_emulator, team, "Sprint 42")
    view = click_for_modal(
        slack, slack_emulator, team, retro_ids.ADD_ITEM, summary.ts, user=team.admin
    )
    submit_item(slack, team, view, item_values("Write the runbook"), user=team.admin)
    line = slack_emulator.wait_for(
        lambda: next(iter(all_item_lines(slack_emulator, team).values()), None)
    )
    assert "Write the runbook" in line and "_unassigned_" in line and "no due date" in line


def test_every_summary_line_has_an_edit_control(slack, slack_emulator, team):
    start_retro(slack, slack_emulator, team)
    first = add_item(slack, slack_emulator, team, "One")
    second = add_item(slack, slack_emulator, team, "Two")
    summary = summary_message(slack_emulator, team)
    edits = {
        option["value"]: option
        for b in summary.blocks
        if b.get("accessory", {}).get("action_id") == controls.ITEM_MENU
        for option in b["accessory"]["options"]
        if option["value"].startswith(controls.EDIT + ":")
    }
    assert set(edits) == {
        controls.option_value(controls.EDIT, first),
        controls.option_value(controls.EDIT, second),
    }
    assert all(e["text"]["text"] == "Edit" for e in edits.values())


def test_list_shows_each_item_with_assignee_due_date_and_edit(slack, slack_emulator, team):
    start_retro(slack, slack_emulator, team, "Sprint 42")
    due = date.today() + timedelta(days=3)
    add_item(slack, slack_emulator, team, "Fix the deploy", assignee=team.admin, due=due)
    add_item(slack, slack_emulator, team, "Write the runbook")

    slack.command(team.team_id, team.member, team.channel, "/retro", "list")
    [reply] = replies(slack_emulator, slack.last_response_url)
    assert reply.json["response_type"] == "ephemeral"
    text = str(reply.blocks)
    assert "Retro: Sprint 42" in text and "2 action items" in text
    assert "1. Fix the deploy" in text and f"<@{team.admin}>" in text
    assert f"due {due:%b} {due.day}" in text
    assert "2. Write the runbook" in text and "_unassigned_" in text
    assert str(reply.blocks).count("'value': 'edit:") == 2


def test_list_without_an_open_retro(slack, slack_emulator, team):
    assert "no open retro" in retro_command(slack, slack_emulator, team, "list")


def test_commit_without_jira_tells_admins_to_connect_and_changes_nothing(
    slack, slack_emulator, team, db
):
    start_retro(slack, slack_emulator, team, "Sprint 42")
    add_item(slack, slack_emulator, team, "Fix the deploy")
    text = commit(slack, slack_emulator, team)
    assert "Jira isn't connected" in text and "`/jira connect`" in text and "admin" in text
    assert [r["phase"] for r in retro_rows(db, team)] == ["collect"]
    assert (
        db.scalar(
            "SELECT sync_state FROM action_items WHERE workspace_id = :w", w=team.workspace_id
        )
        == "local"
    )


def test_commit_of_an_empty_retro_asks_for_items_first(slack, slack_emulator, team, db):
    start_retro(slack, slack_emulator, team, "Sprint 42")
    text = commit(slack, slack_emulator, team)
    # Without Jira the connection is the first thing to fix; either way nothing changes.
    assert "`/jira connect`" in text or "no action items" in text
    assert [r["phase"] for r in retro_rows(db, team)] == ["collect"]


def test_commit_without_an_open_retro(slack, slack_emulator, team):
    assert "no open retro" in commit(slack, slack_emulator, team)


def test_close_by_someone_else_is_refused(slack, slack_emulator, team, db):
    slack_emulator.add_user(team.team_id, "UOTHER" + team.team_id[1:7], name="Olga Other")
    start_retro(slack, slack_emulator, team, "Sprint 42", user=team.member)
    text = retro_command(slack, slack_emulator, team, "close", user="UOTHER" + team.team_id[1:7])
    assert "Only the retro's facilitator" in text and f"<@{team.member}>" in text
    assert [r["phase"] for r in retro_rows(db, team)] == ["collect"]


def test_facilitator_closes_the_retro(slack, slack_emulator, team, db):
    summary = start_retro(slack, slack_emulator, team, "Sprint 42", user=team.member)
    add_item(slack, slack_emulator, team, "Fix the deploy")
    text = retro_command(slack, slack_emulator, team, "close", user=team.member)
    assert text.startswith("Closed *Sprint 42*")
    [retro] = retro_rows(db, team)
    assert retro["phase"] == "closed" and retro["closed_at"] is not None

    closed = slack_emulator.wait_for(
        lambda: (
            "closed" in str(slack_emulator.message(team.channel, summary.ts).blocks)
            and slack_emulator.message(team.channel, summary.ts)
        )
    )
    assert retro_ids.ADD_ITEM not in str(closed.blocks)  # no new items on a closed retro
    assert "'value': 'edit:" in str(closed.blocks)  # but its items can still be edited
    thread = slack_emulator.wait_for(lambda: slack_emulator.thread(team.channel, summary.ts))
    assert f"<@{team.member}> closed this retro" in thread[0].text
    # The channel is free for the next retro.
    assert retro_command(slack, slack_emulator, team, "start Sprint 43").startswith("Started")


def test_two_closes_at_once_close_it_once(slack, slack_emulator, team, db):
    """A double submit, or two people closing together: one of them closes the retro and
    the thread says so once."""
    summary = start_retro(slack, slack_emulator, team, "Sprint 42", user=team.member)
    before = len(slack_emulator.responses)

    def close(_):
        return slack.command(team.team_id, team.member, team.channel, "/retro", "close")

    with ThreadPoolExecutor(2) as pool:
        assert [a.status_code for a in pool.map(close, range(2))] == [200, 200]
    said = slack_emulator.wait_for(
        lambda: len(found := [r.text for r in slack_emulator.responses[before:]]) >= 2 and found,
        message="both replies",
    )
    # The other finds it closed, or (had it come a moment later) no open retro at all.
    assert len([text for text in said if text.startswith("Closed")]) == 1, said
    thread = slack_emulator.thread(team.channel, summary.ts)
    assert [m.text for m in thread if "closed this retro" in m.text] == [
        f"<@{team.member}> closed this retro."
    ]


def test_an_admin_closes_someone_elses_retro(slack, slack_emulator, team, db):
    start_retro(slack, slack_emulator, team, "Sprint 42", user=team.member)
    text = retro_command(slack, slack_emulator, team, "close", user=team.admin)
    assert text.startswith("Closed")
    assert [r["phase"] for r in retro_rows(db, team)] == ["closed"]


def test_close_without_an_open_retro(slack, slack_emulator, team):
    assert "no open retro" in retro_command(slack, slack_emulator, team, "close")


def test_retro_help(slack, slack_emulator, team):
    response = slack.command(team.team_id, team.member, team.channel, "/retro", "help")
    assert "/retro commit" in str(response.json()["blocks"])
