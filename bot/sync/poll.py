"""Status from Jira without webhooks, in a loop of its own beside the sync worker,
so a slow Jira never delays a commit's sync.

Each cycle, every workspace that polls is polled once, POLLS_AT_ONCE workspaces at a time,
each within POLL_BUDGET seconds: one JQL search for the app's issues (those with its label,
and any issue of the workspace's projects, since a screen without labels leaves ours
unlabelled) updated since that workspace's last poll, paginated, so an idle workspace costs
one request whatever its history. What the search returns goes, as Jira sent it, to one place:
`bot.sync.pull.apply_polled_issues` (status, and in Two-way the fields, by the rules of a
webhook delivery). Workspaces whose changes arrive by webhook are read the same way every
RECONCILE_EVERY minutes too (`reconcile_webhook_workspaces`): Jira gives up on a delivery
it could not make. That reconcile, and the check for deleted issues (bot/sync/deleted.py),
take their turns at each workspace by the same claim (`take_turns`): once per period
between all processes, not once in each.

Each workspace's poll is claimed on its connection row (storage/polling.py), so several
processes poll it once per cycle between them. A 429 or any failure retries that
workspace alone, from the same starting point, after a wait that doubles with each failure
in a row (from the retry base, at most POLL_BACKOFF_CAP, never sooner than Retry-After):
a Jira that keeps failing is asked less and less often, and the others poll on. A failed
catch-up turn is retried the same way, at most a period later.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.jira.client import JiraClient
from bot.jira.credentials import client_for_connection
from bot.jira.errors import JiraError
from bot.jira.fields import APP_LABEL
from bot.jira.times import jira_time
from bot.runtime import Runtime
from bot.sync.backoff import retry_delay
from bot.sync.people import SlackLookupFailed
from bot.sync.pull import apply_polled_issues
from storage import polling
from storage.clock import utcnow
from storage.polling import ClaimedConnection

logger = logging.getLogger(__name__)

POLLS_AT_ONCE = 20
# Jira's search index lags behind writes and clocks differ: each search reaches back this
# much before the last poll began (what was seen already changes nothing the second time).
SAFETY_MARGIN = timedelta(minutes=2)
POLL_FIELDS = [
    "summary",
    "description",
    "assignee",
    "duedate",
    "status",
    "statuscategorychangedate",
    "updated",
]
# New connections and settings changes are noticed this soon, whatever the cycle length.
RECHECK_SECONDS = 2.0
MIN_WAIT = 0.05
ERROR_PAUSE = 1.0
RECONCILE_EVERY = timedelta(minutes=10)
# The connection's column where the next poll or reconcile starts from.
LAST_POLLED = polling.LAST_POLLED
# How often each process looks for a due turn of a catch-up job: a turn is taken at most
# this late, and the scheduler's timing across processes cannot stretch a period.
TURNS_CHECKED_EVERY = timedelta(minutes=1)
# The longest wait between polls of a workspace whose Jira keeps failing (Retry-After
# may ask for longer): a Jira back up is noticed within this.
POLL_BACKOFF_CAP = timedelta(minutes=15)
# Failures a later try may get past (Jira's, or Slack's lookup of a Jira assignee):
# logged in a line, not with a traceback.
UNANSWERED = (JiraError, SlackLookupFailed)
# PostgreSQL's claim skips a due turn whose connection row another transaction holds at
# that moment (a poll's claim of the same workspace, a token refresh): a run that finds
# nothing else to claim looks again this often, for at most HELD_TURN_WAIT, so that it
# ends with every due turn taken rather than leaving one to the next run, a minute later.
HELD_TURN_RECHECK_SECONDS = 0.05
HELD_TURN_WAIT_SECONDS = 10.0


def poll_budget(runtime: Runtime) -> float:
    """Seconds one workspace's poll may take in a cycle: a hanging Jira costs its own
    workspace this much, never the others."""
    return max(5.0, min(30.0, runtime.settings.sync_interval_seconds / 2))


def poll_lease(runtime: Runtime) -> timedelta:
    """How long a claim on a workspace's poll lasts: past the budget, so a live poller is
    never overtaken; a dead one's claim lapses soon after."""
    return timedelta(seconds=2 * poll_budget(runtime))


