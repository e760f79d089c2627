"""Retro rules: start, list, commit, close, and the retros part of App Home.

Every query is scoped by workspace_id; a retro is found by its channel (the open one) or by
an id that must belong to the asking workspace. Functions return the ephemeral reply for
the person who asked, as {"text", "blocks"?}; Slack work after the fact goes through
bot.notifier. Action items (add, edit, the modal) live in bot/action_items.py.
"""

from __future__ import annotations

import logging
from datetime import date

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import messages, notifier
from bot.admins import is_admin
from bot.item_form import clean_text, visible
from bot.runtime import Runtime
from bot.sync.queue import enqueue
from bot.views import item_control_ids as controls
from bot.views import retro_ids as ids
from bot.views.blocks import escape
from bot.views.carry_over import CarriedItem
from bot.views.retro_home import OwnItem, RetroTally, home_section
from bot.views.retro_summary import all_items_modal, list_messages
from bot.views.words import plural
from storage.clock import utcnow
from storage.connection_queries import connection_for
from storage.item_queries import carried_items, own_item_counts, own_open_items
from storage.models import ConnectionStatus, ItemStatus, Retro, RetroPhase, SyncSettings, SyncState
from storage.retro_queries import (
    delete_retro,
    item_counts,
    mark_closed,
    mark_committed,
    open_retro,
    open_retros_of,
    retro_by_id,
    retro_items,
)
from storage.settings_queries import channel_override

logger = logging.getLogger(__name__)

TITLE_MAX = 255
CARRIED_IN_LIST_MAX = 200  # /retro list shows every carried item that fits its messages
HOME_RETROS_MAX = 50  # open retros App Home lists for one person
HOME_ITEMS_MAX = 60  # own open items App Home reads (it shows what fits)
NO_OPEN_RETRO = (
    "There's no open retro in this channel. Start one with `/retro start [title]`, "
    "then add action items with `/retro add [title]`."
)
COMMIT_AGAIN = "Then run `/retro commit` again."
NO_PROJECT = (
    "Jira is connected, but no project is chosen for action items. A workspace admin can pick "
    "the default project (or one for this channel) with `/jira settings`; then run "
    "`/retro commit` again."
)


def reply(text: str, blocks: list[dict] | None = None) -> dict:
    message: dict = {"text": text, "response_type": "ephemeral"}
    if blocks:
        message["blocks"] = blocks
    return message


def describe_open(retro: Retro) -> str:
    title = escape(retro.title)
    name = f"<{retro.summary_permalink}|{title}>" if retro.summary_permalink else f"*{title}*"
    return f"{name} (started by <@{retro.facilitator_user_id}>)"


# -- start ------------------------------------------------------------------------------------


def default_title(today: date) -> str:
    return f"Retro {today:%B} {today.day}, {today.year}"


async def start_retro(
    runtime: Runtime, workspace_id: int, channel_id: str, user_id: str, title: str
) -> dict:
    """Open a retro in the channel and post its summary; one open retro per channel."""
    title = " ".join(clean_text(title).split())
    if not visible(title):
        title = default_title(utcnow().date())
    if len(title) > TITLE_MAX:
        return reply(f"Keep the retro title to {TITLE_MAX} characters (it has {len(title)}).")
    try:
        async with runtime.sessions.begin() as session:
            existing = await open_retro(session, workspace_id, channel_id)
            if existing is not None:
                return _already_open(existing)
            retro = Retro(
                workspace_id=workspace_id,
                channel_id=channel_id,
                title=title,
                facilitator_user_id=user_id,
            )
            session.add(retro)
    except IntegrityError:  # another /retro start won the race (unique open-retro index)
        async with runtime.sessions() as session:
            existing = await open_retro(session, workspace_id, channel_id)
        return _already_open(existing) if existing else reply("Please try `/retro start` again.")
    try:
        await notifier.post_summary(runtime, workspace_id, retro.id)
    except (SlackApiError, LookupError) as exc:
        await _forget(runtime, workspace_id, retro.id)
        return reply(_cannot_post(exc))
    return reply(
        f"Started *{escape(title)}*. Add action items with *Add action item* on the summary "
        "message or `/retro add [title]`; `/retro commit` sends them to Jira."
    )


def _already_open(retro: Retro) -> dict:
    return reply(
        f"This channel already has an open retro: {describe_open(retro)}. "
        "Finish it with `/retro close` before starting another."
    )


