"""The card stays within Slack's limits however large the retro gets: the first lines
inline and the rest behind View all (never in thread replies), a modal that pages within
its 100 blocks, failures one line per cause; /retro list shows every item in as many
ephemeral messages as it takes."""

from __future__ import annotations

from bot.views import retro_ids
from bot.views.failures import group_failures
from bot.views.retro_summary import (
    INLINE_ITEMS_MAX,
    MESSAGE_TEXT_BUDGET,
    Destination,
    all_items_modal,
    list_messages,
    summary_message,
)
from storage.models import ActionItem, Retro
from tests.fakes.slack.block_kit_limits import message_violations, view_violations
from tests.flows_retro import (
    click_for_modal,
    insert_items,
    item_lines,
    item_values,
    start_retro,
    submit_item,
)
from tests.flows_retro import summary_message as card_in_channel

ITEMS = 60


def title_of(n: int) -> str:
    # Long, realistic titles so the layout is driven by text size as well as block count.
    return (
        f"Item {n:02d}: "
        + ("tighten the release checklist and rehearse the rollback " * 4)[:180].strip()
    )


def test_a_60_item_retro_keeps_one_card_and_list_shows_all(slack, slack_emulator, team, db):
    summary = start_retro(slack, slack_emulator, team, "Big quarterly retro")
    insert_items(db, team, ITEMS, title=title_of)
    retro_id = db.scalar("SELECT id FROM retros WHERE workspace_id = :w", w=team.workspace_id)
    # Slack sends the button's value as the app wrote it: a string.
    view = click_for_modal(
        slack, slack_emulator, team, retro_ids.ADD_ITEM, summary.ts, value=str(retro_id)
    )
    submit_item(slack, team, view, item_values("One more", assignee=team.member))
    card = slack_emulator.wait_for(
        lambda: (m := card_in_channel(slack_emulator, team)) and "61 action items" in m.text and m
    )
    assert len(item_lines(card)) == INLINE_ITEMS_MAX
    assert "View all 61" in str(card.blocks)
    assert slack_emulator.thread(team.channel, summary.ts, team_id=team.team_id) == []

    # /retro list shows them all, in several ephemeral messages.
    slack.command(team.team_id, team.member, team.channel, "/retro", "list")
    url = slack.last_response_url

    def listed():
        text = "".join(str(p.blocks) for p in slack_emulator.responses_to(url))
        return all(f"{n}. Item {n:02d}:" in text for n in range(1, ITEMS + 1)) and text

    slack_emulator.wait_for(listed, message="all 60 items in the /retro list replies")
    posts = slack_emulator.responses_to(url)
    assert len(posts) >= 2 and all(p.json["response_type"] == "ephemeral" for p in posts)


def text_length(node) -> int:
    """Characters of text in blocks (every "text" string, however deep)."""
    if isinstance(node, list):
        return sum(text_length(n) for n in node)
    if isinstance(node, dict):
        own = len(node["text"]) if isinstance(node.get("text"), str) else 0
        return own + sum(text_length(v) for k, v in node.items() if k != "text" or own == 0)
    return 0


def _item(n: int, **fields) -> ActionItem:
    values = dict(
        id=n,
        workspace_id=1,
        retro_id=1,
        channel_id="C1",
        title="t" * 255,
        assignee_user_id="U0123456789",
        status="open",
        sync_state="error",
        last_error="e" * 2000,
        last_error_kind=["permission", "auth", "invalid", "not_found", "issue_type", "x"][n % 6],
        jira_key=f"TEAM-{n}",
        jira_site_url="https://acme.atlassian.net",
        assignee_note="unassigned in Jira: no Jira account matches <@U0123456789>'s email",
    )
    values.update(fields)
    return ActionItem(**values)


def test_worst_case_lines_still_fit_the_card_the_modal_and_the_list():
    retro = Retro(
        id=1,
        workspace_id=1,
        channel_id="C1",
        title="r" * 255,
        facilitator_user_id="U1",
        phase="commit",
    )
    items = [_item(n) for n in range(1, 201)]
    destination = Destination("P" * 255, "T" * 255, "A" * 255)
    card = summary_message(retro, items, destination)
    assert message_violations(card["text"], card["blocks"]) == []
    # Slack refuses ~13k characters of block text per message (msg_blocks_too_long).
    assert text_length(card["blocks"]) < MESSAGE_TEXT_BUDGET + 3000
    assert len(group_failures(items, "TEAM")) == 6
    assert (
        sum(
            1
            for b in card["blocks"]
            if b.get("block_id", "").startswith(retro_ids.FAILURE_BLOCK_PREFIX)
        )
        == 5
    )

    seen = set()
    for page in range(3):
        modal = all_items_modal(retro, items, page)
        assert view_violations(modal) == []
        seen |= {
            b["block_id"]
            for b in modal["blocks"]
            if b.get("block_id", "").startswith(retro_ids.ITEM_BLOCK_PREFIX)
        }
    assert len(seen) == 200

    listed = list_messages(retro, items, "https://slack.example/p1", destination=destination)
    assert len(listed) == 5  # a response_url takes five posts; the rest are counted
    assert "more in the" in str(listed[-1]["blocks"])
    for message in listed:
        assert message_violations(message["text"], message["blocks"]) == []
