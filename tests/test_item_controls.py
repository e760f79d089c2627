"""The controls on every action-item line (an overflow menu): Edit, Mark done / Reopen,
Sync to Jira, Open in Jira, Delete; from the summary message, /retro list and App Home.
Mark done and Reopen move the Jira issue through whatever the project's workflow offers,
and Jira's echo of that move adds nothing to the retro's thread."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.views import item_control_ids as controls
from bot.views import retro_ids
from tests.flows_jira import choose_default_project, connect_with_token
from tests.flows_retro import (
    add_item,
    choose,
    click_for_modal,
    commit,
    item_values,
    line_block,
    menu_options,
    open_item_modal,
    replies,
    start_retro,
    submit_item,
    summary_message,
    wait_for_line,
)
from tests.flows_sync import wait_for_polls_to_settle
from tests.flows_webhooks import retro_thread, synced_items, token_webhook, wait_applied
from tests.harness import install_workspace
from tests.test_retro_home import open_home
from tests.waiting import wait_until


@pytest.fixture
def hook(app, slack, slack_emulator, db, team, site):
    """API token, with the admin webhook added in Jira as the settings say."""
    return token_webhook(app, slack, slack_emulator, db, team, site)


def on(site, rest: str) -> str:
    return f"/sites/{site.name}/rest/api/3{rest}"


def reply_to_last(slack, slack_emulator) -> str:
    return replies(slack_emulator, slack.last_response_url)[0].text


def issue_status(site, key: str) -> str:
    with site.emulator.lock:
        return site.issues[key].fields["status"]


def row(db, item_id: int) -> dict:
    rows = db.rows("SELECT * FROM action_items WHERE id = :i", i=item_id)
    return rows[0] if rows else {}


def thread_lines(slack_emulator, db, team, retro_id, text: str) -> list[str]:
    return [t for t in retro_thread(slack_emulator, db, team, retro_id) if text in t]


def deliveries_seen(db, team) -> int:
    return db.scalar(
        "SELECT count(*) FROM webhook_deliveries WHERE workspace_id = :w", w=team.workspace_id
    )


# -- the menu itself --------------------------------------------------------------------------


def test_every_line_offers_the_controls_and_open_in_jira_once_synced(
    slack, slack_emulator, db, team, site, hook
):
    [item] = synced_items(slack, slack_emulator, db, team, "Fix the deploy")
    local = add_item(slack, slack_emulator, team, "Added after the commit")
    summary = slack_emulator.wait_for(
        lambda: (
            (m := summary_message(slack_emulator, team))
            and item.key in str(m.blocks)
            and "Added after" in str(m.blocks)
            and m
        )
    )
    synced = menu_options(line_block(summary.blocks, item.id))
    assert [o["text"]["text"] for o in synced.values()] == [
        "Edit",
        "Mark done",
        "Sync to Jira",
        "Open in Jira",
        "Delete",
    ]
    assert synced[controls.OPEN]["url"] == f"{site.url}/browse/{item.key}"
    assert set(menu_options(line_block(summary.blocks, local))) == {
        controls.EDIT,
        controls.DONE,
        controls.SYNC,
        controls.DELETE,
    }

    # /retro list and App Home show the same menu.
    slack.command(team.team_id, team.member, team.channel, "/retro", "list")
    [listed] = replies(slack_emulator, slack.last_response_url)
    assert set(menu_options(line_block(listed.blocks, item.id))) == set(synced)
    db.execute("UPDATE action_items SET assignee_user_id = :u", u=team.member)
    home = open_home(slack, slack_emulator, team, team.member)
    assert set(
        menu_options(line_block(home["blocks"], item.id, retro_ids.HOME_ITEM_BLOCK_PREFIX))
    ) == set(synced)

    # Open in Jira is a link: Slack opens it, the app only acknowledges.
    choose(slack, team, item.id, controls.OPEN, message_ts=summary.ts)
    assert row(db, item.id)["status"] == "open"


def test_edit_from_the_menu_opens_the_item_modal(slack, slack_emulator, team):
    summary = start_retro(slack, slack_emulator, team)
    item_id = add_item(slack, slack_emulator, team, "Fix the deploy")
    before = {v.id for v in slack_emulator.open_views(team.member, team_id=team.team_id)}
    choose(slack, team, item_id, controls.EDIT, message_ts=summary.ts)
    view = slack_emulator.wait_for(
        lambda: next(
            (
                v
                for v in slack_emulator.open_views(team.member, team_id=team.team_id)
                if v.id not in before
            ),
            None,
        )
    )
    assert view.callback_id == retro_ids.ITEM_MODAL and "Fix the deploy" in str(view.blocks)


def test_edit_on_a_card_posted_before_the_menu_still_opens_the_item_modal(
    slack, slack_emulator, team
):
    summary = start_retro(slack, slack_emulator, team, "Before the menu")
    item_id = add_item(slack, slack_emulator, team, "Fix the deploy")
    # The card as versions before the overflow menu drew it: an Edit button on each line.
    old_line = line_block(summary_message(slack_emulator, team).blocks, item_id)
    old_line["accessory"] = {
        "type": "button",
        "text": {"type": "plain_text", "text": "Edit"},
        "action_id": retro_ids.EDIT_ITEM,
        "value": str(item_id),
    }
    header = summary_message(slack_emulator, team).blocks[0]
    slack_emulator.replace_blocks(team.team_id, team.channel, summary.ts, [header, old_line])

    view = click_for_modal(
        slack, slack_emulator, team, retro_ids.EDIT_ITEM, summary.ts, value=str(item_id)
    )
    assert view.callback_id == retro_ids.ITEM_MODAL and "Fix the deploy" in str(view.blocks)

    submit_item(slack, team, view, item_values("Fix the deploy script"))
    # Saving redraws the old card with today's controls.
    line = wait_for_line(slack_emulator, team, "Fix the deploy script")[1]
    card = summary_message(slack_emulator, team)
    assert "Fix the deploy script" in line and card.ts == summary.ts
    assert set(menu_options(line_block(card.blocks, item_id))) >= {controls.EDIT}
    assert retro_ids.EDIT_ITEM not in str(card.blocks)


# -- Mark done / Reopen --------------------------------------------------------------------


def test_mark_done_moves_the_issue_to_done_and_the_echo_adds_nothing(
    slack, slack_emulator, db, team, site, hook
):
    [item] = synced_items(slack, slack_emulator, db, team, "Fix the deploy")
    summary = summary_message(slack_emulator, team)
    seen = deliveries_seen(db, team)

    choose(slack, team, item.id, controls.DONE, message_ts=summary.ts)

    assert "Marked *Fix the deploy* done" in reply_to_last(slack, slack_emulator)
    # The default workflow offers two Done-category statuses; the one named Done wins.
    wait_until(lambda: issue_status(site, item.key) == "Done", "the issue to reach Done")
    wait_until(lambda: deliveries_seen(db, team) > seen, "Jira's echo to arrive")
    wait_applied(db, team)
    wait_until(lambda: row(db, item.id)["jira_transition"] is None, "the move to be settled")
    _, line = wait_for_line(slack_emulator, team, f"done by <@{team.member}>")
    assert line.startswith("✅")
    marked = thread_lines(slack_emulator, db, team, item.retro_id, "marked done")
    assert marked == [
        f"✅ <{site.url}/browse/{item.key}|{item.key}> marked done in Slack by <@{team.member}> "
        "· Fix the deploy (1 of 1 done)"
    ]
    stored = row(db, item.id)
    assert (stored["status"], stored["jira_status_category"]) == ("complete", "done")
    # A delivery's outcome is written after its row: wait for it, not just for the row.
    wait_until(
        lambda: (
            db.scalar(
                "SELECT outcome FROM webhook_deliveries WHERE workspace_id = :w ORDER BY id DESC",
                w=team.workspace_id,
            )
            == "unchanged"
        ),
        "the echo's outcome to be recorded as unchanged",
    )


def test_a_poll_jira_answered_before_mark_done_does_not_reopen_the_item(
    slack, slack_emulator, db, team, site
):
    """The poll's search is answered by Jira before the move to Done (the issue still in
    To Do) and applied after the move is recorded: it is older than the move and changes
    nothing. (The session's app polls every 60 s, so a poll has 30 s to wait.)"""
    connect_with_token(slack, slack_emulator, team, site)
    choose_default_project(slack, slack_emulator, team, webhooks=False)
    # The app's polls put off (the connect's own one done, if it began): caught by the
    # faults below, a poll claimed before `asked` would be the one applied, and the
    # test's poll never asked.
    wait_for_polls_to_settle(db, team, put_off=True)
    [item] = synced_items(slack, slack_emulator, db, team, "Fix the deploy")
    summary = summary_message(slack_emulator, team)
    search, poll = on(site, "/search/jql"), {"body_has": "updated >="}
    stale = site.emulator.faults.add("POST", search, "stale", **poll)
    site.emulator.faults.add("POST", search, "hold", times=None, **poll)  # no later poll
    try:
        asked = datetime.now(UTC)  # the poll below starts after this; any earlier one before
        db.execute(  # set-up: the workspace's next poll due now, not in a minute
            "UPDATE jira_connections SET poll_due_at = NULL WHERE workspace_id = :w",
            w=team.workspace_id,
        )
        assert stale.answered.wait(10), "a poll to read the issue"

        choose(slack, team, item.id, controls.DONE, message_ts=summary.ts)
        wait_until(lambda: issue_status(site, item.key) == "Done", "the issue to reach Done")
        wait_until(lambda: row(db, item.id)["jira_transition"] is None, "the move recorded")
        stale.release()
        wait_until(lambda: last_polled(db, team) > asked, "the poll's answer applied")
    finally:
        site.emulator.faults.clear()

    stored = row(db, item.id)
    assert (stored["status"], stored["jira_status_category"]) == ("complete", "done")
    _, line = wait_for_line(slack_emulator, team, f"done by <@{team.member}>")
    assert line.startswith("✅")
    card = str(summary_message(slack_emulator, team).blocks)
    assert f"'{controls.REOPEN}:{item.id}'" in card and f"'{controls.DONE}:{item.id}'" not in card
    thread = retro_thread(slack_emulator, db, team, item.retro_id)
    assert [t for t in thread if "marked done" in t] and not [t for t in thread if "↩️" in t]


def last_polled(db, team) -> datetime:
    """When the workspace's last finished poll started (the epoch: none yet)."""
    value = db.scalar(
        "SELECT last_polled_at FROM jira_connections WHERE workspace_id = :w",
        w=team.workspace_id,
    )
    if isinstance(value, str):  # SQLite
        value = datetime.fromisoformat(value)
    value = value or datetime.min
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def test_reopen_moves_the_issue_back_to_to_do(slack, slack_emulator, db, team, site, hook):
    [item] = synced_items(slack, slack_emulator, db, team, "Fix the deploy")
    summary = summary_message(slack_emulator, team)
    choose(slack, team, item.id, controls.DONE, message_ts=summary.ts)
    wait_until(lambda: row(db, item.id)["jira_status_category"] == "done", "Done in Jira")

    choose(slack, team, item.id, controls.REOPEN, message_ts=summary.ts)

    assert "Reopened *Fix the deploy*" in reply_to_last(slack, slack_emulator)
    wait_until(lambda: issue_status(site, item.key) == "To Do", "the issue back in To Do")
    wait_until(lambda: row(db, item.id)["jira_transition"] is None, "the move to be settled")
    assert row(db, item.id)["status"] == "open"
    # Said once, by the person who clicked; Jira's echo adds nothing.
    [reopened] = thread_lines(slack_emulator, db, team, item.retro_id, "reopened")
    link = f"<{site.url}/browse/{item.key}|{item.key}>"
    assert reopened.startswith(f"↩️ {link} reopened in Slack by <@{team.member}> · Fix the")
    assert thread_lines(slack_emulator, db, team, item.retro_id, "back to") == []
    wait_for_line(slack_emulator, team, "Fix the deploy")


def test_reopen_while_the_move_to_done_is_on_its_way_moves_the_issue_back(
    slack, slack_emulator, db, team, site, hook
):
    """Reopen clicked while Mark done's move is already sent: the click cannot cancel a
    move that lands in Jira. The issue is moved back to To Do, and Jira's echo of its Done
    does not tick the item off again (the person's Reopen stands)."""
    [item] = synced_items(slack, slack_emulator, db, team, "Fix the deploy")
    summary = summary_message(slack_emulator, team)
    move = on(site, f"/issue/{item.issue_id}/transitions")
    held = site.emulator.faults.add("POST", move, "hold")
    try:
        choose(slack, team, item.id, controls.DONE, message_ts=summary.ts)
        wait_until(lambda: held.hits == 1, "the move to Done to reach Jira")
        choose(slack, team, item.id, controls.REOPEN, message_ts=summary.ts)
        assert "Reopened *Fix the deploy*" in reply_to_last(slack, slack_emulator)
    finally:
        held.release()

    def moves_made() -> int:
        return sum(r.status == 204 for r in site.emulator.requests_to("POST", move))

    wait_until(lambda: moves_made() == 2, "the held move to Done, then the move back")
    wait_until(lambda: row(db, item.id)["jira_transition"] is None, "the move back settled")
    assert issue_status(site, item.key) == "To Do"
    wait_applied(db, team)  # Jira's echoes of both moves
    stored = row(db, item.id)
    assert (stored["status"], stored["jira_status_category"]) == ("open", "new")
    card = str(summary_message(slack_emulator, team).blocks)
    assert f"'{controls.DONE}:{item.id}'" in card


def test_reopen_falls_back_to_in_progress(slack, slack_emulator, db, team, site, hook):
    site.set_workflow(
        "TEAM", {"To Do": ["In Progress", "Done"], "In Progress": ["Done"], "Done": ["In Progress"]}
    )
    [item] = synced_items(slack, slack_emulator, db, team, "Fix the deploy")
    summary = summary_message(slack_emulator, team)
    choose(slack, team, item.id, controls.DONE, message_ts=summary.ts)
    wait_until(lambda: row(db, item.id)["jira_status_category"] == "done", "Done in Jira")
    choose(slack, team, item.id, controls.REOPEN, message_ts=summary.ts)
    wait_until(lambda: issue_status(site, item.key) == "In Progress", "In Progress")


def test_mark_done_without_a_transition_still_completes_and_says_why(
    slack, slack_emulator, db, team, site, hook
):
    site.set_workflow("TEAM", {"To Do": ["In Progress"], "In Progress": ["Done"]})
    [item] = synced_items(slack, slack_emulator, db, team, "Fix the deploy")
    summary = summary_message(slack_emulator, team)

    choose(slack, team, item.id, controls.DONE, message_ts=summary.ts)

    note = f"couldn't move {item.key} to Done in Jira: no transition from To Do"
    _, line = wait_for_line(slack_emulator, team, note)
    assert line.startswith("✅")
    assert issue_status(site, item.key) == "To Do"
    assert row(db, item.id)["status"] == "complete"
    logged = db.rows(
        "SELECT operation, outcome, message FROM sync_attempts WHERE item_id = :i "
        "AND operation = 'transition'",
        i=item.id,
    )
    assert logged == [{"operation": "transition", "outcome": "failed", "message": note}]
    assert len(thread_lines(slack_emulator, db, team, item.retro_id, "marked done")) == 1

    # The issue merely moves along in Jira: only leaving Done reopens an item, so the one
    # ticked off in Slack stays done.
    seen = deliveries_seen(db, team)
    [moved] = site.transition(item.key, "In Progress", by=hook.jira_user)
    assert moved.status == 202, moved.response_text
    wait_until(lambda: deliveries_seen(db, team) > seen, "Jira's delivery of the move")
    wait_applied(db, team)
    stored = row(db, item.id)
    assert (stored["status"], stored["jira_status_category"]) == ("complete", "indeterminate")
    assert thread_lines(slack_emulator, db, team, item.retro_id, "↩️") == []
    _, line = wait_for_line(slack_emulator, team, "Fix the deploy")
    assert line.startswith("✅")


def test_a_transition_that_fails_for_now_is_retried(
    slack, slack_emulator, jira_emulator, db, team, site, hook
):
    [item] = synced_items(slack, slack_emulator, db, team, "Fix the deploy")
    summary = summary_message(slack_emulator, team)
    jira_emulator.faults.add("POST", on(site, f"/issue/{item.issue_id}/transitions"), "503")

    choose(slack, team, item.id, controls.DONE, message_ts=summary.ts)

    wait_until(lambda: issue_status(site, item.key) == "Done", "the retried move", timeout=10)
    outcomes = [
        r["outcome"]
        for r in db.rows(
            "SELECT outcome FROM sync_attempts WHERE item_id = :i AND operation = 'transition' "
            "ORDER BY id",
            i=item.id,
        )
    ]
    wait_until(lambda: row(db, item.id)["sync_state"] == "synced", "the item synced again")
    assert outcomes[0] == "retrying"


def test_mark_done_before_the_issue_exists_creates_it_and_then_moves_it(
    slack, slack_emulator, db, team, site, hook
):
    summary = start_retro(slack, slack_emulator, team, "Sprint 7")
    item_id = add_item(slack, slack_emulator, team, "Done already")
    choose(slack, team, item_id, controls.DONE, message_ts=summary.ts)
    assert "created as done" in reply_to_last(slack, slack_emulator)
    commit(slack, slack_emulator, team)
    key = wait_until(lambda: row(db, item_id)["jira_key"], "the issue")
    wait_until(lambda: issue_status(site, key) == "Done", "the issue in Done")


# -- Sync to Jira, Delete ---------------------------------------------------------------------


def test_sync_to_jira_from_the_line_creates_that_item(slack, slack_emulator, db, team, site, hook):
    synced_items(slack, slack_emulator, db, team, "Committed")
    summary = summary_message(slack_emulator, team)
    later = add_item(slack, slack_emulator, team, "Added later")
    assert row(db, later)["sync_state"] == "local"

    choose(slack, team, later, controls.SYNC, message_ts=summary.ts)

    assert "Sending *Added later* to Jira now" in reply_to_last(slack, slack_emulator)
    key = wait_until(lambda: row(db, later)["jira_key"], "the new issue")
    wait_for_line(slack_emulator, team, key)


def _delete(slack, slack_emulator, team, item_id, **where):
    before = {v.id for v in slack_emulator.open_views(team.member, team_id=team.team_id)}
    choose(slack, team, item_id, controls.DELETE, **where)
    view = slack_emulator.wait_for(
        lambda: next(
            (
                v
                for v in slack_emulator.open_views(team.member, team_id=team.team_id)
                if v.id not in before
            ),
            None,
        )
    )
    assert view.callback_id == controls.DELETE_MODAL
    return view


def test_delete_before_sync_removes_the_item(slack, slack_emulator, db, team):
    summary = start_retro(slack, slack_emulator, team)
    keep = add_item(slack, slack_emulator, team, "Keep me")
    gone = add_item(slack, slack_emulator, team, "Added by mistake")

    view = _delete(slack, slack_emulator, team, gone, message_ts=summary.ts)
    assert "nothing changes in Jira" in str(view.blocks)
    assert row(db, gone)["title"] == "Added by mistake"  # nothing happens before the confirm
    slack.view_submission(team.team_id, team.member, view, {})

    wait_until(lambda: not row(db, gone), "the item to be deleted")
    slack_emulator.wait_for(
        lambda: "Added by mistake" not in str(summary_message(slack_emulator, team).blocks)
    )
    assert row(db, keep)
    confirm = slack_emulator.wait_for(
        lambda: [
            c
            for c in slack_emulator.calls_to("chat.postEphemeral")
            if c.team_id == team.team_id and "Deleted *Added by mistake*" in str(c.args.get("text"))
        ]
    )
    assert confirm[0].args["user"] == team.member


def test_delete_after_sync_keeps_the_issue_and_says_so(slack, slack_emulator, db, team, site, hook):
    [item] = synced_items(slack, slack_emulator, db, team, "In Jira already")
    summary = summary_message(slack_emulator, team)

    view = _delete(slack, slack_emulator, team, item.id, message_ts=summary.ts)
    assert f"{item.key} stays in Jira" in str(view.blocks)
    slack.view_submission(team.team_id, team.member, view, {})

    wait_until(lambda: not row(db, item.id), "the item to be removed")
    assert item.key in site.issues
    confirm = slack_emulator.wait_for(
        lambda: [
            c
            for c in slack_emulator.calls_to("chat.postEphemeral")
            if f"{item.key} stays in Jira" in str(c.args.get("text"))
        ]
    )
    assert "Removed *In Jira already* from the retro" in confirm[0].args["text"]


# -- other surfaces, other workspaces ------------------------------------------------------


def test_controls_work_from_retro_list_and_app_home(slack, slack_emulator, db, team):
    start_retro(slack, slack_emulator, team)
    from_list = add_item(slack, slack_emulator, team, "From the list")
    from_home = add_item(slack, slack_emulator, team, "From home", assignee=team.member)

    slack.command(team.team_id, team.member, team.channel, "/retro", "list")
    replies(slack_emulator, slack.last_response_url)
    choose(slack, team, from_list, controls.DONE, message_ts=None)  # the ephemeral list
    assert "Marked *From the list* done" in reply_to_last(slack, slack_emulator)
    wait_for_line(slack_emulator, team, "✅ *1. From the list*")
    # Not in Jira yet: the thread's line is led by the title.
    retro_id = row(db, from_list)["retro_id"]
    said = f"✅ *From the list* marked done in Slack by <@{team.member}> (1 of 2 done)"
    slack_emulator.wait_for(
        lambda: thread_lines(slack_emulator, db, team, retro_id, "marked done") == [said],
        message="the thread's line",
    )

    home = open_home(slack, slack_emulator, team, team.member)
    choose(
        slack, team, from_home, controls.DONE, view=home, prefix=retro_ids.HOME_ITEM_BLOCK_PREFIX
    )
    wait_until(lambda: row(db, from_home)["status"] == "complete", "done from Home")
    slack_emulator.wait_for(
        lambda: "From home" not in str(slack_emulator.home(team.team_id, team.member))
    )  # Home lists open items only: the refreshed tab is the confirmation

    # The checked-off item shows on the channel's summary too.
    wait_for_line(slack_emulator, team, "✅ *2. From home*")


def _redrawn(slack_emulator, url: str):
    """The list message as the app redrew it through the click's response_url."""
    return slack_emulator.wait_for(
        lambda: next(
            (p for p in slack_emulator.responses_to(url) if p.json.get("replace_original")), None
        ),
        message="the /retro list redrawn",
    )


def test_retro_list_is_redrawn_after_a_control_used_on_it(slack, slack_emulator, db, team):
    start_retro(slack, slack_emulator, team)
    done = add_item(slack, slack_emulator, team, "Tick me off")
    gone = add_item(slack, slack_emulator, team, "Added by mistake")
    slack.command(team.team_id, team.member, team.channel, "/retro", "list")
    [listed] = replies(slack_emulator, slack.last_response_url)
    assert controls.DONE in menu_options(line_block(listed.blocks, done))

    choose(slack, team, done, controls.DONE, message_ts=None)  # on the ephemeral list
    redrawn = _redrawn(slack_emulator, slack.last_response_url)
    line = line_block(redrawn.blocks, done)
    assert "✅" in line["text"]["text"] and controls.REOPEN in menu_options(line)
    assert controls.DONE in menu_options(line_block(redrawn.blocks, gone))

    view = _delete(slack, slack_emulator, team, gone, message_ts=None)
    url = slack.last_response_url
    slack.view_submission(team.team_id, team.member, view, {})
    redrawn = _redrawn(slack_emulator, url)
    assert "Added by mistake" not in str(redrawn.blocks)
    assert controls.REOPEN in menu_options(line_block(redrawn.blocks, done))


def test_retro_list_is_redrawn_after_an_edit_made_from_it(slack, slack_emulator, team):
    start_retro(slack, slack_emulator, team)
    item_id = add_item(slack, slack_emulator, team, "Plan the offsite")
    slack.command(team.team_id, team.member, team.channel, "/retro", "list")
    replies(slack_emulator, slack.last_response_url)

    modal = open_item_modal(
        slack,
        slack_emulator,
        team,
        lambda: choose(slack, team, item_id, controls.EDIT, message_ts=None),
    )
    url = slack.last_response_url  # the click's, on the ephemeral list
    submit_item(slack, team, modal, item_values("Plan the offsite in May"))
    redrawn = _redrawn(slack_emulator, url)
    assert "Plan the offsite in May" in line_block(redrawn.blocks, item_id)["text"]["text"]


def test_another_workspaces_item_cannot_be_touched(app, slack, slack_emulator, db, team):
    start_retro(slack, slack_emulator, team)
    item_id = add_item(slack, slack_emulator, team, "Ours")
    rival = install_workspace(app, slack_emulator, db)
    for control in (controls.DONE, controls.SYNC, controls.DELETE):
        slack.block_action(
            rival.team_id,
            rival.member,
            controls.ITEM_MENU,
            action_type="overflow",
            value=f"{control}:{item_id}",
            channel_id=rival.channel,
            forged=True,  # no surface shows another workspace's items: the app checks anyway
        )
        assert "can't be found" in reply_to_last(slack, slack_emulator)
    assert row(db, item_id)["status"] == "open"
