"""Large databases in seconds, for the query-plan tests and bench/scale.py: INSERT … SELECT
over a recursive CTE (SQLite) or generate_series (PostgreSQL), after the app's migrations.

The statements take the parameters :now, :later (hours ahead), :site, :creds, :secret,
:on and :off.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import DateTime, bindparam, text
from sqlalchemy.ext.asyncio import AsyncEngine


def _from_series(kind: str, count: int, insert: str, select: str) -> str:
    """`insert` filled by `select`, which reads n = 1..count from `s`: a recursive CTE on
    SQLite, generate_series on PostgreSQL. Numbers only are interpolated."""
    count = int(count)
    if kind == "postgresql":
        return " ".join((insert, select, f"FROM generate_series(1, {count}) AS s(n)"))
    recursive = "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < "
    return " ".join((recursive + str(count) + ")", insert, select, "FROM s"))


FIRST_BUILT = "(SELECT min(id) FROM workspaces WHERE slack_team_id LIKE 'TSCALE%')"


def fill_statements(kind: str, items: int, workspaces: int) -> list[str]:
    """Workspaces connected to the bench's site; items spread over them (1 in 1,000 waiting
    for a retry hours away, 1 in 1,000 failed, the rest synced); per 10 items a Sync Log
    row, a webhook delivery, an OAuth attempt and an install state (all still current)."""
    if not workspaces:
        return []
    ws = f"{FIRST_BUILT} + (n % {int(workspaces)})"
    state = "CASE WHEN n % 1000 = 1 THEN 'pending' WHEN n % 1000 = 2 THEN 'error' ELSE 'synced' END"
    statements = [
        _from_series(
            kind,
            workspaces,
            "INSERT INTO workspaces (slack_team_id, name, created_at)",
            "SELECT 'TSCALE' || n, 'Scale ' || n, :now",
        ),
        "INSERT INTO jira_connections (workspace_id, method, status, site_url, account_id, "
        "account_name, account_email, credentials_enc, credentials_generation, webhook_token, "
        "webhook_secret_enc, created_at, updated_at) SELECT id, 'api_token', 'active', :site, "
        "'acc-bench', 'Bench Robot', 'robot@bench.example.com', :creds, 0, "
        "'scale-token-' || id, :secret, :now, :now FROM workspaces "
        "WHERE slack_team_id LIKE 'TSCALE%'",
        "INSERT INTO sync_settings (workspace_id, project_id, project_key, issue_type_id, "
        "webhooks_enabled, epic_per_retro, updated_at) SELECT id, '10000', 'TEAM', '10001', "
        ":on, :off, :now FROM workspaces WHERE slack_team_id LIKE 'TSCALE%'",
    ]
    if not items:
        return statements
    return [
        *statements,
        _from_series(
            kind,
            items,
            "INSERT INTO action_items (workspace_id, channel_id, title, status, "
            "created_by_user_id, revision, synced_revision, sync_state, attempts, "
            "next_attempt_at, sync_label, jira_issue_id, jira_key, jira_site_url, "
            "jira_project_key, jira_status_category, created_at, updated_at)",
            f"SELECT {ws}, 'CSCALE', 'Item ' || n, 'open', 'UBENCH', 1, 1, {state}, 0, "
            "CASE WHEN n % 1000 = 1 THEN :later END, 'unpack-s' || n, "
            "CAST(1000000 + n AS VARCHAR(32)), 'TEAM-' || n, :site, 'TEAM', 'new', :now, :now",
        ),
        _from_series(
            kind,
            items // 10,
            "INSERT INTO sync_attempts (workspace_id, at, operation, outcome, attempt)",
            f"SELECT {ws}, :now, 'create', 'ok', 1",
        ),
        _from_series(
            kind,
            items // 10,
            "INSERT INTO webhook_deliveries (workspace_id, delivery_id, received_at, issue_id, "
            "outcome)",
            f"SELECT {ws}, 'scale-' || n, :now, CAST(1000000 + n AS VARCHAR(32)), 'unchanged'",
        ),
        _from_series(
            kind,
            items // 10,
            "INSERT INTO jira_oauth_flows (workspace_id, slack_user_id, state_hash, "
            "expires_at, created_at)",
            f"SELECT {ws}, 'UBENCH', 'flow-' || n, :later, :now",
        ),
        _from_series(
            kind,
            items // 10,
            "INSERT INTO slack_oauth_states (state_hash, expires_at)",
            "SELECT 'state-' || n, :later",
        ),
    ]


async def fill(
    engine: AsyncEngine,
    items: int,
    workspaces: int,
    *,
    now: datetime,
    site_url: str,
    creds: bytes,
    secret: bytes,
) -> None:
    """Fill a migrated database, then ANALYZE it so the planner knows its sizes."""
    params = {
        "now": now,
        "later": now + timedelta(hours=6),
        "site": site_url,
        "creds": creds,
        "secret": secret,
        "off": False,
        "on": True,
    }
    typed = [bindparam(n, type_=DateTime(timezone=True)) for n in ("now", "later")]
    async with engine.begin() as conn:
        for sql in fill_statements(engine.dialect.name, items, workspaces):
            used = [b for b in typed if f":{b.key}" in sql]
            await conn.execute(text(sql).bindparams(*used), params)
    async with engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
        await conn.commit()
