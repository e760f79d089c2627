"""What a killed process leaves is not lost: a completion notice it claimed before Slack
took it (its claim lapses, and the next process's recovery job posts it exactly once), and
deliveries it answered but never applied (the next process applies them, once)."""

from __future__ import annotations

from datetime import UTC, datetime

from freezegun import freeze_time
from sqlalchemy import event

from bot.jira.deliveries import (
    APPLY_LEASE,
    NOTICE_LEASE,
    OWED_AFTER,
    apply_unapplied,
    send_owed_notices,
)
from storage.clock import utcnow
from storage.housekeeping import KEEP_DELIVERIES, prune_deliveries
from tests.fakes.slack.requests import SlackRequests
from tests.flows_webhooks import (
    UNAPPLIED,
    item_row,
    lines_about,
    run_in_process,
    status_notices,
    synced_items,
    token_webhook,
)
from tests.harness import SIGNING_SECRET, Database, install_workspace, launch_app
from tests.waiting import wait_until

OWED = (
    "SELECT count(*) FROM webhook_deliveries WHERE workspace_id = :w "
    "AND notice IS NOT NULL AND notified_at IS NULL"
)


def _hooked(app, slack_emulator, site):
    """The app's database, a Slack client, and a workspace whose Jira site calls its
    admin webhook."""
    db = Database(app.env["DATABASE_URL"])
    slack = SlackRequests(app.url, SIGNING_SECRET, slack_emulator)
    team = install_workspace(app, slack_emulator, db)
    return db, slack, team, token_webhook(app, slack, slack_emulator, db, team, site)


def test_a_notice_claimed_by_a_killed_process_is_posted_once_later(
    slack_emulator, jira_emulator, site
):
    app = launch_app(slack_emulator, jira_emulator)  # its own: this one is killed
    try:
        db, slack, team, hook = _hooked(app, slack_emulator, site)
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


SEARCH = "/rest/api/3/search/jql"


def test_deliveries_answered_before_a_kill_are_applied_once_after_it(
    slack_emulator, jira_emulator, site
):
    """Jira hears 2xx once a delivery is recorded, and never resends it: a process killed
    before applying what it recorded leaves it to the recovery job of the next one, which
    applies it (every item ends as Jira says) and posts each notice once: the two retros'
    messages, then both notices marked sent in one statement."""
    app = launch_app(slack_emulator, jira_emulator)  # its own: this one is killed
    try:
        db, slack, team, hook = _hooked(app, slack_emulator, site)
        items = synced_items(slack, slack_emulator, db, team, "Rotate the keys")
        items += synced_items(slack, slack_emulator, db, team, "Renew certs", channel="COTHER")
        # Jira keeps the app's re-reads unanswered: the deliveries are recorded, not applied.
        held = jira_emulator.faults.add(
            "POST", f"/sites/{site.name}{SEARCH}", "hold", times=None, body_has="id in ("
        )
        try:
            answers = [site.transition(i.key, "Done", by=hook.jira_user)[0] for i in items]
            assert [a.status for a in answers] == [202, 202]
            wait_until(lambda: held.hits, "the apply's re-read to reach Jira")
            app.kill()
        finally:
            held.release()
    finally:
        app.kill()
    assert db.scalar(UNAPPLIED, w=team.workspace_id) == 2
    assert [item_row(db, i.id)["status"] for i in items] == ["open", "open"]
    # Housekeeping, however late it runs, keeps what is still owed to the items.
    assert run_in_process(app, _prune_all) == 0
    assert db.scalar(UNAPPLIED, w=team.workspace_id) == 2

    # The next process, once the dead one's deliveries are older than the lease.
    with freeze_time(datetime.now(UTC) + APPLY_LEASE * 1.5, tick=True):
        taken, sent = run_in_process(app, _counting, apply_unapplied)
        assert taken == 2
        assert run_in_process(app, apply_unapplied) == 0
    assert items[0].retro_id != items[1].retro_id
    assert sum("SET notified_at" in statement for statement in sent) == 1
    # Where each channel's items go, read once for both retros' summaries.
    assert sum("FROM channel_overrides" in statement for statement in sent) == 1
    assert db.scalar(UNAPPLIED, w=team.workspace_id) == 0
    assert [item_row(db, i.id)["status"] for i in items] == ["complete", "complete"]
    for item in items:
        [line] = lines_about(slack_emulator, db, team, item)
        assert " finished " in line
    assert db.scalar(OWED, w=team.workspace_id) == 0


async def _counting(runtime, job):
    """`job`'s result, and the statements it sent."""
    sent: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    event.listen(runtime.engine.sync_engine, "before_cursor_execute", seen)
    try:
        return await job(runtime), sent
    finally:
        event.remove(runtime.engine.sync_engine, "before_cursor_execute", seen)


async def _prune_all(runtime) -> int:
    return await prune_deliveries(runtime.sessions, utcnow() + KEEP_DELIVERIES * 2)
