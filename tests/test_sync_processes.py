"""No item is lost or synced twice when a process dies mid-sync, or when several processes
share one PostgreSQL database."""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from bot.runtime import Runtime
from bot.sync import claims
from tests.fakes.slack.requests import SlackRequests
from tests.flows_jira import new_site, set_channel_override
from tests.flows_retro import add_item, commit, insert_items, start_retro
from tests.flows_sync import (
    SyncApp,
    add_items_directly,
    connect_world,
    issues_labelled,
    items,
    retro_with_items,
    wait_for_keys,
)
from tests.flows_webhooks import run_in_process
from tests.harness import SIGNING_SECRET, Database, install_workspace, launch_app
from tests.waiting import wait_until

LEASE = "2"


def as_sync_app(process) -> SyncApp:
    return SyncApp(
        process,
        Database(process.env["DATABASE_URL"]),
        SlackRequests(process.url, SIGNING_SECRET, process_emulator(process)),
    )


_emulators: dict[int, object] = {}


def process_emulator(process):
    return _emulators[id(process)]


def start(slack_emulator, jira_emulator, **env):
    process = launch_app(slack_emulator, jira_emulator, SYNC_LEASE_SECONDS=LEASE, **env)
    _emulators[id(process)] = slack_emulator
    return process


def sibling(first, slack_emulator, jira_emulator, **env):
    """Another process on the same database (and the same encryption key)."""
    return start(
        slack_emulator,
        jira_emulator,
        database_url=first.env["DATABASE_URL"],
        ENCRYPTION_KEY=first.env["ENCRYPTION_KEY"],
        **env,
    )


def bulk_requests(jira_emulator, site) -> list:
    return [
        r
        for r in jira_emulator.requests_to("POST", "/issue/bulk")
        if f"/sites/{site.name}/" in r.path
    ]


def test_a_process_killed_mid_sync_leaves_nothing_lost_or_doubled(slack_emulator, jira_emulator):
    site = new_site(jira_emulator, "proc")
    first = start(slack_emulator, jira_emulator)
    second = None
    try:
        app = as_sync_app(first)
        world = connect_world(app, slack_emulator, site)
        retro_with_items(app, slack_emulator, world, ["First"])
        add_items_directly(app, world, 4)
        # Jira takes 1.5 s over the bulk create; the process dies while it waits.
        jira_emulator.faults.add(
            "POST", f"/sites/{site.name}/rest/api/3/issue/bulk", "latency", times=1, delay=1.5
        )
        commit(app.slack, slack_emulator, world.team)
        wait_until(lambda: bulk_requests(jira_emulator, site), "the bulk create to leave")
        first.kill()
        killed_at = time.monotonic()
        rows = items(app.db, world.team)
        assert all(r["create_sent_at"] and not r["jira_key"] for r in rows)
        assert all(r["claimed_by"] for r in rows)  # held by the dead process

        second = sibling(first, slack_emulator, jira_emulator)
        rows = wait_for_keys(app.db, world.team, 5, timeout=20)
        # Taken over once the lease lapsed, not at the next cycle (a minute away): the
        # rest is the second process's start-up and the sync on a busy machine.
        taken_over_in = time.monotonic() - killed_at
        assert taken_over_in < float(LEASE) + 12, f"taken over after {taken_over_in:.1f} s"
        for row in rows:
            assert len(issues_labelled(site, row["sync_label"])) == 1, row["title"]
        assert {r["sync_state"] for r in rows} <= {"synced", "pending"}
        assert all(r["claimed_by"] is None for r in items(app.db, world.team))
        # The dead process's create went through; the new one found it instead of resending.
        assert len(bulk_requests(jira_emulator, site)) == 1
    finally:
        jira_emulator.faults.clear()
        first.stop()
        if second is not None:
            second.stop()


def test_with_default_settings_a_claim_lapses_within_15_s_of_its_holder_s_death(
    app, db, slack, slack_emulator, jira_emulator
):
    """What an operator gets without SYNC_LEASE_SECONDS (the session's app has none): a
    claim runs at most 15 s ahead, and only renewals while its holder lives push it on, so
    a killed process's items are free within 15 s, and taken over then (the test above,
    whose processes have a short lease, kills one). The old 60 s lease took 59 s."""
    site = new_site(jira_emulator, "proc")
    sync_app = SyncApp(app, db, slack)
    world = connect_world(sync_app, slack_emulator, site)
    retro_with_items(sync_app, slack_emulator, world, ["First", "Second"])
    bulk = f"/sites/{site.name}/rest/api/3/issue/bulk"
    held = jira_emulator.faults.add("POST", bulk, "hold", times=1)
    try:
        commit(slack, slack_emulator, world.team)
        wait_until(lambda: held.hits, "the bulk create to leave")
        now = datetime.now(UTC)
        rows = items(db, world.team)
        assert all(r["claimed_by"] for r in rows)
        ahead = [(utc(r["claimed_until"]) - now).total_seconds() for r in rows]
        assert all(5 < seconds <= 15.5 for seconds in ahead), ahead
    finally:
        held.release()
        jira_emulator.faults.clear()
    wait_for_keys(db, world.team, 2)


