"""Bursts of webhook deliveries: Jira hears 2xx once a delivery is recorded, so a re-read
Jira is slow to answer holds back no answer (what arrives meanwhile is applied after it),
a batch whose deliveries change different fields of different items applies every one of
them, and while deliveries keep coming the applier lets them gather (a pace, or as long
as the batch before took)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import date, timedelta

import pytest
from sqlalchemy import event

from bot.jira.deliveries import Delivery, DeliveryPipeline, Recorded, apply_recorded, record_group
from bot.jira.webhooks import endpoint_for, parse_delivery
from tests.fakes.jira import webhooks as jira_webhooks
from tests.flows_sync import slack_email, sync_app_fixture
from tests.flows_webhooks import run_in_process, synced_items, token_webhook, wait_applied
from tests.waiting import async_wait_until, wait_until

sync_app = sync_app_fixture()

SEARCH = "/rest/api/3/search/jql"
ANSWER_WITHIN = 5.0  # seconds: far less than a held re-read would make a request wait


@pytest.fixture
def hooked(sync_app, slack_emulator, site):
    """A workspace whose Jira changes arrive by (admin) webhook, with four synced items."""
    from tests.harness import install_workspace

    team = install_workspace(sync_app.app, slack_emulator, sync_app.db)
    hook = token_webhook(sync_app.app, sync_app.slack, slack_emulator, sync_app.db, team, site)
    items = synced_items(
        sync_app.slack, slack_emulator, sync_app.db, team, "Alpha", "Bravo", "Charlie", "Delta"
    )
    return team, hook, items


def planned_edit(site, key: str, by, **changes) -> jira_webhooks.Delivery:
    """Edit the issue in Jira now; its delivery is sent by the caller (so several can be
    in flight together, as in a burst)."""
    with site.emulator.lock:
        issue = site.find_issue(key)
        before = dict(issue.fields)
        issue.fields.update(changes)
        issue.updated = time.time()
        [delivery] = site.plan_edit(issue, list(changes), by, before)
    return delivery


def send_together(deliveries, gap: float = 0.0) -> list:
    threads = [threading.Thread(target=jira_webhooks.send, args=(d,)) for d in deliveries]
    for thread in threads:
        thread.start()
        time.sleep(gap)
    for thread in threads:
        thread.join(timeout=30)
    return [d.status for d in deliveries]


def titles(db, items) -> dict[str, str]:
    rows = db.rows(
        "SELECT jira_key, title FROM action_items WHERE id IN (:a, :b, :c, :d)",
        a=items[0].id,
        b=items[1].id,
        c=items[2].id,
        d=items[3].id,
    )
    return {r["jira_key"]: r["title"] for r in rows}


def test_a_held_jira_read_holds_back_no_answer(sync_app, jira_emulator, site, hooked):
    team, hook, items = hooked
    # Jira keeps the re-reads of this site's issues unanswered until released.
    held = jira_emulator.faults.add(
        "POST", f"/sites/{site.name}{SEARCH}", "hold", times=None, body_has="id in ("
    )
    try:
        first = planned_edit(site, items[0].key, hook.jira_user, summary="Alpha, groomed")
        assert jira_webhooks.send(first, timeout=ANSWER_WITHIN).status == 202, first.error
        wait_until(lambda: held.hits, "the first delivery's re-read to reach Jira")
        # The second arrives while the first one's issue is still being read.
        second = planned_edit(site, items[1].key, hook.jira_user, summary="Bravo, groomed")
        assert jira_webhooks.send(second, timeout=ANSWER_WITHIN).status == 202, second.error
        now = titles(sync_app.db, items)
        assert now[items[0].key] == "Alpha" and now[items[1].key] == "Bravo"  # not yet
    finally:
        held.release()

    wait_applied(sync_app.db, team)
    now = titles(sync_app.db, items)
    assert now[items[0].key] == "Alpha, groomed" and now[items[1].key] == "Bravo, groomed"


def four_field_edits(site, team, hook, items) -> tuple[list, date]:
    """Four items' issues edited in Jira, a different field each (summary, due date,
    description, assignee): their deliveries, and the due date set."""
    member = site.add_user(slack_email(team, "member"), "Max Member")
    due = date.today() + timedelta(days=5)
    description = {
        "version": 1,
        "type": "doc",
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "In Jira"}]}],
    }
    deliveries = [
        planned_edit(site, items[0].key, hook.jira_user, summary="Alpha, renamed"),
        planned_edit(site, items[1].key, hook.jira_user, duedate=due.isoformat()),
        planned_edit(site, items[2].key, hook.jira_user, description=description),
        planned_edit(site, items[3].key, hook.jira_user, assignee=member.account_id),
    ]
    return deliveries, due


def each_took_its_field(db, team, items, due: date) -> list[dict]:
    """Asserts that each of four_field_edits' items took its field and only it; their rows."""
    rows = {
        r["id"]: r
        for r in db.rows(
            "SELECT id, title, due_date, description, assignee_user_id, revision, "
            "synced_revision FROM action_items WHERE workspace_id = :w",
            w=team.workspace_id,
        )
    }
    alpha, bravo, charlie, delta = (rows[i.id] for i in items)
    assert alpha["title"] == "Alpha, renamed" and alpha["due_date"] is None
    assert bravo["title"] == "Bravo" and str(bravo["due_date"])[:10] == due.isoformat()
    assert charlie["description"] == "In Jira" and charlie["assignee_user_id"] is None
    assert delta["assignee_user_id"] == team.member and delta["title"] == "Delta"
    return list(rows.values())


