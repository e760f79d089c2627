"""The app's own lifecycle events: uninstalled, or its bot token revoked."""

from __future__ import annotations

from slack_bolt.app.async_app import AsyncApp

from bot import uninstall


async def _app_uninstalled(context) -> None:
    await uninstall.app_left(context["runtime"], context["workspace_id"], context.team_id)


async def _tokens_revoked(event, context) -> None:
    if uninstall.bot_token_revoked(event):
        await uninstall.app_left(context["runtime"], context["workspace_id"], context.team_id)


def register(app: AsyncApp) -> None:
    app.event("app_uninstalled")(_app_uninstalled)
    app.event("tokens_revoked")(_tokens_revoked)
