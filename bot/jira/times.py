"""Jira's date-times as it writes them in issue fields, changelogs and webhook
registrations: "2026-03-01T12:42:30.000+0000", sometimes without the milliseconds, and
"Z" for UTC in some examples."""

from __future__ import annotations

from datetime import datetime

_PATTERNS = ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z")


def jira_time(value: object) -> datetime | None:
    """The aware datetime, or None for anything else (a missing or malformed value)."""
    if not isinstance(value, str):
        return None
    text = value.strip().replace("Z", "+0000")
    for pattern in _PATTERNS:
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    return None
