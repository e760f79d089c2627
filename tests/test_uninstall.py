"""Uninstalling the app from a workspace (or revoking its bot token) takes its Jira set-up
with it: the dynamic webhooks are deleted in Jira, the credentials are gone, and no later
job calls that workspace's Jira again."""

from __future__ import annotations

import pytest

from bot.jira import webhook_registration
from bot.jira.credentials import keep_refresh_tokens_alive
from bot.sync import deleted, poll
from tests.flows_webhooks import at_turn, oauth_webhook, registered, run_in_process
from tests.waiting import wait_until

UNINSTALLED = {"type": "app_uninstalled"}
BOT_TOKEN_REVOKED = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["UBOT"]}}


def _jira_calls_for(jira_emulator, site) -> int:
    return len([r for r in jira_emulator.requests_to("*", "") if r.site == site.name])


@pytest.mark.parametrize("event", [UNINSTALLED, BOT_TOKEN_REVOKED], ids=["uninstall", "revoke"])
def test_leaving_a_workspace_deletes_its_jira_webhooks_and_credentials(
    app, slack, slack_emulator, jira_emulator, db, team, site, event
):
    hook = oauth_webhook(app, slack, slack_emulator, jira_emulator, db, team, site)
    assert registered(site, hook.token)

    answer = slack.event(team.team_id, event)

    assert answer.status_code == 200
    wait_until(lambda: not registered(site, hook.token), "its webhooks deleted in Jira")
    wait_until(
        lambda: (
            db.scalar(
                "SELECT count(*) FROM jira_connections WHERE workspace_id = :w", w=team.workspace_id
            )
            == 0
        ),
        "its Jira credentials removed",
    )
    wait_until(
        lambda: (
            db.scalar(
                "SELECT count(*) FROM workspaces WHERE id = :w AND bot_token_enc IS NULL "
                "AND uninstalled_at IS NOT NULL",
                w=team.workspace_id,
            )
            == 1
        ),
        "its bot token forgotten",
    )
    # Keep-alive, webhook renewal and polling find nothing of it to call Jira for.
    calls = _jira_calls_for(jira_emulator, site)
    db.execute(
        "UPDATE sync_settings SET webhooks_enabled = :off WHERE workspace_id = :w",
        off=False,
        w=team.workspace_id,
    )
    for job in (
        keep_refresh_tokens_alive,
        webhook_registration.refresh_due_webhooks,
        poll.poll_cycle,
        poll.reconcile_webhook_workspaces,
        deleted.find_deleted_issues,
    ):
        with at_turn():  # the catch-up jobs' turn due, were the workspace still connected
            run_in_process(app, job)
    assert _jira_calls_for(jira_emulator, site) == calls
    # Its retros and items stay, as after /jira disconnect.
    assert db.scalar("SELECT count(*) FROM workspaces WHERE id = :w", w=team.workspace_id) == 1


def test_a_revoked_user_token_alone_changes_nothing(
    app, slack, slack_emulator, jira_emulator, db, team, site
):
    hook = oauth_webhook(app, slack, slack_emulator, jira_emulator, db, team, site)

    answer = slack.event(
        team.team_id, {"type": "tokens_revoked", "tokens": {"oauth": [team.admin], "bot": []}}
    )

    assert answer.status_code == 200
    assert registered(site, hook.token)
    assert (
        db.scalar(
            "SELECT count(*) FROM jira_connections WHERE workspace_id = :w", w=team.workspace_id
        )
        == 1
    )
