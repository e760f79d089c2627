"""/jira: connecting and configuring Jira Cloud."""

from __future__ import annotations

from slack_bolt.app.async_app import AsyncApp

from bot.views.help import jira_help


def register(app: AsyncApp) -> None:
    app.command("/jira")(handle_jira)


async def handle_jira(ack, command) -> None:
    subcommand, _, _rest = (command.get("text") or "").strip().partition(" ")
    subcommand = subcommand.lower()
    if subcommand in ("", "help"):
        await ack(**jira_help())
        return
    await ack(text=f"`/jira {subcommand}` isn't a command I know. Try `/jira help`.")
