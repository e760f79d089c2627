"""Slack's 429s and 5xx, and its Retry-After, read one way.

Each Web API call rides out a short rate limit itself (`BoundedRateLimitRetryHandler`,
installed on every client). Messages owed to Slack (a completion notice, a summary refresh)
go out until Slack accepts them (`until_accepted`): its 5xx answers and 429s (after the
Retry-After it asks for) are tried again with backoff, a bounded number of times; any
other refusal, a Retry-After longer than this call can wait, and the last failure are
raised to the caller, which decides what is still owed.

Retry-After is read as the Jira side reads it (bot/sync/backoff.retry_after_seconds):
fractions kept, a negative value as none, at most an hour believed, a word ignored.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler

from bot.sync.backoff import retry_after_seconds, retry_delay

T = TypeVar("T")

ATTEMPTS = 5
# SLACK_RETRY_BASE_SECONDS, 0.5 s by default, then about 1 s, 2 s, 4 s: a Slack blip is
# over within seconds. A Retry-After longer than this is not waited out by one call: the
# message stays owed and its job sends it later. Five tries stay well inside a notice's
# claim (bot/jira/deliveries.NOTICE_LEASE), the client's own waits included.
LONGEST_WAIT = 30.0
# The longest Retry-After a single Web API call sleeps through itself; a longer one is
# the caller's to wait for (or not).
CALL_WAIT_MAX = 5.0
# A message owed this long and still owed was left by a process that died (a notice's
# claim then decides who sends it), or its sender, alive, is still waiting its turn (a
# summary's trailing edit waits out the summary's pace, bot/summary_pace.py). Only then
# does the message's job send it: another process knows nothing of a live sender's wait.
OWED_AFTER = timedelta(seconds=60)
# A 429 without a usable Retry-After (or one asking for none) waits this, as slack_sdk's
# own handler does, plus up to a second of jitter.
CALL_WAIT_MIN = 1.0


def worth_retrying(exc: SlackApiError) -> bool:
    """A 429 or a 5xx: Slack may well accept the same call a little later."""
    status = exc.response.status_code
    return status == 429 or status >= 500


def retry_after(exc: SlackApiError) -> float | None:
    headers = exc.response.headers or {}
    return retry_after_seconds(headers.get("Retry-After") or headers.get("retry-after"))


class BoundedRateLimitRetryHandler(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's handler of 429s, reading Retry-After as the app does. The sdk's reads
    it with int(): "1.5" or a word raised ValueError out of the call (no SlackApiError, so
    a message owed was lost), a negative value retried at once, and a day slept for a day
    inside the call, holding whatever awaited it. Here a wait over CALL_WAIT_MAX is not
    slept: the 429 goes to the caller."""

    async def _can_retry_async(self, *, state, request, response=None, error=None) -> bool:
        if response is None or response.status_code != 429:
            return False
        return _call_wait(response.headers) <= CALL_WAIT_MAX

    async def prepare_for_next_attempt_async(
        self, *, state, request, response=None, error=None
    ) -> None:
        if response is None:
            raise error  # type: ignore[misc]  (as the sdk's: only a 429 gets here)
        state.next_attempt_requested = True
        await asyncio.sleep(_call_wait(response.headers) + random.random())  # noqa: S311
        state.increment_current_attempt()


def _call_wait(headers: dict) -> float:
    """The sdk's headers: {name as sent: [values]}."""
    values = next((v for k, v in headers.items() if k.lower() == "retry-after"), None) or [None]
    asked = retry_after_seconds(values[0] if isinstance(values, list) else values)
    return max(CALL_WAIT_MIN, asked or 0.0)


async def until_accepted(
    call: Callable[[], Awaitable[T]], *, base_seconds: float, attempts: int = ATTEMPTS
) -> T:
    """`await call()` until Slack accepts it, waiting `base_seconds` (then doubling) between
    tries; SlackApiError (or the connection error) of the last attempt, of a refusal that
    retrying cannot change, or of a Retry-After longer than LONGEST_WAIT."""
    for failures in range(1, attempts):
        try:
            return await call()
        except SlackApiError as exc:
            asked = retry_after(exc)
            if not worth_retrying(exc) or (asked or 0.0) > LONGEST_WAIT:
                raise
            wait = retry_delay(failures, base_seconds, asked)
        except (aiohttp.ClientError, TimeoutError):
            wait = retry_delay(failures, base_seconds)
        await asyncio.sleep(min(wait, LONGEST_WAIT))
    return await call()
