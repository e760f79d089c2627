"""The catch-up jobs (the reconcile of webhook workspaces, the check for deleted issues)
run in every process, but each workspace's turn is claimed in the database: however many
processes share it, Jira is asked once per workspace and period, and one line is posted.
A process killed mid-turn holds the turn only until its claim lapses.

Two processes are two runtimes of the app's settings in this process, on its database,
running the job at the same moment; time is frozen at the turn (the app's own processes
take no turn of a workspace within a period of its connection)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from bot.sync import deleted, poll
from bot.views import item_control_ids as controls
from tests.flows_retro import (
    choose,
    item_values,
    open_item_modal,
    submit_item,
    summary_message,
    wait_for_line,
)
from tests.flows_sync import slack_email, sync_app_fixture
from tests.flows_webhooks import (
    at_turn,
    notice_lines,
    run_in_processes,
    synced_items,
    token_webhook,
)
from tests.harness import install_workspace
from tests.test_two_way_pull import set_direction
from tests.test_two_way_push import edit
from tests.waiting import wait_until

# The settings of tests/test_two_way_pull.py: the same app process serves both modules.
sync_app = sync_app_fixture(SYNC_INTERVAL_SECONDS="1")
SEARCH = "/rest/api/3/search/jql"
CHANGELOG = "/rest/api/3/changelog/bulkfetch"
SLOW_LEASE = timedelta(seconds=60)  # poll_lease at a 60 s interval: twice the 30 s budget


@pytest.fixture(autouse=True)
def no_fault_left(jira_emulator):
    yield
    jira_emulator.faults.clear()


@pytest.fixture
def unheard(sync_app, slack_emulator, jira_emulator, site):
    """A webhook workspace (the admin pasted the secret) whose Jira never delivers: the
    reconcile is all that brings its changes back. Three synced items. Searches answer
    with pages as long as the test asks (search_page_size), the usual ones after it."""
    team = install_workspace(sync_app.app, slack_emulator, sync_app.db)
    hook = token_webhook(
        sync_app.app, sync_app.slack, slack_emulator, sync_app.db, team, site, add_to_jira=False
    )
    done, gone, kept = synced_items(
        sync_app.slack,
        slack_emulator,
        sync_app.db,
        team,
        "Fix the deploy",
        "Renew the cert",
        "Keep",
    )
    yield team, hook, done, gone, kept
    jira_emulator.search_page_size = None


@pytest.fixture
def searches(jira_emulator, site, unheard):
    """The JQL of the site's searches since the workspace was set up. The app process may
    poll it once between the connect and the pasted secret (webhooks not on yet): that
    search is not a turn's."""
    done = len(jira_emulator.requests_to("POST", f"/sites/{site.name}{SEARCH}"))

    def since_set_up() -> list[str]:
        made = jira_emulator.requests_to("POST", f"/sites/{site.name}{SEARCH}")[done:]
        return [r.json["jql"] for r in made]

    return since_set_up


def reconciles(searches) -> int:
    """The reconcile's searches: what changed lately."""
    return sum("updated >=" in jql for jql in searches())


def checks(searches) -> int:
    """The check's searches for deleted issues: by id."""
    return sum(jql.startswith("id in") for jql in searches())


def both_jobs_in_two_processes(app) -> None:
    run_in_processes(app, poll.reconcile_webhook_workspaces, count=2)
    run_in_processes(app, deleted.find_deleted_issues, count=2)


def status(db, item) -> dict:
    return db.rows("SELECT status, jira_deleted_at FROM action_items WHERE id = :i", i=item.id)[0]


