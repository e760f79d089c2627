"""What the Slack emulator remembers: plain records that tests read and assert on."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any


class SlackError(Exception):
    """A Web API error answer: {"ok": false, "error": error, **extra} with HTTP `status`."""

    def __init__(self, error: str, *, status: int = 200, **extra: Any):
        super().__init__(error)
        self.error = error
        self.status = status
        self.extra = extra


# What a workspace's bot token may do until an install grants something else.
DEFAULT_SCOPES = "commands,chat:write,chat:write.public,users:read,users:read.email"


@dataclass
class Workspace:
    team_id: str
    name: str
    domain: str
    bot_token: str
    bot_user_id: str
    bot_id: str
    app_id: str
    users: dict[str, dict] = field(default_factory=dict)
    channels: dict[str, dict] = field(default_factory=dict)
    # The bot token's scopes: set by the install (oauth.v2.access) to what the app asked for.
    scopes: frozenset[str] = frozenset(DEFAULT_SCOPES.split(","))

    @property
    def url(self) -> str:
        return f"https://{self.domain}.slack.com/"


@dataclass
class Call:
    """One Web API request as the emulator saw it, with the answer it gave."""

    method: str
    args: dict[str, Any]
    token: str | None
    team_id: str | None
    time: float
    http_method: str = "POST"
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)
    injected: bool = False  # answered by emulator.fail(), not by the method

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        return self.response.get("error")

    def __repr__(self) -> str:
        outcome = "ok" if self.ok else f"error={self.error!r}"
        keys = ", ".join(f"{k}={_short(v)}" for k, v in self.args.items() if k != "token")
        return f"<Call {self.method} team={self.team_id} {outcome} {keys}>"


@dataclass
class Message:
    """A message in a channel, posted by the bot (or added by a test as a user's)."""

    ts: str
    channel: str
    team_id: str
    text: str
    blocks: list[dict]
    thread_ts: str | None = None
    user: str | None = None  # the bot user for bot messages
    bot_id: str | None = None
    app_id: str | None = None
    updates: int = 0
    deleted: bool = False
    source: str = "chat.postMessage"  # or "response_url", "user"
    metadata: dict | None = None
    history: list[dict] = field(default_factory=list)  # earlier {text, blocks} versions

    def payload(self) -> dict:
        """The message object as Slack puts it in shortcut and block_actions payloads."""
        msg: dict[str, Any] = {
            "type": "message",
            "ts": self.ts,
            "text": self.text,
            "team": self.team_id,
            "blocks": copy.deepcopy(self.blocks),
        }
        if self.user:
            msg["user"] = self.user
        if self.bot_id:
            msg["bot_id"] = self.bot_id
            msg["app_id"] = self.app_id
        if self.thread_ts:
            msg["thread_ts"] = self.thread_ts
        if self.updates:
            msg["edited"] = {"user": self.user, "ts": self.ts}
        return msg


@dataclass
class Ephemeral:
    """A message only `user` sees: from chat.postEphemeral, a command's ack, or a post to a
    response_url; its buttons can be clicked until it is replaced or deleted."""

    team_id: str
    channel: str
    user: str  # who sees it
    text: str
    blocks: list[dict]
    message_ts: str
    thread_ts: str | None = None
    deleted: bool = False


@dataclass
class ResponsePost:
    """A POST to a response_url (what Bolt's respond() sends)."""

    url: str
    json: dict[str, Any]
    time: float
    team_id: str | None = None
    channel: str | None = None
    status: int = 200

    @property
    def text(self) -> str | None:
        return self.json.get("text")

    @property
    def blocks(self) -> list[dict]:
        return self.json.get("blocks") or []


@dataclass
class View:
    """A modal or home view. `view` is the full object Slack returns and puts in payloads."""

    id: str
    team_id: str
    user: str | None
    view: dict[str, Any]
    is_open: bool = True
    updates: int = 0
    errors: dict[str, str] | None = None  # last response_action=errors from a submission

    type = property(lambda self: self.view["type"])
    hash = property(lambda self: self.view["hash"])
    callback_id = property(lambda self: self.view.get("callback_id", ""))
    private_metadata = property(lambda self: self.view.get("private_metadata", ""))
    external_id = property(lambda self: self.view.get("external_id", ""))
    blocks = property(lambda self: self.view.get("blocks", []))


@dataclass
class Violation:
    """A surface Slack would have rejected (or a rule of the 3-second ack broken)."""

    where: str  # the Web API method, "response_url", or an ack like "view_submission.ack"
    team_id: str | None
    problems: list[str]

    def __str__(self) -> str:
        return f"{self.where} (team {self.team_id}): " + "; ".join(self.problems)


@dataclass
class Fault:
    method: str
    error: str | None  # None: answer normally, after `delay`
    status: int
    retry_after: int | float | str | None  # a str: sent as it is, whatever it says
    times: int | None  # None: until cleared
    delay: float = 0.0
    team_id: str | None = None
    held: Any = None  # a threading.Event: the answer waits until it is set


@dataclass
class Trigger:
    team_id: str | None
    user_id: str | None
    issued: float  # real monotonic clock, not freezegun's
    used: bool = False


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
