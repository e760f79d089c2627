"""Regenerates the initial migration from the models.

Only while nothing has shipped: once a release exists, add new revisions instead
(`alembic revision --autogenerate`) and never edit a shipped one.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

HERE = Path(__file__).parent


def main() -> None:
    for old in (HERE / "migrations" / "versions").glob("0001_*.py"):
        old.unlink()
    engine = create_engine("sqlite://")
    with engine.connect() as conn:
        config = Config()
        config.set_main_option("script_location", str(HERE / "migrations"))
        config.attributes["connection"] = conn
        command.revision(config, message="initial schema", autogenerate=True, rev_id="0001")


if __name__ == "__main__":
    main()
