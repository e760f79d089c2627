"""Webhook deliveries, committed in groups, and the thread messages they owe.

A delivery must be durable before Jira hears 2xx (Jira never resends a delivery it saw
succeed), and Jira sends bursts: a bulk transition moves hundreds of issues at once. So
one writer task per process takes every delivery waiting and commits them together: one
transaction, one fsync on SQLite instead of one per delivery, and no requests queuing on
SQLite's write lock. Each request waits for its group's commit, then answers.

In the group, each delivery is recorded under (workspace, identifier) first — a replay,
even one in the same group or one another process is recording at this moment, hits the
unique key and changes nothing — then its status is applied to the item by the rules of
bot/completion.py, in arrival order.

The changes then go to one sender task, which claims their owed notices in one statement
(claim before post: a message is never sent twice; a claim whose message Slack still
refused after its retries is given back, so the notice stays owed) and posts them: each
retro's summary refreshed once per batch, and one thread message per retro per batch, a
line per change in order (a bulk move of forty issues is one message, not forty: Slack
also limits posts to about one a second per channel). Notices a process left owed when it
died are sent by `send_owed_notices` on the schedule.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import notifier
from bot.completion import SETTLED_COLUMNS, ItemState, JiraStatus, Outcome, StatusChange
from bot.jira.client import JiraClient
from bot.jira.credentials import jira_client_for
from bot.jira.errors import JiraError
from bot.runtime import Runtime
from bot.sync.pull import (
    Current,
    RowView,
    apply_issue,
    item_query,
    read_current,
    two_way,
    write_items,
)
from storage.clock import utcnow
from storage.connection_queries import delivery_seen
from storage.delivery_queries import (
    claim_notices,
    give_back_notices,
    notices_sent,
    owed_notices,
    record_deliveries,
    write_outcomes,
)
from storage.issue_queries import set_items

logger = logging.getLogger(__name__)

GROUP_MAX = 200  # deliveries per transaction
# Groups whose issues are read from Jira at once (commits stay in arrival order).
GROUPS_IN_FLIGHT = 2
RETROS_AT_ONCE = 8  # thread messages go out for this many retros in parallel
NOTICES_PER_SEND = 1000
SEND_PAUSE = 1.0  # seconds between two sends of one process (bursts gather meanwhile)
OTHER_SITE = "other_site"
READER_TTL = 5.0  # seconds, as the webhook endpoint's
READERS_KEPT = 10_000
# "Last delivery" in /jira status need not be exact; writing it once a minute is plenty.
LAST_DELIVERY_EVERY = timedelta(seconds=60)
# A notice still owed after this long was left by a process that died (or is about to be
# sent by a live one: the claim decides).
OWED_AFTER = timedelta(seconds=60)
# A claimed notice is posted within this (Slack's retries and Retry-After waits included);
# a claim older than that was left by a process that died while posting, and lapses.
NOTICE_LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class Endpoint:
    """The connection a webhook token names, as much as a delivery needs of it."""

    workspace_id: int
    connection_id: int
    method: str
    site_url: str
    cloud_id: str | None
    account_name: str | None
    hub_secret: str | None
    last_delivery_at: datetime | None


@dataclass(frozen=True)
class Delivery:
    """What one verified delivery says. Its issue is read again from Jira before anything
    is applied, so only the id, who acted and the event are taken from the body."""

    identifier: str
    status: JiraStatus
    issue_self: str | None
    deleted: bool = False


class DeliveryNotStored(Exception):
    """The group's transaction failed: answer 5xx so that Jira retries."""


@dataclass(frozen=True)
class Owed:
    """A thread message a committed delivery owes."""

    workspace_id: int
    delivery_pk: int
    change: StatusChange


@dataclass
class _Waiting:
    endpoint: Endpoint
    delivery: Delivery
    future: asyncio.Future


def _write_lock(runtime: Runtime) -> asyncio.Lock:
    """The writer and the sender take turns at the database: on SQLite, two of our own
    transactions queuing on its file lock would wait out its busy-timeout sleeps."""
    return runtime.state.delivery_writes


