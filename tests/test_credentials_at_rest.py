"""Secrets at rest: no token in the database file, the app's log or anything sent to Slack;
and rotating ENCRYPTION_KEY with `python -m storage.rotate_keys`."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from storage.clock import utcnow
from storage.crypto import SecretBox
from storage.db import make_engine, prepare_database
from storage.models import JiraConnection, JiraOAuthFlow, Workspace
from storage.rotate_keys import secret_columns
from tests.fakes.slack.requests import SlackRequests
from tests.flows_jira import (
    choose_default_project,
    connect_with_oauth,
    connect_with_token,
    open_settings,
    project_options,
    submit_token_modal,
    token_modal,
)
from tests.harness import ROOT, SIGNING_SECRET, Database, install_workspace, launch_app

PAST = datetime(2000, 1, 1, tzinfo=UTC)  # long expired


def _oauth_tokens(jira_emulator, user) -> list[str]:
    """Every access and refresh token Atlassian ever issued to this account."""
    oauth = jira_emulator.oauth
    with jira_emulator.lock:
        access = [t for t, a in oauth.access_tokens.items() if a.grant.user is user]
        refresh = [t for t, r in oauth.refresh_tokens.items() if r.grant.user is user]
    assert access and refresh
    return access + refresh


def _database_bytes(database_url: str) -> bytes:
    path = Path(make_url(database_url).database)
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return b"".join(f.read_bytes() for f in files if f.exists())


@pytest.mark.skipif(
    bool(os.environ.get("TEST_DATABASE_URL")), reason="scans the SQLite file; PostgreSQL run"
)
def test_no_token_in_the_database_file_the_log_or_slack(
    app, slack, slack_emulator, jira_emulator, db, team, site
):
    # OAuth in one workspace, refreshed once; an API token and webhook secret in another.
    attempt = connect_with_oauth(app, slack, slack_emulator, jira_emulator, team, [site])
    db.execute(
        "UPDATE jira_connections SET access_expires_at = :t WHERE workspace_id = :w",
        t=PAST,
        w=team.workspace_id,
    )
    assert project_options(slack, team, open_settings(slack, slack_emulator, team))  # refreshes
    other = install_workspace(app, slack_emulator, db)
    api_token = "ATATT-" + uuid.uuid4().hex
    webhook_secret = "whsec-" + uuid.uuid4().hex
    connect_with_token(slack, slack_emulator, other, site, token=api_token)
    choose_default_project(slack, slack_emulator, other, webhook_secret=webhook_secret)
    # A refused token must not be left behind (or echoed) either.
    wrong_token = "ATATT-wrong-" + uuid.uuid4().hex
    view = token_modal(slack, slack_emulator, other)
    refused = submit_token_modal(
        slack, other, view, site_url=site.url, email="robot@example.com", token=wrong_token
    )
    assert refused.json()["response_action"] == "errors"

    secrets = [*_oauth_tokens(jira_emulator, attempt.user), api_token, webhook_secret]
    secrets.append(wrong_token)
    secrets += [slack_emulator.workspaces[t.team_id].bot_token for t in (team, other)]
    raw = _database_bytes(app.env["DATABASE_URL"])
    assert site.url.encode() in raw  # the scan sees the rows just written (site URLs are plain)
    found_in_db = [s[:12] for s in secrets if s.encode() in raw]
    assert found_in_db == []
    log = app.log()
    assert [s[:12] for s in secrets if s in log] == []
    sent_to_slack = str([(c.method, c.args) for c in slack_emulator.calls])
    sent_to_slack += str([r.json for r in slack_emulator.responses])
    sent_to_slack += str([v.view for v in slack_emulator.views.values()])
    # (Bot tokens are Slack's own credentials: the emulator records them on every call.)
    jira_secrets = [*_oauth_tokens(jira_emulator, attempt.user), api_token, webhook_secret]
    assert [s[:12] for s in [*jira_secrets, wrong_token] if s in sent_to_slack] == []


# --- key rotation -------------------------------------------------------------------------


async def _seed(async_url: str, box: SecretBox) -> None:
    engine = make_engine(async_url)
    async with AsyncSession(engine) as session, session.begin():
        workspace = Workspace(slack_team_id="TROTATE", bot_token_enc=box.seal("xoxb-rotate-me"))
        session.add(workspace)
        await session.flush()
        session.add(
            JiraConnection(
                workspace_id=workspace.id,
                method="oauth",
                site_url="https://acme.atlassian.net",
                credentials_enc=box.seal_json({"access_token": "at-1", "refresh_token": "rt-1"}),
                webhook_token="wt-" + uuid.uuid4().hex,
                webhook_secret_enc=box.seal("whsec-1"),
            )
        )
        session.add(
            JiraOAuthFlow(
                workspace_id=workspace.id,
                slack_user_id="U1",
                state_hash=uuid.uuid4().hex,
                expires_at=utcnow(),
                pending_credentials_enc=box.seal_json({"access_token": "at-2"}),
            )
        )
    await engine.dispose()


async def _secrets(async_url: str) -> list[bytes]:
    engine = make_engine(async_url)
    async with AsyncSession(engine) as session:
        workspace = (await session.execute(Workspace.__table__.select())).one()
        conn = (await session.execute(JiraConnection.__table__.select())).one()
        flow = (await session.execute(JiraOAuthFlow.__table__.select())).one()
    await engine.dispose()
    return [
        workspace.bot_token_enc,
        conn.credentials_enc,
        conn.webhook_secret_enc,
        flow.pending_credentials_enc,
    ]


def _rotate(database_url: str, keys: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ENCRYPTION_KEY")}
    env.update(DATABASE_URL=database_url, ENCRYPTION_KEY=keys)
    return subprocess.run(
        [sys.executable, "-m", "storage.rotate_keys"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_rotate_keys_reencrypts_every_secret_with_the_first_key(tmp_path):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    database_url = f"sqlite:///{tmp_path / 'rotate.db'}"
    async_url = f"sqlite+aiosqlite:///{tmp_path / 'rotate.db'}"
    asyncio.run(prepare_database(async_url))
    asyncio.run(_seed(async_url, SecretBox(old)))
    before = asyncio.run(_secrets(async_url))
    # With the new key first and the old one second, everything still reads.
    assert SecretBox(f"{new},{old}").open(before[0]) == "xoxb-rotate-me"

    done = _rotate(database_url, f"{new},{old}")

    assert done.returncode == 0, done.stderr
    assert "Re-encrypted 4 secret(s)" in done.stdout
    after = asyncio.run(_secrets(async_url))
    only_new, only_old = SecretBox(new), SecretBox(old)
    assert only_new.open(after[0]) == "xoxb-rotate-me"
    assert only_new.open_json(after[1]) == {"access_token": "at-1", "refresh_token": "rt-1"}
    assert only_new.open(after[2]) == "whsec-1"
    assert only_new.open_json(after[3]) == {"access_token": "at-2"}
    for sealed in after:
        with pytest.raises(ValueError, match="cannot be decrypted"):
            only_old.open(sealed)


def test_rotate_keys_without_the_old_key_stops_and_says_why(tmp_path):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    database_url = f"sqlite:///{tmp_path / 'rotate.db'}"
    async_url = f"sqlite+aiosqlite:///{tmp_path / 'rotate.db'}"
    asyncio.run(prepare_database(async_url))
    asyncio.run(_seed(async_url, SecretBox(old)))

    done = _rotate(database_url, new)

    assert done.returncode == 1
    assert "cannot be decrypted with any key" in done.stderr
    assert "Traceback" not in done.stderr and old not in done.stderr + done.stdout
    assert SecretBox(old).open(asyncio.run(_secrets(async_url))[0]) == "xoxb-rotate-me"


def _sealed_values(db: Database) -> list[bytes]:
    """Every value of every encrypted column, in any table."""
    values = []
    for table, column in secret_columns():
        query = f"SELECT {column} AS v FROM {table.name} WHERE {column} IS NOT NULL"  # noqa: S608 (names from the models)
        rows = db.rows(query)
        values += [bytes(row["v"]) for row in rows]
    return values


def _basic_token(request) -> str:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    assert scheme.lower() == "basic", scheme
    return base64.b64decode(encoded).decode().partition(":")[2]


def test_a_key_rotated_as_an_operator_would_leaves_the_app_working_on_the_new_key_alone(
    slack_emulator, jira_emulator, site
):
    """A workspace connected (API token, webhook secret) under key A; then the operator's
    steps of storage/rotate_keys.py: the app restarted with B,A, `python -m
    storage.rotate_keys` run beside it, the app restarted with B alone. Slack's requests
    still find the bot token, Jira still gets the API token, and the database holds no
    secret in plain text and nothing key A alone can open."""
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    api_token, webhook_secret = "ATATT-" + uuid.uuid4().hex, "whsec-" + uuid.uuid4().hex
    quiet = {"SYNC_INTERVAL_SECONDS": "3600"}

    def run(keys: str, database_url: str | None = None):
        return launch_app(
            slack_emulator, jira_emulator, database_url=database_url, ENCRYPTION_KEY=keys, **quiet
        )

    first = run(key_a)
    database_url, db = first.env["DATABASE_URL"], Database(first.env["DATABASE_URL"])
    try:
        slack = SlackRequests(first.url, SIGNING_SECRET, slack_emulator)
        team = install_workspace(first, slack_emulator, db)
        connect_with_token(slack, slack_emulator, team, site, token=api_token)
        choose_default_project(slack, slack_emulator, team, webhook_secret=webhook_secret)
    finally:
        first.stop()
    sealed = _sealed_values(db)
    assert len(sealed) >= 3  # the bot token, the Jira credentials, the webhook secret

    both = run(f"{key_b},{key_a}", database_url)
    try:
        done = _rotate(database_url, f"{key_b},{key_a}")
    finally:
        both.stop()
    assert done.returncode == 0, done.stderr
    assert f"Re-encrypted {len(sealed)} secret(s)" in done.stdout

    only_b = run(key_b, database_url)
    try:
        slack = SlackRequests(only_b.url, SIGNING_SECRET, slack_emulator)
        asked = len(jira_emulator.requests_to("GET", "/project/search"))
        assert project_options(slack, team, open_settings(slack, slack_emulator, team))
        made = jira_emulator.requests_to("GET", "/project/search")[asked:]
        assert made and {_basic_token(r) for r in made} == {api_token}
    finally:
        only_b.stop()
    after = _sealed_values(db)
    assert len(after) == len(sealed)
    for value in after:
        assert api_token.encode() not in value and webhook_secret.encode() not in value
        SecretBox(key_b).open(value)  # raises if B cannot
        with pytest.raises(ValueError, match="cannot be decrypted"):
            SecretBox(key_a).open(value)
