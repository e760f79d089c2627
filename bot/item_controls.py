"""The controls on every action-item line: Mark done, Reopen, Sync to Jira, Delete (Edit is
bot/action_items.py, Open in Jira is a link). Anyone in the channel may use them.

Mark done and Reopen change the item in Slack at once; when it has (or will have) a Jira
issue, the issue's move is owed on the row (`jira_transition`) and made by the sync engine
(bot/sync/transitions.py), so it is retried and survives restarts like any sync. The retro's
thread gets one line naming who did it; Jira's echo of the move posts nothing more
(bot/completion.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot import messages, notifier, retros
from bot.modals import open_modal
from bot.runtime import Runtime
from bot.sync import retry
from bot.sync.queue import enqueue
from bot.sync.transitions import DONE, REOPEN
from bot.sync.update import same_site
from bot.sync_shortcut import jira_problem
from bot.views import retro_ids
from bot.views.blocks import escape
from bot.views.item_controls import delete_modal
from bot.views.retro_items import issue_link
from storage.clock import utcnow
from storage.connection_queries import connection_for
from storage.item_queries import item_by_id
from storage.models import ActionItem, ItemStatus, SyncState

logger = logging.getLogger(__name__)

DONE_CATEGORY = "done"
ON_ITS_WAY = (
    "*{title}* is on its way to Jira right now; try deleting it again in a moment, once "
    "its line shows the key."
)


@dataclass(frozen=True)
class Done:
    """What a control did: the reply for the person, and what to refresh."""

    text: str
    item_ids: tuple[int, ...] = ()
    retro_id: int | None = None
    channel_id: str | None = None


async def mark_done(runtime: Runtime, workspace_id: int, item_id: int | None, user_id: str) -> Done:
    return await _set_status(runtime, workspace_id, item_id, user_id, ItemStatus.COMPLETE)


async def reopen(runtime: Runtime, workspace_id: int, item_id: int | None, user_id: str) -> Done:
    return await _set_status(runtime, workspace_id, item_id, user_id, ItemStatus.OPEN)


async def _set_status(runtime, workspace_id, item_id, user_id, status: ItemStatus) -> Done:
    async with runtime.sessions.begin() as session:
        # Locked: the move owed is decided from the issue's category as read here.
        item = await item_by_id(session, workspace_id, item_id, to_change=True)
        if item is None:
            return Done(messages.ITEM_GONE)
        title = escape(item.title)
        if item.status == status:
            state = "done" if status is ItemStatus.COMPLETE else "open"
            return Done(f"*{title}* is already {state}.", (item.id,))
        moving = _change(item, status, user_id)
        line = thread_line(item, status, user_id)
        done = Done(_reply(item, status, moving), (item.id,), item.retro_id)
    if moving and item.jira_issue_id:
        runtime.wake_sync()
    await notifier.refresh_items(runtime, workspace_id, done.item_ids)
    if done.retro_id is not None:
        await notifier.post_status_notices(runtime, workspace_id, done.retro_id, [line])
    return done


def thread_line(item: ActionItem, status: ItemStatus, user_id: str) -> str:
    """The retro thread's one line about a click: "✅ TEAM-7 marked done in Slack by @ana ·
    Fix the deploy". It says "in Slack" because the issue's own move in Jira follows, and
    Jira's echo of it posts nothing more; before the item is in Jira, its title leads."""
    link, title = issue_link(item), escape(item.title)
    done = status is ItemStatus.COMPLETE
    mark, did = ("✅", "marked done") if done else ("↩️", "reopened")
    said = f"{did} in Slack by <@{user_id}>"
    return f"{mark} {link} {said} · {title}" if link else f"{mark} *{title}* {said}"


def _change(item: ActionItem, status: ItemStatus, user_id: str) -> bool:
    """Changes the item; True when its issue is owed a move."""
    completing = status is ItemStatus.COMPLETE
    item.status = status
    item.completed_by = None
    item.completed_by_user_id = user_id if completing else None
    item.completed_at = utcnow() if completing else None
    item.transition_note = None
    in_done = item.jira_status_category == DONE_CATEGORY
    # Only a move that changes the issue's category is owed: asking for the opposite of a
    # move still waiting simply cancels it.
    wanted = DONE if completing and not in_done else REOPEN if in_done and not completing else None
    item.jira_transition = wanted
    if wanted and item.jira_issue_id:
        enqueue([item])
    return wanted is not None


