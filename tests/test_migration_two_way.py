"""The two-way sync migration fills the per-field base of items already in Jira, so their
next push sends only what changes after the upgrade, and an edit still waiting to be
pushed before it is pushed whole, as it would have been."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from storage.db import MIGRATIONS
from tests.harness import Database, fresh_database_url


def upgrade(db: Database, revision: str) -> None:
    def run(connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async def go() -> None:
        engine = create_async_engine(db.async_url, poolclass=NullPool)
        async with engine.begin() as conn:
            await conn.run_sync(run)
        await engine.dispose()

    asyncio.run(go())


def item(db: Database, title: str, *, key: str | None, revision: int, synced: int, **extra):
    columns = {
        "workspace_id": 1,
        "channel_id": "C1",
        "title": title,
        "description": extra.get("description"),
        "assignee_user_id": extra.get("assignee"),
        "due_date": extra.get("due"),
        "status": "open",
        "created_by_user_id": "U1",
        "revision": revision,
        "synced_revision": synced,
        "sync_state": "synced" if key else "local",
        "attempts": 0,
        "sync_label": "unpack-" + title.lower().replace(" ", "")[:12],
        "jira_issue_id": "10001" if key else None,
        "jira_key": key,
        "jira_site_url": extra.get("site_url"),
    }
    names = ", ".join(columns)
    values = ", ".join(f":{name}" for name in columns)
    db.execute(
        f"INSERT INTO action_items ({names}, created_at, updated_at) "  # noqa: S608
        f"VALUES ({values}, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        **columns,
    )


def test_items_already_synced_get_a_base_and_a_site(tmp_path: Path):
    db = Database(fresh_database_url(tmp_path))
    upgrade(db, "0003")
    db.execute(
        "INSERT INTO workspaces (id, slack_team_id, created_at) VALUES (1, 'T1', CURRENT_TIMESTAMP)"
    )
    db.execute(
        "INSERT INTO jira_connections (workspace_id, method, status, site_url, credentials_enc, "
        "credentials_generation, webhook_token, created_at, updated_at) VALUES (1, 'api_token', "
        "'active', 'https://acme.atlassian.net', :c, 0, 'tok', CURRENT_TIMESTAMP, "
        "CURRENT_TIMESTAMP)",
        c=b"sealed",
    )
    item(db, "In step", key="TEAM-1", revision=2, synced=2, description="Roll back",
         assignee="U9", due=date(2030, 1, 2), site_url="https://old.atlassian.net")  # fmt: skip
    item(db, "Edited since", key="TEAM-2", revision=3, synced=2)
    item(db, "Never synced", key=None, revision=1, synced=0)

    upgrade(db, "head")

    rows = {
        r["title"]: r for r in db.rows("SELECT title, field_base, jira_site_url FROM action_items")
    }
    base = rows["In step"]["field_base"]
    base = json.loads(base) if isinstance(base, str) else base
    assert {name: entry["s"] for name, entry in base.items()} == {
        "title": "In step",
        "description": "Roll back",
        "assignee": "U9",
        "due": "2030-01-02",
    }
    # Jira's side is unknown: the first read adopts it instead of calling it an edit.
    assert all("j" not in entry for entry in base.values())
    assert rows["In step"]["jira_site_url"] == "https://old.atlassian.net"  # kept
    assert rows["Edited since"]["field_base"] is None  # pushed whole, as before
    assert rows["Edited since"]["jira_site_url"] == "https://acme.atlassian.net"  # filled
    assert rows["Never synced"]["field_base"] is None
    assert rows["Never synced"]["jira_site_url"] is None
    assert db.scalar("SELECT COUNT(*) FROM sync_settings") == 0
