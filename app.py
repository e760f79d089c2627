"""Entry point: `python app.py` serves Unpack on PORT (SQLite by default)."""

from __future__ import annotations

import asyncio
import logging.config
import sys

from bot.config import SettingsError, load_settings
from bot.logging_setup import uvicorn_log_config

HOST = "0.0.0.0"  # noqa: S104 (a server: it listens on every interface)


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"Unpack cannot start: {exc}", file=sys.stderr)
        return 2
    # The server's modules (Bolt, the Jira client, the web app, migrations) load only once
    # the settings are known good: a bad setting is reported in a fraction of the time.
    # Before logging is configured, so what they log on import stays quiet, as it always did.
    from bot.runtime import Runtime
    from bot.web import build_web_app
    from storage.db import DatabaseUnavailable, prepare_database

    logging.config.dictConfig(uvicorn_log_config(settings.log_format))
    try:
        # Migrate before serving, so a wrong DATABASE_URL is one clear line, not a traceback.
        asyncio.run(prepare_database(settings.async_database_url))
    except DatabaseUnavailable as exc:
        print(f"Unpack cannot start: DATABASE_URL: {exc}", file=sys.stderr)
        return 2
    runtime = Runtime.build(settings)
    web_app = build_web_app(runtime)
    _run_on_the_fastest_loop(serve(runtime, web_app))
    return 0


def _run_on_the_fastest_loop(main_coroutine) -> None:
    """libuv's event loop, the one uvicorn picks when it runs an app itself: every webhook
    and Slack request, and every SQLite result handed back from its thread, is a few loop
    callbacks, which cost a fraction of what the pure-Python loop's do."""
    try:
        import uvloop
    except ImportError:  # a virtualenv made before uvloop was a dependency: still runs
        asyncio.run(main_coroutine)
        return
    uvloop.run(main_coroutine)


def fastest_http_parser() -> str:
    """httptools (llhttp, in C) parses requests and writes answers in a fraction of what
    the pure-Python h11 costs: in a burst of webhook deliveries that was a tenth of the
    app's CPU. h11 only for a virtualenv made before httptools was a dependency."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools"


async def serve(runtime, web_app) -> None:
    """The public app on PORT and, beside it, /metrics on METRICS_PORT (same interfaces)."""
    import uvicorn

    from bot.metrics import serving_metrics
    from bot.one_write import answering_in_one_write
    from bot.read_deadline import with_header_deadline

    http = fastest_http_parser()
    config = uvicorn.Config(
        web_app,
        host=HOST,
        port=runtime.settings.port,
        # Slowloris bounded (bot/read_deadline.py); each answer in one write (bot/one_write.py).
        http=answering_in_one_write(
            with_header_deadline(http, runtime.settings.request_read_seconds)
        ),
        log_config=uvicorn_log_config(runtime.settings.log_format),
        # The app writes its access lines itself (bot/access_log.py): one per request, but
        # one per recorded group of webhook deliveries.
        access_log=False,
    )
    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
    logging.getLogger("uvicorn.error").info("HTTP parsed by %s, event loop %s", http, loop)
    async with serving_metrics(runtime, HOST):
        await uvicorn.Server(config).serve()


if __name__ == "__main__":
    sys.exit(main())
