"""Status back from Jira: an issue the app created moving into a Done-category status
completes its action item and says so once in the retro's thread; leaving Done reopens it.
Replays, out-of-order deliveries, localized status names, issues the app did not create
and other workspaces' tokens are all handled without touching what they must not."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import bindparam, text

from bot.jira.deliveries import OWED_AFTER, send_owed_notices
from storage.column_types import UtcDateTime
from tests.flows_retro import wait_for_line
from tests.flows_webhooks import (
    after_marker,
    hub_headers,
    issue_payload,
    item_row,
    lines_about,
    notice_lines,
    oauth_webhook,
    post_delivery,
    run_in_process,
    status_notices,
    synced_items,
    token_webhook,
    wait_applied,
    wait_for_thread,
)
from tests.harness import install_workspace


@pytest.fixture
def hook(app, slack, slack_emulator, db, team, site):
    """API token, with the admin webhook added in Jira as the settings say."""
    return token_webhook(app, slack, slack_emulator, db, team, site)


def _outcomes(db, team) -> list[str]:
    return [
        r["outcome"]
        for r in db.rows(
            "SELECT outcome FROM webhook_deliveries WHERE workspace_id = :w ORDER BY id",
            w=team.workspace_id,
        )
    ]


def test_done_completes_the_item_and_tells_the_retro_thread(
    slack, slack_emulator, db, team, site, hook
):
    [item, other] = synced_items(slack, slack_emulator, db, team, "Fix the deploy", "Write docs")

    [delivery] = site.transition(item.key, "Done", by=hook.jira_user)

    assert delivery.status == 202, delivery.response_text
    [text] = wait_for_thread(slack_emulator, db, team, item.retro_id, "finished")
    # Who moved it, the key a link, and the retro's tally; not the connected account.
    assert text == (
        f"✅ Ana Lima finished <{site.url}/browse/{item.key}|{item.key}> · Fix the deploy "
        "(1 of 2 done)"
    )
    row = item_row(db, item.id)
    assert (row["status"], row["completed_by"], row["jira_status_category"]) == (
        "complete",
        "Ana Lima",
        "done",
    )
    assert item_row(db, other.id)["status"] == "open"
    # The summary message shows the check mark and who did it.
    _, line = wait_for_line(slack_emulator, team, "done in Jira by Ana Lima")
    assert line.startswith("✅") and "Fix the deploy" in line
    slack_emulator.assert_no_violations()


def test_a_replayed_delivery_posts_one_message(app, slack, slack_emulator, db, team, site, hook):
    [item, marker] = synced_items(slack, slack_emulator, db, team, "Rotate the keys", "Marker")
    [delivery] = site.transition(item.key, "Done", by=hook.jira_user)
    wait_for_thread(slack_emulator, db, team, item.retro_id, "finished")

    retried = site.redeliver(delivery)  # Jira's retry: same identifier, same body
    again = post_delivery(app, hook.token, delivery.body, delivery.headers)

    assert (retried.status, again.status_code) == (200, 200)
    after_marker(slack_emulator, db, team, site, hook, marker)
    assert len(lines_about(slack_emulator, db, team, item)) == 1
    assert _outcomes(db, team) == ["completed", "completed"]  # the item's, the marker's


def test_moving_out_of_done_reopens_and_says_so(slack, slack_emulator, db, team, site, hook):
    [item, marker] = synced_items(slack, slack_emulator, db, team, "Fix the deploy", "Marker")
    site.transition(item.key, "Done", by=hook.jira_user)
    wait_for_thread(slack_emulator, db, team, item.retro_id, "finished")

    site.transition(item.key, "In Progress", by=hook.jira_user)

    [text] = wait_for_thread(slack_emulator, db, team, item.retro_id, "back to")
    assert text == (
        f"↩️ Ana Lima moved <{site.url}/browse/{item.key}|{item.key}> · Fix the deploy "
        "back to In Progress (0 of 2 done)"
    )
    row = item_row(db, item.id)
    assert (row["status"], row["completed_by"], row["jira_status_category"]) == (
        "open",
        None,
        "indeterminate",
    )
    # Moving along outside Done says nothing more.
    site.transition(item.key, "To Do", by=hook.jira_user)
    after_marker(slack_emulator, db, team, site, hook, marker)
    assert len(lines_about(slack_emulator, db, team, item)) == 2


def test_a_localized_done_status_completes_by_its_category(
    slack, slack_emulator, db, team, site, hook
):
    [item] = synced_items(slack, slack_emulator, db, team, "Übersetzen")

    site.transition(item.key, "Fertig", by=hook.jira_user)

    [text] = wait_for_thread(slack_emulator, db, team, item.retro_id, "finished")
    assert f"Ana Lima finished <{site.url}/browse/{item.key}|{item.key}> · Übersetzen" in text
    assert item_row(db, item.id)["status"] == "complete"


def test_a_replayed_or_forged_old_body_cannot_roll_the_item_back(
    app, slack, slack_emulator, db, team, site
):
    """Deliveries arrive late, twice or forged; each is only a cue to read the issue from
    Jira, so what the item shows is what Jira says now, whatever the body claims."""
    hook = token_webhook(app, slack, slack_emulator, db, team, site)
    [item, marker] = synced_items(slack, slack_emulator, db, team, "Fix the deploy", "Marker")
    t0 = int(time.time() * 1000)

    def deliver(category, status, at):
        body = issue_payload(
            site, issue_id=item.issue_id, key=item.key, category=category, status=status,
            timestamp_ms=at,
        )  # fmt: skip
        raw = json.dumps(body).encode()
        return post_delivery(app, hook.token, raw, hub_headers(hook.secret, raw))

    # A body claiming Done while the issue is still To Do in Jira completes nothing.
    # (The 202 comes once the delivery is recorded; it is applied a moment later.)
    assert deliver("done", "Done", t0 + 1000).status_code == 202
    wait_applied(db, team)
    assert item_row(db, item.id)["status"] == "open"
    after_marker(slack_emulator, db, team, site, hook, marker)
    assert lines_about(slack_emulator, db, team, item) == []

    # Done for real, then an old To Do body (new identifier, later timestamp) is replayed.
    site.transition(item.key, "Done", by=hook.jira_user)
    slack_emulator.wait_for(lambda: lines_about(slack_emulator, db, team, item))
    assert deliver("new", "To Do", t0 + 60_000).status_code == 202
    wait_applied(db, team)
    assert item_row(db, item.id)["status"] == "complete"
    after_marker(slack_emulator, db, team, site, hook, marker, "In Progress")
    assert len(lines_about(slack_emulator, db, team, item)) == 1
    # The forged body, the marker, the real move, the replayed body, the marker again.
    assert _outcomes(db, team) == ["unchanged", "completed", "completed", "unchanged", "reopened"]


def test_a_status_change_stamped_in_the_future_does_not_pin_the_item(
    slack, slack_emulator, db, team, site, hook
):
    """Jira's clock (or a forger's) a day ahead: the Done it stamps must not outrank the
    real reopen a moment later, which Jira stamps with the right time."""
    [item] = synced_items(slack, slack_emulator, db, team, "Fix the deploy")
    site.clock_ahead_seconds = 24 * 3600
    [done] = site.transition(item.key, "Done", by=hook.jira_user)
    assert done.status == 202, done.response_text
    wait_applied(db, team)
    assert item_row(db, item.id)["status"] == "complete"

    site.clock_ahead_seconds = 0.0
    [reopen] = site.transition(item.key, "In Progress", by=hook.jira_user)

    # The 202 comes once the delivery is recorded; it is applied a moment later.
    assert reopen.status == 202, reopen.response_text
    wait_applied(db, team)
    row = item_row(db, item.id)
    assert (row["status"], row["jira_status_category"]) == ("open", "indeterminate")
    wait_for_thread(slack_emulator, db, team, item.retro_id, "back to")


def test_an_item_stored_with_a_status_time_far_ahead_still_follows_jira(
    slack, slack_emulator, db, team, site, hook
):
    """A status time already stored a day ahead (written before such times were taken as
    now) orders nothing: Jira's real change after it still completes the item."""
    [item] = synced_items(slack, slack_emulator, db, team, "Fix the deploy")
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    db.run(  # set-up: the row as an earlier version left it
        lambda session: session.execute(
            text("UPDATE action_items SET status_changed_at = :t WHERE id = :i").bindparams(
                bindparam("t", type_=UtcDateTime())
            ),
            {"t": tomorrow, "i": item.id},
        )
    )

    [done] = site.transition(item.key, "Done", by=hook.jira_user)

    assert done.status == 202, done.response_text
    wait_applied(db, team)
    assert item_row(db, item.id)["status"] == "complete"
    wait_for_thread(slack_emulator, db, team, item.retro_id, "finished")


