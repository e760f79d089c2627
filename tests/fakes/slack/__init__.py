"""Slack emulator for tests: the Web API (`SlackEmulator`) and signed requests from "Slack"
to the app (`SlackRequests`). Test tools only: the app never imports them.

    emu = SlackEmulator(); emu.start()
    ws = emu.add_workspace("T1")
    slack = SlackRequests(app_url, signing_secret, emu)
    slack.command("T1", "U1", "C1", "/retro", "start Sprint 42")
    call = emu.wait_for_call("chat.postMessage", lambda c: c.team_id == "T1")

One module per concern: `emulator` (the server and its state), `methods` (the Web API
methods), `responses` (what Slack does with acks and response_url posts), `requests`
(payloads the app receives), `models` (what the emulator remembers), `block_kit_limits`.
"""

from .emulator import SlackEmulator
from .models import Call, Ephemeral, Message, ResponsePost, SlackError, View, Violation, Workspace
from .requests import AsyncSlackRequests, GhostClick, SlackRequests

__all__ = [
    "AsyncSlackRequests",
    "Call",
    "Ephemeral",
    "GhostClick",
    "Message",
    "ResponsePost",
    "SlackEmulator",
    "SlackError",
    "SlackRequests",
    "View",
    "Violation",
    "Workspace",
]
