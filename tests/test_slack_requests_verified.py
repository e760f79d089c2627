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


JUNK_BODIES = {
    "not_utf8": b"\xff\xfe\x00junk",
    "bad_percent": b"payload=%FF",
    "json_junk": b'{"type": \xff}',
    # Well-formed JSON, but not the object Bolt reads its fields from.
    "payload_list": b"payload=%5B%5D",
    "payload_null": b"payload=null",
    "payload_string": b"payload=%22x%22",
    "json_list": b"[1]",
    "event_null": b'{"type": "event_callback", "event": null}',
    "event_string": b'{"type": "event_callback", "event": "type"}',
    # Nested past the parser's recursion limit, as a form's payload and as JSON.
    "payload_deep": b"payload=" + b"%5B" * 100_000,
    "json_deep": b'{"event": ' + b"[" * 100_000,
}


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "application/json"])
@pytest.mark.parametrize("name", sorted(JUNK_BODIES))
def test_unsigned_junk_gets_401_never_500(slack, name, content_type):
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(int(time.time())),
        "X-Slack-Signature": "v0=" + "0" * 64,
    }
    assert slack.raw(JUNK_BODIES[name], headers).status_code == 401


# Sent as Latin-1 bytes, which is how the server reads header values: "²" and "¹²³" pass
# str.isdigit() but are not numbers int() can read.
@pytest.mark.parametrize("timestamp", ["²", "¹²³", "1" * 5000, "+123", "-1", "1e9", "0x10", ""])
def test_junk_timestamps_get_401(slack, timestamp):
    body = b"payload=%FF"
    headers = {key.encode(): value.encode() for key, value in slack.sign(body, "1").items()}
    headers[b"X-Slack-Request-Timestamp"] = timestamp.encode("latin-1")
    assert slack.raw(body, headers).status_code == 401


@pytest.mark.parametrize("name", sorted(JUNK_BODIES))
def test_signed_junk_is_refused_without_a_500(slack, name):
    body = JUNK_BODIES[name]
    json_like = body.startswith((b"{", b"["))
    kind = "application/json" if json_like else "application/x-www-form-urlencoded"
    headers = {**slack.sign(body, str(int(time.time()))), "Content-Type": kind}
    response = slack.raw(body, headers)
    assert response.status_code in (400, 401)
