"""The harness's no-email rule fails a test that posts a person's email in a channel, and
lets it through in a direct message, where only that person reads it."""

from __future__ import annotations

import httpx
import pytest


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
