"""How often a retro's summary message may be edited while changes keep coming.

chat.update is Tier 3 in Slack's rate limits (50+ a minute per method per workspace,
"Rate limits" in Slack's API documentation). A burst of Jira changes touches the same
retros again and again: without a pace the sender would edit each touched summary once a
second, and Slack would answer 429 long before the burst ends. So a summary is edited at
once when it was not edited lately (a lone Done shows within a second), and while changes
keep coming at most once per SUMMARY_EVERY, within a budget per workspace; what changed
meanwhile is shown by one trailing edit, rendered from the database when it is sent, so
the last state wins and nothing is lost.

Only this process's edits are counted (each process paces its own).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

SUMMARY_EVERY = 2.0  # seconds between two edits of one summary while changes keep coming
# Per workspace: edits at once after a quiet spell, then this many a minute (Tier 3).
UPDATES_AT_ONCE = 10
UPDATES_PER_MINUTE = 50
KEPT = 10_000  # retros and workspaces remembered before the stale ones are forgotten

Key = tuple[int, int]  # (workspace id, retro id)


class SummaryPace:
    """When each summary was last edited and each workspace's budget of edits.
    `clock` and `sleep` (time.monotonic and asyncio.sleep): a test hands in its own."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.clock, self.sleep = clock, sleep
        self._edited: dict[Key, float] = {}
        self._budgets: dict[int, tuple[float, float]] = {}  # workspace -> (edits left, at)
        # Trailing edits waiting for their turn, and whether theirs must also ask whether
        # the retro is all done (bot/notifier.py).
        self.trailing: dict[Key, bool] = {}
        self.tasks: set[asyncio.Task] = set()

    def __len__(self) -> int:
        return len(self._edited) + len(self._budgets) + len(self.trailing)

    def wait(self, key: Key) -> float:
        """Seconds until the summary may be edited (0: now)."""
        now = self.clock()
        since = self._edited.get(key)
        interval = 0.0 if since is None else since + SUMMARY_EVERY - now
        left, _ = self._budget(key[0], now)
        budget = 0.0 if left >= 1 else (1 - left) * 60 / UPDATES_PER_MINUTE
        return max(interval, budget, 0.0)

    def edited(self, key: Key) -> None:
        """An edit of the summary begins now (paced or not: a person's own click is shown
        at once, and counts)."""
        now = self.clock()
        left, _ = self._budget(key[0], now)
        if len(self._edited) >= KEPT:
            self._forget(now)
        self._edited[key] = now
        self._budgets[key[0]] = (max(left - 1, 0.0), now)

    async def stop(self) -> None:
        """Shutdown: the trailing edits not sent yet stay owed in the database (the
        notifier marks a summary owed when it defers its edit)."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()

    def _budget(self, workspace_id: int, now: float) -> tuple[float, float]:
        left, at = self._budgets.get(workspace_id, (UPDATES_AT_ONCE, now))
        return min(UPDATES_AT_ONCE, left + (now - at) * UPDATES_PER_MINUTE / 60), now

    def _forget(self, now: float) -> None:
        """Drops what no longer holds anything back: summaries edited longer ago than the
        pace, workspaces whose budget is whole again."""
        self._edited = {k: at for k, at in self._edited.items() if now - at < SUMMARY_EVERY}
        self._budgets = {
            w: b for w, b in self._budgets.items() if self._budget(w, now)[0] < UPDATES_AT_ONCE
        }
