"""Webhook deliveries: recorded before Jira hears 2xx, applied in batches after it, and
the thread messages they owe.

A delivery must be durable before Jira hears 2xx (Jira never resends a delivery it saw
succeed), and Jira sends bursts: a bulk transition moves hundreds of issues at once. So
the accept path does only that: one recorder task per process takes every delivery
waiting and inserts them together (one transaction, one fsync on SQLite instead of one
per delivery) under (workspace, identifier) — a replay, even one in the same group or
one another process is recording at this moment, hits the unique key and changes
nothing — and each request answers once its group is committed. Its outcome stays empty:
"recorded, not applied yet".

One applier task per process then takes everything recorded and not applied (up to
APPLY_MAX), reads those issues from Jira as it reports them now (one search per workspace
per 50 issues, in parallel) and applies them to their items by the rules of
bot/completion.py and bot/sync/pull.py, in arrival order, in one transaction that also
writes each delivery's outcome. While a batch is read and applied, new deliveries gather,
so batches grow with the load. A delivery is applied within seconds of its 2xx; one a
process recorded but never applied (killed in between, or its apply failed) is applied by
`apply_unapplied` on the schedule once older than APPLY_LEASE, claimed in the database
first so that two processes do not both read it. The apply's transaction claims its rows
again (`outcome IS NULL`), so a delivery is applied once even then.

The changes then go to one sender task, which claims their owed notices in one statement
(claim before post: a message is never sent twice; a claim whose message Slack still
refused after its retries is given back, so the notice stays owed) and posts them: each
retro's summary refreshed at its pace (bot/summary_pace.py: at once after a quiet spell,
then at most once per SUMMARY_EVERY, the last state shown by a trailing edit), and one
thread message per retro per batch, a line per change in order (a bulk move of forty
issues is one message, not forty: Slack also limits posts to about one a second per
channel). Notices a process left owed when it died are sent by `send_owed_notices` on the
schedule.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import notifier
from bot.access_log import log_recorded_group
from bot.completion import ItemState, JiraStatus, Outcome, StatusChange
from bot.jira.client import JiraClient
from bot.jira.credentials import jira_client_for
from bot.jira.errors import JiraError
from bot.runtime import Runtime
from bot.slack_retry import OWED_AFTER
from bot.sync.pull import (
    Current,
    RowView,
    apply_issue,
    item_query,
    read_current,
    two_way,
    write_items,
)
from bot.workspaces import workspace_client
from storage.clock import utcnow
from storage.connection_queries import connection_for, delivery_seen
from storage.delivery_queries import (
    GroupWriter,
    claim_for_apply,
    claim_notices,
    claim_unapplied,
    give_back_notices,
    notices_sent,
    owed_notices,
    record_deliveries,
    write_outcomes,
)

logger = logging.getLogger(__name__)

GROUP_MAX = 500  # deliveries recorded per transaction
APPLY_MAX = 500  # deliveries read from Jira and applied per transaction
# While deliveries keep coming, the applier takes at most this share of the time: a batch
# that took long (a slow machine, a slow Jira) is followed by as long a wait, so that the
# next one gathers more and the accept path keeps its turn on the event loop.
APPLYING_SHARE = 0.5
PACE_MAX = 1.0  # seconds: a delivery still waits at most this long for its batch
RETROS_AT_ONCE = 8  # thread messages go out for this many retros in parallel
NOTICES_PER_SEND = 1000
SEND_PAUSE = 1.0  # seconds between two sends of one process (bursts gather meanwhile)
OTHER_SITE = "other_site"
READER_TTL = 5.0  # seconds, as the webhook endpoint's
READERS_KEPT = 10_000
# "Last delivery" in /jira status need not be exact; writing it once a minute is plenty.
LAST_DELIVERY_EVERY = timedelta(seconds=60)
# A delivery still not applied this long after it was recorded (or after its last claim)
# was left by a process that died, or whose apply failed: the recovery job applies it.
# Longer than a slow Jira search, so a live applier is rarely overtaken (when it is, the
# apply's own claim still lets only one of them apply it).
APPLY_LEASE = timedelta(seconds=30)
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


@dataclass(frozen=True)
class Recorded:
    """A delivery committed and not applied yet: `pk` is its row."""

    pk: int
    endpoint: Endpoint
    delivery: Delivery


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


class BatchTrace:
    """When each step of one apply batch ended, for a DEBUG line per batch (what
    `bench/webhooks.py --breakdown` reads to tell where a slow run's time went): taken
    (after the pace), read (Jira answered), locked (the write lock and a connection
    held), written, committed. Times are time.perf_counter's, the system's monotonic
    clock, so another process on the machine can line them up with its own."""

    def __init__(self) -> None:
        self.marks = {"begun": time.perf_counter()}

    def mark(self, step: str) -> None:
        self.marks[step] = time.perf_counter()

    def log(self, size: int, left: int) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            steps = " ".join(f"{step}={at:.4f}" for step, at in self.marks.items())
            logger.debug("apply batch size=%s left=%s %s", size, left, steps)


def _write_lock(runtime: Runtime) -> asyncio.Lock:
    """The recorder, the applier and the sender take turns at the database: on SQLite,
    two of our own transactions queuing on its file lock would wait out its busy-timeout
    sleeps."""
    return runtime.state.delivery_writes


class DeliveryPipeline:
    """One per process: the recorder, the applier and the sender, started on the first
    delivery. `clock` and `pause` (time.monotonic and asyncio.sleep) pace the applier;
    a test hands in its own."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        clock: Callable[[], float] = time.monotonic,
        pause: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.runtime = runtime
        self._clock, self._pause = clock, pause
        self._waiting: list[_Waiting] = []
        self._recorded: list[Recorded] = []
        self._owed: list[Owed] = []
        # Items whose issue changed status within its category: only their lines change.
        self._relabelled: set[tuple[int, int]] = set()
        self._record_wake = asyncio.Event()
        self._apply_wake = asyncio.Event()
        self._send_wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    async def submit(self, endpoint: Endpoint, delivery: Delivery) -> bool:
        """Record the delivery (it is applied soon after); True when it is new, False for
        a replay. Raises DeliveryNotStored when the database refused the group."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(endpoint, delivery, future))
        self._start()
        self._record_wake.set()
        return await future

    async def stop(self) -> None:
        """Shutdown: end the recorder, the applier and the sender. Deliveries recorded and
        not applied yet stay so in the database (outcome empty) and notices not posted
        stay owed (notified_at empty): the recovery jobs take them after a restart."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def _start(self) -> None:
        # (Re)started on demand: a loop that died of a bug must not leave requests waiting.
        if not self._tasks or any(task.done() for task in self._tasks):
            for task in self._tasks:
                task.cancel()
            self._tasks = [
                asyncio.create_task(self._record_loop(), name="webhook-recorder"),
                asyncio.create_task(self._apply_loop(), name="webhook-applier"),
                asyncio.create_task(self._send_loop(), name="webhook-sender"),
            ]
            self._record_wake.set()
            self._apply_wake.set()
            self._send_wake.set()

    async def _record_loop(self) -> None:
        async with GroupWriter(self.runtime.engine) as writer:
            while True:
                await self._record_wake.wait()
                self._record_wake.clear()
                while self._waiting:
                    # What arrives while a group is committed gathers into the next one.
                    group = self._waiting[:GROUP_MAX]
                    self._waiting = self._waiting[GROUP_MAX:]
                    await self._record(group, writer)

    async def _record(self, group: list[_Waiting], writer: GroupWriter) -> None:
        items = [(w.endpoint, w.delivery) for w in group]
        begun = time.perf_counter()
        try:
            new = await record_group(self.runtime, items, writer)
        except Exception as exc:
            logger.exception("recording %s webhook deliveries failed", len(group))
            for waiting in group:
                if not waiting.future.done():
                    waiting.future.set_exception(DeliveryNotStored(str(type(exc).__name__)))
            return
        answered, fresh = set(), 0
        for waiting in group:
            key = (waiting.endpoint.workspace_id, waiting.delivery.identifier)
            pk = new.get(key)
            is_new = pk is not None and key not in answered
            answered.add(key)
            fresh += is_new
            if is_new and same_site(waiting.delivery.issue_self, waiting.endpoint.site_url,
                                    waiting.endpoint.cloud_id):  # fmt: skip
                self._recorded.append(Recorded(pk, waiting.endpoint, waiting.delivery))
            if not waiting.future.done():
                waiting.future.set_result(is_new)
        log_recorded_group(fresh, len(group) - fresh)  # in place of a line per request
        if logger.isEnabledFor(logging.DEBUG):  # BatchTrace's counterpart
            logger.debug(
                "record group size=%s begun=%.4f committed=%.4f",
                len(group), begun, time.perf_counter(),
            )  # fmt: skip
        if self._recorded:
            self._apply_wake.set()

    async def _apply_loop(self) -> None:
        while True:
            await self._apply_wake.wait()
            self._apply_wake.clear()
            taken_at, took = None, 0.0  # idle: the first batch is taken at once
            while self._recorded:
                trace = BatchTrace()
                # What is recorded while a batch is read and applied gathers into the next,
                # and, while deliveries keep coming, until the batch before is a pace old.
                await self._gather(taken_at, took)
                taken_at = self._clock()
                batch, self._recorded = self._recorded[:APPLY_MAX], self._recorded[APPLY_MAX:]
                trace.mark("taken")
                try:
                    owed, relabelled = await apply_recorded(self.runtime, batch, trace)
                except Exception:
                    # Recorded all the same: `apply_unapplied` applies them after the lease.
                    logger.exception("applying %s webhook deliveries failed", len(batch))
                    continue
                took = self._clock() - taken_at
                trace.log(len(batch), len(self._recorded))
                self._owed += owed
                self._relabelled |= relabelled
                if self._owed or self._relabelled:
                    self._send_wake.set()

    async def _gather(self, taken_at: float | None, took: float) -> None:
        """Busy (a batch was taken and more came meanwhile): wait until it is a pace
        (WEBHOOK_APPLY_EVERY_SECONDS) old, and, when it `took` long, until it is that
        long old again (APPLYING_SHARE; PACE_MAX at most), unless a whole batch is
        waiting already. A burst's deliveries then share each re-read and transaction,
        several edits of one issue cost one apply, and a batch's own cost (a search per
        50 issues, their merge, a transaction) is paid less often when it grows: with
        bench/webhooks.py on one core, batches took 63-373 ms (median 102) and the
        applier was busy half the time at the pace alone."""
        pace = self.runtime.settings.webhook_apply_every_seconds
        if taken_at is None or not pace or len(self._recorded) >= APPLY_MAX:
            return
        every = max(pace, min(took / APPLYING_SHARE, PACE_MAX))
        left = taken_at + every - self._clock()
        if left > 0:
            await self._pause(left)

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


# --- the recorder's transaction ---------------------------------------------------------


def same_site(issue_self: str | None, site_url: str, cloud_id: str | None) -> bool:
    """Whether the issue lives on the connected site (its `self` link says where)."""
    if not issue_self:
        return True  # nothing to check against; the item lookup is scoped to the site anyway
    link = issue_self.lower()
    if link.startswith(site_url.lower().rstrip("/") + "/"):
        return True
    return bool(cloud_id) and f"/ex/jira/{cloud_id.lower()}/" in link


async def record_group(
    runtime: Runtime, items: list, writer: GroupWriter | None = None
) -> dict[tuple[int, str], int]:
    """Inserts the deliveries not seen yet and commits: {(workspace, identifier): pk} of
    the new ones (a replay hits the unique key and is skipped). A delivery about another
    site's issue is recorded as done (OTHER_SITE): there is nothing to apply. `writer`:
    the recorder's (a connection held for its life); else one for this group."""
    now = utcnow()
    rows = [_row(e, d, now) for e, d in _first_of_each(items).values()]
    stale = _stale_connections(runtime, items, now)
    # Core on a plain connection: no ORM objects here, and a group is on the hot path.
    async with _write_lock(runtime):
        if not stale:
            if writer is not None:
                return await writer.commit(rows)
            async with GroupWriter(runtime.engine) as once:
                return await once.commit(rows)
        async with runtime.engine.begin() as conn:  # at most once a minute per connection
            pks = await record_deliveries(conn, rows)
            await delivery_seen(conn, stale, now)
    return pks


# --- the applier ------------------------------------------------------------------------


async def apply_recorded(
    runtime: Runtime, batch: list[Recorded], trace: BatchTrace | None = None
) -> tuple[list[Owed], set[tuple[int, int]]]:
    """Reads the batch's issues from Jira, then applies them and writes the deliveries'
    outcomes in one transaction: the notices owed, in order, and the (workspace, item)
    whose issue only changed status name (their lines show it)."""
    trace = trace or BatchTrace()
    currents = await read_group(runtime, [(r.endpoint, r.delivery) for r in batch])
    trace.mark("read")
    changes, relabelled = await apply_group(runtime, batch, currents, trace)
    owed = [Owed(r.endpoint.workspace_id, r.pk, changes[r.pk]) for r in batch if changes.get(r.pk)]
    return owed, relabelled


async def read_group(runtime: Runtime, items: list) -> dict[int, Current]:
    """The batch's issues as Jira reports them now: one search per workspace (per 50
    issues), before the transaction, so no lock is held while Jira answers."""
    wanted: dict[int, set[str]] = defaultdict(set)
    for endpoint, delivery in items:
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
    batches share its credentials (read and decrypted once), its vetted site address and
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


async def apply_group(
    runtime: Runtime,
    batch: list[Recorded],
    currents: dict[int, Current],
    trace: BatchTrace | None = None,
) -> tuple[dict[int, StatusChange | None], set[tuple[int, int]]]:
    """{delivery pk: its change} once committed, and the (workspace, item) relabelled.
    Set-wise, so a batch costs a handful of statements whatever its size:

    1. claim the deliveries nobody applied yet (on SQLite this also takes the write lock,
       so what is read next stays true; another process applying the same rows finds
       them applied);
    2. read their items at once (FOR UPDATE on PostgreSQL);
    3. apply what Jira reports now to each, in arrival order, in memory (status by the
       completion rules, fields by the three-way merge: bot/sync/pull.py);
    4. write the items that changed and each delivery's outcome."""
    trace = trace or BatchTrace()
    async with _write_lock(runtime), runtime.engine.begin() as conn:
        trace.mark("locked")
        mine = await claim_for_apply(conn, [r.pk for r in batch])
        todo = [r for r in batch if r.pk in mine]
        states, rows = await _items(conn, [(r.endpoint, r.delivery) for r in todo])
        named_before = _status_names(states)
        outcomes, changes, written = _apply_all(states, rows, todo, currents)
        # The rows hold every change made above: all changed items go in one UPDATE.
        await write_items(conn, written, {row["id"]: row for row in rows.values()})
        await write_outcomes(conn, outcomes)
        trace.mark("written")
    trace.mark("committed")
    return changes, _relabelled(states, named_before, changes)


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
            await notifier.refresh_items(runtime, workspace_id, item_ids, paced=True)
        except Exception:
            logger.exception("refreshing items after a Jira status name change failed")


def _first_of_each(items: list) -> dict[tuple[int, str], tuple[Endpoint, Delivery]]:
    firsts: dict = {}
    for endpoint, delivery in items:
        firsts.setdefault((endpoint.workspace_id, delivery.identifier), (endpoint, delivery))
    return firsts


def _row(endpoint: Endpoint, delivery: Delivery, now) -> dict:
    elsewhere = not same_site(delivery.issue_self, endpoint.site_url, endpoint.cloud_id)
    return {
        "workspace_id": endpoint.workspace_id,
        "delivery_id": delivery.identifier,
        "received_at": now,
        "issue_id": delivery.status.issue_id[:32],
        "status_category": delivery.status.category_key[:32] or None,
        "actor_name": delivery.status.actor_name,
        "outcome": OTHER_SITE if elsewhere else None,  # None: not applied yet
    }


async def _items(conn, new: list) -> tuple[dict, dict]:
    """The items the new deliveries name, by (workspace, site, issue id): their status
    state and their whole row (for the field merge)."""
    wanted = {(e.workspace_id, d.status.issue_id) for e, d in new}
    if not wanted:
        return {}, {}
    result = await conn.execute(*item_query(sorted(wanted)))
    states, rows = {}, {}
    for row in result.mappings():
        key = (row["workspace_id"], row["jira_site_url"], row["jira_issue_id"])
        rows[key] = dict(row)
        states[key] = ItemState.from_row(RowView(rows[key]))
    return states, rows


def _apply_all(states: dict, rows: dict, todo: list[Recorded], currents: dict):
    """_apply for each delivery in arrival order: (outcome rows, {pk: change}, the items'
    changes to write).

    A burst brings several deliveries of one issue into a batch, all applied against the
    one read of it: once an apply of the issue changed nothing (no column, no Sync Log
    line, no notice), its item and the read are as they were before it, so every later
    delivery of the issue has that same outcome, and is not decided again. (Who acted
    plays no part in an apply that changes nothing: it only names the person in a
    completion or reopening.)"""
    outcomes, changes, written = [], {}, []
    settled: dict[tuple[int, str, str], str] = {}  # issue: the outcome that changed nothing
    for r in todo:
        key = (r.endpoint.workspace_id, r.endpoint.site_url, r.delivery.status.issue_id)
        outcome, change = settled.get(key), None
        if outcome is None:
            outcome, change, entry = _apply(states, rows, r.endpoint, r.delivery, currents)
            if entry is not None:
                written.append(entry)
            elif change is None:
                settled[key] = outcome
        outcomes.append(_outcome_row(r.pk, outcome, change))
        changes[r.pk] = change
    return outcomes, changes, written


def _apply(states: dict, rows: dict, endpoint: Endpoint, delivery: Delivery, currents: dict):
    """(outcome, change, the item's changes to write or None) of one delivery, in memory,
    from what Jira reports now: write_items' (workspace, item, key, result)."""
    issue_id = delivery.status.issue_id
    key = (endpoint.workspace_id, endpoint.site_url, issue_id)
    item, row = states.get(key), rows.get(key)
    if item is None:
        return Outcome.UNKNOWN_ISSUE, None, None
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
    # Only the status columns that change are written: most deliveries of a burst are
    # field edits, whose status facts Jira reports as before.
    result.status_values = _changed(row, result.status_values) or None
    row.update(result.status_values or {})
    entry = None
    if result.field_values or result.status_values or result.conflicts:
        entry = (endpoint.workspace_id, item.id, row.get("jira_key"), result)
    return result.outcome, change, entry


def _changed(row: dict, values: dict | None) -> dict:
    return {column: value for column, value in (values or {}).items() if row.get(column) != value}


def _outcome_row(pk: int, outcome, change: StatusChange | None) -> dict:
    return {
        "delivery_pk": pk,
        "outcome": str(outcome),
        "changed_item": change.item_id if change else None,
        "owed_notice": (change.notice or None) if change else None,
    }


def _stale_connections(runtime: Runtime, items: list, now) -> set[int]:
    """The connections whose "last delivery" (/jira status) is written with this group:
    at most once a minute per connection."""
    stale, written = set(), runtime.state.last_delivery_written
    for endpoint, _ in items:
        known = [t for t in (endpoint.last_delivery_at, written.get(endpoint.connection_id)) if t]
        if not known or now - max(known) >= LAST_DELIVERY_EVERY:
            stale.add(endpoint.connection_id)
    for connection_id in stale:
        written[connection_id] = now
    return stale


# --- the sender -------------------------------------------------------------------------


async def send_notices(runtime: Runtime, owed: list[Owed]) -> int:
    """Claim, then post: summaries refreshed once per workspace, one thread message per
    retro (a line per change, in order), then what Slack took marked sent in one
    transaction for the whole send. Returns how many notices were sent."""
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
    clients = await _clients(runtime, {workspace_id for workspace_id, _ in threads})
    gate = asyncio.Semaphore(RETROS_AT_ONCE)
    refreshing = asyncio.gather(
        *(_refresh(runtime, ws, ids, gate) for ws, ids in items_by_workspace.items())
    )
    posted = await asyncio.gather(
        *(
            _post(runtime, ws, retro, notices, gate, clients.get(ws))
            for (ws, retro), notices in threads.items()
        )
    )
    # Marked sent as soon as the messages are out, not after the refreshes: a process
    # that dies in between leaves them owed, and they would be posted again.
    sent = no_message + [pk for pks in posted for pk in pks]
    if sent:
        await _sent(runtime, sent)
    await refreshing
    return len(sent)


async def _clients(runtime: Runtime, workspace_ids: set[int]) -> dict:
    """The workspaces' Slack clients, read once per send (an uninstalled one is left out:
    its posts then say why)."""
    found = {}
    for workspace_id in workspace_ids:
        try:
            found[workspace_id] = await workspace_client(runtime, workspace_id)
        except LookupError:
            pass
    return found


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
            await notifier.refresh_items(runtime, workspace_id, item_ids, paced=True)
        except Exception:
            logger.exception("refreshing items after Jira status changes failed")


async def _post(
    runtime: Runtime, workspace_id: int, retro_id: int, notices: list[Owed], gate, client
) -> list[int]:
    """Posts the retro's notices (the retro read once for all its messages): the pks of
    those Slack took. Those it refused in the end are given back, owed again."""
    taken = 0

    def took(lines: int) -> None:
        nonlocal taken
        taken += lines

    async with gate:
        try:
            await notifier.post_status_notices(
                runtime,
                workspace_id,
                retro_id,
                [o.change.notice for o in notices],
                client=client,
                sent=took,
            )
        except Exception:
            # Still owed: the claim is given back and `send_owed_notices` tries again.
            logger.exception("telling retro %s about Jira status changes failed", retro_id)
            await _unclaim(runtime, [o.delivery_pk for o in notices[taken:]])
        else:
            taken = len(notices)  # a retro gone since owes nothing more
    return [o.delivery_pk for o in notices[:taken]]


async def _unclaim(runtime: Runtime, pks: list[int]) -> None:
    async with _write_lock(runtime), runtime.engine.begin() as conn:
        await give_back_notices(conn, pks)


# --- what a dead process owed -----------------------------------------------------------


async def apply_unapplied(runtime: Runtime, *, limit: int = APPLY_MAX) -> int:
    """Scheduler job: apply the deliveries a process recorded and never applied (killed
    after answering Jira, or its apply failed), oldest first, and post the notices they
    owe. Returns how many deliveries it took."""
    taken = 0
    while True:
        now = utcnow()
        async with _write_lock(runtime), runtime.engine.begin() as conn:
            rows = await claim_unapplied(conn, now - APPLY_LEASE, now, limit)
        if not rows:
            return taken
        endpoints = await _endpoints(runtime, {row.workspace_id for row in rows})
        batch = [Recorded(row.id, endpoints[row.workspace_id], _delivery_of(row)) for row in rows]
        owed, relabelled = await apply_recorded(runtime, batch)
        await _refresh_relabelled(runtime, relabelled)
        if owed:
            await send_notices(runtime, owed)
        taken += len(rows)
        logger.info("applied %s webhook deliveries a process left unapplied", len(rows))
        if len(rows) < limit:
            return taken


async def _endpoints(runtime: Runtime, workspace_ids: set[int]) -> dict[int, Endpoint]:
    """The connections recovered deliveries are applied against. A workspace disconnected
    since gets one that matches no item (its deliveries are recorded as unknown)."""
    found = {}
    async with runtime.sessions() as session:
        for workspace_id in sorted(workspace_ids):
            row = await connection_for(session, workspace_id)
            found[workspace_id] = Endpoint(
                workspace_id=workspace_id,
                connection_id=row.id if row else 0,
                method=row.method if row else "",
                site_url=row.site_url if row else "",
                cloud_id=row.cloud_id if row else None,
                account_name=row.account_name if row else None,
                hub_secret=None,
                last_delivery_at=None,
            )
    return found


def _delivery_of(row) -> Delivery:
    """A recorded delivery as the apply needs it: the issue, the category and who acted
    (the rest of the body was checked when it was recorded)."""
    status = JiraStatus(row.issue_id or "", row.status_category or "", utcnow(), row.actor_name)
    return Delivery(row.delivery_id, status, issue_self=None)


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
