"""Status polling (webhooks off) runs beside the sync worker: workspaces are polled many at
a time, each with one search for the app's issues updated since its last poll; a slow,
hanging or rate-limited Jira costs only its own workspace; a commit is synced at once
while a long poll runs; several processes poll each workspace once per cycle.

Many polling workspaces are made by copying one connected workspace's rows (set-up only),
each pointed at a Jira site of its own, so every request names the workspace it is for."""

from __future__ import annotations

import itertools
import os
import time
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from tests.flows_jira import new_site
from tests.flows_sync import (
    commit_retro,
    connect_world,
    items,
    retro_with_items,
    sync_app_fixture,
    wait_for_keys,
)
from tests.harness import Database, launch_app
from tests.waiting import wait_until

INTERVAL = 4.0
sync_app = sync_app_fixture(SYNC_INTERVAL_SECONDS=str(INTERVAL))
SEARCH = "/rest/api/3/search/jql"


@pytest.fixture
def clean_emulator(jira_emulator):
    yield jira_emulator
    jira_emulator.latency = 0.0
    jira_emulator.faults.clear()


def searches(jira_emulator, site) -> list:
    return [
        r for r in jira_emulator.requests_to("POST", SEARCH) if f"/sites/{site.name}/" in r.path
    ]


def polling_copies(db: Database, jira_emulator, world, count: int) -> list:
    """`count` more workspaces polling like `world`'s, each on a Jira site of its own where
    the same account and API token work."""
    with jira_emulator.lock:
        tokens = dict(world.site.api_tokens)
    sites = []
    for _ in range(count):
        site = new_site(jira_emulator, "copy")
        for email, token in tokens.items():
            site.add_api_token(email, token)
        sites.append(site)

    async def copy(session):
        for site in sites:
            workspace = (
                await session.execute(
                    text(
                        "INSERT INTO workspaces (slack_team_id, name, created_at) "
                        "VALUES (:t, 'Copy', CURRENT_TIMESTAMP) RETURNING id"
                    ),
                    {"t": "T" + uuid.uuid4().hex[:10].upper()},
                )
            ).scalar_one()
            params = {"w": workspace, "tw": world.team.workspace_id, "off": False}
            await session.execute(
                text(
                    "INSERT INTO jira_connections (workspace_id, method, status, site_url, "
                    "account_id, account_name, account_email, credentials_enc, "
                    "credentials_generation, webhook_token, created_at, updated_at) "
                    "SELECT :w, method, status, :url, account_id, account_name, "
                    "account_email, credentials_enc, credentials_generation, :token, "
                    "created_at, updated_at FROM jira_connections WHERE workspace_id = :tw"
                ),
                {**params, "url": site.url, "token": uuid.uuid4().hex},
            )
            await session.execute(
                text(
                    "INSERT INTO sync_settings (workspace_id, project_id, project_key, "
                    "issue_type_id, webhooks_enabled, epic_per_retro, updated_at) "
                    "SELECT :w, project_id, project_key, issue_type_id, :off, :off, updated_at "
                    "FROM sync_settings WHERE workspace_id = :tw"
                ),
                params,
            )

    db.run(copy)
    return sites


def stop_polling(db: Database, sites) -> None:
    """Copies stop polling once their test is done (the tests of this file share an app)."""
    for site in sites:
        db.execute("UPDATE jira_connections SET status = 'broken' WHERE site_url = :u", u=site.url)


def in_flight_at_most(records, seconds: float) -> int:
    """The most requests that arrived within any `seconds` window (each is held that long,
    so this is how many were in flight at once)."""
    times = sorted(r.timestamp for r in records)
    return max(
        (sum(1 for t in times[i:] if t - start < seconds) for i, start in enumerate(times)),
        default=0,
    )


def test_workspaces_are_polled_twenty_at_a_time_with_one_search_each(
    sync_app, slack_emulator, clean_emulator
):
    jira_emulator = clean_emulator
    world = connect_world(sync_app, slack_emulator, new_site(jira_emulator, "poll"), webhooks=False)
    jira_emulator.latency = 0.5  # every Jira request
    sites = polling_copies(sync_app.db, jira_emulator, world, 40)
    try:
        wait_until(
            lambda: all(searches(jira_emulator, s) for s in sites),
            "every copied workspace polled",
            timeout=20,
        )
        first = [searches(jira_emulator, s)[0] for s in sites]
        span = max(r.timestamp for r in first) - min(r.timestamp for r in first)
        # One after another, 40 polls at 0.5 s would take 20 s.
        assert span < 3.0, f"40 polls took {span:.1f} s"
        assert 10 <= in_flight_at_most(first, 0.45) <= 20
        for record in first:
            jql = record.json["jql"]
            assert 'labels = "unpack-for-slack"' in jql and "updated >=" in jql
            wanted = {"summary", "description", "assignee", "duedate", "status", "updated"}
            assert wanted <= set(record.json["fields"])
    finally:
        stop_polling(sync_app.db, sites)