def test_two_processes_take_each_workspace_s_turn_once_per_period(
    sync_app, slack_emulator, jira_emulator, site, unheard, searches
):
    team, hook, done, gone, _ = unheard
    db = sync_app.db
    assert site.transition(done.key, "Done", by=hook.jira_user) == []  # nothing delivered
    assert site.delete(gone.key, by=hook.jira_user) == []

    with at_turn():
        both_jobs_in_two_processes(sync_app.app)
    assert (reconciles(searches), checks(searches)) == (1, 1)
    assert status(db, done)["status"] == "complete"
    assert status(db, gone)["jira_deleted_at"] is not None

    with at_turn():  # again within the period: not due, in either process
        both_jobs_in_two_processes(sync_app.app)
    assert (reconciles(searches), checks(searches)) == (1, 1)

    with at_turn(2):  # the next period: once more, by one of them
        both_jobs_in_two_processes(sync_app.app)
    assert (reconciles(searches), checks(searches)) == (2, 2)
    lines = notice_lines(slack_emulator, db, team, done.retro_id)
    assert len([line for line in lines if done.key in line]) == 1, lines


def test_a_process_killed_mid_turn_holds_it_only_until_its_claim_lapses(
    sync_app, slack_emulator, jira_emulator, site, unheard, searches
):
    _, hook, done, _, _ = unheard
    held = jira_emulator.faults.add("POST", f"/sites/{site.name}{SEARCH}", "hold")

    async def killed_once_asking_jira(tasks):
        await asyncio.to_thread(wait_until, lambda: held.hits, "the search asked")
        tasks[0].cancel()  # as kill -9: nothing after the claim runs

    # The clock ticks with real time: a claim of the app's 10 s would lapse on its own
    # while a loaded machine runs the first two steps. These processes claim for a minute,
    # and the test moves time past that itself.
    slow = {"SYNC_INTERVAL_SECONDS": "60"}
    with at_turn() as clock:
        # Edited at the turn, so that the turn taken a lease later still reads it (a
        # reconcile reads back one period, less its margin, from when it runs).
        site.transition(done.key, "Done", by=hook.jira_user)
        run_in_processes(
            sync_app.app,
            poll.reconcile_webhook_workspaces,
            started=killed_once_asking_jira,
            env=slow,
        )
        held.release()
        assert reconciles(searches) == 1  # the killed one's, never answered
        assert status(sync_app.db, done)["status"] == "open"

        run_in_processes(sync_app.app, poll.reconcile_webhook_workspaces, env=slow)
        assert reconciles(searches) == 1, "taken while the dead claim held"

        clock.tick(SLOW_LEASE.total_seconds() + 1)  # well within the period
        run_in_processes(sync_app.app, poll.reconcile_webhook_workspaces, env=slow)
    assert reconciles(searches) == 2
    wait_until(
        lambda: status(sync_app.db, done)["status"] == "complete",
        "the lapsed turn taken and applied",
    )


def test_a_catch_up_longer_than_a_turn_goes_on_from_where_it_stopped(
    sync_app, jira_emulator, site, unheard
):
    """Changes in Jira outnumber what one turn reads (a page of one issue here, two pages
    a turn): the turn applies its pages, oldest change first, and records the last one
    applied; the next turn reads on from there. Reading everything at once, or starting
    again from the last complete read, would apply all three in the first turn, or fail
    each turn without progress when the read outgrew the turn's time budget."""
    team, hook, first, second, third = unheard
    jira_emulator.search_page_size = 1
    pages_a_turn = {"SYNC_POLL_PAGES": "2"}
    with at_turn(1, later=-timedelta(minutes=8)) as clock:  # three changes, 3 minutes apart
        for item in (first, second, third):
            assert site.transition(item.key, "Done", by=hook.jira_user) == []
            clock.tick(timedelta(minutes=3))
        run_in_processes(sync_app.app, poll.reconcile_webhook_workspaces, env=pages_a_turn)
    assert [status(sync_app.db, i)["status"] for i in (first, second, third)] == [
        "complete",
        "complete",
        "open",
    ]
    reached = sync_app.db.scalar(
        "SELECT last_polled_at FROM jira_connections WHERE workspace_id = :w",
        w=team.workspace_id,
    )
    applied = datetime.fromtimestamp(site.find_issue(second.key).updated, UTC)
    assert abs(as_utc(reached) - applied) < timedelta(seconds=1), reached

    with at_turn(2):
        run_in_processes(sync_app.app, poll.reconcile_webhook_workspaces, env=pages_a_turn)
    assert status(sync_app.db, third)["status"] == "complete"


