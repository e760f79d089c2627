"""What Slack does with the app's answers that do not go through the Web API.

* posts to a response_url (Bolt's respond()): recorded, limit-checked, and applied
  to the channel (in_channel posts, replace_original, delete_original);
* the HTTP answer (ack) to a request from SlackRequests: an in_channel command reply
  is posted, a view_submission's response_action changes the modal stack, a
  block_suggestion's options are limit-checked, and a slow ack is a violation.

Called with the emulator's lock held.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from . import methods as slack_methods
from .block_kit_limits import message_violations, options_violations
from .models import Ephemeral, Message, ResponsePost, SlackError
from .public_messages import email_violations

if TYPE_CHECKING:
    from .emulator import SlackEmulator

ACK_DEADLINE = 3.0


def post(emu: SlackEmulator, rid: str, url: str, payload: dict) -> tuple[int, dict, float]:
    """One POST to a response_url; returns (HTTP status, JSON answer, delay)."""
    ctx = emu._response_urls.get(rid)
    record = ResponsePost(
        url, payload, time.time(), team_id=ctx and ctx["team_id"], channel=ctx and ctx["channel"]
    )
    emu.responses.append(record)
    try:
        if ctx is None:
            raise SlackError("no_such_url", status=404)
        fault = emu._take_fault("response_url", ctx["team_id"])
        if fault and fault.error:
            raise SlackError(fault.error, status=fault.status)
        ctx["uses"] += 1
        if ctx["uses"] > emu.response_url_max_uses:
            raise SlackError("used_url", status=404)
        _check_message(emu, "response_url", ctx["team_id"], payload, status=400)
        _apply(emu, ctx, payload)
    except SlackError as e:
        record.status = e.status
        return e.status, {"ok": False, "error": e.error}, 0.0
    return 200, {"ok": True}, fault.delay if fault else 0.0


def _apply(emu: SlackEmulator, ctx: dict, payload: dict) -> None:
    team_id, channel = ctx["team_id"], ctx["channel"]
    original = None
    if ctx["message_ts"] and team_id and channel:
        original = emu._find_message(team_id, channel, ctx["message_ts"])
    shown = ctx.get("ephemeral")  # the ephemeral clicked in, or this URL's last reply
    if payload.get("delete_original") and (original or shown):
        (original or shown).deleted = True
    elif payload.get("replace_original") and original:
        slack_methods._replace_content(original, payload.get("text"), payload.get("blocks"))
    elif payload.get("replace_original") and shown:
        shown.text, shown.blocks = payload.get("text") or "", payload.get("blocks") or []
    elif payload.get("response_type") == "in_channel" and team_id and channel:
        _post_as_bot(emu, team_id, channel, payload, source="response_url")
    elif team_id and channel and ctx.get("user_id"):
        ctx["ephemeral"] = _show_ephemeral(emu, team_id, channel, ctx["user_id"], payload)


def _show_ephemeral(
    emu: SlackEmulator, team_id: str, channel: str, user_id: str, payload: dict
) -> Ephemeral:
    """An ephemeral reply (ack or response_url) as the user sees it, so it can be clicked."""
    shown = Ephemeral(
        team_id=team_id,
        channel=emu._resolve_channel(team_id, channel),
        user=user_id,
        text=payload.get("text") or "",
        blocks=payload.get("blocks") or [],
        message_ts=emu._next_ts(),
        thread_ts=payload.get("thread_ts"),
    )
    emu._ephemeral_replies.append(shown)
    return shown


def _post_as_bot(
    emu: SlackEmulator, team_id: str, channel: str, payload: dict, *, source: str
) -> None:
    ws = emu.workspaces.get(team_id)
    problems = email_violations(channel, payload.get("text"), payload.get("blocks"))
    if problems:
        emu._violate(source, team_id, problems)
    emu._messages.append(
        Message(
            ts=emu._next_ts(),
            channel=channel,
            team_id=team_id,
            text=payload.get("text") or "",
            blocks=payload.get("blocks") or [],
            thread_ts=payload.get("thread_ts"),
            user=ws and ws.bot_user_id,
            bot_id=ws and ws.bot_id,
            app_id=ws and ws.app_id,
            source=source,
        )
    )


def _check_message(
    emu: SlackEmulator, where: str, team_id: str | None, payload: dict, *, status: int
) -> None:
    if not payload.get("text") and not payload.get("blocks") and not payload.get("delete_original"):
        raise SlackError("no_text", status=status)
    problems = message_violations(payload.get("text"), payload.get("blocks"))
    if problems:
        emu._violate(where, team_id, problems)
        raise SlackError("invalid_blocks", status=status)


# -- acks ------------------------------------------------------------------------------


def apply_ack(
    emu: SlackEmulator,
    kind: str,
    *,
    team_id: str,
    user_id: str,
    status: int,
    body: Any,
    elapsed: float,
    channel_id: str | None = None,
    view_id: str | None = None,
    response_url: str | None = None,
) -> None:
    """Do what Slack does on receiving the app's HTTP answer to a `kind` request.

    `body` is the parsed JSON answer, the text of a text answer, or None when empty.
    `response_url` is the one the request carried: an ephemeral command reply belongs to it.
    """
    where = f"{kind}.ack"
    if elapsed > ACK_DEADLINE:
        emu._violate(
            where,
            team_id,
            [f"acknowledged after {elapsed:.2f}s > {ACK_DEADLINE}s; Slack shows the user an error"],
        )
    if status != 200:
        emu._violate(where, team_id, [f"HTTP {status}; Slack shows the user an error"])
        return
    try:
        if kind == "command" and isinstance(body, dict):
            _check_message(emu, where, team_id, body, status=200)
            if body.get("response_type") == "in_channel" and channel_id:
                _post_as_bot(emu, team_id, channel_id, body, source="ack")
            elif channel_id:
                shown = _show_ephemeral(emu, team_id, channel_id, user_id, body)
                ctx = emu._response_urls.get((response_url or "").rsplit("/", 1)[-1])
                if ctx is not None:
                    ctx["ephemeral"] = shown
        elif kind == "view_submission" and view_id:
            _apply_view_ack(emu, team_id, user_id, view_id, body if isinstance(body, dict) else {})
        elif kind == "block_suggestion":
            problems = options_violations(body if isinstance(body, dict) else {})
            if problems:
                emu._violate(where, team_id, problems)
    except SlackError:
        pass  # already recorded as a violation; Slack would show the user an error


def _apply_view_ack(
    emu: SlackEmulator, team_id: str, user_id: str, view_id: str, body: dict
) -> None:
    where = "view_submission.ack"
    view = emu.views.get(view_id)
    if view is None:
        return
    stack = emu._stacks.get((team_id, view.user), [])
    action = body.get("response_action")
    if action == "errors":
        _check_error_keys(emu, where, team_id, view.blocks, body.get("errors") or {})
        view.errors = body.get("errors")
    elif action == "update":
        slack_methods.check_view(emu, where, team_id, body.get("view") or {})
        slack_methods._replace_view(emu, view, body["view"])
    elif action == "push":
        slack_methods.check_view(emu, where, team_id, body.get("view") or {})
        if len(stack) >= 3:
            emu._violate(where, team_id, ["push: the modal stack already has 3 views"])
            return
        ws = emu.workspaces[team_id]
        pushed = slack_methods._new_view(emu, ws, view.user, body["view"], previous=view_id)
        emu._stacks[(team_id, view.user)] = [*stack, pushed.id]
    elif action == "clear":
        emu._close_stack(team_id, view.user)
    else:  # empty 200: this view closes, the one below (if any) shows again
        view.is_open = False
        remaining = [v for v in stack if v != view_id]
        if remaining:
            emu._stacks[(team_id, view.user)] = remaining
        else:
            emu._stacks.pop((team_id, view.user), None)


def _check_error_keys(
    emu: SlackEmulator, where: str, team_id: str, blocks: list, errors: dict
) -> None:
    # Slack only accepts errors keyed by the block_id of an input block in the view.
    inputs = {b.get("block_id") for b in blocks if b.get("type") == "input"}
    wrong = [k for k in errors if k not in inputs]
    if wrong:
        emu._violate(
            where, team_id, [f"errors: {k!r} is not the block_id of an input block" for k in wrong]
        )