def test_a_commit_is_claimed_within_a_second_while_a_long_poll_runs(
    sync_app, slack_emulator, clean_emulator
):
    jira_emulator = clean_emulator
    world = connect_world(sync_app, slack_emulator, new_site(jira_emulator, "wake"))
    retro_with_items(sync_app, slack_emulator, world, ["Fix the deploy", "Write the docs"])
    slow = connect_world(sync_app, slack_emulator, new_site(jira_emulator, "slow"), webhooks=False)
    sites = polling_copies(sync_app.db, jira_emulator, slow, 40)
    for copy in sites:  # each copy's Jira takes 3 s to answer a search
        jira_emulator.faults.add(
            "POST", f"/sites/{copy.name}{SEARCH}", "latency", times=None, delay=3
        )
    try:
        wait_until(
            lambda: sum(bool(searches(jira_emulator, s)) for s in sites) >= 20,
            "the slow poll to be under way",
            timeout=10,
        )
        started = time.monotonic()
        commit_retro(sync_app, slack_emulator, world)
        wait_until(
            lambda: all(
                r["claimed_by"] or r["create_sent_at"] or r["jira_key"]
                for r in items(sync_app.db, world.team)
            ),
            "the committed items claimed",
            timeout=5,
        )
        claimed_after = time.monotonic() - started
        unanswered = [s for s in sites if not any(r.status for r in searches(jira_emulator, s))]
        assert unanswered, "the poll had finished before the items were claimed"
        assert claimed_after < 1.0, f"claimed {claimed_after:.2f} s after the commit"
        wait_for_keys(sync_app.db, world.team, 2)
    finally:
        stop_polling(sync_app.db, sites)


def test_a_hanging_jira_costs_only_its_own_workspace(sync_app, slack_emulator, clean_emulator):
    jira_emulator = clean_emulator
    hanging = new_site(jira_emulator, "hang")
    jira_emulator.faults.add("POST", f"/sites/{hanging.name}{SEARCH}", "timeout", times=None)
    connect_world(sync_app, slack_emulator, hanging, webhooks=False)
    wait_until(lambda: searches(jira_emulator, hanging), "the hanging site's poll")

    site = new_site(jira_emulator, "live")
    world = connect_world(sync_app, slack_emulator, site, webhooks=False)
    retro_with_items(sync_app, slack_emulator, world, ["Fix the deploy"])
    commit_retro(sync_app, slack_emulator, world)
    [row] = wait_for_keys(sync_app.db, world.team, 1, timeout=5)
    site.transition(row["jira_key"], "Done", by=site.add_user("lead@example.com", "Lena Lead"))
    wait_until(
        lambda: items(sync_app.db, world.team)[0]["status"] == "complete",
        "the other workspace's item completed by its poll",
        timeout=3 * INTERVAL,
    )
    assert not any(r.status for r in searches(jira_emulator, hanging)), "still hanging"
    wait_until(
        lambda: "ran out of its time budget" in sync_app.app.log(),
        "the hanging poll cut at its budget",
        timeout=10,
    )


def test_a_rate_limited_poll_retries_that_workspace_only(sync_app, slack_emulator, clean_emulator):
    jira_emulator = clean_emulator
    calm = new_site(jira_emulator, "calm")
    calm_world = connect_world(sync_app, slack_emulator, calm, webhooks=False)
    retro_with_items(sync_app, slack_emulator, calm_world, ["Idle item", "Another"])
    commit_retro(sync_app, slack_emulator, calm_world)
    wait_for_keys(sync_app.db, calm_world.team, 2)

    limited_site = new_site(jira_emulator, "busy")
    jira_emulator.faults.add("POST", f"/sites/{limited_site.name}{SEARCH}", "429", retry_after=1)
    calm_before = len(searches(jira_emulator, calm))
    connect_world(sync_app, slack_emulator, limited_site, webhooks=False)
    limited = wait_until(
        lambda: len(found := searches(jira_emulator, limited_site)) >= 2 and found,
        "the rate-limited workspace polled again",
        timeout=2 * INTERVAL,
    )
    assert limited[0].status == 429 and limited[1].status == 200
    gap = limited[1].timestamp - limited[0].timestamp
    assert 0.9 <= gap < INTERVAL - 0.5, f"retried {gap:.2f} s after the 429"
    calm_during = [
        r
        for r in searches(jira_emulator, calm)[calm_before:]
        if limited[0].timestamp <= r.timestamp <= limited[1].timestamp
    ]
    assert len(calm_during) <= 1, "the other workspace was not polled again for it"
    # An idle workspace costs one search a cycle, however many issues it has (its polls
    # since its items reached Jira: the first of them may have found them).
    wait_until(
        lambda: len(searches(jira_emulator, calm)) >= max(calm_before + 1, 2),
        "another poll of the idle workspace",
        timeout=3 * INTERVAL,
    )
    pair = searches(jira_emulator, calm)[-2:]
    assert pair[1].timestamp - pair[0].timestamp >= INTERVAL * 0.8


