"""Signed requests from "Slack" to the app's /slack/events, shaped as Slack sends them.

Every method builds the payload Slack would send, signs the exact bytes it posts
(v0 HMAC, timestamp from time.time() so freezegun applies), posts it, and tells
the emulator what the app answered, so that what Slack does with an ack happens
there too (an in_channel reply is posted, a submitted modal closes or shows its
errors, an options list is limit-checked, a slow ack is a violation).

Buttons and menus are looked up in the message or view they are clicked in, so a
test names the action_id and gets the real block_id, value and element type:

    slack.block_action("T1", "U1", "retry_sync", channel_id="C1", message_ts=summary.ts)
    view = emu.open_views("U1")[-1]
    slack.view_submission("T1", "U1", view, {"title": {"title_input": text_value("Fix")}})

`SlackRequests` is synchronous (for an app served in another thread); use
`AsyncSlackRequests` (same methods, awaitable) when the app shares the test's loop.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import httpx

from ..loopback_server import real_monotonic
from .emulator import SlackEmulator
from .models import Ephemeral, Message, View

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
VERIFICATION_TOKEN = "legacy-verification-token"  # deprecated by Slack, still sent


# -- view state leaves ---------------------------------------------------------------------


def _plain(text: str) -> dict:
    return {"type": "plain_text", "text": text, "emoji": True}


def text_value(value: str | None) -> dict:
    return {"type": "plain_text_input", "value": value}


def date_value(date: str | None) -> dict:
    return {"type": "datepicker", "selected_date": date}


def user_value(user_id: str | None) -> dict:
    return {"type": "users_select", "selected_user": user_id}


def option_value(value: str, text: str | None = None, *, type: str = "static_select") -> dict:
    return {"type": type, "selected_option": {"text": _plain(text or value), "value": value}}


def options_value(
    options: list[str | tuple[str, str]], *, type: str = "multi_static_select"
) -> dict:
    """[value, ...] or [(value, text), ...] as selected_options."""
    pairs = [o if isinstance(o, tuple) else (o, o) for o in options]
    return {"type": type, "selected_options": [{"text": _plain(t), "value": v} for v, t in pairs]}


def checkbox_values(*values: str | tuple[str, str]) -> dict:
    return options_value(list(values), type="checkboxes")


@dataclass
class _Ack:
    kind: str
    team_id: str
    user_id: str
    channel_id: str | None = None
    view_id: str | None = None
    response_url: str | None = None


class GhostClick(AssertionError):
    """A click no Slack client could send: the control is not on the surface it names (or
    that surface is gone, closed, or not the user's). Slack only sends what a user sees."""


class SlackRequests:
    def __init__(
        self,
        app_url: str,
        signing_secret: str,
        emulator: SlackEmulator,
        *,
        api_app_id: str = "A0UNPACK",
        timeout: float = 10.0,
    ):
        self.events_url = app_url.rstrip("/") + "/slack/events"
        self.signing_secret = signing_secret
        self.emulator = emulator
        self.api_app_id = api_app_id
        self.timeout = timeout
        # What the last request carried, for tests that need its ids.
        self.last_payload: dict[str, Any] | None = None
        self.last_response_url: str | None = None
        self.last_trigger_id: str | None = None
        self._client = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._client.close()

    # -- signing and raw access -----------------------------------------------------------

    def sign(self, body: bytes, timestamp: str) -> dict[str, str]:
        base = b"v0:" + timestamp.encode() + b":" + body
        digest = hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": f"v0={digest}"}

    def raw(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        """Post bytes with exactly these headers (signature tests); no ack handling."""
        return self._client.post(self.events_url, content=body, headers=headers)

    # -- slash commands, shortcuts, interactivity -----------------------------------------

    def command(
        self,
        team_id: str,
        user_id: str,
        channel_id: str,
        command: str,
        text: str = "",
        *,
        trigger_id: str | None = None,
    ) -> httpx.Response:
        form = {
            "token": VERIFICATION_TOKEN,
            "team_id": team_id,
            "team_domain": self._domain(team_id),
            "channel_id": channel_id,
            "channel_name": self._channel_name(team_id, channel_id),
            "user_id": user_id,
            "user_name": self._user_name(team_id, user_id),
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": self._response_url(team_id, channel_id, user_id=user_id),
            "trigger_id": trigger_id or self._trigger(team_id, user_id),
        }
        self.last_payload = form
        body = urllib.parse.urlencode(form).encode()
        ack = _Ack("command", team_id, user_id, channel_id, response_url=form["response_url"])
        return self._send(body, FORM, ack)

    def message_shortcut(
        self,
        team_id: str,
        user_id: str,
        channel_id: str,
        message: dict | Message,
        *,
        callback_id: str = "sync_to_jira",
    ) -> httpx.Response:
        """Shortcut on `message`; a message the emulator does not know is added as a user's."""
        msg = self._known_message(team_id, user_id, channel_id, message)
        payload = {
            **self._base("message_action", team_id, user_id),
            "callback_id": callback_id,
            "trigger_id": self._trigger(team_id, user_id),
            "action_ts": _now_ts(),
            "channel": self._channel(team_id, channel_id),
            "message_ts": msg["ts"],
            "message": msg,
            "response_url": self._response_url(team_id, channel_id, user_id=user_id),
        }
        return self._interactive(payload, _Ack("message_action", team_id, user_id, channel_id))

    def block_action(
        self,
        team_id: str,
        user_id: str,
        action_id: str,
        *,
        value: Any = None,
        block_id: str = "b",
        channel_id: str | None = None,
        message_ts: str | None = None,
        view: dict | View | None = None,
        action_type: str = "button",
        selected_option: Any = None,
        values: dict | None = None,
        forged: bool = False,
    ) -> httpx.Response:
        """A click in a channel message (channel_id + message_ts), in an ephemeral message
        the user sees in that channel (channel_id, message_ts=None), or in a view (view=).

        The element is looked up by action_id (and block_id / value / selected_option when
        given) in the surface as it is now; its block_id, type, text and value are sent.
        A control the surface does not show raises GhostClick: Slack only sends clicks on
        what the user sees. forged=True sends it anyway, for tests of the app's own checks
        on the ids a payload carries. `values` is the view's state for view clicks.
        """
        wanted = None if block_id == "b" else block_id
        payload = self._base("block_actions", team_id, user_id)
        payload["trigger_id"] = self._trigger(team_id, user_id)
        if view is not None:
            current = self._clicked_view(team_id, user_id, view, forged)
            current["state"] = {"values": values or {}}
            blocks = current.get("blocks") or []
            payload.update(
                container={"type": "view", "view_id": current["id"]},
                view=current,
                state=current["state"],
            )
        elif channel_id is not None and message_ts is None:
            shown = self._clicked_ephemeral(
                team_id, user_id, channel_id, (action_id, wanted, value, selected_option)
            )
            blocks = shown.blocks if shown else []
            payload.update(
                container={
                    "type": "message",
                    "message_ts": shown.message_ts if shown else _now_ts(),
                    "channel_id": channel_id,
                    "is_ephemeral": True,
                },
                channel=self._channel(team_id, channel_id),
                state={"values": values or {}},
                response_url=self._response_url(
                    team_id, channel_id, user_id=user_id, ephemeral=shown
                ),
            )
        elif channel_id is not None:
            known = self.emulator.find_message(team_id, channel_id, message_ts or "")
            if known is None and not forged:
                raise GhostClick(f"no message {message_ts} in {channel_id} to click in")
            msg = (
                known.payload()
                if known
                else {"type": "message", "ts": message_ts, "text": "", "blocks": []}
            )
            blocks = msg["blocks"]
            payload.update(
                container={
                    "type": "message",
                    "message_ts": message_ts,
                    "channel_id": channel_id,
                    "is_ephemeral": False,
                },
                channel=self._channel(team_id, channel_id),
                state={"values": values or {}},
                response_url=self._response_url(team_id, channel_id, message_ts, user_id=user_id),
                message=msg,
            )
        else:
            raise ValueError("block_action needs channel_id (a message) or view (a modal/home)")
        found = _find_element(blocks, action_id, wanted, value, selected_option)
        if found is None and not forged:
            raise GhostClick(_not_shown(action_id, wanted, value, blocks))
        payload["actions"] = [
            _action(
                action_id,
                block_id,
                found,
                action_type=action_type,
                value=value,
                selected_option=selected_option,
            )
        ]
        ack = _Ack("block_actions", team_id, user_id, channel_id, payload.get("view", {}).get("id"))
        return self._interactive(payload, ack)

    def view_submission(
        self, team_id: str, user_id: str, view: dict | View, values: dict
    ) -> httpx.Response:
        """Submit `view` (as the app opened it) with {block_id: {action_id: leaf}}.

        Input blocks missing from `values` are sent empty, as Slack does.
        """
        current = self._current_view(view)
        current["state"] = {"values": _full_state(current.get("blocks") or [], values)}
        payload = {
            **self._base("view_submission", team_id, user_id),
            "trigger_id": self._trigger(team_id, user_id),
            "view": current,
            "response_urls": [],
        }
        return self._interactive(
            payload, _Ack("view_submission", team_id, user_id, view_id=current["id"])
        )

    def block_suggestion(
        self,
        team_id: str,
        user_id: str,
        action_id: str,
        value: str,
        *,
        view: dict | View,
        block_id: str = "b",
    ) -> httpx.Response:
        current = self._current_view(view)
        if block_id == "b":
            found = _find_element(current.get("blocks") or [], action_id, None, None)
            block_id = found[0] if found else block_id
        payload = {
            **self._base("block_suggestion", team_id, user_id),
            "container": {"type": "view", "view_id": current["id"]},
            "action_id": action_id,
            "block_id": block_id,
            "value": value,
            "view": current,
        }
        return self._interactive(
            payload, _Ack("block_suggestion", team_id, user_id, view_id=current["id"])
        )

    # -- Events API -----------------------------------------------------------------------

    def event(self, team_id: str, event: dict) -> httpx.Response:
        ws = self.emulator.workspaces.get(team_id)
        now = time.time()
        envelope = {
            "token": VERIFICATION_TOKEN,
            "team_id": team_id,
            "api_app_id": self.api_app_id,
            "event": {"event_ts": f"{now:.6f}", **event},
            "type": "event_callback",
            "event_id": f"Ev{secrets.token_hex(5).upper()}",
            "event_time": int(now),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": team_id,
                    "user_id": ws.bot_user_id if ws else None,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
        self.last_payload = envelope
        return self._send(json.dumps(envelope).encode(), JSON, _Ack("event", team_id, ""))

    def app_home_opened(self, team_id: str, user_id: str, *, tab: str = "home") -> httpx.Response:
        return self.event(
            team_id,
            {"type": "app_home_opened", "user": user_id, "channel": f"D{user_id[1:]}", "tab": tab},
        )

    # -- leaf helpers for view state (also module functions) ------------------------------

    text_value = staticmethod(text_value)
    date_value = staticmethod(date_value)
    user_value = staticmethod(user_value)
    option_value = staticmethod(option_value)
    options_value = staticmethod(options_value)
    checkbox_values = staticmethod(checkbox_values)

    # -- plumbing -------------------------------------------------------------------------

    def _send(self, body: bytes, content_type: str, ack: _Ack) -> httpx.Response:
        headers = {"Content-Type": content_type, **self.sign(body, str(int(time.time())))}
        started = real_monotonic()
        response = self._client.post(self.events_url, content=body, headers=headers)
        self._after(response, real_monotonic() - started, ack)
        return response

    def _after(self, response: httpx.Response, elapsed: float, ack: _Ack) -> None:
        self.emulator.apply_ack(
            ack.kind,
            team_id=ack.team_id,
            user_id=ack.user_id,
            status=response.status_code,
            body=_parsed(response),
            elapsed=elapsed,
            channel_id=ack.channel_id,
            view_id=ack.view_id,
            response_url=ack.response_url,
        )

    def _interactive(self, payload: dict, ack: _Ack) -> httpx.Response:
        self.last_payload = payload
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return self._send(body, FORM, ack)

    def _base(self, kind: str, team_id: str, user_id: str) -> dict[str, Any]:
        name = self._user_name(team_id, user_id)
        return {
            "type": kind,
            "token": VERIFICATION_TOKEN,
            "api_app_id": self.api_app_id,
            "team": {"id": team_id, "domain": self._domain(team_id)},
            "user": {"id": user_id, "username": name, "name": name, "team_id": team_id},
            "enterprise": None,
            "is_enterprise_install": False,
        }

    def _trigger(self, team_id: str, user_id: str) -> str:
        self.last_trigger_id = self.emulator.trigger_id(team_id=team_id, user_id=user_id)
        return self.last_trigger_id

    def _response_url(
        self,
        team_id: str,
        channel_id: str,
        message_ts: str | None = None,
        *,
        user_id: str | None = None,
        ephemeral: Ephemeral | None = None,
    ) -> str:
        self.last_response_url = self.emulator.response_url(
            team_id=team_id,
            channel_id=channel_id,
            message_ts=message_ts,
            user_id=user_id,
            ephemeral=ephemeral,
        )
        return self.last_response_url

    def _clicked_view(self, team_id: str, user_id: str, view: dict | View, forged: bool) -> dict:
        """The view as the user sees it now; GhostClick when they cannot see it: never
        opened, another user's, or a modal that is closed or has another on top of it."""
        view_id = view.id if isinstance(view, View) else view["id"]
        known = self.emulator.views.get(view_id)
        problem = None
        if known is None:
            problem = "was never opened or published"
        elif known.team_id != team_id or known.user not in (None, user_id):
            problem = f"is {known.user}'s in {known.team_id}, not {user_id}'s"
        elif known.type == "modal":
            stack = self.emulator.open_views(user_id, team_id=team_id)
            if not stack or stack[-1].id != view_id:
                problem = "is not the modal on top (closed, or another was pushed)"
        if problem and not forged:
            raise GhostClick(f"view {view_id} {problem}")
        return self._current_view(view)

    def _clicked_ephemeral(
        self, team_id: str, user_id: str, channel_id: str, wanted: tuple
    ) -> Ephemeral | None:
        """The newest ephemeral message the user sees in the channel showing the control
        (None when none does: block_action then raises, unless forged)."""
        for shown in self.emulator.visible_ephemerals(team_id, user_id, channel_id):
            if _find_element(shown.blocks, *wanted):
                return shown
        return None

    def _current_view(self, view: dict | View) -> dict:
        # Slack sends the view as it is now (latest hash and blocks), not as first opened.
        view_id = view.id if isinstance(view, View) else view["id"]
        known = self.emulator.views.get(view_id)
        source = known.view if known else (view.view if isinstance(view, View) else view)
        return json.loads(json.dumps(source))

    def _known_message(
        self, team_id: str, user_id: str, channel_id: str, message: dict | Message
    ) -> dict:
        if isinstance(message, Message):
            return message.payload()
        msg = {"type": "message", "user": user_id, "team": team_id, "blocks": [], **message}
        msg.setdefault("ts", _now_ts())
        if self.emulator.find_message(team_id, channel_id, msg["ts"]) is None:
            self.emulator.add_user_message(
                team_id,
                channel_id,
                msg["user"],
                msg.get("text", ""),
                ts=msg["ts"],
                thread_ts=msg.get("thread_ts"),
                blocks=msg["blocks"],
            )
        return msg

    def _domain(self, team_id: str) -> str:
        ws = self.emulator.workspaces.get(team_id)
        return ws.domain if ws else team_id.lower()

    def _user_name(self, team_id: str, user_id: str) -> str:
        ws = self.emulator.workspaces.get(team_id)
        user = ws.users.get(user_id) if ws else None
        return user["name"] if user else user_id.lower()

    def _channel_name(self, team_id: str, channel_id: str) -> str:
        ws = self.emulator.workspaces.get(team_id)
        channel = ws.channels.get(channel_id) if ws else None
        return channel["name"] if channel else channel_id.lower()

    def _channel(self, team_id: str, channel_id: str) -> dict:
        return {"id": channel_id, "name": self._channel_name(team_id, channel_id)}


class AsyncSlackRequests(SlackRequests):
    """Same methods, each returning an awaitable; for an app served on the test's loop."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._client.close()
        self._async_client = httpx.AsyncClient(timeout=self.timeout)

    async def aclose(self) -> None:
        await self._async_client.aclose()

    async def raw(self, body: bytes, headers: dict[str, str]) -> httpx.Response:  # type: ignore[override]
        return await self._async_client.post(self.events_url, content=body, headers=headers)

    async def _send(self, body: bytes, content_type: str, ack: _Ack) -> httpx.Response:  # type: ignore[override]
        headers = {"Content-Type": content_type, **self.sign(body, str(int(time.time())))}
        started = real_monotonic()
        response = await self._async_client.post(self.events_url, content=body, headers=headers)
        self._after(response, real_monotonic() - started, ack)
        return response


# -- finding what was clicked --------------------------------------------------------------


def _elements(blocks: list) -> list[tuple[str | None, dict]]:
    found = []
    for block in blocks:
        for el in [*(block.get("elements") or []), block.get("accessory"), block.get("element")]:
            if isinstance(el, dict) and "action_id" in el:
                found.append((block.get("block_id"), el))
    return found


def _find_element(
    blocks: list, action_id: str, block_id: str | None, value: Any, selected: Any = None
) -> tuple[str | None, dict] | None:
    for bid, el in _elements(blocks):
        if el["action_id"] != action_id or (block_id is not None and bid != block_id):
            continue
        if _offers(el, value, selected):
            return bid, el
    return None


def _offers(element: dict, value: Any, selected: Any) -> bool:
    """Whether clicking `element` can send this value or choice: a button sends its own
    value, a menu one of its options. Free input (dates, users, external options) can be
    anything."""
    if element.get("type") == "button":
        return value is None or element.get("value") == value
    offered = {o.get("value") for o in _options(element)}
    if not offered:
        return True
    if selected is not None:
        chosen = selected if isinstance(selected, list) else [selected]
        return all(c.get("value") in offered for c in chosen)
    return value is None or value in offered


def _options(element: dict) -> list[dict]:
    groups = element.get("option_groups") or []
    return [*(element.get("options") or []), *(o for g in groups for o in g.get("options", []))]


def _not_shown(action_id: str, block_id: str | None, value: Any, blocks: list) -> str:
    shown = [(bid, el["action_id"], el.get("value")) for bid, el in _elements(blocks)]
    return (
        f"no control {action_id!r} (block_id={block_id!r}, value={value!r}) on the surface "
        f"clicked; Slack could not send this click. The surface shows: {shown[:20]}"
    )


def _action(
    action_id: str,
    block_id: str,
    found: tuple | None,
    *,
    action_type: str,
    value: Any,
    selected_option: Any,
) -> dict:
    element = found[1] if found else {}
    kind = element.get("type", action_type)
    action: dict[str, Any] = {
        "type": kind,
        "action_id": action_id,
        "block_id": (found[0] if found else None) or block_id,
        "action_ts": _now_ts(),
    }
    if kind == "button":
        action["text"] = element.get("text") or _plain(action_id)
        if value is not None or "value" in element:
            action["value"] = value if value is not None else element["value"]
    elif kind in ("static_select", "external_select", "overflow", "radio_buttons"):
        action["selected_option"] = selected_option or _option_for(element, value)
    elif kind in ("checkboxes", "multi_static_select", "multi_external_select"):
        chosen = selected_option if selected_option is not None else [_option_for(element, value)]
        action["selected_options"] = chosen if isinstance(chosen, list) else [chosen]
    else:
        field = {
            "users_select": "selected_user",
            "conversations_select": "selected_conversation",
            "channels_select": "selected_channel",
            "datepicker": "selected_date",
            "timepicker": "selected_time",
        }.get(kind, "value")
        action[field] = value
    return action


def _option_for(element: dict, value: Any) -> dict:
    for option in element.get("options") or []:
        if option.get("value") == value:
            return option
    return {"text": _plain(str(value)), "value": value}


_EMPTY_FIELD = {
    "users_select": ("selected_user", None),
    "conversations_select": ("selected_conversation", None),
    "channels_select": ("selected_channel", None),
    "datepicker": ("selected_date", None),
    "timepicker": ("selected_time", None),
    "static_select": ("selected_option", None),
    "external_select": ("selected_option", None),
    "radio_buttons": ("selected_option", None),
    "checkboxes": ("selected_options", []),
    "multi_static_select": ("selected_options", []),
    "multi_external_select": ("selected_options", []),
    "multi_users_select": ("selected_users", []),
}


def _full_state(blocks: list, values: dict) -> dict:
    """`values` plus an empty leaf for every input block the test left out."""
    inputs = {b.get("block_id"): b for b in blocks if b.get("type") == "input"}
    unknown = [k for k in values if k not in inputs]
    if unknown:
        raise AssertionError(f"state for {unknown} but the view's input blocks are {list(inputs)}")
    state = json.loads(json.dumps(values))
    for block_id, block in inputs.items():
        element = block.get("element") or {}
        if block_id not in state and element.get("action_id"):
            field, empty = _EMPTY_FIELD.get(element.get("type"), ("value", None))
            state[block_id] = {element["action_id"]: {"type": element.get("type"), field: empty}}
    return state


def _parsed(response: httpx.Response) -> Any:
    if not response.content:
        return None
    if "json" in response.headers.get("content-type", ""):
        try:
            return response.json()
        except ValueError:
            return response.text
    return response.text


def _now_ts() -> str:
    return f"{time.time():.6f}"
