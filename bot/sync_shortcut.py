"""The Sync to Jira message shortcut.

On a message that shows action items (an item's own message, or a retro's summary): push
those items to Jira now. On any other message: the action-item modal, prefilled from the
message (title from its first line, description from its text plus a link to it); on
submit the item is created, in the channel's open retro if there is one, and synced at
once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages, notifier
from bot.action_items import new_item, user_tz
from bot.item_form import (
    DESCRIPTION_MAX,
    FIELD_TITLE,
    TITLE_MAX,
    ItemForm,
    clean_text,
    today_in,
    validate_item_form,
)
from bot.jira.adf import plain_text
from bot.modals import open_modal
from bot.runtime import Runtime
from bot.sync.queue import enqueue
from bot.sync.targets import NO_PROJECT, targets_for
from bot.views import retro_ids, sync_ids
from bot.views.blocks import escape
from bot.views.item_modal import (
    build_item_modal,
    read_item_form,
    read_metadata,
)
from storage.connection_queries import connection_for
from storage.item_queries import items_with_retros
from storage.models import ActionItem, ConnectionStatus, Retro, RetroPhase
from storage.retro_queries import open_retro

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShortcutMessage:
    channel_id: str
    ts: str
    text: str
    block_ids: tuple[str, ...]


def shown_item_ids(message: ShortcutMessage) -> list[int]:
    ids = (retro_ids.item_id_from_block_id(block_id) for block_id in message.block_ids)
    return sorted({i for i in ids if i is not None})


async def jira_problem(runtime: Runtime, workspace_id: int, channel_id: str) -> str | None:
    """Why nothing can reach Jira from this channel now, or None."""
    async with runtime.sessions() as session:
        connection = await connection_for(session, workspace_id)
        if connection is None:
            return messages.NOT_CONNECTED
        if connection.status != ConnectionStatus.ACTIVE:
            return messages.revoked(connection.method)
        targets = await targets_for(session, workspace_id, [channel_id])
    return None if targets.get(channel_id) else NO_PROJECT


async def sync_to_jira(
    runtime: Runtime,
    client: AsyncWebClient,
    workspace_id: int,
    user_id: str,
    message: ShortcutMessage,
    trigger_id: str,
) -> str | None:
    """Push the message's items, or open the prefilled modal. Returns the text to show the
    person (None when the modal opened)."""
    problem = await jira_problem(runtime, workspace_id, message.channel_id)
    if problem:
        return problem
    item_ids = shown_item_ids(message)
    if item_ids:
        return await push_items(runtime, workspace_id, message, item_ids)
    return await open_prefilled_modal(runtime, client, workspace_id, user_id, message, trigger_id)


async def push_items(runtime: Runtime, workspace_id: int, message, item_ids) -> str:
    """Queues the items this message really shows (of this workspace) from attempt 1."""
    async with runtime.sessions.begin() as session:
        rows = await items_with_retros(session, workspace_id, item_ids)
        items = [item for item, retro in rows if _shown_in(item, retro, message)]
        enqueue(items)
    if not items:
        return messages.ITEM_GONE
    runtime.wake_sync()
    await notifier.refresh_items(runtime, workspace_id, [i.id for i in items])
    if len(items) == 1:
        return f"Syncing *{escape(items[0].title)}* to Jira now."
    return f"Syncing {len(items)} action items to Jira now. Each line shows its key as it arrives."


def _shown_in(item: ActionItem, retro: Retro | None, message: ShortcutMessage) -> bool:
    if item.channel_id != message.channel_id:
        return False
    if item.message_ts == message.ts:
        return True
    return retro is not None and message.ts in (retro.summary_ts, *(retro.overflow_ts or []))


# --- any other message: the prefilled modal -----------------------------------------------


def prefill(text: str, permalink: str | None) -> ItemForm:
    text = clean_text(text, lines=True)
    lines = [line.strip() for line in plain_text(text).splitlines() if line.strip()]
    title = (lines[0] if lines else "Action item from Slack")[:TITLE_MAX]
    link = f"\n\nFrom Slack: {permalink}" if permalink else ""
    description = text.strip()[: DESCRIPTION_MAX - len(link)] + link
    return ItemForm(title=title, description=description.strip())


async def open_prefilled_modal(
    runtime, client, workspace_id, user_id, message, trigger_id
) -> str | None:
    """The modal, or what to tell the person when Slack would not open it: the permalink,
    the retro and the time zone are read first, out of the trigger's 3 seconds."""
    permalink = await _permalink(client, message)
    async with runtime.sessions() as session:
        retro = await open_retro(session, workspace_id, message.channel_id)
    where = f"in *{escape(retro.title)}*" if retro else f"in <#{message.channel_id}>"
    metadata = {
        "channel": message.channel_id,
        "message_ts": message.ts,
        "permalink": permalink,
        "tz": await user_tz(client, user_id),
    }
    view = build_item_modal(
        metadata,
        prefill(message.text, permalink),
        heading="Sync to Jira",
        submit="Create",
        intro=f"A new action item {where}, sent to Jira as soon as you create it.",
        callback_id=sync_ids.SYNC_ITEM_MODAL,
    )
    if not await open_modal(client, trigger_id, view):
        return messages.modal_not_opened("form")
    return None


