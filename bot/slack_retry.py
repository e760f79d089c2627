"""Messages owed to Slack (a completion notice, a summary refresh) go out until Slack
accepts them: its 5xx answers and 429s (after the Retry-After it asks for) are tried again
with backoff, a bounded number of times; any other refusal, and the last failure, is
raised to the caller, which decides what is still owed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.sync.backoff import retry_delay

T = TypeVar("T")

ATTEMPTS = 5
# SLACK_RETRY_BASE_SECONDS, 0.5 s by default, then about 1 s, 2 s, 4 s: a Slack blip is
# over within seconds.
LONGEST_WAIT = 30.0


def worth_retrying(exc: SlackApiError) -> bool:
    """A 429 or a 5xx: Slack may well accept the same call a little later."""
    status = exc.response.status_code
    return status == 429 or status >= 500


def retry_after(exc: SlackApiError) -> float | None:
    value = (exc.response.headers or {}).get("Retry-After") or (exc.response.headers or {}).get(
        "retry-after"
    )
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


async def until_accepted(
    call: Callable[[], Awaitable[T]], *, base_seconds: float, attempts: int = ATTEMPTS
) -> T:
    """`await call()` until Slack accepts it, waiting `base_seconds` (then doubling) between
    tries; SlackApiError (or the connection error) of the last attempt, or of a refusal
    that retrying cannot change."""
    for failures in range(1, attempts):
        try:
            return await call()
        except SlackApiError as exc:
            if not worth_retrying(exc):
                raise
            wait = retry_delay(failures, base_seconds, retry_after(exc))
        except (aiohttp.ClientError, TimeoutError):
            wait = retry_delay(failures, base_seconds)
        await asyncio.sleep(min(wait, LONGEST_WAIT))
    return await call()
