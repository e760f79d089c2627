"""A retro summary's pace (bot/summary_pace.py) on the test's clock, for tests of paced
edits run in-process (tests/flows_webhooks.run_in_process).

Its waits end only when the test releases them, as SUMMARY_EVERY of real time would once
the test's changes are in: an instant sleep let a trailing edit render before a later
change was committed, and that change then owed an edit of its own."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from bot.summary_pace import SummaryPace


class HeldPace:
    """`install(runtime)` inside the run, then `release()` to end every wait; `slept`
    holds the seconds each wait asked for."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now, self.slept = now, []
        self._released: asyncio.Event | None = None

    def install(self, runtime) -> SummaryPace:
        self._released = asyncio.Event()  # on the run's own loop
        runtime.state.summary_pace = pace = SummaryPace(clock=lambda: self.now, sleep=self._sleep)
        return pace

    def release(self) -> None:
        self._released.set()

    async def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        await self._released.wait()
        self.now += seconds


async def complete_item(runtime, item_id: int) -> None:
    """The item done, written straight to the database (no refresh of its own)."""
    async with runtime.sessions.begin() as session:
        await session.execute(
            text("UPDATE action_items SET status = 'complete' WHERE id = :i"), {"i": item_id}
        )


def summary_edits(slack_emulator, ts: str) -> int:
    """chat.update calls made to the summary message `ts`."""
    return sum(c.args.get("ts") == ts for c in slack_emulator.calls_to("chat.update"))
