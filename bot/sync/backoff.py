"""When to try a failed sync again (docs/sync-protocol.md): up to 3 retries, exponential
backoff with jitter from SYNC_RETRY_BASE_SECONDS (about 30 s, 60 s, 120 s by default), and
never sooner than Jira's Retry-After."""

from __future__ import annotations

import math
import random

MAX_RETRIES = 3
JITTER = 0.25  # ±25 %: processes that failed together do not all come back together
# The longest Retry-After believed, from Jira or Slack: a header asking for days (or "inf")
# would put the next try past any date the database can hold, and the work would be
# claimed again at once, over and over.
RETRY_AFTER_MAX = 3600.0


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header (Jira's or Slack's) as seconds a wait may use: fractions kept,
    a negative value as 0, at most RETRY_AFTER_MAX; None when it is no number of seconds
    (a word, NaN, or the HTTP date the standard allows and neither service sends)."""
    try:
        seconds = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return None if math.isnan(seconds) else min(max(0.0, seconds), RETRY_AFTER_MAX)


def retries_left(failures: int) -> bool:
    """After `failures` failed tries of one sync, is another try allowed?"""
    return failures <= MAX_RETRIES


def retry_delay(
    failures: int,
    base_seconds: float,
    retry_after: float | None = None,
    *,
    cap: float | None = None,
    rng=random,
) -> float:
    """Seconds to wait after the `failures`-th failure (1 → about base, 2 → twice that…),
    at most `cap`, unless Jira's Retry-After asks for longer (up to RETRY_AFTER_MAX)."""
    delay = base_seconds * 2 ** min(max(0, failures - 1), 40)  # 2**40 · base: past any cap
    delay *= 1 + rng.uniform(-JITTER, JITTER)
    if cap is not None:
        delay = min(delay, cap)
    if retry_after is not None and not math.isnan(retry_after):
        delay = max(delay, min(retry_after, RETRY_AFTER_MAX))
    return delay
