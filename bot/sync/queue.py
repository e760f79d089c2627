"""Putting action items on the sync queue. Every path that wants an item in Jira
(commit, Sync to Jira, Retry, an edit of a synced item) goes through `enqueue`, and then
wakes the engine with `runtime.wake_sync()` after its transaction commits."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from storage.clock import utcnow
from storage.models import ActionItem, SyncState


def enqueue(items: Iterable[ActionItem], *, now: datetime | None = None) -> int:
    """Mark items due now, starting again from attempt 1. Returns how many were queued."""
    count = 0
    for item in items:
        for column, value in queued_now(now).items():
            setattr(item, column, value)
        count += 1
    return count


def queued_now(now: datetime | None = None) -> dict:
    """The columns of an item due now, from attempt 1."""
    return {
        "sync_state": SyncState.PENDING,
        "attempts": 0,
        "next_attempt_at": now or utcnow(),
        "last_error": None,
        "last_error_kind": None,
    }
