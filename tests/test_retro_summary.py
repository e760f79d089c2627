"""The summary message stays within Slack's limits however large the retro gets: a
60-item retro splits its lines across the summary and continuation messages in its thread,
every message keeps to 50 blocks, and every item stays visible with its Edit control."""

from __future__ import annotations

import json

from bot.views.retro_summary import MESSAGE_TEXT_BUDGET, list_messages, summary_messages
from storage.models import ActionItem, Retro
from tests.fakes.slack.block_kit_limits import message_violations
from tests.flows_retro import (
    add_item,
    all_item_lines,
    item_values,
    open_item_modal,
    start_retro,
    submit_item,
    summary_message,
)

ITEMS = 60


def title_of(n: int) -> str:
    # Long, realistic titles so the split is driven by text size as well as block count.
    return (
        f"Item {n:02d}: "
        + ("tighten the release checklist and rehearse the rollback " * 4)[:180].strip()
    )


def retro_messages(slack_emulator, team):
    summary = summary_message(slack_emulator, team)
    return [summary, *slack_emulator.thread(team.channel, summary.ts, team_id=team.team_id)]


def block_text(message) -> int:
    return len(json.dumps(message.blocks))


def assert_all_visible(slack_emulator, team, count=ITEMS):
    messages = retro_messages(slack_emulator, team)
    for message in messages:
        assert len(message.blocks) <= 50
        assert message_violations(message.text, message.blocks) == []
    lines = all_item_lines(slack_emulator, team)
    assert len(lines) == count
    text = "\n".join(lines.values())
    for n in range(1, count + 1):
        assert f"*{n}. Item {n:02d}:" in text  # numbered in order, each exactly once
    edits = sum(str(m.blocks).count("'value': 'edit:") for m in messages)
    assert edits == count
    return messages


def test_a_60_item_retro_splits_into_thread_messages_within_limits(slack, slack_emulator, team, db):
    summary = start_retro(slack, slack_emulator, team, "Big quarterly retro")
    for n in range(1, ITEMS + 1):
        add_item(slack, slack_emulator, team, title_of(n), assignee=team.member)

    messages = assert_all_visible(slack_emulator, team)
    assert len(messages) >= 2
    first = messages[0]
    assert first.ts == summary.ts
    assert "continue in this message's thread" in str(first.blocks)
    assert "retro_add_item" in str(first.blocks)  # the buttons stay on the summary
    assert "(continued)" in str(messages[1].blocks)
    overflow = db.scalar(
        "SELECT overflow_ts FROM retros WHERE workspace_id = :w", w=team.workspace_id
    )
    if isinstance(overflow, str):  # SQLite hands JSON back as text; asyncpg decodes it
        overflow = json.loads(overflow)
    assert overflow == [m.ts for m in messages[1:]]

    # Sync failures add a Retry row per line; the split adapts and nothing is lost.
    db.execute(
        "UPDATE action_items SET sync_state = 'error', last_error = :e "
        "WHERE workspace_id = :w AND id % 3 = 0",
        e="Jira says: the account cannot create issues in TEAM. " * 8,
        w=team.workspace_id,
    )
    first_id = min(all_item_lines(slack_emulator, team))
    view = open_item_modal(
        slack,
        slack_emulator,
        team,
        lambda: slack.block_action(
            team.team_id,
            team.member,
            "edit_item",
            value=str(first_id),
            channel_id=team.channel,
            message_ts=summary.ts,
        ),
    )
    submit_item(slack, team, view, item_values(title_of(1) + " (edited)", assignee=team.member))
    slack_emulator.wait_for(
        lambda: (
            "(edited)" in str(summary_message(slack_emulator, team).blocks)
            and str(retro_messages(slack_emulator, team)).count("retry_item") == ITEMS // 3
        )
    )
    assert_all_visible(slack_emulator, team)

    # Nothing Slack would refuse was ever sent.
    slack_emulator.assert_no_violations()
    sent = [
        c
        for c in slack_emulator.calls
        if c.team_id == team.team_id and c.method in ("chat.postMessage", "chat.update")
    ]
    assert sent and all(c.ok for c in sent), [c for c in sent if not c.ok]

    # /retro list shows all 60 too, in several ephemeral messages.
    slack.command(team.team_id, team.member, team.channel, "/retro", "list")
    url = slack.last_response_url

    def listed():
        text = "".join(str(p.blocks) for p in slack_emulator.responses_to(url))
        return all(f"{n}. Item {n:02d}:" in text for n in range(1, ITEMS + 1)) and text

    slack_emulator.wait_for(listed, message="all 60 items in the /retro list replies")
    posts = slack_emulator.responses_to(url)
    assert len(posts) >= 2 and all(p.json["response_type"] == "ephemeral" for p in posts)
    slack_emulator.assert_no_violations()


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
        jira_key=f"TEAM-{n}",
        jira_site_url="https://acme.atlassian.net",
        assignee_note="unassigned in Jira: no Jira account matches <@U0123456789>'s email",
    )
    values.update(fields)
    return ActionItem(**values)


def test_worst_case_lines_still_fit_every_message():
    retro = Retro(
        id=1,
        workspace_id=1,
        channel_id="C1",
        title="r" * 255,
        facilitator_user_id="U1",
        phase="commit",
    )
    items = [_item(n) for n in range(1, 201)]
    messages = summary_messages(retro, items)
    shown = 0
    for message in messages:
        assert message_violations(message["text"], message["blocks"]) == []
        # Slack refuses ~13k characters of block text per message (msg_blocks_too_long).
        assert text_length(message["blocks"]) < MESSAGE_TEXT_BUDGET + 1000
        shown += sum(1 for b in message["blocks"] if b.get("block_id", "").startswith("item:"))
    assert shown == 200

    listed = list_messages(retro, items, "https://slack.example/p1")
    assert len(listed) == 5  # a response_url takes five posts; the rest are counted
    assert "more in the" in str(listed[-1]["blocks"])
    for message in listed:
        assert message_violations(message["text"], message["blocks"]) == []
