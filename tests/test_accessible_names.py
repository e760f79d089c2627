"""Screen readers tell a message's controls apart by their names: every button on an item
carries an accessibility label naming the item, and no two controls of one message (or
view) share a name, even when two items have the same title. Overflow menus take no label
in Block Kit; each is announced after its line, and no two lines read the same."""

from __future__ import annotations

from bot.views.blocks import accessible_name
from tests.flows_jira import choose_default_project, connect_with_token
from tests.flows_retro import add_item, commit, replies, retro_command, start_retro
from tests.flows_sync import wait_for_state
from tests.test_retro_home import open_home

SAME = "Plan the offsite"


def controls(blocks: list[dict]) -> tuple[list[str], list[str]]:
    """(button names, texts of the lines that overflow menus end) of a message or view."""
    names, lines = [], []
    for block in blocks:
        accessory = block.get("accessory") or {}
        if accessory.get("type") == "overflow":
            lines.append(block["text"]["text"])
        for element in [accessory, *block.get("elements", [])]:
            name = accessible_name(element) if element else None
            if name is not None:
                names.append(name)
    return names, lines


def assert_distinct(blocks: list[dict], *, buttons: int = 1, lines: bool = True) -> list[str]:
    names, texts = controls(blocks)
    assert len(names) >= buttons, names
    assert len(set(names)) == len(names), f"controls share a name: {sorted(names)}"
    if lines:  # numbered lines (card, list, View all); Home's own items carry no number
        assert len(set(texts)) == len(texts), f"lines read the same: {texts}"
    assert all(len(n) <= 75 for n in names)
    return names


def test_no_two_controls_of_a_message_share_a_name(slack, slack_emulator, team, site, db):
    connect_with_token(slack, slack_emulator, team, site)
    choose_default_project(slack, slack_emulator, team, project_key="TEAM", issue_type="Task")
    card = start_retro(slack, slack_emulator, team, "Sprint 42")
    created = [add_item(slack, slack_emulator, team, SAME, assignee=team.member) for _ in "ab"]
    refused = [add_item(slack, slack_emulator, team, SAME, assignee=team.member) for _ in "cd"]
    # Jira refuses these two elements of the bulk create (labels it cannot take).
    for n, item_id in enumerate(refused):
        db.execute(
            "UPDATE action_items SET sync_label = :l WHERE id = :i",
            l=f"bad {team.team_id}{n}",
            i=item_id,
        )
    commit(slack, slack_emulator, team)
    for item_id in refused:
        wait_for_state(db, team, item_id, "error")

    [told] = slack_emulator.wait_for(
        lambda: [
            m
            for m in slack_emulator.messages(f"D{team.member[1:]}", team_id=team.team_id)
            if m.text.startswith("Your ")
        ],
        timeout=10,
        message="the owner's DM",
    )
    names = assert_distinct(told.blocks, buttons=4)
    keys = db.rows(
        "SELECT jira_key FROM action_items WHERE id IN (:a, :b)", a=created[0], b=created[1]
    )
    for row in keys:
        assert f"Mark done {row['jira_key']} {SAME}" in names

    card = slack_emulator.message(team.channel, card.ts, team_id=team.team_id)
    assert_distinct(card.blocks)
    retro_command(slack, slack_emulator, team, "list")
    [listed] = replies(slack_emulator, slack.last_response_url)
    assert_distinct(listed.json["blocks"], buttons=0)

    # The Sync Log lists both failures, same title and no key: each Retry is its own.
    log = slack.command(team.team_id, team.admin, team.channel, "/jira", "log").json()
    names = assert_distinct(log["blocks"], buttons=2)
    assert f"Retry {SAME}" in names and f"Retry {SAME} (2)" in names
    assert_distinct(open_home(slack, slack_emulator, team, team.admin)["blocks"], buttons=2)
    home = open_home(slack, slack_emulator, team, team.member)
    assert_distinct(home["blocks"], buttons=0, lines=False)