def _cannot_post(exc: Exception) -> str:
    error = exc.response.get("error") if isinstance(exc, SlackApiError) else "not installed"
    if error in ("not_in_channel", "channel_not_found", "is_archived"):
        return (
            "I can't post in this channel. Invite me with `/invite @Unpack`, then run "
            "`/retro start` again."
        )
    return f"Slack didn't accept the retro's summary message ({error}). Please try again."


async def _forget(runtime: Runtime, workspace_id: int, retro_id: int) -> None:
    async with runtime.sessions.begin() as session:
        await delete_retro(session, workspace_id, retro_id)


# -- list -------------------------------------------------------------------------------------


async def list_retro(runtime: Runtime, workspace_id: int, channel_id: str) -> list[dict]:
    """/retro list: the open retro's items, in one or more ephemeral messages."""
    async with runtime.sessions() as session:
        retro = await open_retro(session, workspace_id, channel_id)
        if retro is None:
            return [reply(NO_OPEN_RETRO)]
        items = await retro_items(session, workspace_id, retro.id)
        rows, _total = await carried_items(session, retro, CARRIED_IN_LIST_MAX)
    carried = [CarriedItem(item, title) for item, title in rows]
    destination = await notifier.destination(runtime, workspace_id, channel_id)
    return [
        {**message, "response_type": "ephemeral"}
        for message in list_messages(retro, items, retro.summary_permalink, carried, destination)
    ]


async def list_part(
    runtime: Runtime, workspace_id: int, channel_id: str, item_id: int | None, part: int = 0
) -> tuple[int, dict] | None:
    """(index, message) of the /retro list message that shows `item_id` now, else of its
    `part`-th message: what replaces the list message a control was used on, so the line
    shows the item's new state."""
    messages = await list_retro(runtime, workspace_id, channel_id)
    prefixes = (ids.ITEM_BLOCK_PREFIX, controls.CARRIED_BLOCK_PREFIX)
    lines = {ids.item_block_id(item_id or 0, prefix) for prefix in prefixes}
    for index, message in enumerate(messages):
        if any(block.get("block_id") in lines for block in message.get("blocks") or []):
            return index, message
    if 0 <= part < len(messages):
        return part, messages[part]
    return None


# -- View all -------------------------------------------------------------------------------


async def all_items_view(
    runtime: Runtime, workspace_id: int, retro_id: int | None, page: int = 0
) -> dict | None:
    """The View all modal of a retro of this workspace (None when it isn't one)."""
    async with runtime.sessions() as session:
        retro = await retro_by_id(session, workspace_id, retro_id or 0)
        if retro is None:
            return None
        items = await retro_items(session, workspace_id, retro.id)
    return all_items_modal(retro, items, page)


def parse_page(value: object) -> tuple[int | None, int]:
    """A page button's "retro_id:page"."""
    retro_id, _, page = str(value or "").partition(":")
    return ids.parse_id(retro_id), ids.parse_id(page) or 0


# -- commit -----------------------------------------------------------------------------------


async def commit_retro(
    runtime: Runtime,
    workspace_id: int,
    *,
    channel_id: str | None = None,
    retro_id: int | None = None,
) -> dict:
    """Move the retro to the Commit phase and queue its items for Jira in one transaction.

    Items not yet sent (and those whose sync failed) are queued; committing again later
    queues the items added since. Without a working Jira connection nothing
    changes and the person is told who can fix it.
    """
    async with runtime.sessions.begin() as session:
        retro = await _target(session, workspace_id, channel_id, retro_id)
        if retro is None:
            return reply(NO_OPEN_RETRO)
        if retro.phase == RetroPhase.CLOSED:
            return reply(f"*{escape(retro.title)}* is closed; there's nothing to commit.")
        problem = await _jira_not_ready(session, workspace_id, retro.channel_id)
        if problem:
            return reply(problem)
        items = await retro_items(session, workspace_id, retro.id)
        if not items:
            return reply(
                f"*{escape(retro.title)}* has no action items yet. Add some with "
                "*Add action item* or `/retro add`, then commit."
            )
        unsent = [i for i in items if i.sync_state in (SyncState.LOCAL, SyncState.ERROR)]
        first_commit = retro.phase == RetroPhase.COLLECT
        title, retro_id = retro.title, retro.id
        if not await mark_committed(
            session, workspace_id, retro_id, utcnow(), sending=bool(unsent)
        ):
            # Closed since it was read (a close at the same moment): nothing is sent.
            return reply(f"*{escape(title)}* was closed just now; nothing was sent to Jira.")
        queued = enqueue(unsent)
    if queued:
        runtime.wake_sync()
    await notifier.refresh_retro(runtime, workspace_id, retro_id)
    return reply(_committed_text(escape(title), queued, first_commit))