class DeliveryPipeline:
    """One per process: the writer and the sender, started on the first delivery."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._waiting: list[_Waiting] = []
        self._owed: list[Owed] = []
        # Items whose issue changed status within its category: only their lines change.
        self._relabelled: set[tuple[int, int]] = set()
        self._write_wake = asyncio.Event()
        self._send_wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._groups: set[asyncio.Task] = set()  # groups being read or committed

    async def submit(self, endpoint: Endpoint, delivery: Delivery) -> bool:
        """Store and apply the delivery; True when it is new, False for a replay.
        Raises DeliveryNotStored when the database refused the group."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(endpoint, delivery, future))
        self._start()
        self._write_wake.set()
        return await future

    async def stop(self) -> None:
        """Shutdown: end the writer and the sender. Notices not yet posted stay owed in the
        database (notified_at empty) and the recovery job sends them after a restart."""
        tasks = [*self._tasks, *self._groups]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks = []

    def _start(self) -> None:
        # (Re)started on demand: a loop that died of a bug must not leave requests waiting.
        if not self._tasks or any(task.done() for task in self._tasks):
            for task in self._tasks:
                task.cancel()
            self._tasks = [
                asyncio.create_task(self._write_loop(), name="webhook-writer"),
                asyncio.create_task(self._send_loop(), name="webhook-sender"),
            ]
            self._write_wake.set()
            self._send_wake.set()

    async def _write_loop(self) -> None:
        slots = asyncio.Semaphore(GROUPS_IN_FLIGHT)
        previous: asyncio.Task | None = None
        while True:
            await self._write_wake.wait()
            self._write_wake.clear()
            while self._waiting:
                # What arrives while every slot is busy gathers into the next group.
                await slots.acquire()
                group, self._waiting = self._waiting[:GROUP_MAX], self._waiting[GROUP_MAX:]
                previous = asyncio.create_task(self._write(group, previous, slots))
                self._groups.add(previous)
                previous.add_done_callback(self._groups.discard)

    async def _write(self, group: list[_Waiting], previous, slots: asyncio.Semaphore) -> None:
        """Read the group's issues from Jira while the group before is still being read
        or committed (Jira's answer is the slow part), then commit after it."""
        items = [(w.endpoint, w.delivery) for w in group]
        try:
            currents = await read_group(self.runtime, items)
            if previous is not None:
                await asyncio.wait({previous})
            results, relabelled = await commit_group(self.runtime, items, currents)
        except Exception as exc:
            logger.exception("storing %s webhook deliveries failed", len(group))
            for waiting in group:
                if not waiting.future.done():
                    waiting.future.set_exception(DeliveryNotStored(str(type(exc).__name__)))
            return
        finally:
            slots.release()
        for waiting, (new, owed) in zip(group, results, strict=True):
            if owed is not None:
                self._owed.append(owed)
            if not waiting.future.done():
                waiting.future.set_result(new)
        self._relabelled |= relabelled
        if self._owed or self._relabelled:
            self._send_wake.set()

    async def _send_loop(self) -> None:
        while True:
            await self._send_wake.wait()
            self._send_wake.clear()
            backlog, self._owed = self._owed, []
            relabelled, self._relabelled = self._relabelled, set()
            await _refresh_relabelled(self.runtime, relabelled)
            for start in range(0, len(backlog), NOTICES_PER_SEND):
                group = backlog[start : start + NOTICES_PER_SEND]
                try:
                    await send_notices(self.runtime, group)
                except Exception:
                    logger.exception("sending %s webhook notices failed", len(group))
            # A lone change goes out at once; what arrives within SEND_PAUSE of a send goes
            # out together, one message per retro (Slack takes about one message a second
            # per channel anyway).
            await asyncio.sleep(SEND_PAUSE)


# --- the writer's transaction -----------------------------------------------------------


def same_site(issue_self: str | None, site_url: str, cloud_id: str | None) -> bool:
    """Whether the issue lives on the connected site (its `self` link says where)."""
    if not issue_self:
        return True  # nothing to check against; the item lookup is scoped to the site anyway
    link = issue_self.lower()
    if link.startswith(site_url.lower().rstrip("/") + "/"):
        return True
    return bool(cloud_id) and f"/ex/jira/{cloud_id.lower()}/" in link


