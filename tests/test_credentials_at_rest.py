"""Secrets at rest: no token in the database file, the app's log or anything sent to Slack;
and rotating ENCRYPTION_KEY with `python -m storage.rotate_keys`."""

from __future__ import annotations

import asyncio
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
from tests.flows_jira import (
    choose_default_project,
    connect_with_oauth,
    connect_with_token,
    open_settings,
    project_options,
    submit_token_modal,
    token_modal,
)
from tests.harness import ROOT, install_workspace

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