def utc(value) -> datetime:
    """A timestamp column as the test reads it (SQLite gives text, without a zone)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


FAR_AHEAD = datetime(2040, 1, 1, tzinfo=UTC)  # due then: the app's own sync never sees it


def test_a_process_whose_lease_lapsed_lets_go_of_its_own_claim_only(slack_emulator, jira_emulator):
    """A process stalled past its lease finds its item taken over by another; when it
    finally lets go, the new holder's claim stands, so no third process picks the item
    up while the new holder still works on it."""
    process = start(slack_emulator, jira_emulator)
    try:
        sync_app = as_sync_app(process)
        team = install_workspace(process, slack_emulator, sync_app.db)
        start_retro(sync_app.slack, slack_emulator, team, "Sprint 42")
        [item_id] = insert_items(sync_app.db, team, 1)
        sync_app.db.execute(
            "UPDATE action_items SET sync_state = 'pending', next_attempt_at = :t WHERE id = :i",
            t=FAR_AHEAD,
            i=item_id,
        )

        stalled, taken, new_holder = run_in_process(process, _stall_then_take_over)

        assert stalled == taken == [item_id]
        assert items(sync_app.db, team)[0]["claimed_by"] == new_holder
    finally:
        process.stop()


async def _stall_then_take_over(runtime):
    """`runtime` claims the due item and stalls past its lease; another process's
    runtime takes it over; then the stalled one lets go of what it claimed."""
    other = Runtime.build(runtime.settings)
    try:
        with freeze_time(FAR_AHEAD + timedelta(seconds=1)):
            stalled = await claims.claim_due(runtime)
        with freeze_time(FAR_AHEAD + timedelta(seconds=2 + float(LEASE))):
            taken = await claims.claim_due(other)
            await claims.release(runtime, [item.id for item in stalled])
        return [i.id for i in stalled], [i.id for i in taken], other.process_id
    finally:
        await other.close()


@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="two processes share work only on PostgreSQL; set TEST_DATABASE_URL to run",
)
def test_two_processes_on_one_postgresql_database_share_the_work_without_doubling(
    slack_emulator, jira_emulator
):
    site = new_site(jira_emulator, "proc")
    a = start(slack_emulator, jira_emulator)
    b = sibling(a, slack_emulator, jira_emulator)
    try:
        app_a, app_b = as_sync_app(a), as_sync_app(b)
        world = connect_world(app_a, slack_emulator, site)
        team = world.team
        channels = [team.channel] + [f"C{uuid.uuid4().hex[:8].upper()}" for _ in range(3)]
        for channel in channels[1:]:
            set_channel_override(app_a.slack, slack_emulator, team, channel, "TEAM", "Task")
        for channel in channels:
            start_retro(app_a.slack, slack_emulator, team, f"Retro {channel}", channel=channel)
            add_item(app_a.slack, slack_emulator, team, f"First in {channel}", channel=channel)
        retro_ids = app_a.db.rows(
            "SELECT id, channel_id FROM retros WHERE workspace_id = :w", w=team.workspace_id
        )
        for retro in retro_ids:
            add_items_to_retro(app_a.db, team, retro["id"], retro["channel_id"], 9)
        jira_emulator.latency = 0.05

        def commit_via(app, channel):
            commit(app.slack, slack_emulator, team, channel=channel)

        def taken(channel):
            return all(
                r["claimed_by"] or r["jira_key"]
                for r in items(app_a.db, team)
                if r["channel_id"] == channel
            )

        # One commit reaches each process (so each has work of its own)...
        commit_via(app_a, channels[0])
        wait_until(lambda: taken(channels[0]), "process A to claim its retro")
        commit_via(app_b, channels[1])
        # ...then two arrive at once, one at each, as behind a load balancer.
        threads = [
            threading.Thread(target=commit_via, args=(app, channel))
            for app, channel in ((app_a, channels[2]), (app_b, channels[3]))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        rows = wait_for_keys(app_a.db, team, 40, timeout=30)

        labels = [r["sync_label"] for r in rows]
        assert all(len(issues_labelled(site, label)) == 1 for label in labels)
        with jira_emulator.lock:
            assert len(site.issues) == 40
        sent = [u for r in bulk_requests(jira_emulator, site) for u in r.json["issueUpdates"]]
        assert sorted(u["fields"]["labels"][0] for u in sent) == sorted(labels)  # each once
        claimed = {"a": claims_in(a.log()), "b": claims_in(b.log())}
        assert sum(claimed.values()) == 40, claimed  # every item claimed exactly once
        assert all(claimed.values()), f"one process did all the work: {claimed}"
    finally:
        jira_emulator.latency = 0.0
        a.stop()
        b.stop()


def claims_in(log: str) -> int:
    return sum(int(n) for n in re.findall(r"sync: \S+ claimed (\d+) item", log))


def add_items_to_retro(db: Database, team, retro_id: int, channel: str, count: int) -> None:
    insert_items(
        db,
        team,
        count,
        title=lambda n: f"Item {n} in {channel}",
        retro_id=retro_id,
        channel=channel,
        assigned=False,
    )