async def read_group(runtime: Runtime, items: list) -> dict[int, Current]:
    """The group's issues as Jira reports them now: one search per workspace (per 50
    issues), before the transaction, so no lock is held while Jira answers."""
    wanted: dict[int, set[str]] = defaultdict(set)
    for endpoint, delivery in items:
        if same_site(delivery.issue_self, endpoint.site_url, endpoint.cloud_id):
            wanted[endpoint.workspace_id].add(delivery.status.issue_id)
    workspaces = sorted(wanted)
    read = await asyncio.gather(*(_read(runtime, w, wanted[w]) for w in workspaces))
    return dict(zip(workspaces, read, strict=True))


async def _read(runtime: Runtime, workspace_id: int, issue_ids: set[str]) -> Current:
    try:
        jira, is_two_way = await _reader_for(runtime, workspace_id)
    except JiraError:
        jira, is_two_way = None, None  # read_current asks again and says why
    return await read_current(runtime, workspace_id, issue_ids, jira=jira, is_two_way=is_two_way)


async def _reader_for(runtime: Runtime, workspace_id: int) -> tuple[JiraClient, bool]:
    """The workspace's Jira client and sync direction, kept for READER_TTL: a burst's
    groups share its credentials (read and decrypted once), its vetted site address and
    its settings, as they share the endpoint (a disconnect, a new token or a change of
    direction takes effect within seconds)."""
    now, kept = time.monotonic(), runtime.state.webhook_readers
    reader = kept.get(workspace_id)
    if reader is not None and now - reader[0] < READER_TTL:
        return reader[1]
    found = (await jira_client_for(runtime, workspace_id), await two_way(runtime, workspace_id))
    if len(kept) >= READERS_KEPT:
        kept.clear()
    kept[workspace_id] = (now, found)
    return found


async def commit_group(
    runtime: Runtime, items: list, currents: dict[int, Current]
) -> tuple[list[tuple[bool, Owed | None]], set[tuple[int, int]]]:
    """[(is new, owed notice)] per delivery, in order, once committed, and the (workspace,
    item) whose issue only changed status name (their lines show it). Set-wise, so a
    group costs a handful of statements whatever its size:

    1. insert the deliveries not seen yet (a replay hits the unique key and is skipped;
       on SQLite this also takes the write lock, so what is read next stays true);
    2. read their items at once (FOR UPDATE on PostgreSQL);
    3. apply what Jira reports now to each, in arrival order, in memory (status by the
       completion rules, fields by the three-way merge: bot/sync/pull.py);
    4. write the items that changed and each delivery's outcome."""
    now = utcnow()
    # Core on a plain connection: no ORM objects here, and a group is on the hot path.
    async with _write_lock(runtime), runtime.engine.begin() as conn:
        firsts = _first_of_each(items)
        pks = await record_deliveries(conn, [_row(e, d, now) for e, d in firsts.values()])
        new = [(key, *firsts[key]) for key in firsts if key in pks]
        states, rows = await _items(conn, [(e, d) for _, e, d in new])
        item_values, outcomes, changes, fielded_items = {}, [], {}, []
        named_before = _status_names(states)
        for key, endpoint, delivery in new:
            outcome, change, values, fielded = _apply(states, rows, endpoint, delivery, currents)
            if values:
                item_values[values["item_pk"]] = values
            if fielded is not None:
                fielded_items.append((endpoint.workspace_id, *fielded))
            outcomes.append(_outcome_row(pks[key], outcome, change))
            changes[key] = change
        await write_items(conn, fielded_items)
        await set_items(conn, SETTLED_COLUMNS, list(item_values.values()))
        relabelled = _relabelled(states, named_before, changes)
        await write_outcomes(conn, outcomes)
        await _touch_connections(runtime, conn, items, now)
    results, answered = [], set()
    for endpoint, delivery in items:
        key = (endpoint.workspace_id, delivery.identifier)
        if key not in pks or key in answered:
            results.append((False, None))
            continue
        answered.add(key)
        change = changes.get(key)
        results.append((True, Owed(key[0], pks[key], change) if change else None))
    return results, relabelled