def test_a_catch_up_busier_than_a_turn_within_a_minute_still_moves_on(
    sync_app, jira_emulator, site, unheard
):
    """Three changes within seconds, a page of one issue, two pages a turn: the next
    turn's search reaches back minutes before where the first stopped (Jira's dates have
    minute precision, and a margin covers its index lag), so its first pages are the two
    changes applied already. They are applied again (harmless) but do not use up the
    turn, which reads on to the third."""
    team, hook, first, second, third = unheard
    jira_emulator.search_page_size = 1
    pages_a_turn = {"SYNC_POLL_PAGES": "2"}
    with at_turn() as clock:
        for item in (first, second, third):
            assert site.transition(item.key, "Done", by=hook.jira_user) == []
            clock.tick(timedelta(seconds=5))
        run_in_processes(sync_app.app, poll.reconcile_webhook_workspaces, env=pages_a_turn)
    assert [status(sync_app.db, i)["status"] for i in (first, second, third)] == [
        "complete",
        "complete",
        "open",
    ]

    with at_turn(2):
        run_in_processes(sync_app.app, poll.reconcile_webhook_workspaces, env=pages_a_turn)
    assert status(sync_app.db, third)["status"] == "complete"
    reached = sync_app.db.scalar(
        "SELECT last_polled_at FROM jira_connections WHERE workspace_id = :w",
        w=team.workspace_id,
    )
    applied = datetime.fromtimestamp(site.find_issue(third.key).updated, UTC)
    assert as_utc(reached) > applied  # all read: the next turn starts from this one's start


def test_a_failed_turn_is_tried_again_soon_for_that_workspace_alone(
    sync_app, jira_emulator, site, unheard, searches
):
    """Jira answers the reconcile's search 500 once: the workspace's next turn comes after
    the retry base (0.2 s here, doubling with each failure in a row), not a period (10
    minutes) later; once it succeeds, the turn after is a period away again."""
    team, hook, done, _, _ = unheard
    jira_emulator.faults.add("POST", f"/sites/{site.name}{SEARCH}", "500", times=1)

    def failures() -> int:
        return sync_app.db.scalar(
            "SELECT reconcile_failures FROM jira_connections WHERE workspace_id = :w",
            w=team.workspace_id,
        )

    with at_turn() as clock:
        site.transition(done.key, "Done", by=hook.jira_user)
        run_in_processes(sync_app.app, poll.reconcile_webhook_workspaces)
        assert reconciles(searches) == 1
        assert status(sync_app.db, done)["status"] == "open"

        clock.tick(2)  # past the retry (at most 0.25 s), far within the period
        run_in_processes(sync_app.app, poll.reconcile_webhook_workspaces)
        assert reconciles(searches) == 2
        assert status(sync_app.db, done)["status"] == "complete"
        assert failures() == 0  # counted afresh after a success

        clock.tick(60)  # a success: the next turn is a period away
        run_in_processes(sync_app.app, poll.reconcile_webhook_workspaces)
        assert reconciles(searches) == 2


