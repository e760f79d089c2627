"""Column types that hand the rules Python values as they mean them.

Timestamps: every one is stored in UTC and read back as an aware UTC datetime, whatever the
backend (SQLite keeps no zone and hands back naive values; PostgreSQL hands back aware
ones), so rules compare and subtract them without fixing them up first. Enumerations: a
column of states reads back as members of its enum, so rules compare members.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import DateTime, Enum
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


def enum_column(kind: type[enum.Enum], length: int) -> Enum:
    """A column of `kind`'s members, stored as their values in a VARCHAR of `length`, as
    the plain strings before it were: no CHECK constraint and no native enum type, so no
    migration, and adding a member never needs one."""
    return Enum(
        kind,
        native_enum=False,
        create_constraint=False,
        values_callable=_values,
        length=length,
    )


def _values(kind: type[enum.Enum]) -> list[str]:
    return [member.value for member in kind]
