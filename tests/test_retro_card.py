"""The retro's summary message is a card: title, facilitator, phase, counts and where the
items go; at most 15 item lines inline; beyond that a View all button opens a modal that
lists every item with its controls. "Send N to Jira" asks first, naming the project, the
issue type and the connected account, and is hidden once nothing waits. Failures are one
line per cause with one Retry."""

from __future__ import annotations

from bot.views import item_control_ids as controls
from bot.views import retro_ids as ids
from bot.views.retro_summary import INLINE_ITEMS_MAX
from tests.flows_jira import choose_default_project, connect_with_token
from tests.flows_retro import (
    add_item,
    choose,
    click_for_modal,
    commit,
    insert_items,
    item_lines,
    item_values,
    line_block,
    menu_options,
    open_item_modal,
    readable,
    replies,
    start_retro,
    submit_item,
    summary_message,
)
from tests.test_retro_home import open_home


def connected(slack, slack_emulator, team, site) -> str:
    name = connect_with_token(slack, slack_emulator, team, site, display_name="Ana Lima")
    choose_default_project(slack, slack_emulator, team, project_key="TEAM", issue_type="Task")
    return name


def elements(message, block_id=ids.BUTTONS_BLOCK) -> list[dict]:
    block = next((b for b in message.blocks if b.get("block_id") == block_id), None)
    return block["elements"] if block else []


def button(message, action_id: str) -> dict | None:
    found = [
        e
        for b in message.blocks
        for e in ([b.get("accessory")] if b.get("accessory") else []) + b.get("elements", [])
        if isinstance(e, dict) and e.get("action_id") == action_id
    ]
    return found[0] if found else None


def assert_one_primary_per_set(message) -> None:
    for block in message.blocks:
        if block.get("type") == "actions":
            primaries = [e for e in block["elements"] if e.get("style") == "primary"]
            assert len(primaries) <= 1, block


def test_a_5_item_card_says_where_items_go_and_confirms_before_sending(
    slack, slack_emulator, team, site
):
    account = connected(slack, slack_emulator, team, site)
    start_retro(slack, slack_emulator, team, "Sprint 42")
    for n in range(1, 6):
        add_item(slack, slack_emulator, team, f"Item {n}", assignee=team.member)
    card = summary_message(slack_emulator, team)
    assert len(item_lines(card)) == 5
    assert f"→ TEAM · Task, as {account}" in str(card.blocks)
    assert "5 action items" in card.text
    send = button(card, ids.COMMIT)
    assert send["text"]["text"] == "Send 5 to Jira"
    confirm = send["confirm"]["text"]["text"]
    assert "TEAM" in confirm and "Task" in confirm and account in confirm
    assert button(card, ids.VIEW_ALL) is None  # everything is on the card
    assert_one_primary_per_set(card)

    commit(slack, slack_emulator, team)  # the command is its own confirmation

    def all_keys():
        message = summary_message(slack_emulator, team)
        lines = item_lines(message)
        return all(f"{site.url}/browse/" in line for line in lines.values()) and message

    card = slack_emulator.wait_for(all_keys, timeout=10)
    assert button(card, ids.COMMIT) is None  # nothing waits
    assert [e["text"]["text"] for e in elements(card)] == ["Add action item"]
    assert_one_primary_per_set(card)
    replies = slack_emulator.thread(team.channel, card.ts, team_id=team.team_id)
    assert not any(
        ids.ITEM_BLOCK_PREFIX in str(r.blocks) for r in replies
    )  # items never go to the thread


