"""SlackRequests over Socket Mode: the same payloads, sent as envelopes down the app's
WebSocket (socket_mode.py) instead of signed posts to /slack/events."""

from __future__ import annotations

import json
import urllib.parse
from typing import TYPE_CHECKING, Any

import httpx

from .requests import JSON, SlackRequests

if TYPE_CHECKING:
    from .emulator import SlackEmulator
    from .socket_mode import Envelope

ENVELOPE_TYPES = {"command": "slash_commands", "event": "events_api"}  # else "interactive"


class SocketModeRequests(SlackRequests):
    """SlackRequests whose requests travel as Socket Mode envelopes instead of signed HTTP
    posts; each method returns the ack as an httpx.Response (200 with its payload, or 504
    when no ack came), so the flow helpers work unchanged."""

    def __init__(self, emulator: SlackEmulator, **kwargs: Any) -> None:
        super().__init__("http://socket-mode.invalid", "", emulator, **kwargs)

    def _send(self, body: bytes, content_type: str, ack) -> httpx.Response:
        if content_type == JSON:
            payload = json.loads(body)
        else:
            form = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
            payload = json.loads(form["payload"]) if "payload" in form else form
        envelope_type = ENVELOPE_TYPES.get(ack.kind, "interactive")
        envelope = self.emulator.socket_mode.send(envelope_type, payload, self.timeout)
        response = _as_response(envelope)
        self._after(response, envelope.elapsed or self.timeout, ack)
        return response


def _as_response(envelope: Envelope) -> httpx.Response:
    if envelope.ack is None:
        return httpx.Response(504, text="no ack over the socket")
    payload = envelope.ack.get("payload")
    if payload is None:
        return httpx.Response(200)
    return httpx.Response(200, json=payload)