def test_one_burst_of_different_fields_on_different_items_applies_them_all(
    sync_app, slack_emulator, site, hooked
):
    team, hook, items = hooked
    deliveries, due = four_field_edits(site, team, hook, items)
    # The same deliveries twice over: Jira's retries of a burst change nothing more.
    retries = [jira_webhooks.retry_of(site, d) for d in deliveries]

    assert send_together(deliveries) == [202] * 4
    assert sorted(send_together(retries)) == [200] * 4
    wait_applied(sync_app.db, team)

    rows = each_took_its_field(sync_app.db, team, items, due)
    assert all(r["revision"] == r["synced_revision"] for r in rows)


class HeldPause:
    """The applier's pause between batches, held by the test: each wait asked for is
    noted, and none ends until `resume` is set."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.resume = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await self.resume.wait()


def delivery_of(edit: jira_webhooks.Delivery) -> Delivery:
    """What the route makes of a delivery Jira sends (for a pipeline run in the test)."""
    headers = {name.lower(): value for name, value in edit.headers.items()}
    return parse_delivery(json.loads(edit.body), headers, edit.body)


def searched_ids(site) -> list[list[str]]:
    """The issue ids of each re-read this site was asked for, in order."""
    return [
        sorted(r.json["jql"].split("(", 1)[1].rstrip(")").split(", "))
        for r in site.emulator.requests_to("POST", SEARCH)
        if r.site == site.name and "id in (" in r.json.get("jql", "")
    ]


def test_while_deliveries_keep_coming_the_applier_lets_them_gather(
    sync_app, jira_emulator, site, hooked
):
    """Idle, a delivery is applied at once; busy (more came while a batch was applied),
    the next batch waits until the one before is a pace old, so what arrives meanwhile
    shares its re-read. The pipeline runs here on the app's database, with a clock and a
    pause of the test's."""
    team, hook, items = hooked
    edits = [
        planned_edit(site, item.key, hook.jira_user, summary=f"{item.title}, groomed")
        for item in items
    ]
    before = len(searched_ids(site))
    held = jira_emulator.faults.add(
        "POST", f"/sites/{site.name}{SEARCH}", "hold", times=None, body_has="id in ("
    )
    pause = HeldPause()

    async def burst(runtime):
        endpoint = await endpoint_for(runtime, hook.token)
        pipeline = DeliveryPipeline(runtime, clock=lambda: 1000.0, pause=pause)

        async def deliver(edit):
            assert await pipeline.submit(endpoint, delivery_of(edit))  # recorded: 202

        try:
            await deliver(edits[0])
            await async_wait_until(
                lambda: held.hits == 1, "the first delivery's re-read (idle: at once)"
            )
            assert pause.asked == []
            await deliver(edits[1])  # while the first batch is read: the applier is busy
            held.release()
            await async_wait_until(lambda: pause.asked, "the applier to wait for its pace")
            for edit in edits[2:]:
                await deliver(edit)  # gathered into the waiting batch
            pause.resume.set()
            await asyncio.to_thread(wait_applied, sync_app.db, team)
        finally:
            await pipeline.stop()
        return runtime.settings.webhook_apply_every_seconds

    every = run_in_process(sync_app.app, burst)
    assert pause.asked == [pytest.approx(every)]  # the clock stood still: a whole pace
    ids = [item.issue_id for item in items]
    assert searched_ids(site)[before:] == [[ids[0]], sorted(ids[1:])]
    assert set(titles(sync_app.db, items).values()) == {f"{i.title}, groomed" for i in items}


