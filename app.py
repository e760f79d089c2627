"""Entry point: `python app.py` serves Unpack on PORT (SQLite by default)."""

from __future__ import annotations

import asyncio
import logging.config
import sys

import uvicorn

from bot.config import SettingsError, load_settings
from bot.logging_setup import uvicorn_log_config
from bot.runtime import Runtime
from bot.web import build_web_app
from storage.db import DatabaseUnavailable, prepare_database


def main() -> int:
    logging.config.dictConfig(uvicorn_log_config())
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"Unpack cannot start: {exc}", file=sys.stderr)
        return 2
    logging.config.dictConfig(uvicorn_log_config(settings.log_format))
    try:
        # Migrate before serving, so a wrong DATABASE_URL is one clear line, not a traceback.
        asyncio.run(prepare_database(settings.async_database_url))
    except DatabaseUnavailable as exc:
        print(f"Unpack cannot start: DATABASE_URL: {exc}", file=sys.stderr)
        return 2
    web_app = build_web_app(Runtime.build(settings))
    uvicorn.run(
        web_app,
        host="0.0.0.0",  # noqa: S104 (a server: it listens on every interface)
        port=settings.port,
        log_config=uvicorn_log_config(settings.log_format),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
