"""The periodic tidy-up deletes what it promises and nothing more: each workspace's Sync
Log is cut to 90 days and to its newest 1,000 rows (one workspace's cut never reaches
another's rows), and an Atlassian sign-in attempt is kept a day past its expiry, so a late
callback still says it expired."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from bot import housekeeping
from storage.models import JiraOAuthFlow, SyncAttempt
from tests.flows_jira import consent_in_browser, open_start_link, start_oauth
from tests.flows_webhooks import run_in_process
from tests.harness import install_workspace

ROWS_KEPT = 1000


def add_log_rows(db, team, times: list[datetime]) -> None:
    """Set-up only: Sync Log rows of the workspace at these times."""

    async def add(session):
        session.add_all(
            SyncAttempt(
                workspace_id=team.workspace_id, at=at, operation="update", outcome="ok", attempt=1
            )
            for at in times
        )

    db.run(add)


def log_times(db, team) -> list[datetime]:
    """The workspace's Sync Log times, newest first (read through the model, so they
    compare as times on both databases)."""
    query = (
        select(SyncAttempt.at)
        .where(SyncAttempt.workspace_id == team.workspace_id)
        .order_by(SyncAttempt.at.desc())
    )
    return db.run(lambda session: session.scalars(query)).all()


def expire_sign_in(db, team, at: datetime) -> None:
    """Set-up only: the workspace's Atlassian sign-in attempts expire (expired) at `at`."""
    query = update(JiraOAuthFlow).where(JiraOAuthFlow.workspace_id == team.workspace_id)
    db.run(lambda session: session.execute(query.values(expires_at=at)))


def test_the_sync_log_keeps_90_days_and_each_workspaces_newest_1000_rows(app, slack_emulator, db):
    busy = install_workspace(app, slack_emulator, db)
    quiet = install_workspace(app, slack_emulator, db)
    now = datetime.now(UTC).replace(microsecond=0)
    # A busy workspace: 1,010 rows in the last day, ten past its newest 1,000.
    add_log_rows(db, busy, [now - timedelta(minutes=n) for n in range(ROWS_KEPT + 10)])
    # A quiet one: few rows, all older than the busy one's cut, one of them past 90 days.
    add_log_rows(db, quiet, [now - timedelta(days=d) for d in (2, 30, 89, 91)])

    run_in_process(app, housekeeping.tidy)

    # The newest 1,000 were kept; the quiet workspace lost only its row past 90 days.
    assert log_times(db, busy) == [now - timedelta(minutes=n) for n in range(ROWS_KEPT)]
    assert log_times(db, quiet) == [now - timedelta(days=d) for d in (2, 30, 89)]


def test_a_sign_in_link_that_just_expired_still_says_so_after_the_tidy_up(
    app, slack, jira_emulator, db, team, site
):
    """Attempts are deleted a day past their expiry, not at it: until then the callback
    can tell the admin their link expired, instead of calling it invalid."""
    _reply, link = start_oauth(slack, team)
    url = open_start_link(app.client, link)
    expire_sign_in(db, team, datetime.now(UTC) - timedelta(hours=1))

    run_in_process(app, housekeeping.tidy)

    user = site.add_user(f"late.{uuid.uuid4().hex[:6]}@example.com", "Late Larry")
    page = app.client.get(consent_in_browser(jira_emulator, url, user, [site]))
    assert page.status_code == 400 and "expired" in page.text, page.text

    # A day past its expiry, the attempt itself is gone.
    expire_sign_in(db, team, datetime.now(UTC) - timedelta(days=1, minutes=1))
    run_in_process(app, housekeeping.tidy)
    flows = "SELECT count(*) FROM jira_oauth_flows WHERE workspace_id = :w"
    assert db.scalar(flows, w=team.workspace_id) == 0
