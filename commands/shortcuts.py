"""The Sync to Jira message shortcut and its modal. Thin: read the payload, ack, call one
function in bot/sync_shortcut.py."""

from __future__ import annotations

from slack_bolt.app.async_app import AsyncApp

from bot import sync_shortcut
from bot.views import sync_ids
from bot.views.item_modal import error_blocks


def register(app: AsyncApp) -> None:
    app.shortcut(sync_ids.SYNC_TO_JIRA)(handle_sync_to_jira)
    app.view(sync_ids.SYNC_ITEM_MODAL)(handle_item_submission)


async def handle_sync_to_jira(ack, body, context, client, respond) -> None:
    await ack()
    message = body.get("message") or {}
    found = sync_shortcut.ShortcutMessage(
        channel_id=(body.get("channel") or {}).get("id", ""),
        ts=body.get("message_ts") or message.get("ts", ""),
        text=message.get("text") or "",
        block_ids=tuple(b.get("block_id", "") for b in message.get("blocks") or []),
    )
    text = await sync_shortcut.sync_to_jira(
        context["runtime"],
        client,
        context["workspace_id"],
        body["user"]["id"],
        found,
        body["trigger_id"],
    )
    if text:
        await respond(text=text, response_type="ephemeral")


async def handle_item_submission(ack, body, view, context, client) -> None:
    runtime, workspace_id, user_id = context["runtime"], context["workspace_id"], body["user"]["id"]
    created = await sync_shortcut.create_item(runtime, workspace_id, user_id, view)
    if created.errors:
        await ack(response_action="errors", errors=error_blocks(created.errors))
        return
    await ack()
    await sync_shortcut.announce_created(runtime, client, workspace_id, user_id, created)