def _status_names(states: dict) -> dict[int, str | None]:
    return {state.id: state.jira_status_name for state in states.values()}


def _relabelled(states: dict, named_before: dict, changes: dict) -> set[tuple[int, int]]:
    """Items whose status name changed without a completion or reopening to announce."""
    announced = {change.item_id for change in changes.values() if change}
    return {
        (workspace_id, state.id)
        for (workspace_id, _site, _issue), state in states.items()
        if state.id not in announced and named_before.get(state.id) != state.jira_status_name
    }


async def _refresh_relabelled(runtime: Runtime, relabelled: set[tuple[int, int]]) -> None:
    by_workspace: dict[int, list[int]] = defaultdict(list)
    for workspace_id, item_id in relabelled:
        by_workspace[workspace_id].append(item_id)
    for workspace_id, item_ids in by_workspace.items():
        try:
            await notifier.refresh_items(runtime, workspace_id, item_ids)
        except Exception:
            logger.exception("refreshing items after a Jira status name change failed")


def _first_of_each(items: list) -> dict[tuple[int, str], tuple[Endpoint, Delivery]]:
    firsts: dict = {}
    for endpoint, delivery in items:
        firsts.setdefault((endpoint.workspace_id, delivery.identifier), (endpoint, delivery))
    return firsts


def _row(endpoint: Endpoint, delivery: Delivery, now) -> dict:
    return {
        "workspace_id": endpoint.workspace_id,
        "delivery_id": delivery.identifier,
        "received_at": now,
        "issue_id": delivery.status.issue_id[:32],
    }


async def _items(conn, new: list) -> tuple[dict, dict]:
    """The items the new deliveries name, by (workspace, site, issue id): their status
    state and their whole row (for the field merge)."""
    wanted = {(e.workspace_id, d.status.issue_id) for e, d in new}
    if not wanted:
        return {}, {}
    result = await conn.execute(item_query(sorted(wanted)))
    states, rows = {}, {}
    for row in result.mappings():
        key = (row["workspace_id"], row["jira_site_url"], row["jira_issue_id"])
        rows[key] = dict(row)
        states[key] = ItemState.from_row(RowView(rows[key]))
    return states, rows


def _apply(states: dict, rows: dict, endpoint: Endpoint, delivery: Delivery, currents: dict):
    """(outcome, change, the item's new status values, its other changes) of one
    delivery, in memory, from what Jira reports now."""
    if not same_site(delivery.issue_self, endpoint.site_url, endpoint.cloud_id):
        return OTHER_SITE, None, None, None
    issue_id = delivery.status.issue_id
    key = (endpoint.workspace_id, endpoint.site_url, issue_id)
    item, row = states.get(key), rows.get(key)
    if item is None:
        return Outcome.UNKNOWN_ISSUE, None, None, None
    current = currents.get(endpoint.workspace_id) or Current(endpoint.workspace_id, failed=True)
    now = current.issues.get(issue_id)
    # Who acted is only the delivery's word: shown when it agrees with Jira's status now.
    agrees = now is not None and now.status_category == delivery.status.category_key
    result = apply_issue(
        item,
        row,
        current,
        issue_id,
        actor_name=delivery.status.actor_name if agrees else None,
    )
    row.update(result.field_values)
    change = result.change
    if change is None and result.fields_changed:
        change = StatusChange(Outcome.UNCHANGED, item.id, item.retro_id, "")  # a refresh
    values = {"item_pk": item.id, **result.status_values} if result.status_values else None
    fielded = None
    if result.field_values or result.conflicts:
        result.status_values = None  # written with the group's batch
        fielded = (item.id, row.get("jira_key"), result)
    return result.outcome, change, values, fielded


def _outcome_row(pk: int, outcome, change: StatusChange | None) -> dict:
    return {
        "delivery_pk": pk,
        "outcome": str(outcome),
        "changed_item": change.item_id if change else None,
        "owed_notice": (change.notice or None) if change else None,
    }


