"""Re-encrypt every stored secret with the first key of ENCRYPTION_KEY.

Rotating the encryption key, without downtime:

1. Generate a key: `python -c "from cryptography.fernet import Fernet;
   print(Fernet.generate_key().decode())"`.
2. Put it first, keeping the old one after it: `ENCRYPTION_KEY=NEW,OLD`, and restart the
   app. It now encrypts with NEW and still reads everything sealed with OLD.
3. Run `python -m storage.rotate_keys` with the same environment (DATABASE_URL,
   ENCRYPTION_KEY; a `.env` file is read). Every secret column (`*_enc`: bot tokens, Jira
   credentials, webhook secrets, pending OAuth tokens) is re-sealed with NEW.
4. Set `ENCRYPTION_KEY=NEW` and restart. OLD can be destroyed.

Each value is swapped only if it still holds what was read (compare-and-set), so a token
refresh that runs during the rotation is never overwritten with older credentials; such a
row is simply read again.
"""

from __future__ import annotations

import asyncio
import sys

from cryptography.fernet import InvalidToken
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import LargeBinary, Table, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.crypto import SecretBox
from storage.db import async_url, make_engine
from storage.models import Base

ATTEMPTS = 5  # re-reads of a row that keeps changing under us before giving up on it


class RotationError(Exception):
    """Rotation stopped; the message says which value and why (never the value)."""


class RotationSettings(BaseSettings):
    """Only what rotation needs; the app's other settings may be absent here."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "sqlite:///unpack.db"
    encryption_key: str = Field(min_length=1)


def secret_columns() -> list[tuple[Table, str]]:
    """Every encrypted column: binary columns named *_enc, in any table (new ones too)."""
    return [
        (table, column.name)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if column.name.endswith("_enc") and isinstance(column.type, LargeBinary)
    ]


async def rotate(engine: AsyncEngine, box: SecretBox) -> int:
    """Re-seal every secret with the box's first key; returns how many values changed."""
    count = 0
    for table, column in secret_columns():
        key = next(iter(table.primary_key.columns))
        async with engine.connect() as conn:
            ids = (await conn.execute(select(key).where(table.c[column].is_not(None)))).scalars()
            ids = list(ids)
        for row_id in ids:
            count += await _rotate_value(engine, box, table, column, key, row_id)
    return count


async def _rotate_value(engine, box, table, column, key, row_id) -> int:
    for _ in range(ATTEMPTS):
        async with engine.begin() as conn:
            sealed = await conn.scalar(select(table.c[column]).where(key == row_id))
            if sealed is None:
                return 0
            try:
                resealed = box.rotate(bytes(sealed))
            except InvalidToken:
                raise RotationError(
                    f"{table.name}.{column} of row {row_id} cannot be decrypted with any key in "
                    "ENCRYPTION_KEY (was the old key removed before rotating?)"
                ) from None
            swapped = await conn.execute(
                update(table)
                .where(key == row_id, table.c[column] == sealed)
                .values({column: resealed})
            )
            if swapped.rowcount == 1:
                return 1
    raise RotationError(f"{table.name}.{column} of row {row_id} kept changing; run again")


async def _main() -> int:
    settings = RotationSettings()
    engine = make_engine(async_url(settings.database_url))
    try:
        count = await rotate(engine, SecretBox(settings.encryption_key))
    except RotationError as exc:
        print(f"Key rotation stopped: {exc}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    print(f"Re-encrypted {count} secret(s) with the first ENCRYPTION_KEY key.")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main()))
