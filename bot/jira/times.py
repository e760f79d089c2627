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
    # fromisoformat reads Jira's forms about ten times faster than strptime (a webhook
    # burst parses two per issue); it also takes forms Jira never writes (a bare date, no
    # offset), which stay refused as before.
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is not None and parsed.tzinfo is not None and _jira_form(text):
        return parsed
    for pattern in _PATTERNS:
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    return None


def _jira_form(text: str) -> bool:
    """Date, "T", hours, minutes and seconds, then a fraction or the offset."""
    return text[10:11] == "T" and text[16:17] == ":" and text[19:20] in (".", "+", "-")