def _reply(item: ActionItem, status: ItemStatus, moving: bool) -> str:
    title = f"*{escape(item.title)}*"
    if status is ItemStatus.COMPLETE:
        text = f"Marked {title} done."
        if moving and item.jira_key:
            text += f" Moving {item.jira_key} to Done in Jira; its line shows how that went."
        elif moving:
            text += " Its Jira issue is created as done once it's sent."
        return text
    text = f"Reopened {title}."
    if moving and item.jira_key:
        text += f" Moving {item.jira_key} back to To Do in Jira."
    return text


async def sync_now(runtime: Runtime, workspace_id: int, item_id: int | None) -> Done:
    """Sync to Jira on one line: create or push this item now."""
    async with runtime.sessions() as session:
        item = await item_by_id(session, workspace_id, item_id)
        connection = await connection_for(session, workspace_id)
    if item is None:
        return Done(messages.ITEM_GONE)
    if connection and item.jira_issue_id and not same_site(item, connection.site_url):
        return Done(messages.on_other_site(item.jira_key or "Its issue", item.jira_site_url))
    problem = await jira_problem(runtime, workspace_id, item.channel_id)
    if problem:
        return Done(problem)
    await retry.push_now(runtime, workspace_id, [item.id])
    title = escape(item.title)
    if item.jira_key:
        return Done(f"Pushing *{title}* to {item.jira_key} now.", (item.id,))
    return Done(f"Sending *{title}* to Jira now. Its line shows the key as it arrives.", (item.id,))


async def delete_item(runtime: Runtime, workspace_id: int, item_id: int | None) -> Done:
    """Removes the item from its retro. Its issue, if any, stays in Jira."""
    async with runtime.sessions.begin() as session:
        item = await item_by_id(session, workspace_id, item_id)
        if item is None:
            return Done(messages.ITEM_GONE)
        title = escape(item.title)
        if _create_in_flight(item):
            return Done(ON_ITS_WAY.format(title=title))
        key, retro_id, channel_id = item.jira_key, item.retro_id, item.channel_id
        await session.delete(item)
    if retro_id is not None:
        await notifier.refresh_retro(runtime, workspace_id, retro_id)
    await notifier.refresh_open_retro(runtime, workspace_id, channel_id, but=retro_id)
    if key:
        text = (
            f"Removed *{title}* from the retro. {key} stays in Jira; delete it there if it "
            "shouldn't exist."
        )
    else:
        text = f"Deleted *{title}*."
    return Done(text, retro_id=retro_id, channel_id=channel_id)


async def confirm_delete(
    runtime: Runtime,
    client: AsyncWebClient,
    workspace_id: int,
    trigger_id: str,
    item_id: int | None,
    source: str,
    list_url: str | None = None,
) -> Done | None:
    """Opens the confirmation modal; returns a reply only when the item is gone.
    `list_url`: the response_url of the /retro list message the menu was on, redrawn
    once the item is deleted."""
    async with runtime.sessions() as session:
        item = await item_by_id(session, workspace_id, item_id)
    if item is None:
        return Done(messages.ITEM_GONE)
    redraw = None
    if list_url:
        shown = await retros.list_part(runtime, workspace_id, item.channel_id, item.id)
        redraw = {"list": list_url, "part": shown[0] if shown else 0, "channel": item.channel_id}
    view = delete_modal(item.id, item.title, item.jira_key, source, redraw)
    # From View all, on top of it, so closing returns to it.
    if not await open_modal(client, trigger_id, view, on_top=source == retro_ids.FROM_MODAL):
        return Done(messages.modal_not_opened("confirmation"))
    return None


async def redraw_list(
    runtime: Runtime,
    workspace_id: int,
    channel_id: str,
    response_url: str,
    item_id: int | None,
    part: int = 0,
) -> None:
    """Replaces the ephemeral /retro list message a control was used on (only its
    response_url can: chat.update cannot touch ephemeral messages), so the line shows the
    item's new state, or is gone."""
    shown = await retros.list_part(runtime, workspace_id, channel_id, item_id, part)
    if shown is None:
        return
    webhook = AsyncWebhookClient(response_url, timeout=10, session=runtime.slack_session)
    try:
        answer = await webhook.send_dict({**shown[1], "replace_original": True})
    except (aiohttp.ClientError, TimeoutError) as exc:
        logger.info("/retro list not redrawn: %s", exc)
        return
    if answer.status_code != 200:
        logger.info("/retro list not redrawn: %s %s", answer.status_code, answer.body)


def _create_in_flight(item: ActionItem) -> bool:
    """A create may be under way: deleting now could leave an issue nobody tracks."""
    if item.jira_issue_id or item.sync_state != SyncState.PENDING:
        return False
    claimed = item.claimed_until
    return claimed is not None and claimed > utcnow()