def test_issues_the_app_did_not_create_are_ignored(slack, slack_emulator, db, team, site, hook):
    [item, marker] = synced_items(slack, slack_emulator, db, team, "Fix the deploy", "Marker")
    manual = site.create_issue("TEAM", "Made in Jira by hand")

    [delivery] = site.transition(manual.key, "Done", by=hook.jira_user)

    assert delivery.status == 202
    wait_applied(db, team)
    assert _outcomes(db, team) == ["unknown_issue"]
    assert item_row(db, item.id)["status"] == "open"
    after_marker(slack_emulator, db, team, site, hook, marker)
    lines = notice_lines(slack_emulator, db, team, item.retro_id)
    assert lines == lines_about(slack_emulator, db, team, marker)  # the marker's only


def test_a_token_of_another_workspace_touches_nothing_of_this_one(
    app, slack, slack_emulator, jira_emulator, db, team, site, hook
):
    """Workspace B (its own site) sends a delivery about A's issue with B's token and B's
    valid signature. Issue ids are per site, so B even has an item with the same id."""
    [a_item, a_marker] = synced_items(slack, slack_emulator, db, team, "A's item", "A marker")
    other = install_workspace(app, slack_emulator, db)
    other_site = jira_emulator.add_site("other" + uuid.uuid4().hex[:6])
    other_site.add_project("TEAM", "Their board")
    b_hook = token_webhook(app, slack, slack_emulator, db, other, other_site)
    [b_item, b_marker] = synced_items(slack, slack_emulator, db, other, "B's item", "B marker")
    assert b_item.issue_id == a_item.issue_id  # both sites number issues from 10000

    body = issue_payload(
        site, issue_id=a_item.issue_id, key=a_item.key, category="done", status="Done"
    )
    raw = json.dumps(body).encode()
    answer = post_delivery(app, b_hook.token, raw, hub_headers(b_hook.secret, raw))

    assert answer.status_code == 202
    wait_applied(db, other)
    assert item_row(db, a_item.id)["status"] == "open"
    assert item_row(db, b_item.id)["status"] == "open"  # not B's issue either: other site
    assert _outcomes(db, other) == ["other_site"]
    assert _outcomes(db, team) == []
    after_marker(slack_emulator, db, team, site, hook, a_marker)
    after_marker(slack_emulator, db, other, other_site, b_hook, b_marker)
    assert notice_lines(slack_emulator, db, team, a_item.retro_id) == lines_about(
        slack_emulator, db, team, a_marker
    )
    assert notice_lines(slack_emulator, db, other, b_item.retro_id) == lines_about(
        slack_emulator, db, other, b_marker
    )
    # A's own signature on B's token is refused outright.
    assert post_delivery(app, b_hook.token, raw, hub_headers(hook.secret, raw)).status_code == 401


