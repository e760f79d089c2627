"""Every Slack request is verified: bad, stale or malformed signatures get 401."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest


def command_body(team) -> bytes:
    return urlencode(
        {
            "team_id": team.team_id,
            "user_id": team.member,
            "channel_id": team.channel,
            "command": "/retro",
            "text": "help",
            "trigger_id": "1.2.3",
            "response_url": "http://127.0.0.1:9/nowhere",
        }
    ).encode()


def test_valid_signature_is_accepted(slack, team):
    body = command_body(team)
    response = slack.raw(body, slack.sign(body, str(int(time.time()))))
    assert response.status_code == 200
    assert "/retro start" in response.text


@pytest.mark.parametrize(
    "tamper",
    [
        "bad_signature",
        "stale",
        "future",
        "non_numeric",
        "missing_timestamp",
        "missing_signature",
        "body_changed",
    ],
)
def test_bad_signatures_get_401(slack, team, slack_emulator, tamper):
    body = command_body(team)
    now = int(time.time())
    headers = slack.sign(body, str(now))
    if tamper == "bad_signature":
        headers["X-Slack-Signature"] = "v0=" + "0" * 64
    elif tamper == "stale":
        headers = slack.sign(body, str(now - 6 * 60))
    elif tamper == "future":
        headers = slack.sign(body, str(now + 6 * 60))
    elif tamper == "non_numeric":
        headers["X-Slack-Request-Timestamp"] = "yesterday"
    elif tamper == "missing_timestamp":
        del headers["X-Slack-Request-Timestamp"]
    elif tamper == "missing_signature":
        del headers["X-Slack-Signature"]
    elif tamper == "body_changed":
        body = body.replace(b"help", b"list")
    calls_before = len(slack_emulator.calls)
    response = slack.raw(body, headers)
    assert response.status_code == 401
    assert "/retro" not in response.text  # nothing was run
    assert len(slack_emulator.calls) == calls_before


def test_oversized_body_is_refused(slack, team):
    body = command_body(team) + b"&padding=" + b"x" * (1024 * 1024 + 1)
    response = slack.raw(body, slack.sign(body, str(int(time.time()))))
    assert response.status_code == 413
