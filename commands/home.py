"""App Home tab."""

from __future__ import annotations

from slack_bolt.app.async_app import AsyncApp

from bot.home import publish_home


def register(app: AsyncApp) -> None:
    app.event("app_home_opened")(handle_home_opened)


async def handle_home_opened(event, context, client) -> None:
    if event.get("tab") != "home":
        return
    await publish_home(
        context["runtime"], client, context["workspace_id"], context.team_id, event["user"]
    )
