"""Slack's Socket Mode, emulated: `apps.connections.open` hands out a loopback WebSocket
URL, the app connects and gets Slack's `hello`, and tests push envelopes (slash commands,
interactivity, events) down the socket and wait for the app's ack of each.

    emu.app_token                        # the xapp- token to give the app
    emu.socket_mode.wait_for_connection()
    SocketModeRequests(emu).command(...)  # socket_requests.py: SlackRequests over it

Acks are checked as Slack checks them: within 3 seconds, naming the envelope; what an
ack carries (a modal's errors, an in-channel reply) is applied as for an HTTP answer.
The WebSocket lives on the emulator's own event loop; tests send from their thread.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from ..loopback_server import real_monotonic
from .models import SlackError

if TYPE_CHECKING:
    from .emulator import SlackEmulator


@dataclass
class Envelope:
    envelope_id: str
    type: str
    payload: dict
    sent_at: float
    acked: threading.Event = field(default_factory=threading.Event)
    ack: dict | None = None
    elapsed: float | None = None


@dataclass
class _Connection:
    websocket: WebSocket
    loop: asyncio.AbstractEventLoop


class SocketModeHub:
    def __init__(self, emulator: SlackEmulator) -> None:
        self.emulator = emulator
        self._lock = threading.Lock()
        self._tickets: set[str] = set()
        self._connections: list[_Connection] = []
        self._envelopes: dict[str, Envelope] = {}
        self.connected = threading.Event()
        self.unknown_acks: list[Any] = []  # acks naming no envelope we sent

    # -- apps.connections.open ------------------------------------------------------------

    def open_url(self, authorization: str) -> str:
        token = authorization[7:] if authorization.lower().startswith("bearer ") else ""
        if not token:
            raise SlackError("not_authed")
        if not token.startswith("xapp-"):
            raise SlackError("not_allowed_token_type")
        if token != self.emulator.app_token:
            raise SlackError("invalid_auth")
        ticket = secrets.token_hex(8)
        with self._lock:
            self._tickets.add(ticket)
        host = self.emulator.base_url.removeprefix("http://")
        return f"ws://{host}/socket-mode/{ticket}"

    # -- the WebSocket --------------------------------------------------------------------

    async def serve(self, websocket: WebSocket) -> None:
        with self._lock:
            known = websocket.path_params["ticket"] in self._tickets
            self._tickets.discard(websocket.path_params["ticket"])
        if not known:
            await websocket.close(code=4001)
            return
        await websocket.accept()
        connection = _Connection(websocket, asyncio.get_running_loop())
        await websocket.send_text(json.dumps(_hello(self.emulator.app_id)))
        with self._lock:
            self._connections.append(connection)
        self.connected.set()
        try:
            while True:
                self._take_ack(await websocket.receive_text())
        except WebSocketDisconnect:
            pass
        finally:
            with self._lock:
                self._connections.remove(connection)
                if not self._connections:
                    self.connected.clear()

    def _take_ack(self, text: str) -> None:
        try:
            ack = json.loads(text)
        except ValueError:
            ack = text
        envelope_id = ack.get("envelope_id") if isinstance(ack, dict) else None
        with self._lock:
            envelope = self._envelopes.get(envelope_id or "")
        if envelope is None or envelope.acked.is_set():
            self.unknown_acks.append(ack)
            return
        envelope.elapsed = real_monotonic() - envelope.sent_at
        envelope.ack = ack
        envelope.acked.set()

    # -- for tests --------------------------------------------------------------------------

    def wait_for_connection(self, timeout: float = 10.0) -> None:
        assert self.connected.wait(timeout), "the app did not open a Socket Mode connection"

    def send(self, envelope_type: str, payload: dict, timeout: float = 10.0) -> Envelope:
        """Push one envelope to the app and wait (up to `timeout`) for its ack."""
        self.wait_for_connection()
        with self._lock:
            connection = self._connections[-1]
        envelope = Envelope(str(uuid.uuid4()), envelope_type, payload, real_monotonic())
        with self._lock:
            self._envelopes[envelope.envelope_id] = envelope
        message = {
            "envelope_id": envelope.envelope_id,
            "type": envelope_type,
            "payload": payload,
            "accepts_response_payload": envelope_type != "events_api",
            "retry_attempt": 0,
            "retry_reason": "",
        }
        asyncio.run_coroutine_threadsafe(
            connection.websocket.send_text(json.dumps(message)), connection.loop
        ).result(timeout)
        envelope.acked.wait(timeout)
        return envelope


def _hello(app_id: str) -> dict:
    return {
        "type": "hello",
        "num_connections": 1,
        "debug_info": {"host": "applink-emulator", "approximate_connection_time": 18060},
        "connection_info": {"app_id": app_id},
    }
