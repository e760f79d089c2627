"""User text is shown literally wherever the app shows it: a hostile title's formatting
characters, mentions, ampersands and tags neither format, notify nor link, in the blocks
and in the top-level `text` fallback that notifications and screen readers use."""

from __future__ import annotations

from bot.views import retro_ids
from tests.flows_retro import (
    add_item,
    item_lines,
    readable,
    replies,
    start_retro,
    summary_message,
)

HOSTILE = "Fix *all* _the_ ~old~ `alerts` <!channel> <@U0HOSTILE> & <b>"


def assert_literal(raw: str) -> None:
    assert HOSTILE in readable(raw), raw
    for live in ("<!channel>", "<@U0HOSTILE>", "<b>", "*all*", "_the_", "~old~", "`alerts`"):
        assert live not in raw, f"{live!r} would be live in {raw!r}"
    assert " & " not in raw  # a bare ampersand must be &amp;


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

    walk(blocks)
    return found


def test_a_hostile_title_shows_literally_in_blocks_and_fallbacks(slack, slack_emulator, team):
    summary = start_retro(slack, slack_emulator, team, HOSTILE)
    started = replies(slack_emulator, slack.last_response_url)[0].text
    assert_literal(started)
    assert_literal(summary.text)

    item_id = add_item(slack, slack_emulator, team, HOSTILE, assignee=team.member)
    summary = summary_message(slack_emulator, team)
    assert_literal(summary.text)
    assert_literal(item_lines(summary)[item_id])
    for text in mrkdwn_texts(summary.blocks):
        assert "<!channel>" not in text and "<@U0HOSTILE>" not in text

    # The line's controls are an overflow menu, which Slack gives no accessibility label:
    # screen readers read the line's text (naming the item) right before it.
    menu = next(
        b["accessory"]
        for b in summary.blocks
        if b.get("block_id") == retro_ids.item_block_id(item_id)
    )
    assert menu["type"] == "overflow"
    assert all(o["text"]["type"] == "plain_text" for o in menu["options"])
    assert "Fix" not in str([o["value"] for o in menu["options"]])


def test_the_jira_connect_fallback_does_not_carry_the_authorize_url(slack, team):
    from tests.flows_jira import start_oauth

    reply, url = start_oauth(slack, team)
    assert url.startswith("http")
    assert url not in reply.json()["text"] and "state" not in reply.json()["text"]