def updated_since_jql(since: datetime, now: datetime, projects: Sequence[str] = ()) -> str:
    """The app's issues updated since `since` (less the margin): those with its label, and
    every issue of `projects` (where a screen without labels left ours unlabelled; the
    others found there match no item and change nothing). A relative date ("-7m"),
    because Jira reads absolute dates in the searching account's time zone."""
    minutes = math.ceil((now - since + SAFETY_MARGIN) / timedelta(minutes=1))
    ours = f'labels = "{APP_LABEL}"'
    if projects:
        keys = ", ".join(f'"{key}"' for key in projects)
        ours = f"({ours} OR project in ({keys}))"
    return f'{ours} AND updated >= "-{max(1, minutes)}m" ORDER BY updated ASC'


async def run(runtime: Runtime) -> None:
    """The poll loop: a cycle whenever a workspace's poll comes due."""
    while True:
        try:
            wait = await poll_if_due(runtime)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("status poll cycle failed")
            wait = ERROR_PAUSE
        await asyncio.sleep(wait)


async def poll_if_due(runtime: Runtime) -> float:
    """A cycle if a poll is due; returns the seconds to wait before looking again. It looks
    (one read) before it claims (a write, which on SQLite waits for the write lock): most
    looks, in every process, find nothing due."""
    wait = await _seconds_to_next(runtime)
    if wait is None:
        await poll_cycle(runtime)
        wait = MIN_WAIT
    return wait


