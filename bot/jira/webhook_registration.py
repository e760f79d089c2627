"""Dynamic webhook registration (issue 6 owns this module; these are the hooks the
connect flow calls, stubbed until the webhook engineer fills them in)."""

from __future__ import annotations

from bot.runtime import Runtime


async def settings_changed(runtime: Runtime, workspace_id: int) -> None:
    """Sync settings or the connection changed: (re)register or drop webhooks to match."""


async def delete_webhooks(runtime: Runtime, workspace_id: int) -> None:
    """Remove every webhook registered for this workspace (before its credentials go)."""
