"""Log configuration: one format for the app and uvicorn (plain text, or JSON lines with
LOG_FORMAT=json), and no secret, token or email address in any line.

The workspace a line is about comes from a context variable that the Slack middleware,
the webhook route and the sync engine set (`log_workspace`): asyncio copies it into every
task they start, so it follows the work without being passed along, and never leaks from
one request to another.
"""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FORMATS = ("text", "json")

_workspace: ContextVar[int | str | None] = ContextVar("unpack_log_workspace", default=None)

# Slack tokens (bot, user, app-level), Authorization header values, e-mail addresses
# (also URL-encoded, as in a query string).
_SECRET = re.compile(
    r"\b(?:xox[abposre]|xapp)-[A-Za-z0-9-]+"
    r"|\b(?:Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+"
    r"|[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+",
    re.IGNORECASE,
)


def log_workspace(workspace_id: int | str | None) -> None:
    """Names the workspace in every line logged from here on in this task (and its children)."""
    _workspace.set(workspace_id)


def redact(text: str) -> str:
    return _SECRET.sub("[redacted]", text)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, workspace (when known), and
    the traceback as `exception` (newlines escaped, so still one line)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        workspace = _workspace.get()
        if workspace is not None:
            entry["workspace"] = workspace
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = redact(record.exc_text)
        return json.dumps(entry, ensure_ascii=False, default=str)


class DropQueryStrings(logging.Filter):
    """Access-log lines keep the path and lose the query string: OAuth redirects carry
    one-time codes and states there (/jira/oauth/callback, /slack/oauth_redirect)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # bot/access_log.py's LINE: (client_addr, method, full_path, http_version, status)
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], args[2].split("?", 1)[0], args[3], args[4])
        return True


_TOKEN_IN_PATH = re.compile(r"(/jira/webhook/)[^/?\s\"]+")


class HideWebhookTokens(logging.Filter):
    """The token in the URL picks a workspace, so it is a secret: access log lines show
    `/jira/webhook/…` instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                _TOKEN_IN_PATH.sub(r"\1…", a) if isinstance(a, str) else a for a in record.args
            )
        elif isinstance(record.msg, str):
            record.msg = _TOKEN_IN_PATH.sub(r"\1…", record.msg)
        return True


# slack_bolt.logger.messages.warning_client_prioritized_and_token_skipped(), as Bolt words it.
BOLT_TOKEN_NOTICE = "As you gave `client` as well, `token` will be unused."  # noqa: S105 (a log line)


class DropBoltTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment by itself and, because the app hands
    it a client that already carries that token (on SLACK_API_URL), warns at every start
    that the token "will be unused". It is used, by that client: an operator must not be
    sent chasing a warning about a setting that works."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != BOLT_TOKEN_NOTICE


def uvicorn_log_config(log_format: str = "text") -> dict:
    """dictConfig for the app's loggers (its access lines too) and uvicorn's."""
    formatter = {"()": JsonFormatter if log_format == "json" else TextFormatter}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "drop_query": {"()": DropQueryStrings},
            "hide_webhook_tokens": {"()": HideWebhookTokens},
            "bolt_token_notice": {"()": DropBoltTokenNotice},
        },
        "formatters": {"line": formatter},
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "line"},
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "line",
                "filters": ["drop_query"],
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            # bot/access_log.py's lines (the server's own access log is off: app.py).
            "bot.access": {
                "handlers": ["access"],
                "level": "INFO",
                "propagate": False,
                "filters": ["hide_webhook_tokens"],
            },
            # httpx logs every request URL at INFO, and a user search carries an e-mail
            # address in its query string.
            "slack_bolt.AsyncApp": {"filters": ["bolt_token_notice"]},
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
        "root": {"handlers": ["default"], "level": "INFO"},
    }
