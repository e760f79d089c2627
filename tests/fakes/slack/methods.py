"""The Web API methods the emulator serves, one function each.

Each takes the emulator and an `ApiRequest` and returns the success body (without
"ok"), or raises `SlackError`. The emulator holds the lock while they run, so they
read and change its state freely. Errors use Slack's own error codes so the app's
error handling is exercised with what it will really see.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .block_kit_limits import message_violations, view_too_large, view_violations
from .models import Ephemeral, Message, SlackError, View, Workspace
from .public_messages import email_violations

if TYPE_CHECKING:
    from .emulator import SlackEmulator


EMAIL_SCOPE = "users:read.email"


@dataclass
class ApiRequest:
    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    workspace: Workspace | None

    @property
    def ws(self) -> Workspace:
        assert self.workspace is not None  # methods in NO_AUTH never ask for it
        return self.workspace

    def require(self, key: str, error: str = "invalid_arguments") -> Any:
        value = self.args.get(key)
        if value in (None, ""):
            raise SlackError(error, response_metadata={"messages": [f"[ERROR] missing {key}"]})
        return value

    def json_arg(self, key: str) -> Any:
        # slack-sdk sends blocks/view as JSON values; form-encoded callers send strings.
        value = self.args.get(key)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise SlackError(f"invalid_{key}_format") from None
        return value


# -- auth / oauth ---------------------------------------------------------------------


def auth_test(emu: SlackEmulator, req: ApiRequest) -> dict:
    ws = req.ws
    return {
        "url": ws.url,
        "team": ws.name,
        "user": "unpack",
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "app_id": ws.app_id,
        "is_enterprise_install": False,
    }


def oauth_v2_access(emu: SlackEmulator, req: ApiRequest) -> dict:
    client_id, client_secret = _client_credentials(req)
    if not client_id or emu.client_id not in (None, client_id):
        raise SlackError("invalid_client_id")
    if not client_secret or emu.client_secret not in (None, client_secret):
        raise SlackError("bad_client_secret")
    if req.args.get("grant_type") == "refresh_token":
        raise SlackError("invalid_refresh_token")  # token rotation is off for Unpack
    grant = emu._codes.pop(req.args.get("code") or "", None)
    if grant is None:
        raise SlackError("invalid_code")
    ws = emu.workspaces[grant["team_id"]]
    ws.scopes = frozenset(s for s in grant["scopes"].split(",") if s)
    return {
        "app_id": ws.app_id,
        "authed_user": {"id": grant["installer_user_id"]},
        "scope": grant["scopes"],
        "token_type": "bot",
        "access_token": ws.bot_token,
        "bot_user_id": ws.bot_user_id,
        "team": {"id": ws.team_id, "name": ws.name},
        "enterprise": None,
        "is_enterprise_install": False,
    }


def _client_credentials(req: ApiRequest) -> tuple[str | None, str | None]:
    auth = req.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        decoded = base64.b64decode(auth[6:]).decode()
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return req.args.get("client_id"), req.args.get("client_secret")


# -- chat ------------------------------------------------------------------------------


def chat_post_message(emu: SlackEmulator, req: ApiRequest) -> dict:
    ws = req.ws
    channel = emu._resolve_channel(ws.team_id, req.require("channel", "channel_not_found"))
    text, blocks = _message_content(emu, req)
    _check_public(emu, req, channel, text, blocks)
    thread_ts = req.args.get("thread_ts") or None
    if thread_ts:
        parent = emu._find_message(ws.team_id, channel, thread_ts)
        if parent is None:
            # Strict on purpose: a reply aimed at a message that does not exist is an app bug.
            raise SlackError("thread_not_found")
        thread_ts = parent.thread_ts or parent.ts  # replying to a reply threads under the parent
    msg = Message(
        ts=emu._next_ts(),
        channel=channel,
        team_id=ws.team_id,
        text=text or "",
        blocks=blocks or [],
        thread_ts=thread_ts,
        user=ws.bot_user_id,
        bot_id=ws.bot_id,
        app_id=ws.app_id,
        metadata=req.json_arg("metadata"),
    )
    emu._messages.append(msg)
    return {"channel": channel, "ts": msg.ts, "message": msg.payload()}


def chat_update(emu: SlackEmulator, req: ApiRequest) -> dict:
    ws = req.ws
    channel = emu._resolve_channel(ws.team_id, req.require("channel", "channel_not_found"))
    msg = emu._find_message(ws.team_id, channel, req.require("ts", "message_not_found"))
    if msg is None:
        raise SlackError("message_not_found")
    if msg.bot_id != ws.bot_id:
        raise SlackError("cant_update_message")
    text, blocks = _message_content(emu, req)
    _check_public(emu, req, channel, text, blocks)
    _replace_content(msg, text, blocks)
    return {"channel": channel, "ts": msg.ts, "text": msg.text, "message": msg.payload()}


def _replace_content(msg: Message, text: str | None, blocks: list | None) -> None:
    # Slack semantics: text without blocks removes the old blocks; always resend both.
    msg.history.append({"text": msg.text, "blocks": msg.blocks})
    msg.text = text or ""
    msg.blocks = blocks or []
    msg.updates += 1


def chat_post_ephemeral(emu: SlackEmulator, req: ApiRequest) -> dict:
    ws = req.ws
    channel = emu._resolve_channel(ws.team_id, req.require("channel", "channel_not_found"))
    user = req.require("user", "user_not_found")
    text, blocks = _message_content(emu, req)
    eph = Ephemeral(
        team_id=ws.team_id,
        channel=channel,
        user=user,
        text=text or "",
        blocks=blocks or [],
        message_ts=emu._next_ts(),
        thread_ts=req.args.get("thread_ts") or None,
    )
    emu.ephemerals.append(eph)
    return {"message_ts": eph.message_ts}


def _message_content(emu: SlackEmulator, req: ApiRequest) -> tuple[str | None, list | None]:
    text = req.args.get("text")
    blocks = req.json_arg("blocks")
    if not text and not blocks and not req.args.get("attachments"):
        raise SlackError("no_text")
    problems = message_violations(text, blocks)
    if problems:
        emu._violate(req.method, req.ws.team_id, problems)
        error = "msg_too_long" if all(p.startswith("text:") for p in problems) else "invalid_blocks"
        raise SlackError(error, errors=problems, response_metadata=_explain(problems))
    return text, blocks


def _check_public(emu: SlackEmulator, req: ApiRequest, channel: str, text, blocks) -> None:
    # Slack posts it; the product's rule does not allow it, so the test fails.
    problems = email_violations(channel, text, blocks)
    if problems:
        emu._violate(req.method, req.ws.team_id, problems)


def chat_get_permalink(emu: SlackEmulator, req: ApiRequest) -> dict:
    ws = req.ws
    channel = emu._resolve_channel(ws.team_id, req.require("channel", "channel_not_found"))
    msg = emu._find_message(ws.team_id, channel, req.require("message_ts", "message_not_found"))
    if msg is None:
        raise SlackError("message_not_found")
    link = f"{ws.url}archives/{channel}/p{msg.ts.replace('.', '')}"
    if msg.thread_ts:
        link += f"?thread_ts={msg.thread_ts}&cid={channel}"
    return {"channel": channel, "permalink": link}


# -- views -----------------------------------------------------------------------------


def views_open(emu: SlackEmulator, req: ApiRequest) -> dict:
    trigger = emu._check_trigger(req.args.get("trigger_id"), req.ws.team_id)
    spec = _checked_view(emu, req, expect="modal")
    trigger.used = True
    view = _new_view(emu, req.ws, trigger.user_id, spec, previous=None)
    emu._close_stack(req.ws.team_id, trigger.user_id)  # a fresh modal replaces any open stack
    emu._stacks[(req.ws.team_id, trigger.user_id)] = [view.id]
    return {"view": view.view}


def views_push(emu: SlackEmulator, req: ApiRequest) -> dict:
    trigger = emu._check_trigger(req.args.get("trigger_id"), req.ws.team_id)
    spec = _checked_view(emu, req, expect="modal")
    stack = emu._stacks.get((req.ws.team_id, trigger.user_id)) or []
    if len(stack) >= 3:
        raise SlackError("push_limit_reached")
    trigger.used = True
    view = _new_view(emu, req.ws, trigger.user_id, spec, previous=stack[-1] if stack else None)
    emu._stacks[(req.ws.team_id, trigger.user_id)] = [*stack, view.id]
    return {"view": view.view}


def views_update(emu: SlackEmulator, req: ApiRequest) -> dict:
    ws = req.ws
    view = _find_view(emu, ws, req.args.get("view_id"), req.args.get("external_id"))
    if view is None:
        raise SlackError("not_found")
    _check_hash(view, req.args.get("hash"))
    spec = _checked_view(emu, req, expect=view.type)
    _replace_view(emu, view, spec)
    return {"view": view.view}


def views_publish(emu: SlackEmulator, req: ApiRequest) -> dict:
    ws = req.ws
    user_id = req.require("user_id", "user_not_found")
    spec = _checked_view(emu, req, expect="home")
    current = emu.views.get(emu._homes.get((ws.team_id, user_id), ""))
    if current is None:
        view = _new_view(emu, ws, user_id, spec, previous=None)
        emu._homes[(ws.team_id, user_id)] = view.id
    else:
        _check_hash(current, req.args.get("hash"))
        view = current
        _replace_view(emu, view, spec)
    return {"view": view.view}


def _checked_view(emu: SlackEmulator, req: ApiRequest, *, expect: str) -> dict:
    spec = req.json_arg("view")
    if not isinstance(spec, dict):
        raise SlackError("invalid_arguments", response_metadata=_explain(["view: required"]))
    if spec.get("type") != expect:
        problems = [f"view.type: {spec.get('type')!r} here must be {expect!r}"]
        emu._violate(req.method, req.ws.team_id, problems)
        raise SlackError("invalid_arguments", response_metadata=_explain(problems))
    check_view(emu, req.method, req.ws.team_id, spec)
    return spec


def check_view(emu: SlackEmulator, where: str, team_id: str | None, spec: dict) -> None:
    """Raise (and record) what Slack would reject in a view; shared with ack handling."""
    if view_too_large(spec):
        emu._violate(where, team_id, ["view: larger than 250 kB"])
        raise SlackError("view_too_large")
    problems = view_violations(spec)
    if problems:
        emu._violate(where, team_id, problems)
        in_blocks = any(p.startswith("view.blocks") for p in problems)
        raise SlackError(
            "invalid_blocks" if in_blocks else "invalid_arguments",
            errors=problems,
            response_metadata=_explain(problems),
        )


def _new_view(
    emu: SlackEmulator, ws: Workspace, user: str | None, spec: dict, *, previous: str | None
) -> View:
    view_id = emu._next_id("V")
    root = emu.views[previous].view["root_view_id"] if previous else view_id
    view = View(id=view_id, team_id=ws.team_id, user=user, view={})
    view.view = _full_view(emu, ws, spec, view_id=view_id, root=root, previous=previous)
    emu.views[view_id] = view
    return view


def _replace_view(emu: SlackEmulator, view: View, spec: dict) -> None:
    ws = emu.workspaces[view.team_id]
    old = view.view
    view.view = _full_view(
        emu, ws, spec, view_id=view.id, root=old["root_view_id"], previous=old["previous_view_id"]
    )
    view.updates += 1
    view.errors = None


def _full_view(
    emu: SlackEmulator, ws: Workspace, spec: dict, *, view_id: str, root: str, previous: str | None
) -> dict:
    full = copy.deepcopy(spec)
    full.setdefault("blocks", [])
    full.setdefault("private_metadata", "")
    full.setdefault("callback_id", "")
    full.setdefault("external_id", "")
    full.setdefault("clear_on_close", False)
    full.setdefault("notify_on_close", False)
    full.update(
        {
            "id": view_id,
            "team_id": ws.team_id,
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{emu._next_id('h')}",
            "root_view_id": root,
            "previous_view_id": previous,
            "app_id": ws.app_id,
            "app_installed_team_id": ws.team_id,
            "bot_id": ws.bot_id,
        }
    )
    return full


def _find_view(
    emu: SlackEmulator, ws: Workspace, view_id: str | None, external_id: str | None
) -> View | None:
    for view in emu.views.values():
        if view.team_id != ws.team_id:
            continue  # another workspace's view id must look like it does not exist
        if (view_id and view.id == view_id) or (external_id and view.external_id == external_id):
            return view
    return None


def _check_hash(view: View, sent: str | None) -> None:
    if sent and sent != view.hash:
        raise SlackError("hash_conflict")


# -- users / conversations -------------------------------------------------------------


def users_info(emu: SlackEmulator, req: ApiRequest) -> dict:
    user = req.ws.users.get(req.require("user", "user_not_found"))
    if user is None:
        raise SlackError("user_not_found")
    user = copy.deepcopy(user)
    if EMAIL_SCOPE not in req.ws.scopes:  # Slack leaves the e-mail out without the scope
        user["profile"].pop("email", None)
    return {"user": user}


def users_lookup_by_email(emu: SlackEmulator, req: ApiRequest) -> dict:
    _require_scope(req, EMAIL_SCOPE)
    email = req.require("email", "users_not_found").lower()
    for user in req.ws.users.values():
        if (user["profile"].get("email") or "").lower() == email and not user["deleted"]:
            return {"user": copy.deepcopy(user)}
    raise SlackError("users_not_found")


def _require_scope(req: ApiRequest, scope: str) -> None:
    if scope not in req.ws.scopes:
        raise SlackError("missing_scope", needed=scope, provided=",".join(sorted(req.ws.scopes)))


def conversations_info(emu: SlackEmulator, req: ApiRequest) -> dict:
    channel_id = req.require("channel", "channel_not_found")
    return {"channel": copy.deepcopy(emu._channel(req.ws, channel_id))}


def _explain(problems: list[str]) -> dict:
    return {"messages": [f"[ERROR] {p}" for p in problems]}


def apps_connections_open(emu: SlackEmulator, req: ApiRequest) -> dict:
    """Socket Mode: a one-time WebSocket URL, for an app-level (xapp-) token only."""
    return {"url": emu.socket_mode.open_url(req.headers.get("authorization", ""))}


METHODS = {
    "apps.connections.open": apps_connections_open,
    "auth.test": auth_test,
    "oauth.v2.access": oauth_v2_access,
    "chat.postMessage": chat_post_message,
    "chat.update": chat_update,
    "chat.postEphemeral": chat_post_ephemeral,
    "chat.getPermalink": chat_get_permalink,
    "views.open": views_open,
    "views.push": views_push,
    "views.update": views_update,
    "views.publish": views_publish,
    "users.info": users_info,
    "users.lookupByEmail": users_lookup_by_email,
    "conversations.info": conversations_info,
}

# Methods that authenticate with client credentials or an app-level token, not a bot token.
NO_BOT_TOKEN = {"oauth.v2.access", "apps.connections.open"}