def test_a_50_item_card_shows_15_lines_and_view_all_lists_every_item(
    slack, slack_emulator, team, site, db
):
    connected(slack, slack_emulator, team, site)
    start_retro(slack, slack_emulator, team, "Big retro")
    first = add_item(slack, slack_emulator, team, "Item 1", assignee=team.member)
    insert_items(db, team, 49, first=2)
    # Any change re-renders the card: here an edit of the first item through its Edit button.
    card = summary_message(slack_emulator, team)
    modal = open_item_modal(
        slack,
        slack_emulator,
        team,
        lambda: choose(slack, team, first, controls.EDIT, message_ts=card.ts),
    )
    submit_item(slack, team, modal, item_values("Item 01", assignee=team.member))
    card = slack_emulator.wait_for(
        lambda: (m := summary_message(slack_emulator, team)) and "50 action items" in m.text and m,
        message="the card to count 50 items",
    )
    last = db.scalar(
        "SELECT max(id) FROM action_items WHERE workspace_id = :w", w=team.workspace_id
    )
    lines = item_lines(card)
    assert len(lines) == INLINE_ITEMS_MAX and last not in lines
    assert "Showing 15 of 50 action items" in str(card.blocks)
    assert len(card.blocks) <= 50
    view_all = button(card, ids.VIEW_ALL)
    assert view_all["text"]["text"] == "View all 50"
    assert button(card, ids.COMMIT)["text"]["text"] == "Send 50 to Jira"
    assert slack_emulator.thread(team.channel, card.ts, team_id=team.team_id) == []

    # Slack refusing the modal (its trigger ran out) is said, not silent.
    slack_emulator.fail("views.open", error="expired_trigger_id", team_id=team.team_id)
    slack.block_action(
        team.team_id,
        team.member,
        ids.VIEW_ALL,
        value=view_all["value"],
        channel_id=team.channel,
        message_ts=card.ts,
    )
    [refused] = replies(slack_emulator, slack.last_response_url)
    assert refused.text == "Slack couldn't open the list in time. Please try again."

    listing = click_for_modal(
        slack, slack_emulator, team, ids.VIEW_ALL, card.ts, value=view_all["value"]
    )
    assert listing.callback_id == ids.ALL_ITEMS_MODAL
    lines = {
        b["block_id"]: b
        for b in listing.view["blocks"]
        if b.get("block_id", "").startswith(ids.ITEM_BLOCK_PREFIX)
    }
    assert len(lines) == 50
    assert set(menu_options(lines[ids.item_block_id(last)])) >= {
        controls.EDIT,
        controls.DONE,
        controls.SYNC,
        controls.DELETE,
    }

    # Its controls work: Edit opens the item modal on top, Save shows the change below.
    item_modal = open_item_modal(
        slack, slack_emulator, team, lambda: choose(slack, team, last, controls.EDIT, view=listing)
    )
    submit_item(slack, team, item_modal, item_values("Item 50, renamed", assignee=team.member))

    def relisted():
        view = slack_emulator.views[listing.id].view
        return "Item 50, renamed" in readable(str(view["blocks"])) and view

    slack_emulator.wait_for(relisted, message="View all to show the edit")
    assert [v.id for v in slack_emulator.open_views(team.member, team_id=team.team_id)] == [
        listing.id
    ]

    # Mark done from the list: the item is done and the list shows it.
    choose(slack, team, last, controls.DONE, view=slack_emulator.views[listing.id])
    slack_emulator.wait_for(
        lambda: (
            "✅ *50. Item 50, renamed*"
            in readable(str(slack_emulator.views[listing.id].view["blocks"]))
        ),
        message="View all to show the item done",
    )


