"""Multi-workspace install through /slack/install and /slack/oauth_redirect."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from freezegun import freeze_time

from bot import housekeeping
from tests.flows_webhooks import run_in_process
from tests.harness import install_workspace, unique_team_id


def test_install_saves_workspace_with_encrypted_token(app, slack_emulator, db, slack):
    team = install_workspace(app, slack_emulator, db)
    row = db.rows(
        "SELECT bot_token_enc, bot_user_id, installer_user_id FROM workspaces WHERE id = :id",
        id=team.workspace_id,
    )[0]
    token = slack_emulator.workspace(team.team_id).bot_token
    assert token.encode() not in bytes(row["bot_token_enc"])
    assert row["installer_user_id"] == team.admin
    assert row["bot_user_id"]
    # The installed workspace is served with its own bot token.
    response = slack.command(team.team_id, team.member, team.channel, "/retro", "help")
    assert response.status_code == 200
    assert "/retro start" in response.text


def test_reused_install_state_is_refused(app, slack_emulator, db):
    team_id = unique_team_id()
    slack_emulator.add_workspace(team_id)
    slack_emulator.add_user(team_id, "UINST", name="Installer", is_admin=True)
    start = app.get("/slack/install", follow_redirects=False)
    state = start.cookies.get("slack-app-oauth-state")
    cookie = {"Cookie": f"slack-app-oauth-state={state}"}
    code = slack_emulator.oauth_code(team_id, installer_user_id="UINST")
    first = app.get(f"/slack/oauth_redirect?code={code}&state={state}", headers=cookie)
    assert first.status_code == 200
    code = slack_emulator.oauth_code(team_id, installer_user_id="UINST")
    again = app.get(f"/slack/oauth_redirect?code={code}&state={state}", headers=cookie)
    assert again.status_code == 401
    # Nothing was done with the second code: never exchanged, no second row.
    assert code in slack_emulator._codes
    assert db.scalar("SELECT count(*) FROM workspaces WHERE slack_team_id = :t", t=team_id) == 1


def test_forged_state_installs_nothing(app, slack_emulator, db):
    team_id = unique_team_id()
    slack_emulator.add_workspace(team_id)
    code = slack_emulator.oauth_code(team_id, installer_user_id="UINST")
    response = app.get(
        f"/slack/oauth_redirect?code={code}&state=forged",
        headers={"Cookie": "slack-app-oauth-state=forged"},
    )
    assert response.status_code == 401
    # Nothing was done: the code was never exchanged, no workspace row.
    assert code in slack_emulator._codes
    assert db.scalar("SELECT count(*) FROM workspaces WHERE slack_team_id = :t", t=team_id) == 0


def test_uninstalled_workspace_is_not_served(app, slack_emulator, slack, db):
    team_id = unique_team_id()
    slack_emulator.add_workspace(team_id)
    calls = len(slack_emulator.calls)
    response = slack.command(team_id, "U1", "C1", "/retro", "help")
    assert "/retro start" not in response.text
    # Nothing was done for it: no workspace row, no Slack call in its name.
    assert db.scalar("SELECT count(*) FROM workspaces WHERE slack_team_id = :t", t=team_id) == 0
    assert [c for c in slack_emulator.calls[calls:] if c.team_id == team_id] == []


def test_expired_install_states_are_pruned(app, db):
    """Anyone may GET /slack/install, and each visit stores a state: the periodic tidy-up
    deletes the ones past their 10 minutes, so the table stays the size of live installs."""
    before = db.scalar("SELECT count(*) FROM slack_oauth_states")
    for _ in range(3):
        assert app.get("/slack/install", follow_redirects=False).cookies.get(
            "slack-app-oauth-state"
        )
    assert db.scalar("SELECT count(*) FROM slack_oauth_states") == before + 3

    run_in_process(app, housekeeping.tidy)  # still valid: kept
    assert db.scalar("SELECT count(*) FROM slack_oauth_states") >= 3

    with freeze_time(datetime.now(UTC) + timedelta(minutes=11)):
        run_in_process(app, housekeeping.tidy)
    assert db.scalar("SELECT count(*) FROM slack_oauth_states") == 0