def test_a_turn_that_could_not_read_a_changelog_does_not_move_past_the_change(
    sync_app, slack_emulator, jira_emulator, site, unheard
):
    """The title was edited in Slack (its push waits) and in Jira, and the issue moved to
    Done: which title is the later is read from the changelog, and Jira answers that read
    500 once. Nothing of the issue is applied then; the turn must not record that it read
    past it (the next turn's search, reaching back only a margin before that, would never
    see the change again), and the retry soon after applies it: the line shows it done,
    with Jira's title (the later edit)."""
    team, hook, item, _, _ = unheard
    pushes = jira_emulator.faults.add(
        "POST", f"/sites/{site.name}{SEARCH}", "hold", times=None, body_has="id in ("
    )
    summary = summary_message(slack_emulator, team)
    view = open_item_modal(
        sync_app.slack,
        slack_emulator,
        team,
        lambda: choose(sync_app.slack, team, item.id, controls.EDIT, message_ts=summary.ts),
    )
    submit_item(sync_app.slack, team, view, item_values("Fix the deploy (Slack)"))
    wait_until(lambda: pushes.hits, "the push of the Slack edit waiting")
    history = jira_emulator.faults.add("POST", f"/sites/{site.name}{CHANGELOG}", "500")
    # The changes are made more than the search's margin before the turn.
    with at_turn(1, later=-timedelta(minutes=4)) as clock:
        assert site.edit(item.key, by=hook.jira_user, summary="Fix the deploy (Jira)") == []
        assert site.transition(item.key, "Done", by=hook.jira_user) == []
        clock.tick(timedelta(minutes=4))
        run_in_processes(sync_app.app, poll.reconcile_webhook_workspaces)
        assert history.hits == 1
        assert status(sync_app.db, item)["status"] == "open"

        clock.tick(2)  # the failed turn's retry (after at most 0.25 s)
        run_in_processes(sync_app.app, poll.reconcile_webhook_workspaces)
    assert status(sync_app.db, item)["status"] == "complete"
    _, line = wait_for_line(slack_emulator, team, "Fix the deploy (Jira)")
    assert line.startswith("✅") and "· Done" in line, line