def test_a_permission_failure_on_20_items_is_one_line_with_one_retry(
    slack, slack_emulator, team, site, db
):
    connected(slack, slack_emulator, team, site)
    start_retro(slack, slack_emulator, team, "Sprint 42")
    add_item(slack, slack_emulator, team, "Item 1", assignee=team.member)
    insert_items(db, team, 19, first=2)  # the commit re-renders the card
    site.deny_create("TEAM")
    commit(slack, slack_emulator, team)

    def grouped():
        message = summary_message(slack_emulator, team)
        return button(message, ids.RETRY_FAILED) and message

    card = slack_emulator.wait_for(grouped, timeout=15, message="the grouped failure")
    failures = [
        b for b in card.blocks if b.get("block_id", "").startswith(ids.FAILURE_BLOCK_PREFIX)
    ]
    assert len(failures) == 1
    assert readable(failures[0]["text"]["text"]).startswith(
        "⚠️ *20 items didn't reach Jira:* the connected account can't create issues in TEAM."
    )
    assert "A workspace admin can" in failures[0]["text"]["text"]
    assert str(card.blocks).count("'Retry'") == 1
    assert ids.RETRY_ITEM not in str(card.blocks)
    assert all("not in Jira yet" in line for line in item_lines(card).values())
    assert "Permission" not in str(item_lines(card))  # the cause is said once, not per line
    assert_one_primary_per_set(card)

    site.allow_create("TEAM")
    retry = button(card, ids.RETRY_FAILED)
    response = slack.block_action(
        team.team_id,
        team.member,
        ids.RETRY_FAILED,
        value=retry["value"],
        channel_id=team.channel,
        message_ts=card.ts,
    )
    assert response.status_code == 200

    def all_in_jira():
        message = summary_message(slack_emulator, team)
        return button(message, ids.RETRY_FAILED) is None and "20 in Jira" in message.text

    slack_emulator.wait_for(all_in_jira, timeout=15, message="every item in Jira after Retry")


def failure_blocks(blocks: list[dict]) -> list[dict]:
    return [b for b in blocks if b.get("block_id", "").startswith(ids.FAILURE_BLOCK_PREFIX)]


def test_retro_list_and_app_home_show_a_failure_with_its_cause_and_a_retry(
    slack, slack_emulator, team, site, db
):
    connected(slack, slack_emulator, team, site)
    start_retro(slack, slack_emulator, team, "Sprint 42")
    item_id = add_item(slack, slack_emulator, team, "Fix the deploy", assignee=team.member)
    site.deny_create("TEAM")
    commit(slack, slack_emulator, team)
    slack_emulator.wait_for(
        lambda: button(summary_message(slack_emulator, team), ids.RETRY_FAILED),
        timeout=15,
        message="the failure on the card",
    )

    # /retro list says why, once per cause, with the card's Retry.
    slack.command(team.team_id, team.member, team.channel, "/retro", "list")
    [listed] = replies(slack_emulator, slack.last_response_url)
    [failure] = failure_blocks(listed.blocks)
    assert readable(failure["text"]["text"]).startswith(
        "⚠️ *1 item didn't reach Jira:* the connected account can't create issues in TEAM."
    )
    assert failure["accessory"]["action_id"] == ids.RETRY_FAILED
    assert "not in Jira yet" in line_block(listed.blocks, item_id)["text"]["text"]

    # App Home has no grouped line: the owner's failed item has a Retry of its own.
    home = open_home(slack, slack_emulator, team, team.member)
    retry = line_block(home["blocks"], item_id, ids.HOME_RETRY_BLOCK_PREFIX)
    assert [e["action_id"] for e in retry["elements"]] == [ids.RETRY_ITEM]

    # Retry on the list sends the item, and the list is redrawn without the failure.
    site.allow_create("TEAM")
    response = slack.block_action(
        team.team_id, team.member, ids.RETRY_FAILED, value=failure["accessory"]["value"],
        channel_id=team.channel, message_ts=None,
    )  # fmt: skip
    assert response.status_code == 200
    redrawn = slack_emulator.wait_for(
        lambda: next(
            (
                p
                for p in slack_emulator.responses_to(slack.last_response_url)
                if p.json.get("replace_original")
            ),
            None,
        ),
        message="the /retro list redrawn",
    )
    assert failure_blocks(redrawn.blocks) == []
    slack_emulator.wait_for(
        lambda: db.scalar("SELECT jira_key FROM action_items WHERE id = :i", i=item_id),
        timeout=15,
        message="the item in Jira after Retry",
    )
