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
    now = now or utcnow()
    count = 0
    for item in items:
        item.sync_state = SyncState.PENDING.value
        item.attempts = 0
        item.next_attempt_at = now
        item.last_error = None
        item.last_error_kind = None
        count += 1
    return count
