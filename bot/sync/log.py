"""The Sync Log: recent attempts and failures (issue 5)."""

from __future__ import annotations

from bot.runtime import Runtime


async def home_sync_log(runtime: Runtime, workspace_id: int) -> list[dict]:
    """App Home's Sync Log for admins: failures with title, error, time, Retry."""
    return []
