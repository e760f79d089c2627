"""The controls on every action-item line (the overflow menu), the Delete confirmation and
the due-date reminder's buttons. Thin: read the payload, ack, call one function in bot/."""

from __future__ import annotations

import logging

from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot import action_items, item_controls, retros
from bot.home import publish_home
from bot.views import item_control_ids as ids
from bot.views import retro_ids
from bot.views.item_modal import read_metadata

logger = logging.getLogger(__name__)


def register(app: AsyncApp) -> None:
    app.action(ids.ITEM_MENU)(handle_menu)
    # Cards posted before the menu existed had an Edit button on every line; they stay in
    # channels (and old thread continuations) until their retro is redrawn, so a click on
    # one still opens the edit modal, and saving redraws the card with today's controls.
    app.action(retro_ids.EDIT_ITEM)(handle_retired_edit_button)
    app.action(ids.MARK_DONE_BUTTON)(handle_mark_done_button)
    app.action(ids.OPEN_IN_JIRA_BUTTON)(handle_link)
    app.view(ids.DELETE_MODAL)(handle_delete_submission)


async def handle_link(ack) -> None:
    await ack()  # a link button: Slack opens the URL, the app only acknowledges


async def handle_menu(ack, body, context, client, respond) -> None:
    await ack()
    action = (body.get("actions") or [{}])[0]
    control, item_id = ids.parse_option((action.get("selected_option") or {}).get("value"))
    if control is None or control == ids.OPEN:
        return  # Open in Jira is a link: Slack opened it
    runtime, workspace_id = context["runtime"], context["workspace_id"]
    user_id, source = body["user"]["id"], retro_ids.clicked_from(body)
    listed = retro_ids.ephemeral_list_url(body)
    if control == ids.EDIT:
        await _edit(body, context, client, respond, item_id)
        return
    if control == ids.DELETE:
        done = await item_controls.confirm_delete(
            runtime, client, workspace_id, body["trigger_id"], item_id, source, listed
        )
    elif control == ids.SYNC:
        done = await item_controls.sync_now(runtime, workspace_id, item_id)
    elif control == ids.DONE:
        done = await item_controls.mark_done(runtime, workspace_id, item_id, user_id)
    else:
        done = await item_controls.reopen(runtime, workspace_id, item_id, user_id)
    if done is not None:
        await _tell(body, context, client, respond, done.text)
        if listed and control != ids.DELETE:
            channel_id = body["container"].get("channel_id") or ""
            await item_controls.redraw_list(runtime, workspace_id, channel_id, listed, item_id)


async def handle_retired_edit_button(ack, body, context, client, respond) -> None:
    await ack()
    item_id = retro_ids.parse_id((body.get("actions") or [{}])[0].get("value"))
    await _edit(body, context, client, respond, item_id)


async def _edit(body, context, client, respond, item_id: int | None) -> None:
    reply = await action_items.open_edit_modal(
        context["runtime"],
        client,
        context["workspace_id"],
        body["user"]["id"],
        body["trigger_id"],
        item_id,
        source=retro_ids.clicked_from(body),
        list_url=retro_ids.ephemeral_list_url(body),
    )
    if reply:
        await respond(**reply, replace_original=False)


async def handle_mark_done_button(ack, body, context, client, respond) -> None:
    await ack()
    item_id = retro_ids.parse_id((body.get("actions") or [{}])[0].get("value"))
    done = await item_controls.mark_done(
        context["runtime"], context["workspace_id"], item_id, body["user"]["id"]
    )
    await _tell(body, context, client, respond, done.text)


async def handle_delete_submission(ack, body, view, context, client) -> None:
    await ack()
    metadata = read_metadata(view)
    item_id = retro_ids.parse_id(metadata.get("item"))
    runtime, workspace_id, user_id = context["runtime"], context["workspace_id"], body["user"]["id"]
    done = await item_controls.delete_item(runtime, workspace_id, item_id)
    if metadata.get("list") and metadata.get("channel"):
        part = retro_ids.parse_id(metadata.get("part")) or 0
        await item_controls.redraw_list(
            runtime, workspace_id, metadata["channel"], metadata["list"], None, part
        )
    if metadata.get("from") == retro_ids.FROM_HOME:
        await publish_home(runtime, client, workspace_id, context.team_id, user_id)
        return
    await _post_ephemeral(client, done.channel_id or user_id, user_id, done.text)


async def _tell(body, context, client, respond, text: str) -> None:
    """The ephemeral reply where the click happened; on App Home (which has no
    response_url) the refreshed tab is the confirmation."""
    user_id = body["user"]["id"]
    if retro_ids.clicked_from(body) == retro_ids.FROM_HOME:
        await publish_home(
            context["runtime"], client, context["workspace_id"], context.team_id, user_id
        )
    elif retro_ids.clicked_from(body) == retro_ids.FROM_MODAL:
        await _relist(body, context, client)
    elif body.get("response_url"):
        await respond(text=text, response_type="ephemeral", replace_original=False)
    else:
        await _post_ephemeral(client, user_id, user_id, text)


async def _relist(body, context, client) -> None:
    """On View all, the refreshed list is the confirmation."""
    view = body.get("view") or {}
    retro_id, page = retros.parse_page(view.get("private_metadata"))
    listing = await retros.all_items_view(
        context["runtime"], context["workspace_id"], retro_id, page
    )
    if listing is not None and view.get("id"):
        await client.views_update(view_id=view["id"], view=listing)


async def _post_ephemeral(client, channel: str, user_id: str, text: str) -> None:
    try:
        if channel == user_id:
            await client.chat_postMessage(channel=user_id, text=text)
        else:
            await client.chat_postEphemeral(channel=channel, user=user_id, text=text)
    except SlackApiError as exc:
        logger.info("confirmation not shown: %s", exc.response.get("error"))
