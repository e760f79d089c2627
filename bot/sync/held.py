"""Back to Two-way: the changes made in Jira while the workspace was One-way come to Slack.

One-way records a change made in Jira in the field's base, marked as held back
(bot/sync/merge.py's HELD), rather than taking it. Two-way takes a held field as changed in
Jira, by the merge's usual rules (a later Slack edit of it still wins, and the Sync Log
says so); so when the workspace switches back, its next poll or reconcile reads again every
issue changed in Jira since the earliest held change, and comes due at once.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.sync import merge
from bot.sync.poll import SAFETY_MARGIN
from storage import polling
from storage.clock import utcnow
from storage.item_queries import bases_holding


async def take_held_changes(session: AsyncSession, workspace_id: int) -> None:
    """In the caller's transaction (the one switching the workspace to Two-way).

    A poll or reconcile that read the direction before the switch may still be reading,
    and hold back a change only after it (none of `bases` yet): the mark steps back a
    margin, below where that turn read from, so its end leaves the mark there and makes
    its next turn due at once, which reads that change again and takes it."""
    await polling.step_mark_back(session, workspace_id, SAFETY_MARGIN)
    bases = await bases_holding(session, workspace_id, merge.HELD)
    since = min(filter(None, (merge.held_since(base) for base in bases)), default=None)
    if since is not None:
        await polling.read_again_from(session, workspace_id, since, utcnow())