def test_oauth_dynamic_webhook_completes_the_item(
    app, slack, slack_emulator, jira_emulator, db, team, site
):
    hook = oauth_webhook(app, slack, slack_emulator, jira_emulator, db, team, site)
    [item] = synced_items(slack, slack_emulator, db, team, "Ship the release")

    [delivery] = site.transition(item.key, "Done", by=hook.jira_user)

    assert delivery.kind == "dynamic" and delivery.status == 202
    [text] = wait_for_thread(slack_emulator, db, team, item.retro_id, "finished")
    assert (
        f"Max Mover finished <{site.url}/browse/{item.key}|{item.key}> · Ship the release" in text
    )
    assert hook.account_name not in text
    assert item_row(db, item.id)["status"] == "complete"


def test_a_notice_left_owed_by_a_dead_process_is_sent_once(
    app, slack, slack_emulator, db, team, site, hook
):
    """The state a crash leaves between committing a delivery and posting its message."""
    [item] = synced_items(slack, slack_emulator, db, team, "Fix the deploy")
    db.execute(
        "INSERT INTO webhook_deliveries (workspace_id, delivery_id, received_at, issue_id, "
        "outcome, item_id, notice) VALUES (:w, :d, :at, :i, 'completed', :item, :notice)",
        w=team.workspace_id,
        d=str(uuid.uuid4()),
        at=datetime.now(UTC),
        i=item.issue_id,
        item=item.id,
        notice="✅ Ana Lima finished TEAM-1 · Fix the deploy",
    )

    # Later, when whoever owed it is long gone. The clock moves for this process only: the
    # app's own minute run, on the real clock, does not find it owed before the test's.
    with freeze_time(datetime.now(UTC) + OWED_AFTER * 1.5, tick=True):
        assert run_in_process(app, send_owed_notices) == 1
        assert run_in_process(app, send_owed_notices) == 0

    assert status_notices(slack_emulator, db, team, item.retro_id) == [
        "✅ Ana Lima finished TEAM-1 · Fix the deploy (0 of 1 done)"
    ]


def test_a_burst_of_changes_shares_one_thread_message(slack, slack_emulator, db, team, site, hook):
    """A bulk move in Jira: the first change goes out at once, the rest of the burst is
    gathered into one message (a line each) instead of one message per issue."""
    items = synced_items(slack, slack_emulator, db, team, "One", "Two", "Three", "Four")

    for item in items:
        site.transition(item.key, "Done", by=hook.jira_user)

    retro = items[0].retro_id
    slack_emulator.wait_for(
        lambda: (
            sum(t.count("\n") + 1 for t in status_notices(slack_emulator, db, team, retro)) == 4
        ),
        message="four status lines",
    )
    messages = status_notices(slack_emulator, db, team, retro)
    assert len(messages) < 4 and any("\n" in m for m in messages)
    lines = "\n".join(messages).splitlines()
    for item in items:
        finished = f"finished <{site.url}/browse/{item.key}|{item.key}> · {item.title}"
        assert sum(finished in line for line in lines) == 1
    assert all(item_row(db, item.id)["status"] == "complete" for item in items)
