"""A rotated refresh token is never lost. Atlassian spends a refresh token on first use
and answers with a new one; a refresh the app gave up waiting for (a menu's ack budget) or
that was in flight at shutdown must still store the new token, or the next refresh spends
the old one again and the grant dies."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from cryptography.fernet import Fernet, MultiFernet

from tests.fakes.slack.requests import SlackRequests
from tests.flows_jira import (
    choose_default_project,
    connect_with_oauth,
    open_settings,
    project_options,
)
from tests.flows_retro import add_item, commit, start_retro
from tests.flows_sync import wait_for_polls_to_settle
from tests.harness import SIGNING_SECRET, AppProcess, Database, install_workspace, launch_app
from tests.waiting import wait_until

PAST = datetime(2000, 1, 1, tzinfo=UTC)


def _generation(db, team) -> int:
    return db.scalar(
        "SELECT credentials_generation FROM jira_connections WHERE workspace_id = :w",
        w=team.workspace_id,
    )


def _expire_access_token(db, team) -> None:
    db.execute(
        "UPDATE jira_connections SET access_expires_at = :t WHERE workspace_id = :w",
        t=PAST,
        w=team.workspace_id,
    )


def _stored_tokens(app, db, team) -> dict:
    sealed = db.scalar(
        "SELECT credentials_enc FROM jira_connections WHERE workspace_id = :w",
        w=team.workspace_id,
    )
    keys = MultiFernet([Fernet(k) for k in app.env["ENCRYPTION_KEY"].split(",")])
    return json.loads(keys.decrypt(bytes(sealed)))


def _stored_refresh_token(app, db, team) -> str:
    return _stored_tokens(app, db, team)["refresh_token"]


def _is_current(jira_emulator, refresh_token: str) -> bool:
    """Atlassian's newest refresh token of the grant: issued, never spent."""
    known = jira_emulator.oauth.refresh_tokens.get(refresh_token)
    return known is not None and known.rotated_at is None


def test_a_refresh_the_menu_gave_up_on_still_stores_the_rotated_token(
    app, slack, slack_emulator, jira_emulator, db, team, site
):
    connect_with_oauth(app, slack, slack_emulator, jira_emulator, team, [site])
    # The app's polls of the workspace put off (the connect's own one done, if it began):
    # one after the token is taken away would refresh it, one more than the counts expect.
    wait_for_polls_to_settle(db, team, put_off=True)
    view = open_settings(slack, slack_emulator, team)
    generation, reuses = _generation(db, team), jira_emulator.refresh_token_reuses
    # Jira stops taking the access token before its time (so the project search refreshes
    # inside its 2.5 s budget), and Atlassian answers the refresh after that budget.
    jira_emulator.oauth.access_tokens.pop(_stored_tokens(app, db, team)["access_token"])
    # This workspace's refresh only (its refresh token in the body): the session's app may
    # refresh another test's workspace meanwhile, and must not take the slow answer.
    mine = _stored_refresh_token(app, db, team)
    slow = jira_emulator.faults.add("POST", "/oauth/token", "latency", delay=3.5, body_has=mine)

    assert project_options(slack, team, view) == []  # the menu gave up waiting

    assert slow.hits == 1
    wait_until(
        lambda: _generation(db, team) == generation + 1, "the rotated token stored", timeout=8
    )
    assert _is_current(jira_emulator, _stored_refresh_token(app, db, team))
    # Later calls use it: no second refresh, no old refresh token spent again.
    refreshes = jira_emulator.token_requests["refresh_token"]
    assert len(project_options(slack, team, view)) == 2
    assert jira_emulator.refresh_token_reuses == reuses
    _expire_access_token(db, team)
    assert len(project_options(slack, team, view)) == 2
    assert jira_emulator.token_requests["refresh_token"] >= refreshes + 1
    assert jira_emulator.refresh_token_reuses == reuses
    assert _generation(db, team) == generation + 2


def test_a_refresh_in_flight_at_shutdown_is_finished_and_stored(
    slack_emulator, jira_emulator, site
):
    process = launch_app(slack_emulator, jira_emulator, SYNC_INTERVAL_SECONDS="3600")
    db = Database(process.env["DATABASE_URL"])
    slack = SlackRequests(process.url, SIGNING_SECRET, slack_emulator)
    try:
        team = install_workspace(process, slack_emulator, db)
        connect_with_oauth(process, slack, slack_emulator, jira_emulator, team, [site])
        choose_default_project(slack, slack_emulator, team, "TEAM", "Task", webhooks=False)
        # Its polls put off (the connect's own one done, if it began), so that the refresh
        # held below is the sync's.
        wait_for_polls_to_settle(db, team, put_off=True)
        start_retro(slack, slack_emulator, team, "Sprint 42")
        add_item(slack, slack_emulator, team, "Fix the deploy")
        generation, reuses = _generation(db, team), jira_emulator.refresh_token_reuses
        _expire_access_token(db, team)
        mine = _stored_refresh_token(process, db, team)  # this workspace's refresh only
        slow = jira_emulator.faults.add("POST", "/oauth/token", "latency", delay=2.0, body_has=mine)

        commit(slack, slack_emulator, team)  # the sync worker needs a fresh token
        wait_until(
            lambda: slow.hits == 1, "the sync's token refresh to reach Atlassian", timeout=10
        )
        process.stop()  # SIGTERM while Atlassian is still answering
    finally:
        process.stop()

    assert process.proc.returncode in (0, -15), process.log()
    assert _generation(db, team) == generation + 1, process.log()
    assert _is_current(jira_emulator, _stored_refresh_token(process, db, team))
    assert jira_emulator.refresh_token_reuses == reuses
    # The next process carries on with the stored grant.
    again = AppProcess(env=process.env, port=process.port, log_path=process.log_path).start()
    try:
        assert (
            db.scalar(
                "SELECT status FROM jira_connections WHERE workspace_id = :w", w=team.workspace_id
            )
            == "active"
        )
    finally:
        again.stop()