def test_a_batch_that_took_long_is_followed_by_as_long_a_wait(
    sync_app, jira_emulator, site, hooked
):
    """A batch that took longer than the pace (here half a second, its re-read held by
    Jira while the test's clock moves on) is followed by as long a wait, not by the next
    batch at once: on a slow machine the applier then takes half the time at most, and
    the burst gathers into fewer, larger batches."""
    team, hook, items = hooked
    edits = [
        planned_edit(site, item.key, hook.jira_user, summary=f"{item.title}, slowly")
        for item in items
    ]
    before = len(searched_ids(site))
    held = jira_emulator.faults.add(
        "POST", f"/sites/{site.name}{SEARCH}", "hold", times=1, body_has="id in ("
    )
    now = [1000.0]
    pause = HeldPause()

    async def burst(runtime):
        endpoint = await endpoint_for(runtime, hook.token)
        pipeline = DeliveryPipeline(runtime, clock=lambda: now[0], pause=pause)
        try:
            assert await pipeline.submit(endpoint, delivery_of(edits[0]))
            await async_wait_until(lambda: held.hits == 1, "the first delivery's re-read")
            assert await pipeline.submit(endpoint, delivery_of(edits[1]))  # meanwhile
            now[0] += 0.5  # the batch takes half a second
            held.release()
            await async_wait_until(
                lambda: pause.asked or len(searched_ids(site)) > before + 1,
                "the applier to wait, or to take its next batch",
            )
            # Taken at 1000.0, done at 1000.5: the next waits until 1001.0 (the pace is
            # over already).
            assert pause.asked == [pytest.approx(0.5)]
            for edit in edits[2:]:
                assert await pipeline.submit(endpoint, delivery_of(edit))
            pause.resume.set()
            await asyncio.to_thread(wait_applied, sync_app.db, team)
        finally:
            await pipeline.stop()
        return runtime.settings.webhook_apply_every_seconds

    assert run_in_process(sync_app.app, burst) < 0.5
    ids = [item.issue_id for item in items]
    assert searched_ids(site)[before:] == [[ids[0]], sorted(ids[1:])]
    assert set(titles(sync_app.db, items).values()) == {f"{i.title}, slowly" for i in items}


async def recorded_batch(runtime, hook, edits) -> list[Recorded]:
    """The deliveries Jira sends for `edits`, recorded as the route records one group,
    ready for one apply batch (in the test's runtime)."""
    endpoint = await endpoint_for(runtime, hook.token)
    deliveries = [delivery_of(edit) for edit in edits]
    pks = await record_group(runtime, [(endpoint, d) for d in deliveries])
    return [Recorded(pks[(endpoint.workspace_id, d.identifier)], endpoint, d) for d in deliveries]


def test_a_batch_writes_every_item_it_changed_in_one_update(sync_app, site, hooked):
    """Four deliveries changing four different fields of four items: one UPDATE for the
    four (each item's other columns written back as read under the lock, so nothing of
    one item's change reaches another), not one per set of changed columns."""
    team, hook, items = hooked
    edits, due = four_field_edits(site, team, hook, items)

    async def one_batch(runtime):
        batch = await recorded_batch(runtime, hook, edits)
        updates = []

        def seen(conn, cursor, statement, parameters, context, executemany):
            if statement.startswith("UPDATE action_items"):
                updates.append(len(parameters) if executemany else 1)

        event.listen(runtime.engine.sync_engine, "before_cursor_execute", seen)
        await apply_recorded(runtime, batch)
        return updates

    assert run_in_process(sync_app.app, one_batch) == [4]
    wait_applied(sync_app.db, team)
    each_took_its_field(sync_app.db, team, items, due)


def test_deliveries_of_one_issue_in_one_batch_bring_it_in_step_once(sync_app, site, hooked):
    """A burst's batch often holds several deliveries of one issue, all applied against one
    read of it: the first brings the item in step (here its latest title and Done, with
    the one thread line owed), and each later one changes nothing more, whoever acted;
    so do the deliveries of an issue whose item was in step already."""
    team, hook, items = hooked
    alpha, bravo = items[0], items[1]
    edits = [planned_edit(site, alpha.key, hook.jira_user, summary="Alpha, first")]
    with site.emulator.lock:
        edits += site.move(site.find_issue(alpha.key), "Done", hook.jira_user)
    edits.append(planned_edit(site, alpha.key, hook.jira_user, summary="Alpha, last"))
    edits += [planned_edit(site, bravo.key, hook.jira_user, summary="Bravo") for _ in range(3)]

    async def one_batch(runtime):
        batch = await recorded_batch(runtime, hook, edits)
        owed, _ = await apply_recorded(runtime, batch)
        return [r.pk for r in batch], owed

    pks, owed = run_in_process(sync_app.app, one_batch)
    outcomes = {
        r["id"]: (r["outcome"], r["notice"])
        for r in sync_app.db.rows(
            "SELECT id, outcome, notice FROM webhook_deliveries WHERE workspace_id = :w",
            w=team.workspace_id,
        )
    }
    assert [outcomes[pk][0] for pk in pks] == ["completed"] + ["unchanged"] * 5
    assert [pk for pk in pks if outcomes[pk][1]] == [pks[0]] == [o.delivery_pk for o in owed]
    assert "Alpha, last" in owed[0].change.notice
    rows = {
        r["id"]: r
        for r in sync_app.db.rows(
            "SELECT id, title, status FROM action_items WHERE workspace_id = :w",
            w=team.workspace_id,
        )
    }
    assert (rows[alpha.id]["title"], rows[alpha.id]["status"]) == ("Alpha, last", "complete")
    assert (rows[bravo.id]["title"], rows[bravo.id]["status"]) == ("Bravo", "open")
