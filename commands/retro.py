"""/retro: retros and action items."""

from __future__ import annotations

from slack_bolt.app.async_app import AsyncApp

from bot.views.help import retro_help


def register(app: AsyncApp) -> None:
    app.command("/retro")(handle_retro)


async def handle_retro(ack, command) -> None:
    subcommand, _, _rest = (command.get("text") or "").strip().partition(" ")
    subcommand = subcommand.lower()
    if subcommand in ("", "help"):
        await ack(**retro_help())
        return
    await ack(
        text=f"`/retro {subcommand}` isn't a command I know. Try `/retro help`.",
    )