async def _touch_connections(runtime: Runtime, conn, items: list, now) -> None:
    """The "last delivery" of /jira status, written at most once a minute per connection."""
    stale, written = set(), runtime.state.last_delivery_written
    for endpoint, _ in items:
        known = [t for t in (endpoint.last_delivery_at, written.get(endpoint.connection_id)) if t]
        if not known or now - max(known) >= LAST_DELIVERY_EVERY:
            stale.add(endpoint.connection_id)
    for connection_id in stale:
        written[connection_id] = now
    if stale:
        await delivery_seen(conn, stale, now)


# --- the sender -------------------------------------------------------------------------


async def send_notices(runtime: Runtime, owed: list[Owed]) -> int:
    """Claim, then post: summaries refreshed once per workspace, one thread message per
    retro (a line per change, in order). Returns how many notices were sent."""
    claimed = await _claim(runtime, [o.delivery_pk for o in owed])
    mine = [o for o in owed if o.delivery_pk in claimed]
    if not mine:
        return 0
    items_by_workspace: dict[int, list[int]] = defaultdict(list)
    threads: dict[tuple[int, int], list[Owed]] = defaultdict(list)
    for o in mine:
        items_by_workspace[o.workspace_id].append(o.change.item_id)
        if o.change.retro_id is not None and o.change.notice:
            threads[(o.workspace_id, o.change.retro_id)].append(o)
    no_message = [o.delivery_pk for o in mine if o.change.retro_id is None or not o.change.notice]
    if no_message:
        await _sent(runtime, no_message)
    gate = asyncio.Semaphore(RETROS_AT_ONCE)
    await asyncio.gather(
        *(_refresh(runtime, ws, ids, gate) for ws, ids in items_by_workspace.items()),
        *(_post(runtime, ws, retro, notices, gate) for (ws, retro), notices in threads.items()),
    )
    return len(mine)


async def _claim(runtime: Runtime, pks: list[int]) -> set[int]:
    now = utcnow()
    async with _write_lock(runtime), runtime.engine.begin() as conn:
        return await claim_notices(conn, pks, now, now - NOTICE_LEASE)


async def _sent(runtime: Runtime, pks: list[int]) -> None:
    async with _write_lock(runtime), runtime.engine.begin() as conn:
        await notices_sent(conn, pks, utcnow())


async def _refresh(runtime: Runtime, workspace_id: int, item_ids: list[int], gate) -> None:
    async with gate:
        try:
            await notifier.refresh_items(runtime, workspace_id, item_ids)
        except Exception:
            logger.exception("refreshing items after Jira status changes failed")


async def _post(runtime: Runtime, workspace_id: int, retro_id: int, notices: list[Owed], gate):
    async with gate:
        for start in range(0, len(notices), notifier.NOTICE_LINES_PER_MESSAGE):
            part = notices[start : start + notifier.NOTICE_LINES_PER_MESSAGE]
            lines = [o.change.notice for o in part]
            try:
                await notifier.post_status_notices(runtime, workspace_id, retro_id, lines)
            except Exception:
                # Still owed: the claim is given back and `send_owed_notices` tries again.
                logger.exception("telling retro %s about Jira status changes failed", retro_id)
                await _unclaim(runtime, [o.delivery_pk for o in part])
                continue
            await _sent(runtime, [o.delivery_pk for o in part])


async def _unclaim(runtime: Runtime, pks: list[int]) -> None:
    async with _write_lock(runtime), runtime.engine.begin() as conn:
        await give_back_notices(conn, pks)


# --- what a dead process owed -----------------------------------------------------------


async def send_owed_notices(runtime: Runtime, *, limit: int = 200) -> int:
    """Scheduler job: send what a process that died after answering Jira left owed."""
    now = utcnow()
    async with runtime.sessions() as session:
        rows = await owed_notices(session, now - OWED_AFTER, now - NOTICE_LEASE, limit)
    owed = [
        Owed(row.workspace_id, row.id, StatusChange(Outcome(row.outcome), row.item_id,
                                                    row.retro_id, row.notice))
        for row in rows
    ]  # fmt: skip
    sent = await send_notices(runtime, owed) if owed else 0
    if sent:
        logger.info("sent %s webhook notices a previous process left owed", sent)
    return sent
