"""Issues deleted in Jira, found without a webhook.

A deleted issue never shows in the poll's search for the issues updated lately, and
Jira's `jira:issue_deleted` delivery is best-effort (and absent when webhooks are off).
So every RECONCILE_EVERY each connected workspace's open synced items are looked up by
id, asking for nothing but the id (bot/sync/reread.gone_among): those Jira leaves out
and answers 404 for are gone, and go through the rules a `jira:issue_deleted` delivery
goes through (bot/sync/pull.apply_polled_issues): the line says "KEY was deleted in Jira"
with Create again, and nothing is recreated on its own.

The cost is one search per IDS_PER_SEARCH open synced items, never per poll cycle. A run
looks at CHECKED_PER_RUN items of a workspace at most, a slice at a time, and the next
run goes on where it stopped (the place is this process's: a restart starts over).
"""

from __future__ import annotations

import asyncio
import logging

from bot.jira.credentials import jira_client_for
from bot.jira.errors import JiraError
from bot.runtime import Runtime
from bot.sync.poll import poll_budget
from bot.sync.pull import apply_polled_issues
from bot.sync.reread import IDS_PER_SEARCH, gone_among
from storage.connection_queries import active_sites
from storage.item_queries import open_synced_issues

logger = logging.getLogger(__name__)

# Searches made at once (each names IDS_PER_SEARCH ids).
SEARCHES_AT_ONCE = 5
SLICE = SEARCHES_AT_ONCE * IDS_PER_SEARCH
CHECKED_PER_RUN = 20 * SLICE


async def find_deleted_issues(runtime: Runtime) -> int:
    """Scheduler job: every connected workspace's open synced items checked (up to
    CHECKED_PER_RUN each); returns how many were found deleted."""
    async with runtime.sessions() as session:
        sites = await active_sites(session)
    found = 0
    for workspace_id, site_url in sites:
        try:
            async with asyncio.timeout(poll_budget(runtime)):
                found += await check_workspace(runtime, workspace_id, site_url)
        # Whatever stopped it, the next run starts where this one stopped.
        except JiraError as exc:
            logger.info("workspace %s: deleted issues not checked: %s", workspace_id, exc.message)
        except TimeoutError:
            logger.warning(
                "workspace %s: checking for deleted issues ran out of time", workspace_id
            )
        except Exception:
            logger.exception("workspace %s: checking for deleted issues failed", workspace_id)
    return found


async def check_workspace(runtime: Runtime, workspace_id: int, site_url: str) -> int:
    """One workspace's run: its open synced items after where the last run stopped, a
    slice at a time, each slice's deleted issues applied before the next is read."""
    places = runtime.state.deleted_checked_up_to
    jira = await jira_client_for(runtime, workspace_id)
    found = checked = 0
    while checked < CHECKED_PER_RUN:
        after = places.get(workspace_id, 0)
        async with runtime.sessions() as session:
            items = await open_synced_issues(session, workspace_id, site_url, after, SLICE)
        if items:
            gone = await gone_among(jira, [issue_id for _, issue_id in items])
            if gone:
                found += len(gone)
                await apply_polled_issues(runtime, workspace_id, [], gone=gone)
            checked += len(items)
        if len(items) < SLICE:
            places.pop(workspace_id, None)  # all checked: the next run starts over
            break
        places[workspace_id] = items[-1][0]
    if found:
        logger.info("workspace %s: %d issue(s) deleted in Jira", workspace_id, found)
    return found