def as_utc(value) -> datetime:
    """A timestamp as the database returns it (SQLite: text, naive; PostgreSQL: aware)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def test_slack_failing_to_look_up_an_assignee_is_tried_again_not_kept_as_nobody(
    sync_app, slack_emulator, jira_emulator, site, unheard
):
    """An issue reassigned in Jira to someone who is in Slack: the first lookup by email
    fails (Slack answers 500; a 429 past the client's own retries is the same). That is not Slack
    saying there is no such user: the turn applies nothing of a guess ("assigned in Jira
    to Max Member" would then stay, since the assignee is looked up only when it changes),
    keeps no answer, and the next turn reads the issue again and finds the person."""
    team, hook, item, _, _ = unheard
    member = site.add_user(slack_email(team, "member"), "Max Member")
    slack_emulator.fail("users.lookupByEmail", status=500, times=1, team_id=team.team_id)

    def assignee() -> tuple:
        row = sync_app.db.rows(
            "SELECT assignee_user_id, assignee_note FROM action_items WHERE id = :i", i=item.id
        )[0]
        return row["assignee_user_id"], row["assignee_note"]

    def lookups() -> int:
        calls = slack_emulator.calls_to("users.lookupByEmail")
        return sum(1 for c in calls if str(c.args.get("email")).lower() == member.email.lower())

    before = assignee()
    with at_turn():
        assert site.edit(item.key, by=hook.jira_user, assignee=member.account_id) == []
        run_in_processes(sync_app.app, poll.reconcile_webhook_workspaces)
    assert assignee() == before
    assert lookups() == 1

    with at_turn(2):
        run_in_processes(sync_app.app, poll.reconcile_webhook_workspaces)
    assert assignee() == (team.member, None)
    assert lookups() == 2  # the failure was not kept as "nobody"


def base_of(db, item) -> dict:
    base = db.scalar("SELECT field_base FROM action_items WHERE id = :i", i=item.id)
    return json.loads(base) if isinstance(base, str) else base


def test_switching_back_to_two_way_takes_what_jira_changed_while_one_way(
    sync_app, slack_emulator, site, unheard
):
    """One-way reads a title edited in Jira and only records it (held back). Switched back
    to Two-way, the next reconcile reads again from that change, though its last read
    was later and read this very issue already (same `updated`), and takes the title;
    a later Slack edit of another held field still wins over Jira's, and the log says so."""
    team, hook, first, second, _ = unheard
    set_direction(sync_app, slack_emulator, team, "one_way", webhooks=True)
    site.edit(first.key, by=hook.jira_user, summary="Fix the deploy (Jira)")
    site.edit(second.key, by=hook.jira_user, summary="Renew the cert (Jira)")
    with at_turn(1):  # well past the look-back margin of these edits
        run_in_processes(sync_app.app, poll.reconcile_webhook_workspaces)
    held = base_of(sync_app.db, first)["title"]
    assert (held["j"], held.get("held")) == ("Fix the deploy (Jira)", True)
    assert base_of(sync_app.db, second)["title"].get("held") is True
    edit(sync_app, slack_emulator, team, second.id, item_values("Renew the cert (Slack)"))
    wait_until(
        lambda: site.find_issue(second.key).fields["summary"] == "Renew the cert (Slack)",
        "the later Slack edit pushed",
    )

    set_direction(sync_app, slack_emulator, team, "two_way", webhooks=True, was="one_way")
    with at_turn(2):
        run_in_processes(sync_app.app, poll.reconcile_webhook_workspaces)
    wait_for_line(slack_emulator, team, "Fix the deploy (Jira)")
    titles = {
        r["id"]: r["title"]
        for r in sync_app.db.rows(
            "SELECT id, title FROM action_items WHERE workspace_id = :w", w=team.workspace_id
        )
    }
    assert (titles[first.id], titles[second.id]) == (
        "Fix the deploy (Jira)",
        "Renew the cert (Slack)",
    )
    assert "held" not in base_of(sync_app.db, first)["title"]
    logged = sync_app.db.rows(
        "SELECT message FROM sync_attempts WHERE item_id = :i AND operation = 'conflict'",
        i=second.id,
    )
    assert [r["message"] for r in logged] == [
        "title changed in Slack and in Jira; kept Slack's: Renew the cert (Slack)"
    ]


def test_a_turn_reading_across_the_switch_back_leaves_the_poll_mark_moved_back(
    sync_app, slack_emulator, jira_emulator, site, unheard
):
    """A reconcile that began in One-way is still waiting on Jira's search when the admin
    switches back to Two-way (which moves the poll mark back to the held change): its end
    must not move the mark forward again, or the held title (older than the look-back
    margin of its search) would come back only with the issue's next change in Jira."""
    team, hook, first, _, _ = unheard
    set_direction(sync_app, slack_emulator, team, "one_way", webhooks=True)
    site.edit(first.key, by=hook.jira_user, summary="Fix the deploy (Jira)")
    with at_turn(1):
        run_in_processes(sync_app.app, poll.reconcile_webhook_workspaces)
    assert base_of(sync_app.db, first)["title"].get("held") is True
    held = jira_emulator.faults.add("POST", f"/sites/{site.name}{SEARCH}", "hold")
    # Turn 2, its search held while the admin switches back. The modal's requests are
    # signed on the real clock: the app checks them on its own.
    turn = datetime.now(UTC) + 2 * (poll.RECONCILE_EVERY + poll.TURNS_CHECKED_EVERY)
    frozen = freeze_time(turn, tick=True, ignore=["tests.fakes.slack.requests"])

    async def switch_while_searching(tasks) -> None:
        while not held.hits and not all(task.done() for task in tasks):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        await asyncio.to_thread(
            set_direction, sync_app, slack_emulator, team, "two_way", webhooks=True, was="one_way"
        )
        held.release()

    with frozen:
        reconciled = run_in_processes(
            sync_app.app, poll.reconcile_webhook_workspaces, started=switch_while_searching
        )
    # This workspace's turn ran (a workspace left by an earlier module on the same worker
    # may be due at that hour too).
    assert reconciled[0] >= 1
    with at_turn(3):
        run_in_processes(sync_app.app, poll.reconcile_webhook_workspaces)
    wait_for_line(slack_emulator, team, "Fix the deploy (Jira)")
    title = sync_app.db.scalar("SELECT title FROM action_items WHERE id = :i", i=first.id)
    assert title == "Fix the deploy (Jira)"


def test_a_change_held_back_by_a_turn_that_read_one_way_before_the_switch_is_taken(
    sync_app, slack_emulator, jira_emulator, site, unheard
):
    """A reconcile reads the direction (One-way) and then waits on Jira's changelog (for
    another item's title, changed on both sides) while the admin switches back to Two-way:
    nothing was held back yet, so the switch found nothing to read again, and the turn
    then holds Jira's title back. Its end must not move the poll mark past that change,
    or the title would come to Slack only with the issue's next change in Jira."""
    team, hook, first, second, _ = unheard
    set_direction(sync_app, slack_emulator, team, "one_way", webhooks=True)
    pushes = jira_emulator.faults.add(
        "POST", f"/sites/{site.name}{SEARCH}", "hold", times=None, body_has="id in ("
    )
    edit(sync_app, slack_emulator, team, second.id, item_values("Renew the cert (Slack)"))
    wait_until(lambda: pushes.hits, "the push of the Slack edit waiting")
    history = jira_emulator.faults.add("POST", f"/sites/{site.name}{CHANGELOG}", "hold")

    async def switch_while_asking(tasks) -> None:
        while not history.hits and not all(task.done() for task in tasks):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        assert base_of(sync_app.db, first)["title"].get("held") is None  # none held yet
        await asyncio.to_thread(
            set_direction, sync_app, slack_emulator, team, "two_way", webhooks=True, was="one_way"
        )
        history.release()

    # The edits are made more than the search's margin before the turn. The modal's
    # requests are signed on the real clock: the app checks them on its own.
    turn = datetime.now(UTC) + poll.RECONCILE_EVERY + poll.TURNS_CHECKED_EVERY
    with freeze_time(turn, tick=True, ignore=["tests.fakes.slack.requests"]) as clock:
        assert site.edit(first.key, by=hook.jira_user, summary="Fix the deploy (Jira)") == []
        assert site.edit(second.key, by=hook.jira_user, summary="Renew the cert (Jira)") == []
        clock.tick(timedelta(minutes=4))
        reconciled = run_in_processes(
            sync_app.app, poll.reconcile_webhook_workspaces, started=switch_while_asking
        )
    assert reconciled == [1]
    assert history.hits == 1, "the turn read the direction before the switch"
    assert base_of(sync_app.db, first)["title"].get("held") is True  # held after the switch
    with at_turn(2):
        run_in_processes(sync_app.app, poll.reconcile_webhook_workspaces)
    title = sync_app.db.scalar("SELECT title FROM action_items WHERE id = :i", i=first.id)
    assert title == "Fix the deploy (Jira)"
    wait_for_line(slack_emulator, team, "Fix the deploy (Jira)")


@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"), reason="a row another transaction holds: PostgreSQL"
)
def test_a_turn_whose_row_another_transaction_holds_is_taken_once_it_is_let_go(
    sync_app, jira_emulator, site, unheard, caplog
):
    """The claim skips a connection row another transaction holds (on PostgreSQL, SKIP
    LOCKED: the app's poll of that workspace claiming it, a token refresh). A run that
    then finds no other turn due must wait for that one, not end and leave it to the next
    run a minute later. The test holds the row until the run has claimed every other due
    turn (earlier tests' workspaces) and logs that it waits for this one."""
    team, hook, _, gone, _ = unheard
    site.delete(gone.key, by=hook.jira_user)
    caplog.set_level(logging.INFO, logger="bot.sync.poll")

    def looked_again_or_ended(tasks) -> bool:
        waiting = "is held by another transaction: waiting"
        return any(waiting in r.getMessage() for r in caplog.records) or tasks[0].done()

    async def let_go_once_looked_again(tasks) -> None:
        # The run takes every other due turn first: one for each workspace the earlier
        # modules on this worker left (some 60, several seconds in CI under load).
        await asyncio.to_thread(
            wait_until,
            lambda: looked_again_or_ended(tasks),
            "the held turn looked for",
            timeout=90,
        )
        release.set()  # the hold's, below

    connection_row = "SELECT id FROM jira_connections WHERE workspace_id = :w FOR UPDATE"
    with sync_app.db.holding(connection_row, w=team.workspace_id) as release, at_turn():
        run_in_processes(
            sync_app.app, deleted.find_deleted_issues, started=let_go_once_looked_again
        )
    assert status(sync_app.db, gone)["jira_deleted_at"] is not None
