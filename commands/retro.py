"""/retro: retros and action items. Each subcommand acks at once, then does its work and
answers the caller with ephemeral replies (respond), so Slack never waits on us."""

from __future__ import annotations

from slack_bolt.app.async_app import AsyncApp

from bot import action_items, retros
from bot.views import retro_ids as ids
from bot.views.help import retro_help, unknown_subcommand


def register(app: AsyncApp) -> None:
    app.command("/retro")(handle_retro)


async def handle_retro(ack, command, context, client, respond) -> None:
    subcommand, _, rest = (command.get("text") or "").strip().partition(" ")
    subcommand = subcommand.lower()
    if subcommand in ("", "help"):
        await ack(**retro_help())
        return
    run = SUBCOMMANDS.get(subcommand)
    if run is None:
        await ack(text=unknown_subcommand("/retro", subcommand))
        return
    await ack()
    for reply in await run(context, client, command, rest.strip()):
        await respond(**reply)


async def _start(context, client, command, rest) -> list[dict]:
    return [
        await retros.start_retro(
            context["runtime"],
            context["workspace_id"],
            command["channel_id"],
            command["user_id"],
            rest,
        )
    ]


async def _add(context, client, command, rest) -> list[dict]:
    reply = await action_items.open_add_modal(
        context["runtime"],
        client,
        context["workspace_id"],
        command["user_id"],
        command["trigger_id"],
        source=ids.FROM_COMMAND,
        channel_id=command["channel_id"],
        title=rest,
    )
    return [reply] if reply else []


async def _list(context, client, command, rest) -> list[dict]:
    return await retros.list_retro(
        context["runtime"], context["workspace_id"], command["channel_id"]
    )


async def _commit(context, client, command, rest) -> list[dict]:
    return [
        await retros.commit_retro(
            context["runtime"], context["workspace_id"], channel_id=command["channel_id"]
        )
    ]


async def _close(context, client, command, rest) -> list[dict]:
    return [
        await retros.close_retro(
            context["runtime"],
            client,
            context["workspace_id"],
            context.team_id,
            command["channel_id"],
            command["user_id"],
        )
    ]


SUBCOMMANDS = {"start": _start, "add": _add, "list": _list, "commit": _commit, "close": _close}