def _committed_text(title: str, queued: int, first_commit: bool) -> str:
    if not queued:
        return f"Everything in *{title}* is already in Jira or on its way."
    items = plural(queued, "action item" if first_commit else "more action item")
    return (
        f"Sending {items} from *{title}* to Jira. The summary message shows each key as it arrives."
    )


async def _target(session, workspace_id, channel_id, retro_id) -> Retro | None:
    if retro_id is not None:
        return await retro_by_id(session, workspace_id, retro_id)
    return await open_retro(session, workspace_id, channel_id or "")


async def _jira_not_ready(session: AsyncSession, workspace_id: int, channel_id: str) -> str | None:
    connection = await connection_for(session, workspace_id)
    if connection is None:
        return f"{messages.NOT_CONNECTED} {COMMIT_AGAIN}"
    if connection.status != ConnectionStatus.ACTIVE:
        reason = connection.broken_reason or "credentials revoked"
        return (
            f"The Jira connection needs attention ({reason}). "
            f"{messages.reconnect(connection.method)} {COMMIT_AGAIN}"
        )
    settings = await session.get(SyncSettings, workspace_id)
    override = await channel_override(session, workspace_id, channel_id)
    if override is None and (settings is None or not settings.project_id):
        return NO_PROJECT
    return None


# -- close ------------------------------------------------------------------------------------


async def close_retro(
    runtime: Runtime,
    client: AsyncWebClient,
    workspace_id: int,
    team_id: str,
    channel_id: str,
    user_id: str,
) -> dict:
    """Close the channel's open retro (facilitator or admin). Its items keep syncing."""
    async with runtime.sessions() as session:
        retro = await open_retro(session, workspace_id, channel_id)
    if retro is None:
        return reply(NO_OPEN_RETRO)
    facilitator = retro.facilitator_user_id == user_id
    if not facilitator and not await is_admin(runtime, client, team_id, user_id):
        return reply(
            f"Only the retro's facilitator (<@{retro.facilitator_user_id}>) or a workspace "
            "admin can close it."
        )
    async with runtime.sessions.begin() as session:
        closed = await mark_closed(session, workspace_id, retro.id, utcnow())
    if not closed:  # closed meanwhile (two closes at once): that one says so in the thread
        return reply("That retro is already closed.")
    await notifier.refresh_retro(runtime, workspace_id, retro.id)
    await notifier.post_in_retro_thread(
        runtime, workspace_id, retro.id, f"<@{user_id}> closed this retro."
    )
    return reply(
        f"Closed *{escape(retro.title)}*. Its action items keep their Jira status up to date. "
        "Start the next retro with `/retro start`."
    )


# -- App Home ---------------------------------------------------------------------------------


async def home_retros(runtime: Runtime, workspace_id: int, user_id: str) -> list[dict]:
    """App Home for everyone: open retros the user takes part in and their own items."""
    async with runtime.sessions() as session:
        tallies = await _my_open_retros(session, workspace_id, user_id)
        own, open_total, completed = await _my_items(session, workspace_id, user_id)
    return home_section(tallies, own, completed, open_total)


async def _my_open_retros(session, workspace_id: int, user_id: str) -> list[RetroTally]:
    retros = await open_retros_of(session, workspace_id, user_id, HOME_RETROS_MAX)
    if not retros:
        return []
    counts = await item_counts(session, workspace_id, [r.id for r in retros], user_id)
    return [RetroTally(r, *counts.get(r.id, (0, 0))) for r in retros]


async def _my_items(session, workspace_id: int, user_id: str) -> tuple[list[OwnItem], int, int]:
    """The user's open items (soonest due first, at most what Home can show), how many open
    items they have in all, and how many are complete."""
    rows = await own_open_items(session, workspace_id, user_id, HOME_ITEMS_MAX)
    own = [OwnItem(item, title) for item, title in rows]
    by_status = await own_item_counts(session, workspace_id, user_id)
    return own, by_status.get(ItemStatus.OPEN, 0), by_status.get(ItemStatus.COMPLETE, 0)
