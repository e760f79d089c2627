"""A Slack Web API emulator for end-to-end tests: a real HTTP server on loopback.

The app under test talks to it exactly as it talks to Slack (SLACK_API_URL =
`emulator.api_url`), so slack-sdk's real client, retries and error handling run.
The emulator keeps what Slack would keep (messages, views, home tabs, response_url
posts), records every call, enforces Block Kit limits and trigger-id rules, and
can be told to fail. Tests run in another thread than the server, so all state is
guarded by one lock; accessors return copies of lists.

    emu = SlackEmulator(); emu.start()
    ws = emu.add_workspace("T1")
    ... drive the app with SlackRequests ...
    call = emu.wait_for_call("chat.postMessage", lambda c: c.team_id == "T1")
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import re
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from tests.waiting import WaitTimedOut, async_wait_until, describe, timed_out, wait_until

from ..loopback_server import LoopbackServer, real_monotonic
from . import methods as slack_methods
from . import responses as slack_responses
from .models import (
    DEFAULT_SCOPES,
    Call,
    Ephemeral,
    Fault,
    Message,
    ResponsePost,
    SlackError,
    Trigger,
    View,
    Violation,
    Workspace,
)
from .socket_mode import SocketModeHub

T = TypeVar("T")
HOLD_MAX = 30.0  # seconds a held answer waits at most (a test that failed never lets it go)


def _any_call(call: Call) -> bool:
    return True


class SlackEmulator:
    def __init__(self) -> None:
        # Client credentials oauth.v2.access expects; None accepts any non-empty value.
        # Set them to the app's SLACK_CLIENT_ID/SECRET to have them checked.
        self.client_id: str | None = None
        self.client_secret: str | None = None
        self.app_id = "A0UNPACK"
        self.trigger_ttl = 3.0  # seconds a trigger_id stays usable
        self.response_url_max_uses = 5  # Slack: 5 posts within 30 minutes
        # The app-level token apps.connections.open accepts (Socket Mode).
        self.app_token = "xapp-1-A0UNPACK-1-" + secrets.token_hex(16)
        self.socket_mode = SocketModeHub(self)
        self.api_url = ""
        self.base_url = ""
        self._lock = threading.RLock()
        self._server: LoopbackServer | None = None
        self._ids = itertools.count(1)
        self.reset()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        # wsproto: uvicorn's WebSocket support for the Socket Mode endpoint.
        self._server = LoopbackServer(self._asgi_app(), name="slack-emulator", ws="wsproto")
        self._server.start()
        self.base_url = self._server.url
        self.api_url = f"{self.base_url}/api/"

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> SlackEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget everything but the server and its settings."""
        with self._lock:
            self.workspaces: dict[str, Workspace] = {}
            self.calls: list[Call] = []
            self.responses: list[ResponsePost] = []
            self.views: dict[str, View] = {}
            self.ephemerals: list[Ephemeral] = []  # from chat.postEphemeral
            # Ephemeral replies from acks and response_url posts: not API calls, so apart
            # from `ephemerals`, but shown to the user (and clickable) all the same.
            self._ephemeral_replies: list[Ephemeral] = []
            self.violations: list[Violation] = []
            self._messages: list[Message] = []
            self._by_token: dict[str, Workspace] = {}
            self._homes: dict[tuple[str, str], str] = {}
            self._stacks: dict[tuple[str, str | None], list[str]] = {}
            self._triggers: dict[str, Trigger] = {}
            self._codes: dict[str, dict] = {}
            self._response_urls: dict[str, dict] = {}
            self._faults: list[Fault] = []
            self._last_ts_us = 0

    # -- set-up ---------------------------------------------------------------------------

    def add_workspace(
        self,
        team_id: str,
        *,
        name: str = "Acme",
        bot_token: str | None = None,
        domain: str | None = None,
    ) -> Workspace:
        """A workspace that has the app installed; its bot user is registered too.

        Adding a team again keeps its users and channels (and its token unless given).
        """
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "team"
        with self._lock:
            old = self.workspaces.get(team_id)
            ws = Workspace(
                team_id=team_id,
                name=name,
                domain=domain or f"{slug}-{team_id.lower()}",
                bot_token=bot_token
                or (old.bot_token if old else f"xoxb-{team_id}-{secrets.token_hex(8)}"),
                bot_user_id=f"U{team_id}BOT",
                bot_id=f"B{team_id}BOT",
                app_id=self.app_id,
                users=old.users if old else {},
                channels=old.channels if old else {},
                scopes=old.scopes if old else frozenset(DEFAULT_SCOPES.split(",")),
            )
            if old:
                self._by_token.pop(old.bot_token, None)
            self.workspaces[team_id] = ws
            self._by_token[ws.bot_token] = ws
        self.add_user(team_id, ws.bot_user_id, name="unpack", is_bot=True)
        return ws

    def workspace(self, team_id: str) -> Workspace:
        with self._lock:
            if team_id not in self.workspaces:
                raise KeyError(
                    f"no workspace {team_id!r} in the emulator; add_workspace() it first"
                )
            return self.workspaces[team_id]

    def add_user(
        self,
        team_id: str,
        user_id: str,
        *,
        name: str,
        email: str | None = None,
        is_admin: bool = False,
        is_owner: bool = False,
        is_primary_owner: bool = False,
        is_bot: bool = False,
        deleted: bool = False,
        real_name: str | None = None,
    ) -> dict:
        """A member as users.info returns it; profile.email only when given (as with Slack)."""
        profile: dict[str, Any] = {"real_name": real_name or name, "display_name": name}
        if email is not None:
            profile["email"] = email
        user = {
            "id": user_id,
            "team_id": team_id,
            "name": name,
            "real_name": real_name or name,
            "deleted": deleted,
            "is_admin": is_admin,
            "is_owner": is_owner,
            "is_primary_owner": is_primary_owner,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "tz": "Europe/Lisbon",
            "profile": profile,
        }
        with self._lock:
            self.workspace(team_id).users[user_id] = user
        return user

    def add_channel(
        self, team_id: str, channel_id: str, *, name: str, is_private: bool = False
    ) -> dict:
        """Optional: channels are open-world, this only gives one a name."""
        with self._lock:
            ws = self.workspace(team_id)
            ws.channels[channel_id] = {
                **self._channel(ws, channel_id),
                "name": name,
                "is_private": is_private,
                "is_channel": not is_private,
                "is_group": is_private,
            }
            return ws.channels[channel_id]

    def add_user_message(
        self,
        team_id: str,
        channel: str,
        user_id: str,
        text: str,
        *,
        ts: str | None = None,
        thread_ts: str | None = None,
        blocks: list | None = None,
    ) -> Message:
        """A message a person wrote (e.g. the target of a Sync to Jira shortcut)."""
        with self._lock:
            msg = Message(
                ts=ts or self._next_ts(),
                channel=channel,
                team_id=team_id,
                text=text,
                blocks=blocks or [],
                thread_ts=thread_ts,
                user=user_id,
                source="user",
            )
            self._messages.append(msg)
            return msg

    def replace_blocks(self, team_id: str, channel: str, ts: str, blocks: list[dict]) -> Message:
        """Set-up: a bot message as an earlier version of the app left it. Messages stay in
        Slack across upgrades, with the controls that version drew."""
        with self._lock:
            msg = self.message(channel, ts, team_id=team_id)
            msg.blocks = copy.deepcopy(blocks)
            return msg

    def oauth_code(
        self, team_id: str, *, installer_user_id: str, scopes: str = DEFAULT_SCOPES
    ) -> str:
        """A one-time code that oauth.v2.access exchanges for this team's bot token."""
        code = f"code-{team_id}-{secrets.token_hex(6)}"
        with self._lock:
            if team_id not in self.workspaces:
                self.add_workspace(team_id)
            self._codes[code] = {
                "team_id": team_id,
                "installer_user_id": installer_user_id,
                "scopes": scopes,
            }
        return code

    def response_url(
        self,
        *,
        team_id: str | None = None,
        channel_id: str | None = None,
        message_ts: str | None = None,
        user_id: str | None = None,
        ephemeral: Ephemeral | None = None,
    ) -> str:
        """A fresh response_url; with message_ts (or the ephemeral clicked in),
        replace_original/delete_original act on it. Its ephemeral replies are shown to
        `user_id` (when given)."""
        rid = secrets.token_hex(8)
        with self._lock:
            self._response_urls[rid] = {
                "team_id": team_id,
                "channel": channel_id,
                "message_ts": message_ts,
                "user_id": user_id,
                "ephemeral": ephemeral,
                "uses": 0,
            }
        return f"{self.base_url}/response/{rid}"

    def trigger_id(self, *, team_id: str | None = None, user_id: str | None = None) -> str:
        """A trigger id usable once, for `trigger_ttl` seconds of real time."""
        n = next(self._ids)
        trigger = f"{n}.{n}.{secrets.token_hex(8)}"
        with self._lock:
            self._triggers[trigger] = Trigger(team_id, user_id, real_monotonic())
        return trigger

    def expire_trigger(self, trigger_id: str) -> None:
        with self._lock:
            self._triggers[trigger_id].issued -= self.trigger_ttl + 1

    # -- faults ---------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        *,
        error: str = "internal_error",
        status: int = 200,
        retry_after: int | float | str | None = None,
        times: int | None = 1,
        delay: float = 0.0,
        team_id: str | None = None,
    ) -> None:
        """Answer the next `times` calls (None: all) to `method` with an error.

        status=429 with retry_after=N mimics rate limiting ({"error": "ratelimited"}); a
        str is sent as the Retry-After header as it is ("1.5", "soon", "-3": what no Slack
        should send, but a proxy might).
        `method` may also be "response_url".
        """
        if status == 429 and error == "internal_error":
            error = "ratelimited"
        with self._lock:
            self._faults.append(Fault(method, error, status, retry_after, times, delay, team_id))

    def delay(
        self, method: str, seconds: float, *, times: int | None = 1, team_id: str | None = None
    ) -> None:
        """Answer normally, but only after `seconds` (for timeout tests)."""
        with self._lock:
            self._faults.append(Fault(method, None, 200, None, times, seconds, team_id))

    def hold(self, method: str, *, team_id: str | None = None) -> threading.Event:
        """Take the next call to `method` as usual, but answer it only once the returned
        event is set (at most HOLD_MAX later): a test orders what happens while the app
        waits for Slack by events, not sleeps (the call is in `calls` once it came)."""
        held = threading.Event()
        with self._lock:
            self._faults.append(Fault(method, None, 200, None, 1, team_id=team_id, held=held))
        return held

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # -- reading state --------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def messages(
        self, channel: str, *, team_id: str | None = None, include_replies: bool = True
    ) -> list[Message]:
        """Messages in a channel (or a user id's DM), oldest first, without deleted ones."""
        with self._lock:
            found = [
                m
                for m in self._messages
                if m.channel == self._resolve_channel(m.team_id, channel)
                and not m.deleted
                and (team_id is None or m.team_id == team_id)
                and (include_replies or not m.thread_ts or m.thread_ts == m.ts)
            ]
        return sorted(found, key=lambda m: float(m.ts))

    def message(self, channel: str, ts: str, *, team_id: str | None = None) -> Message:
        for m in self.messages(channel, team_id=team_id):
            if m.ts == ts:
                return m
        raise AssertionError(
            f"no message {ts} in {channel}; there are {[m.ts for m in self.messages(channel)]}"
        )

    def thread(self, channel: str, ts: str, *, team_id: str | None = None) -> list[Message]:
        """The replies under message `ts` (not the parent), oldest first."""
        return [
            m for m in self.messages(channel, team_id=team_id) if m.thread_ts == ts and m.ts != ts
        ]

    def visible_ephemerals(self, team_id: str, user_id: str, channel: str) -> list[Ephemeral]:
        """The ephemeral messages `user_id` sees in `channel` now, newest first."""
        with self._lock:
            channel = self._resolve_channel(team_id, channel)
            found = [
                e
                for e in [*self.ephemerals, *self._ephemeral_replies]
                if e.team_id == team_id
                and e.user == user_id
                and self._resolve_channel(team_id, e.channel) == channel
                and not e.deleted
            ]
        return sorted(found, key=lambda e: float(e.message_ts), reverse=True)

    def home(self, team_id: str, user_id: str) -> dict | None:
        with self._lock:
            view = self.views.get(self._homes.get((team_id, user_id), ""))
            return view.view if view else None

    def open_views(self, user_id: str, *, team_id: str | None = None) -> list[View]:
        """The user's modal stack, bottom first."""
        with self._lock:
            return [
                self.views[v]
                for (team, user), stack in self._stacks.items()
                if user == user_id and (team_id is None or team == team_id)
                for v in stack
            ]

    def find_message(self, team_id: str, channel: str, ts: str) -> Message | None:
        with self._lock:
            return self._find_message(team_id, self._resolve_channel(team_id, channel), ts)

    def responses_to(self, url: str) -> list[ResponsePost]:
        with self._lock:
            return [r for r in self.responses if r.url == url]

    def assert_no_violations(self) -> None:
        with self._lock:
            found = list(self.violations)
        assert not found, "Slack would have rejected:\n" + "\n".join(map(str, found))

    def apply_ack(self, kind: str, **details: Any) -> None:
        """What Slack does with the app's HTTP answer; SlackRequests calls this."""
        with self._lock:
            slack_responses.apply_ack(self, kind, **details)

    # -- waiting for the app's after-ack work ---------------------------------------------

    def wait_for(
        self, predicate: Callable[[], T], timeout: float = 10.0, *, message: str | None = None
    ) -> T:
        """Poll `predicate` every 20 ms until truthy; return its value or fail the test,
        listing the last Slack calls (tests/waiting.py)."""
        try:
            return wait_until(predicate, message, timeout=timeout, every=0.02)
        except WaitTimedOut:
            raise AssertionError(self._timeout_text(predicate, timeout, message)) from None

    def wait_for_call(
        self, method: str, where: Callable[[Call], bool] = _any_call, timeout: float = 10.0
    ) -> Call:
        """The first recorded call to `method` matching `where`, waiting for it if needed."""
        return self.wait_for(
            lambda: next((c for c in self.calls_to(method) if where(c)), None),
            timeout,
            message=_call_wanted(method, where),
        )

    async def async_wait_for(
        self, predicate: Callable[[], T], timeout: float = 10.0, *, message: str | None = None
    ) -> T:
        """wait_for for tests whose app shares their event loop (does not block the loop)."""
        try:
            return await async_wait_until(predicate, message, timeout=timeout, every=0.02)
        except WaitTimedOut:
            raise AssertionError(self._timeout_text(predicate, timeout, message)) from None

    async def async_wait_for_call(
        self, method: str, where: Callable[[Call], bool] = _any_call, timeout: float = 10.0
    ) -> Call:
        return await self.async_wait_for(
            lambda: next((c for c in self.calls_to(method) if where(c)), None),
            timeout,
            message=_call_wanted(method, where),
        )

    def _timeout_text(self, predicate: Callable, timeout: float, message: str | None) -> str:
        with self._lock:
            recent = self.calls[-15:]
            violations = list(self.violations)
        lines = [
            timed_out(predicate, timeout, message),
            f"last {len(recent)} of {len(self.calls)} Slack calls:",
        ]
        lines += [f"  {c!r}" for c in recent] or ["  (none)"]
        if violations:
            lines += ["Block Kit violations:", *(f"  {v}" for v in violations)]
        return "\n".join(lines)

    # -- internals shared with methods.py / responses.py -------------------------------

    def _next_ts(self) -> str:
        # Strictly increasing even under a frozen clock.
        self._last_ts_us = max(self._last_ts_us + 1, int(time.time() * 1_000_000))
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):09d}"

    def _resolve_channel(self, team_id: str, channel: str) -> str:
        # Posting to a user id opens the DM with them, as in Slack.
        if channel[:1] in ("U", "W"):
            return f"D{channel[1:]}"
        return channel

    def _find_message(self, team_id: str, channel: str, ts: str) -> Message | None:
        return next(
            (
                m
                for m in self._messages
                if m.team_id == team_id and m.channel == channel and m.ts == ts and not m.deleted
            ),
            None,
        )

    def _channel(self, ws: Workspace, channel_id: str) -> dict:
        return ws.channels.get(channel_id) or {
            "id": channel_id,
            "name": channel_id.lower(),
            "is_channel": True,
            "is_private": False,
            "is_group": False,
            "is_im": channel_id.startswith("D"),
            "is_archived": False,
            "is_member": True,
            "context_team_id": ws.team_id,
        }

    def _violate(self, where: str, team_id: str | None, problems: list[str]) -> None:
        self.violations.append(Violation(where, team_id, list(problems)))

    def _check_trigger(self, trigger_id: str | None, team_id: str) -> Trigger:
        trigger = self._triggers.get(trigger_id or "")
        if trigger is None or (trigger.team_id and trigger.team_id != team_id):
            raise SlackError("expired_trigger_id")
        if trigger.used:
            raise SlackError("exchanged_trigger_id")
        if real_monotonic() - trigger.issued > self.trigger_ttl:
            raise SlackError("expired_trigger_id")
        return trigger

    def _close_stack(self, team_id: str, user_id: str | None) -> None:
        for view_id in self._stacks.pop((team_id, user_id), []):
            self.views[view_id].is_open = False

    def _take_fault(self, method: str, team_id: str | None) -> Fault | None:
        for fault in self._faults:
            if fault.method == method and fault.team_id in (None, team_id):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    # -- HTTP -----------------------------------------------------------------------------

    def _asgi_app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/{method}", self._serve_api, methods=["GET", "POST"]),
                Route("/response/{rid}", self._serve_response_url, methods=["POST"]),
                WebSocketRoute("/socket-mode/{ticket}", self.socket_mode.serve),
            ]
        )

    async def _serve_api(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        body = await request.body()
        args = _request_args(request, body)
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else args.pop("token", None)
        with self._lock:
            status, answer, headers, fault = self._answer(
                method, request.method, args, token, dict(request.headers)
            )
        if fault and fault.delay:
            await asyncio.sleep(fault.delay)
        if fault and fault.held:
            await asyncio.to_thread(fault.held.wait, HOLD_MAX)
        return JSONResponse(answer, status_code=status, headers=headers)

    def _answer(
        self, method: str, http_method: str, args: dict, token: str | None, headers: dict
    ) -> tuple[int, dict, dict, Fault | None]:
        ws = self._by_token.get(token or "")
        call = Call(method, args, token, ws.team_id if ws else None, time.time(), http_method)
        self.calls.append(call)
        handler = slack_methods.METHODS.get(method)
        fault = None
        try:
            if handler is None:
                raise SlackError("unknown_method")
            if method not in slack_methods.NO_BOT_TOKEN and ws is None:
                raise SlackError("invalid_auth" if token else "not_authed")
            fault = self._take_fault(method, call.team_id)
            if fault and fault.error:
                call.injected = True
                raise SlackError(fault.error, status=fault.status)
            req = slack_methods.ApiRequest(method, args, headers, ws)
            answer = {"ok": True, **handler(self, req)}
            if method == "oauth.v2.access":
                call.team_id = answer["team"]["id"]
        except SlackError as e:
            call.status = e.status
            answer = {"ok": False, "error": e.error, **e.extra}
        extra_headers = {}
        if fault and fault.retry_after is not None:
            value = fault.retry_after
            extra_headers["Retry-After"] = value if isinstance(value, str) else str(int(value))
        call.response = answer
        return call.status, answer, extra_headers, fault

    async def _serve_response_url(self, request: Request) -> JSONResponse:
        body = await request.body()
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = {"_raw": body.decode(errors="replace")}
        with self._lock:
            status, answer, delay = slack_responses.post(
                self, request.path_params["rid"], str(request.url), payload
            )
        if delay:
            await asyncio.sleep(delay)
        return JSONResponse(answer, status_code=status)


def _request_args(request: Request, body: bytes) -> dict[str, Any]:
    """Query string, form body and JSON body merged, as Slack accepts all three."""
    args: dict[str, Any] = dict(request.query_params)
    content_type = request.headers.get("content-type", "")
    if body and "json" in content_type:
        parsed = json.loads(body)
        if isinstance(parsed, dict):
            args.update(parsed)
    elif body:
        args.update(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
    return args


def _call_wanted(method: str, where: Callable) -> str:
    return f"a {method} call" + ("" if where is _any_call else f" matching {describe(where)}")