async def poll_cycle(runtime: Runtime) -> int:
    """Polls every workspace now due, at most POLLS_AT_ONCE at a time; returns how many polls
    ran. Claims are taken, and finished polls recorded, a batch per statement (a write per
    poll would make the database the bottleneck of a thousand polls); free slots are
    refilled once a quarter are free, so one slow workspace never holds the others back and
    the slots stay busy (a claim per freed slot would cost a write per poll)."""
    started, polled = time.perf_counter(), 0
    running: set[asyncio.Task] = set()
    finished: list[polling.PollDone] = []
    more = True
    try:
        while True:
            free = POLLS_AT_ONCE - len(running)
            if more and (free >= POLLS_AT_ONCE // 4 or not running):
                claims = await _claim(runtime, free)
                more = len(claims) == free
                running |= {asyncio.create_task(poll_claimed(runtime, c)) for c in claims}
            if finished:
                await _finish(runtime, finished)
                finished = []
            if not running:
                break
            done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            finished += [task.result() for task in done]
            polled += len(done)
    finally:  # shutting down: the claims lapse, nothing is left running
        for task in running:
            task.cancel()
    if polled:
        logger.info(
            "poll: %s polled %d workspace(s) in %.2f s",
            runtime.process_id,
            polled,
            time.perf_counter() - started,
        )
    return polled


async def _claim(runtime: Runtime, limit: int) -> list[polling.PollClaim]:
    now = utcnow()
    return await polling.claim_polls(
        runtime.engine,
        runtime.process_id,
        now,
        now + poll_lease(runtime),
        limit,
        runtime.engine.dialect.name == "postgresql",
    )


async def poll_claimed(runtime: Runtime, claim: polling.PollClaim) -> polling.PollDone:
    """One workspace's poll, within its budget: when its next poll is due."""
    started = utcnow()
    interval = timedelta(seconds=runtime.settings.sync_interval_seconds)
    reached: dict = {}
    ws, since = claim.workspace_id, claim.since
    try:
        async with asyncio.timeout(poll_budget(runtime)):
            jira = await client_for_connection(runtime, claim.connection)
            done = await poll_with(runtime, jira, ws, since, started, claim.projects, reached)
    except Exception as exc:  # every failure retries this workspace alone, later each time
        failures = claim.failures + 1
        delay = timedelta(seconds=_retry_seconds(runtime, exc, claim.workspace_id, failures))
        # The pages applied before the failure are not read again.
        polled_at = reached.get(LAST_POLLED)
        return polling.PollDone(ws, claim.mark, utcnow() + delay, polled_at, failures)
    if not done:  # a long catch-up: the rest at once, from the last change applied
        return polling.PollDone(ws, claim.mark, utcnow(), reached.get(LAST_POLLED))
    return polling.PollDone(ws, claim.mark, started + interval, started)


async def poll_with(
    runtime: Runtime,
    jira: JiraClient,
    workspace_id: int,
    since: datetime,
    now: datetime,
    projects: Sequence[str],
    reached: dict,
) -> bool:
    """One search for the app's issues updated since `since` (those with the app's label
    or in `projects`), applied to their items a page at a time, oldest change first, at
    most `sync_poll_pages` pages past `since`: after a long outage the changes outnumber
    what one turn can read in its budget. Sets `reached[LAST_POLLED]` to where the next search
    starts: `now` when every page was read, else the last `updated` applied (a failure or
    the budget running out mid-way keeps the pages applied so far). True when all were."""
    jql = updated_since_jql(since, now, projects)
    pages = jira.search_pages(jql, fields=POLL_FIELDS)
    read = 0
    async for issues in pages:
        await apply_polled_issues(runtime, workspace_id, issues)
        latest = max(
            filter(None, (jira_time(i.get("fields", {}).get("updated")) for i in issues)),
            default=None,
        )
        if latest is not None:
            reached[LAST_POLLED] = max(latest, reached.get(LAST_POLLED, since))
        # The search reaches back a margin before `since` (minutes, not milliseconds): a
        # page no newer than `since` was applied by the turn before. Counted, a window
        # busier than a turn's pages (a bulk change in Jira) would be read again turn
        # after turn, never past its end; uncounted, every turn moves past `since`.
        if latest is None or latest > since:
            read += 1
        if read >= runtime.settings.sync_poll_pages:
            await pages.aclose()
            return False
    reached[LAST_POLLED] = now
    return True


def _retry_seconds(runtime: Runtime, exc: Exception, workspace_id: int, failures: int = 1) -> float:
    """Seconds until the next poll of a workspace after its `failures`-th failure in a row."""
    base = runtime.settings.sync_retry_base_seconds
    cap = POLL_BACKOFF_CAP / timedelta(seconds=1)
    retry_after = exc.retry_after if isinstance(exc, UNANSWERED) else None
    delay = retry_delay(failures, base, retry_after, cap=cap)
    if isinstance(exc, UNANSWERED):
        logger.info(
            "status poll of workspace %s failed (%d in a row, next in %.0f s): %s",
            workspace_id,
            failures,
            delay,
            exc.message,
        )
    elif isinstance(exc, TimeoutError):
        logger.warning("status poll of workspace %s ran out of its time budget", workspace_id)
    else:
        logger.error("status poll of workspace %s failed", workspace_id, exc_info=exc)
    return delay


async def _finish(runtime: Runtime, done: list[polling.PollDone]) -> None:
    try:
        await polling.finish_polls(runtime.sessions, runtime.process_id, done, utcnow())
    except Exception:  # the claims lapse on their own; the next polls start from `since`
        logger.exception("could not record %d poll(s)", len(done))


async def _seconds_to_next(runtime: Runtime) -> float | None:
    """Seconds to wait before looking again; None when a poll is due now."""
    due = await polling.next_poll_due(runtime.engine)
    if due is None:
        return RECHECK_SECONDS
    seconds = (due - utcnow()) / timedelta(seconds=1)
    if seconds <= 0:
        return None
    return min(RECHECK_SECONDS, max(MIN_WAIT, seconds))


async def reconcile_webhook_workspaces(runtime: Runtime) -> int:
    """Scheduler job: each webhook workspace's issues updated since its last read, every
    RECONCILE_EVERY, read and applied as a poll's are (a change already applied by its
    delivery changes nothing the second time); returns how many were reconciled."""

    async def reconcile(connection: ClaimedConnection, now: datetime, moved: dict) -> None:
        # First time: since the connection was made (or one period back, as far as a
        # reconcile before these turns reached).
        since = connection.last_polled_at or max(connection.created_at, now - RECONCILE_EVERY)
        jira = await client_for_connection(runtime, connection)
        projects = await polling.polled_projects(runtime.sessions, connection.workspace_id)
        await poll_with(runtime, jira, connection.workspace_id, since, now, projects, moved)

    return await take_turns(runtime, polling.RECONCILE, "the reconcile", reconcile)


async def take_turns(runtime: Runtime, turns: polling.Turns, what: str, work) -> int:
    """Takes every due turn of a catch-up job, one workspace at a time: claims it (so that
    of all processes one takes each workspace's turn per RECONCILE_EVERY), runs
    `await work(connection, now, moved)` (`connection`: the row as claimed) within the
    poll's budget, then sets the next turn
    with the columns `work` put in `moved` (what it got through, failed or not): one
    period on, or after a failure sooner (turn_retry_delay), that workspace alone. A
    process killed mid-turn leaves a claim that lapses after poll_lease: the next check
    after that, in any process, takes the turn. Returns the turns taken."""
    taken = 0
    postgres = runtime.engine.dialect.name == "postgresql"
    # Turns due when this run began: one that fails now is retried by a later run, not
    # again and again by this one while Jira is down.
    started = utcnow()
    waiting: list[float] = []  # since when no due turn could be claimed (loop time)
    while True:
        # A look first (a read): most runs find no turn due, and a claim is a write.
        if not await polling.turn_due(runtime.engine, turns, started, RECONCILE_EVERY):
            return taken
        now = utcnow()
        until = now + poll_lease(runtime)
        owner = runtime.process_id
        connection = await polling.claim_turn(
            runtime.engine, turns, owner, started, until, postgres, RECONCILE_EVERY
        )
        if connection is None:
            if postgres and await _held_turn_left(runtime, turns, what, started, waiting):
                continue
            return taken
        waiting.clear()
        workspace_id, moved = connection.workspace_id, {}
        failed: Exception | None = None
        try:
            async with asyncio.timeout(poll_budget(runtime)):
                await work(connection, now, moved)
        except UNANSWERED as exc:  # tried again soon
            failed = exc
            logger.info("workspace %s: %s not done: %s", workspace_id, what, exc.message)
        except TimeoutError as exc:
            failed = exc
            logger.warning("workspace %s: %s ran out of its time budget", workspace_id, what)
        except Exception as exc:
            failed = exc
            logger.exception("workspace %s: %s failed", workspace_id, what)
        next_due = now + RECONCILE_EVERY
        failures = 0
        if failed is not None:
            failures = getattr(connection, turns.failures.key) + 1
            next_due = now + turn_retry_delay(runtime, failed, failures)
        moved[turns.failures.key] = failures
        await polling.finish_turn(
            runtime.sessions, turns, owner, connection, next_due, moved, utcnow()
        )
        taken += 1


async def _held_turn_left(
    runtime: Runtime, turns: polling.Turns, what: str, started: datetime, waiting: list[float]
) -> bool:
    """Whether a turn due at `started` is still untaken (its row held by another
    transaction), after a pause: then the caller claims again. False once the wait since
    the first miss passes HELD_TURN_WAIT_SECONDS."""
    loop = asyncio.get_running_loop()
    if waiting and loop.time() - waiting[0] > HELD_TURN_WAIT_SECONDS:
        return False
    if not await polling.turn_due(runtime.engine, turns, started, RECONCILE_EVERY):
        return False
    if not waiting:
        waiting.append(loop.time())
        logger.info("a workspace's turn at %s is held by another transaction: waiting", what)
    await asyncio.sleep(HELD_TURN_RECHECK_SECONDS)
    return True


def turn_retry_delay(runtime: Runtime, exc: Exception, failures: int) -> timedelta:
    """The wait after a catch-up turn's `failures`-th failure in a row: from the retry
    base, doubling, at most a period (Retry-After may ask for longer). A brief outage
    delays the catch-up by seconds, not a period; a Jira that stays down is asked once a
    period, as when it is up."""
    retry_after = exc.retry_after if isinstance(exc, UNANSWERED) else None
    seconds = retry_delay(
        failures,
        runtime.settings.sync_retry_base_seconds,
        retry_after,
        cap=RECONCILE_EVERY / timedelta(seconds=1),
    )
    return timedelta(seconds=seconds)
