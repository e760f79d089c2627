"""The one place the app reads the wall clock, so tests can freeze it (freezegun)."""

from datetime import UTC, datetime, timedelta

# How far another clock (Jira's) may run ahead of ours and still be believed: the same
# allowance a Jira token's `iat`/`exp` gets.
CLOCK_SKEW = timedelta(seconds=60)


def utcnow() -> datetime:
    return datetime.now(UTC)


def believable(when: datetime | None) -> datetime | None:
    """`when`, unless it lies further in the future than clock skew explains (a broken or
    forged clock): then None. Changes are ordered by these times, and one far ahead would
    make every real change after it look older, pinning what it set."""
    if when is None or when > utcnow() + CLOCK_SKEW:
        return None
    return when
