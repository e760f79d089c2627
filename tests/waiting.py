"""How a test waits for what the app does after answering: ask again and again until the
answer comes, up to a deadline, then fail naming what was awaited.

Deadlines are generous (a loaded 2-core machine): a wait that succeeds returns at once, so
only a failing test pays for one. The clock is the real one, so a wait inside freezegun's
frozen time still ends.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import TypeVar

from tests.fakes.loopback_server import real_monotonic

T = TypeVar("T")


class WaitTimedOut(AssertionError):
    """The deadline passed without the answer (an AssertionError, so the test fails)."""


def wait_until(
    predicate: Callable[[], T],
    what: str | None = None,
    *,
    timeout: float = 10.0,
    every: float = 0.05,
) -> T:
    """Ask `predicate` every `every` seconds until it answers something truthy, and return
    that; after `timeout` seconds fail, naming `what` (or the predicate's source)."""
    deadline = real_monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if real_monotonic() >= deadline:
            raise WaitTimedOut(timed_out(predicate, timeout, what))
        time.sleep(every)


async def async_wait_until(
    predicate: Callable[[], T],
    what: str | None = None,
    *,
    timeout: float = 10.0,
    every: float = 0.01,
) -> T:
    """wait_until for a test that shares its event loop with the app (or a part of it):
    waits without blocking the loop."""
    deadline = real_monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if real_monotonic() >= deadline:
            raise WaitTimedOut(timed_out(predicate, timeout, what))
        await asyncio.sleep(every)


def timed_out(predicate: Callable, timeout: float, what: str | None) -> str:
    return f"timed out after {timeout}s waiting for {what or describe(predicate)}"


def describe(fn: Callable) -> str:
    """A function as a failure names it: its source, cut short, or its name."""
    try:
        source = inspect.getsource(fn).strip()
    except (OSError, TypeError):
        return getattr(fn, "__name__", repr(fn))
    return source if len(source) < 200 else source[:197] + "..."
