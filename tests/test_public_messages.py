"""The harness's no-email rule fails a test that posts a person's email in a channel, and
lets it through in a direct message, where only that person reads it."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.flows_retro import summary_message
from tests.flows_webhooks import synced_items, token_webhook, wait_for_thread


def _post(slack_emulator, team, channel: str, text: str) -> dict:
    token = slack_emulator.workspaces[team.team_id].bot_token
    return httpx.post(
        f"{slack_emulator.api_url}chat.postMessage",
        headers={"Authorization": f"Bearer {token}"},
        json={"channel": channel, "text": text},
    ).json()


@pytest.mark.slack_violations_expected
def test_an_email_in_a_channel_message_is_a_violation_and_in_a_dm_is_not(slack_emulator, team):
    before = len(slack_emulator.violations)
    assert _post(slack_emulator, team, f"D{team.member[1:]}", "yours: max@example.com")["ok"]
    assert len(slack_emulator.violations) == before

    _post(slack_emulator, team, team.channel, "unassigned: max@example.com has no account")

    try:
        [found] = slack_emulator.violations[before:]
        assert "max@example.com" in str(found)
    finally:
        # The emulator lives for the whole session; flows that check every violation so far
        # must not see the one provoked here.
        del slack_emulator.violations[before:]


def test_jira_accounts_named_by_their_email_are_shown_without_it(
    app, slack, slack_emulator, db, team, site
):
    """Jira may display an account that has no name of its own by its address: the
    connected account on the card and in the created notice, and who moved an issue, are
    shown by the part before the @ (the no-email rule fails the test otherwise)."""
    robot = f"robot.{uuid.uuid4().hex[:6]}@example.com"
    token_webhook(app, slack, slack_emulator, db, team, site, display_name=robot)
    address = f"lee.{uuid.uuid4().hex[:6]}@example.com"
    mover = site.add_user(address, address)  # Jira shows the address where a name would be
    [item] = synced_items(slack, slack_emulator, db, team, "Fix the deploy")

    site.transition(item.key, "Done", by=mover)

    [text] = wait_for_thread(slack_emulator, db, team, item.retro_id, "finished")
    assert text.startswith(f"✅ {mover.email.split('@')[0]} finished ")
    card = summary_message(slack_emulator, team)
    assert f"as {robot.split('@')[0]}" in str(card.blocks)
    slack_emulator.assert_no_violations()
