"""A completion notice claimed by a process that is killed before Slack took it is not
lost: its claim lapses, and the next process's recovery job posts it exactly once."""

from __future__ import annotations

from datetime import UTC, datetime

from freezegun import freeze_time

from bot.jira.deliveries import NOTICE_LEASE, OWED_AFTER, send_owed_notices
from tests.fakes.slack.requests import SlackRequests
from tests.flows_webhooks import run_in_process, status_notices, synced_items, token_webhook
from tests.harness import SIGNING_SECRET, Database, install_workspace, launch_app

OWED = (
    "SELECT count(*) FROM webhook_deliveries WHERE workspace_id = :w "
    "AND notice IS NOT NULL AND notified_at IS NULL"
)


def test_a_notice_claimed_by_a_killed_process_is_posted_once_later(
    slack_emulator, jira_emulator, site
):
    app = launch_app(slack_emulator, jira_emulator)  # its own: this one is killed
    try:
        db = Database(app.env["DATABASE_URL"])
        slack = SlackRequests(app.url, SIGNING_SECRET, slack_emulator)
        team = install_workspace(app, slack_emulator, db)
        hook = token_webhook(app, slack, slack_emulator, db, team, site)
        [item] = synced_items(slack, slack_emulator, db, team, "Rotate the keys")
        # Slack holds the notice's post (and then refuses it): the process dies meanwhile.
        slack_emulator.fail(
            "chat.postMessage", status=500, delay=30, times=None, team_id=team.team_id
        )
        try:
            site.transition(item.key, "Done", by=hook.jira_user)
            slack_emulator.wait_for_call(
                "chat.postMessage",
                lambda c: c.team_id == team.team_id and " finished " in str(c.args),
            )
            app.kill()
        finally:
            slack_emulator.clear_faults()
    finally:
        app.kill()
    assert db.scalar(OWED, w=team.workspace_id) == 1
    assert status_notices(slack_emulator, db, team, item.retro_id) == []

    # The next process, once the dead one's claim has lapsed.
    with freeze_time(datetime.now(UTC) + max(NOTICE_LEASE, OWED_AFTER) * 1.1, tick=True):
        assert run_in_process(app, send_owed_notices) == 1
        assert run_in_process(app, send_owed_notices) == 0
    [notice] = status_notices(slack_emulator, db, team, item.retro_id)
    assert item.key in notice and " finished " in notice
    assert db.scalar(OWED, w=team.workspace_id) == 0
