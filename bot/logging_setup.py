"""Log configuration: one format for the app and uvicorn, and no secrets in access logs."""

from __future__ import annotations

import logging
import re

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class DropQueryStrings(logging.Filter):
    """Access-log lines keep the path and lose the query string: OAuth redirects carry
    one-time codes and states there (/jira/oauth/callback, /slack/oauth_redirect)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn.access: (client_addr, method, full_path, http_version, status_code)
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


def uvicorn_log_config() -> dict:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "drop_query": {"()": DropQueryStrings},
            "hide_webhook_tokens": {"()": HideWebhookTokens},
        },
        "formatters": {"plain": {"format": FORMAT}},
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "plain"},
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "filters": ["drop_query"],
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {
                "handlers": ["access"],
                "level": "INFO",
                "propagate": False,
                "filters": ["hide_webhook_tokens"],
            },
        },
        "root": {"handlers": ["default"], "level": "INFO"},
    }
