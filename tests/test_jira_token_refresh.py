"""Token refresh with rotating refresh tokens (Atlassian spends a refresh token on first
use), in-process: two Runtimes (as two workers would) against the app's database and the
Jira emulator.

On SQLite the two share one process's state, its refresh lock with it (SQLite allows one
process); on a PostgreSQL run (TEST_DATABASE_URL) each has its own and the row lock
(SELECT … FOR UPDATE) decides.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.config import load_settings
from bot.jira.credentials import (
    connection_for,
    jira_client_for,
    keep_refresh_tokens_alive,
    refresh_connection,
)
from bot.jira.errors import JiraError, JiraErrorKind
from bot.runtime import Runtime
from storage.clock import utcnow
from tests.flows_jira import connect_with_oauth
from tests.flows_sync import wait_for_polls_to_settle
from tests.harness import SIGNING_SECRET, SLACK_CLIENT_ID, SLACK_CLIENT_SECRET


@pytest.fixture
def settings(app, monkeypatch):
    # Both httpx and authlib's client read the emulator's CA from SSL_CERT_FILE.
    monkeypatch.setenv("SSL_CERT_FILE", app.env["SSL_CERT_FILE"])
    names = (
        "ATLASSIAN_CLIENT_ID",
        "ATLASSIAN_CLIENT_SECRET",
        "ATLASSIAN_AUTH_URL",
        "ATLASSIAN_API_URL",
        "SLACK_API_URL",
        "DATABASE_URL",
        "ENCRYPTION_KEY",
        "PUBLIC_URL",
    )
    return load_settings(
        slack_signing_secret=SIGNING_SECRET,
        slack_client_id=SLACK_CLIENT_ID,
        slack_client_secret=SLACK_CLIENT_SECRET,
        **{name.lower(): app.env[name] for name in names},
    )


@pytest.fixture
async def runtimes(settings):
    first = Runtime.build(settings)
    shared = first.state if first.engine.dialect.name == "sqlite" else None
    built = [first, Runtime.build(settings, state=shared)]
    yield built
    for runtime in built:
        await runtime.close()


async def _update_connection(runtime, workspace_id, **values) -> int:
    async with runtime.sessions.begin() as session:
        conn = await connection_for(session, workspace_id)
        for name, value in values.items():
            setattr(conn, name, value)
        return conn.id


async def _account_of(runtime, workspace_id) -> str:
    async with runtime.sessions() as session:
        return (await connection_for(session, workspace_id)).account_id


async def test_two_concurrent_refreshes_spend_the_refresh_token_once(
    app, slack, slack_emulator, jira_emulator, db, team, site, runtimes
):
    connect_with_oauth(app, slack, slack_emulator, jira_emulator, team, [site])
    first, second = runtimes
    # The app process beside the test polls this workspace and would refresh the expired
    # token too, and on SQLite it shares no lock with the two runtimes (in production SQLite
    # runs one process): its polls are put off (the connect's own one done, if it began),
    # so only the two runtimes refresh.
    wait_for_polls_to_settle(db, team, put_off=True)
    connection_id = await _update_connection(
        first,
        team.workspace_id,
        access_expires_at=utcnow() - timedelta(minutes=1),
    )
    account = await _account_of(first, team.workspace_id)
    counted = jira_emulator.oauth.refreshes_by_account
    reused = jira_emulator.oauth.reuses_by_account
    refreshes, reuses = counted[account], reused[account]
    # Atlassian is slow to answer, so the two callers surely overlap.
    jira_emulator.faults.add("POST", "/oauth/token", "latency", delay=0.3)

    clients = await asyncio.gather(
        jira_client_for(first, team.workspace_id), jira_client_for(second, team.workspace_id)
    )

    assert counted[account] == refreshes + 1  # one refresh only
    assert reused[account] == reuses
    for me in await asyncio.gather(*(client.myself() for client in clients)):
        assert me["displayName"] == "Ana Lima"
    # The stored refresh token is the rotated one: refreshing again spends no old token.
    await refresh_connection(second, connection_id)
    assert counted[account] == refreshes + 2
    assert reused[account] == reuses


async def test_a_401_refreshes_once_and_retries(
    app, slack, slack_emulator, jira_emulator, db, team, site, runtimes
):
    connect_with_oauth(app, slack, slack_emulator, jira_emulator, team, [site])
    # The app process's polls of the workspace put off (the connect's own one done, if it
    # began): one after the token goes stale would refresh it too.
    wait_for_polls_to_settle(db, team, put_off=True)
    runtime = runtimes[0]
    async with runtime.sessions() as session:
        conn = await connection_for(session, team.workspace_id)
    stale = runtime.box.open_json(conn.credentials_enc) | {"access_token": "emu-at-revoked"}
    await _update_connection(
        runtime, team.workspace_id, credentials_enc=runtime.box.seal_json(stale)
    )
    # This account's refreshes: another test's workspace, still polled, may refresh its own.
    counted = jira_emulator.oauth.refreshes_by_account
    account = await _account_of(runtime, team.workspace_id)
    refreshes = counted[account]

    client = await jira_client_for(runtime, team.workspace_id)  # token looks alive
    me = await client.myself()

    assert me["displayName"] == "Ana Lima"
    assert counted[account] == refreshes + 1
    # Jira refused the stale token once, then took the refreshed one (a refused call is
    # known by its path: the emulator names the site of authenticated calls only).
    asked = [
        r.status
        for r in jira_emulator.requests_to("GET", "/myself")
        if f"/ex/jira/{site.cloud_id}/" in r.path
    ]
    assert asked[-2:] == [401, 200]


async def test_not_connected_and_broken_are_auth_errors(
    app, slack, slack_emulator, jira_emulator, team, site, runtimes
):
    runtime = runtimes[0]
    with pytest.raises(JiraError) as missing:
        await jira_client_for(runtime, team.workspace_id)
    assert missing.value.kind is JiraErrorKind.AUTH and "/jira connect" in missing.value.message

    attempt = connect_with_oauth(app, slack, slack_emulator, jira_emulator, team, [site])
    jira_emulator.revoke_grant(attempt.user)
    await _update_connection(
        runtime, team.workspace_id, access_expires_at=utcnow() - timedelta(minutes=1)
    )
    with pytest.raises(JiraError) as revoked:
        await jira_client_for(runtime, team.workspace_id)
    assert revoked.value.kind is JiraErrorKind.AUTH
    async with runtime.sessions() as session:
        conn = await connection_for(session, team.workspace_id)
    assert conn.status == "broken"
    with pytest.raises(JiraError):  # and stays broken, without asking Atlassian again
        await jira_client_for(runtime, team.workspace_id)


async def test_idle_connections_are_refreshed_before_atlassian_forgets_them(
    app, slack, slack_emulator, jira_emulator, team, site, runtimes
):
    connect_with_oauth(app, slack, slack_emulator, jira_emulator, team, [site])
    runtime = runtimes[0]
    await _update_connection(
        runtime, team.workspace_id, access_expires_at=utcnow() - timedelta(days=40)
    )
    refreshes = jira_emulator.token_requests.get("refresh_token", 0)

    await keep_refresh_tokens_alive(runtime)

    assert jira_emulator.token_requests["refresh_token"] >= refreshes + 1
    async with runtime.sessions() as session:
        conn = await connection_for(session, team.workspace_id)
    assert conn.status == "active"
    assert conn.access_expires_at.replace(tzinfo=None) > utcnow().replace(tzinfo=None)
