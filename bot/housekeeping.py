"""The periodic tidy-up: old webhook deliveries, expired OAuth attempts and install states,
and Sync Log rows past 90 days or past each workspace's newest 1,000 (storage/housekeeping.py
says what is kept, and each delete walks an index)."""

from __future__ import annotations

import logging

from bot.runtime import Runtime
from storage import housekeeping
from storage.clock import utcnow

logger = logging.getLogger(__name__)

EVERY_HOURS = 12


async def tidy(runtime: Runtime) -> dict[str, int]:
    """Runs every prune; returns how many rows each removed."""
    now = utcnow()
    removed = {}
    for prune in (
        housekeeping.prune_deliveries,
        housekeeping.prune_oauth_flows,
        housekeeping.prune_install_states,
        housekeeping.prune_sync_log,
    ):
        try:
            removed[prune.__name__] = await prune(runtime.sessions, now)
        except Exception:  # one failed prune leaves the others to run
            logger.exception("housekeeping: %s failed", prune.__name__)
    if any(removed.values()):
        logger.info("housekeeping removed %s", removed)
    return removed
