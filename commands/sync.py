"""Sync surfaces: Retry buttons (item lines, /jira log, App Home), `/jira log` and
`/jira retry` (admins). Thin: read the payload, ack, call one function in bot/sync."""

from __future__ import annotations

from slack_bolt.app.async_app import AsyncApp

from bot import item_controls, sync_log
from bot.home import publish_home
from bot.sync import retry
from bot.views import retro_ids, sync_ids
from bot.views.sync_log import retried_all_text


def register(app: AsyncApp) -> None:
    app.action(sync_ids.RETRY_ITEM)(handle_retry_button)
    app.action(sync_ids.CREATE_AGAIN)(handle_create_again_button)
    app.action(retro_ids.RETRY_FAILED)(handle_retry_failed)


async def handle_retry_button(ack, body, context, client, respond) -> None:
    await ack()
    runtime, workspace_id = context["runtime"], context["workspace_id"]
    item_id = retro_ids.parse_id((body.get("actions") or [{}])[0].get("value"))
    queued = await retry.retry_item(runtime, workspace_id, item_id)
    await _confirm(body, context, client, respond, queued)


async def handle_create_again_button(ack, body, context, client, respond) -> None:
    await ack()
    runtime, workspace_id = context["runtime"], context["workspace_id"]
    item_id = retro_ids.parse_id((body.get("actions") or [{}])[0].get("value"))
    queued = await retry.create_again(runtime, workspace_id, item_id)
    await _confirm(body, context, client, respond, queued)


async def _confirm(body, context, client, respond, queued) -> None:
    runtime, workspace_id = context["runtime"], context["workspace_id"]
    user_id = body["user"]["id"]
    if (body.get("view") or {}).get("type") == "home":
        # The Home tab is where they are: showing the item queued there is the confirmation.
        await publish_home(runtime, client, workspace_id, context.team_id, user_id)
    elif body.get("response_url"):
        await respond(text=queued.text, response_type="ephemeral", replace_original=False)
    else:
        await client.chat_postMessage(channel=user_id, text=queued.text)


async def handle_retry_failed(ack, body, context, respond) -> None:
    await ack()
    runtime, workspace_id = context["runtime"], context["workspace_id"]
    value = (body.get("actions") or [{}])[0].get("value")
    queued = await retry.retry_failed(runtime, workspace_id, value)
    await respond(text=queued.text, response_type="ephemeral", replace_original=False)
    listed = retro_ids.ephemeral_list_url(body)
    if listed:  # on /retro list: its first message, where failures show, is redrawn
        channel_id = body["container"].get("channel_id") or ""
        await item_controls.redraw_list(runtime, workspace_id, channel_id, listed, None)


async def handle_log(*, ack, context, **_) -> None:
    """`/jira log` (admins: the guard in commands/jira.py checked)."""
    await ack(**await sync_log.log_message(context["runtime"], context["workspace_id"]))


async def handle_retry_all(*, ack, context, **_) -> None:
    """`/jira retry` (admins: the guard in commands/jira.py checked)."""
    count = await retry.retry_all(context["runtime"], context["workspace_id"])
    await ack(text=retried_all_text(count))