def test_a_failing_workspace_polls_less_and_less_often_and_alone(
    sync_app, slack_emulator, clean_emulator
):
    """Failures in a row double the wait (from the retry base, 0.2 s here), so a Jira that
    keeps answering 500 is asked less and less often; the other workspace polls on at its
    cycle; the first success clears the count."""
    jira_emulator = clean_emulator
    calm = new_site(jira_emulator, "steady")
    connect_world(sync_app, slack_emulator, calm, webhooks=False)
    failing = new_site(jira_emulator, "failing")
    # Five failures, then Jira is back: the sixth poll comes 3.2 s after the fifth.
    jira_emulator.faults.add("POST", f"/sites/{failing.name}{SEARCH}", "500", times=5)
    connect_world(sync_app, slack_emulator, failing, webhooks=False)
    found = wait_until(
        lambda: len(f := searches(jira_emulator, failing)) >= 5 and f,
        "five polls of the failing workspace",
        timeout=3 * INTERVAL,
    )
    gaps = [b.timestamp - a.timestamp for a, b in itertools.pairwise(found[:5])]
    # 0.2, 0.4, 0.8, 1.6 s (±25 %): each wait longer than the one before, and the last
    # past what a wait growing by the base each time would reach (0.8 s ±25 %).
    assert all(b > a for a, b in itertools.pairwise(gaps)), gaps
    assert gaps[-1] >= 1.1, gaps
    _, next_in = wait_until(
        lambda: (row := poll_row(sync_app.db, failing))[0] >= 5 and row,
        "five failures counted on the connection",
        timeout=5,
    )
    # 3.2 s (±25 %) after the fifth failure: the doubling goes on past what was seen.
    assert next_in > 1.5, "the next poll is not seconds away"

    wait_until(
        lambda: poll_row(sync_app.db, failing)[0] == 0,
        "the count cleared by a successful poll",
        timeout=10,
    )
    found = searches(jira_emulator, failing)
    assert [r.status for r in found[:6]] == [500] * 5 + [200]
    first, back = found[0].timestamp, found[5].timestamp
    window = [r for r in searches(jira_emulator, calm) if first <= r.timestamp <= back]
    assert 1 <= len(window) <= (back - first) / INTERVAL + 2, "the other polls at its cycle"


def poll_row(db: Database, site) -> tuple[int, float]:
    """The workspace's failures in a row, and seconds until its next poll is due."""
    row = db.rows(
        "SELECT poll_failures, poll_due_at FROM jira_connections WHERE site_url = :u",
        u=site.url,
    )[0]
    due = row["poll_due_at"]
    if isinstance(due, str):  # SQLite
        due = datetime.fromisoformat(due)
    if due.tzinfo is None:
        due = due.replace(tzinfo=UTC)
    return row["poll_failures"], (due - datetime.now(UTC)).total_seconds()


@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"), reason="several processes need PostgreSQL"
)
def test_two_processes_poll_each_workspace_once_per_cycle(sync_app, slack_emulator, clean_emulator):
    jira_emulator = clean_emulator
    world = connect_world(sync_app, slack_emulator, new_site(jira_emulator, "two"), webhooks=False)
    first = sync_app.app
    second = launch_app(
        slack_emulator,
        jira_emulator,
        database_url=first.env["DATABASE_URL"],
        ENCRYPTION_KEY=first.env["ENCRYPTION_KEY"],
        SYNC_INTERVAL_SECONDS=str(INTERVAL),
    )
    jira_emulator.latency = 0.2
    sites = polling_copies(sync_app.db, jira_emulator, world, 30)
    try:
        # Until every copy is polled twice and both processes have polled: a second poll
        # of a copy within a cycle (both processes taking it) would show as a short gap.
        started = time.monotonic()
        wait_until(
            lambda: (
                all(len(searches(jira_emulator, copy)) >= 2 for copy in sites)
                and "poll: " in second.log()
                and "poll: " in first.log()
            ),
            "every copy polled twice, by both processes between them",
            timeout=4 * INTERVAL,
        )
        cycles = (time.monotonic() - started) / INTERVAL
        for copy in sites:
            found = searches(jira_emulator, copy)
            assert len(found) <= cycles + 1, f"{len(found)} polls of one workspace in {cycles:.1f}"
            gaps = [b.timestamp - a.timestamp for a, b in itertools.pairwise(found)]
            assert all(gap >= INTERVAL * 0.8 for gap in gaps), gaps
    finally:
        stop_polling(sync_app.db, sites)
        second.stop()