async def _permalink(client: AsyncWebClient, message: ShortcutMessage) -> str | None:
    try:
        response = await client.chat_getPermalink(channel=message.channel_id, message_ts=message.ts)
    except SlackApiError as exc:
        logger.info("no permalink for the shortcut's message: %s", exc.response.get("error"))
        return None
    return response.get("permalink")


@dataclass(frozen=True)
class CreatedItem:
    errors: dict
    item_id: int | None = None
    channel_id: str | None = None
    message_ts: str | None = None
    in_retro: str | None = None
    title: str = ""


async def create_item(runtime: Runtime, workspace_id: int, user_id: str, view: dict):
    """The modal's submission: validated (inline errors) and stored, queued for Jira."""
    metadata = read_metadata(view)
    form = read_item_form((view.get("state") or {}).get("values") or {})
    errors = validate_item_form(form, today_in(metadata.get("tz")))
    channel_id = str(metadata.get("channel") or "")
    if errors or not channel_id:
        return CreatedItem(errors or {FIELD_TITLE: "This message can't be used."})
    async with runtime.sessions.begin() as session:
        retro = await open_retro(session, workspace_id, channel_id)
        if retro is not None and retro.phase == RetroPhase.CLOSED:
            retro = None
        item = new_item(workspace_id, retro, channel_id, user_id, form)
        item.source_permalink = metadata.get("permalink") or None
        session.add(item)
        enqueue([item])
        await session.flush()
        created = CreatedItem(
            {},
            item.id,
            channel_id,
            metadata.get("message_ts"),
            retro.title if retro else None,
            item.title,
        )
    return created


async def announce_created(runtime: Runtime, client, workspace_id: int, user_id: str, created):
    """After the ack: show the item (its retro's summary, or a message of its own in the
    source message's thread), then wake the engine, so the key lands on a message that
    exists; and confirm to the person."""
    try:
        await _show(runtime, workspace_id, created)
    finally:
        runtime.wake_sync()
    where = f"to *{escape(created.in_retro)}*" if created.in_retro else "in this channel"
    text = f"Added *{escape(created.title)}* {where} and sent it to Jira."
    try:
        await client.chat_postEphemeral(channel=created.channel_id, user=user_id, text=text)
    except SlackApiError as exc:
        logger.info("confirmation not shown: %s", exc.response.get("error"))


async def _show(runtime: Runtime, workspace_id: int, created: CreatedItem) -> None:
    if created.in_retro:
        await notifier.refresh_items(runtime, workspace_id, [created.item_id])
    else:
        await notifier.post_item_message(
            runtime, workspace_id, created.item_id, thread_ts=created.message_ts
        )
