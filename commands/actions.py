"""Retro buttons (Add action item, Send to Jira, View all) and the action-item modal's
submission. Thin: read the payload, ack, call one function in bot/."""

from __future__ import annotations

from slack_bolt.app.async_app import AsyncApp

from bot import action_items, item_controls, messages, retros
from bot.modals import open_modal
from bot.views import retro_ids as ids
from bot.views.item_modal import error_blocks, read_metadata


def register(app: AsyncApp) -> None:
    app.action(ids.ADD_ITEM)(handle_add_button)
    app.action(ids.COMMIT)(handle_commit_button)
    app.action(ids.VIEW_ALL)(handle_view_all)
    app.action(ids.ALL_ITEMS_PAGE)(handle_page)
    app.action(ids.ALL_ITEMS_PAGE_BACK)(handle_page)
    app.view(ids.ITEM_MODAL)(handle_item_submission)


def _value(body: dict) -> int | None:
    return ids.parse_id((body.get("actions") or [{}])[0].get("value"))


async def _answer(respond, reply: dict | None) -> None:
    if reply:
        await respond(**reply)


async def handle_add_button(ack, body, context, client, respond) -> None:
    await ack()
    reply = await action_items.open_add_modal(
        context["runtime"],
        client,
        context["workspace_id"],
        body["user"]["id"],
        body["trigger_id"],
        source=ids.clicked_from(body),
        retro_id=_value(body) or 0,
    )
    await _answer(respond, reply)


async def handle_commit_button(ack, body, context, respond) -> None:
    await ack()
    reply = await retros.commit_retro(
        context["runtime"], context["workspace_id"], retro_id=_value(body) or 0
    )
    await respond(**reply)


async def handle_view_all(ack, body, context, client, respond) -> None:
    await ack()
    view = await retros.all_items_view(context["runtime"], context["workspace_id"], _value(body))
    if view is not None and not await open_modal(client, body["trigger_id"], view):
        await respond(text=messages.modal_not_opened("list"), replace_original=False)


async def handle_page(ack, body, context, client) -> None:
    await ack()
    value = (body.get("actions") or [{}])[0].get("value")
    retro_id, page = retros.parse_page(value)
    view = await retros.all_items_view(context["runtime"], context["workspace_id"], retro_id, page)
    current = body.get("view") or {}
    if view is not None and current.get("id"):
        await client.views_update(view_id=current["id"], hash=current.get("hash"), view=view)


async def handle_item_submission(ack, body, view, context, client) -> None:
    runtime, workspace_id, user_id = context["runtime"], context["workspace_id"], body["user"]["id"]
    saved = await action_items.save_item(runtime, workspace_id, user_id, view)
    if saved.errors:
        await ack(response_action="errors", errors=error_blocks(saved.errors))
        return
    await ack()
    await action_items.confirm_saved(runtime, client, workspace_id, context.team_id, user_id, saved)
    listed = read_metadata(view).get("list")
    if listed and saved.channel_id:  # edited from /retro list: the list shows the change
        await item_controls.redraw_list(
            runtime, workspace_id, saved.channel_id, listed, saved.item_id
        )
    below = view.get("previous_view_id")
    if saved.source == ids.FROM_MODAL and below:
        # Back on View all, the list shows the change.
        listing = await retros.all_items_view(runtime, workspace_id, saved.retro_id)
        if listing is not None:
            await client.views_update(view_id=below, view=listing)
