"""Retro and action-item rules: start, add, edit, commit, close, complete (issue 4)."""

from __future__ import annotations

from bot.runtime import Runtime


async def home_retros(runtime: Runtime, workspace_id: int, user_id: str) -> list[dict]:
    """App Home for everyone: open retros the user takes part in and their own items."""
    return []
