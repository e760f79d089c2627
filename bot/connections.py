"""Connect / disconnect / settings rules (issue 3)."""

from __future__ import annotations

from bot.runtime import Runtime


async def home_jira_card(runtime: Runtime, workspace_id: int) -> list[dict]:
    """App Home's Jira card for admins (SPEC §2)."""
    return []
