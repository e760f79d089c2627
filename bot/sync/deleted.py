"""Issues deleted in Jira, found without a webhook.

A deleted issue never shows in the poll's search for the issues updated lately, and
Jira's `jira:issue_deleted` delivery is best-effort (and absent when webhooks are off).
So every RECONCILE_EVERY each connected workspace's open synced items are looked up by
id, asking for nothing but the id (bot/sync/reread.gone_among): those Jira leaves out
and answers 404 for are gone, and go through the rules a `jira:issue_deleted` delivery
goes through (bot/sync/pull.apply_polled_issues): the line says "KEY was deleted in Jira"
with Create again, and nothing is recreated on its own.

The cost is one search per IDS_PER_SEARCH open synced items, never per poll cycle. A turn
looks at CHECKED_PER_RUN items of a workspace at most, a slice at a time, and the next
turn goes on where it stopped (kept on the connection row, so whichever process takes it).
Each workspace's turn is claimed in the database as the reconcile's is
(bot/sync/poll.take_turns): once per RECONCILE_EVERY between all processes.
"""

from __future__ import annotations

import logging

from bot.jira.credentials import client_for_connection
from bot.runtime import Runtime
from bot.sync.poll import take_turns
from bot.sync.pull import apply_polled_issues
from bot.sync.reread import IDS_PER_SEARCH, gone_among
from storage import polling
from storage.item_queries import open_synced_issues
from storage.polling import ClaimedConnection

logger = logging.getLogger(__name__)

# Searches made at once (each names IDS_PER_SEARCH ids).
SEARCHES_AT_ONCE = 5
SLICE = SEARCHES_AT_ONCE * IDS_PER_SEARCH
CHECKED_PER_RUN = 20 * SLICE


async def find_deleted_issues(runtime: Runtime) -> int:
    """Scheduler job: every connected workspace whose turn is due has its open synced
    items checked (up to CHECKED_PER_RUN); returns how many were found deleted."""
    found: list[int] = []

    async def check(connection: ClaimedConnection, _now, moved: dict) -> None:
        found.append(await check_workspace(runtime, connection, moved))

    await take_turns(runtime, polling.DELETED_CHECK, "checking for deleted issues", check)
    return sum(found)


async def check_workspace(runtime: Runtime, connection: ClaimedConnection, moved: dict) -> int:
    """One workspace's turn: its open synced items after where the last turn stopped, a
    slice at a time, each slice's deleted issues applied before the next is read; where
    it got to goes in `moved`, whatever stops it."""
    workspace_id = connection.workspace_id
    jira = await client_for_connection(runtime, connection)
    after = connection.deleted_checked_after or 0
    found = checked = 0
    while checked < CHECKED_PER_RUN:
        async with runtime.sessions() as session:
            items = await open_synced_issues(
                session, workspace_id, connection.site_url, after, SLICE
            )
        if items:
            gone = await gone_among(jira, [issue_id for _, issue_id in items])
            if gone:
                found += len(gone)
                await apply_polled_issues(runtime, workspace_id, [], gone=gone)
            checked += len(items)
        if len(items) < SLICE:
            moved["deleted_checked_after"] = None  # all checked: the next turn starts over
            break
        after = moved["deleted_checked_after"] = items[-1][0]
    if found:
        logger.info("workspace %s: %d issue(s) deleted in Jira", workspace_id, found)
    return found
