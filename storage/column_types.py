"""Column types that hand the rules Python values as they mean them.

Timestamps: every one is stored in UTC and read back as an aware UTC datetime, whatever the
backend (SQLite keeps no zone and hands back naive values; PostgreSQL hands back aware
ones), so rules compare and subtract them without fixing them up first.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator):
    """A `TIMESTAMP WITH TIME ZONE` (text on SQLite) that always holds and gives UTC.

    A naive value handed in is taken as UTC already (the app's clock only makes aware
    values; a naive one can only be UTC that lost its zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        return _utc(value)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return _utc(value)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
