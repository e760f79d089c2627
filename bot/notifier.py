"""The one notifier: everything the app tells Slack after the fact goes through here, so a
sync result, a webhook and an edit all refresh the same surfaces the same way.

Surfaces are always rendered from the database at send time, so when several refreshes
of one retro overlap, the last state wins. Failures to reach Slack are logged, never
raised into the caller's work (a sync or a webhook must not fail because a message
could not be edited); `post_summary` is the exception, because /retro start must know,
and so is `post_status_notices`, whose caller owes the lines. Summary refreshes and
thread messages are tried again through Slack's 5xx and 429 answers (bot/slack_retry.py).
Changes that come in bursts (Jira's) refresh summaries at Slack's pace for chat.update
(refresh_paced, bot/summary_pace.py); a person's own change is shown at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.runtime import Runtime
from bot.slack_retry import OWED_AFTER, until_accepted, worth_retrying
from bot.sync.targets import targets_for
from bot.views.blocks import escape
from bot.views.carry_over import NOTHING, CarriedItem, CarriedOver
from bot.views.carry_over import SHOWN_MAX as CARRIED_SHOWN_MAX
from bot.views.retro_items import item_message
from bot.views.retro_summary import Destination, emptied_continuation, summary_message
from bot.views.words import plural
from bot.workspaces import bot_client, workspace_client
from storage.clock import utcnow
from storage.connection_queries import connected_by, connection_for
from storage.item_queries import carried_items, item_by_id, item_places
from storage.models import (
    ActionItem,
    ConnectionStatus,
    ItemStatus,
    Retro,
    RetroPhase,
    Workspace,
)
from storage.owner_notices import claim_all_done
from storage.retro_queries import (
    clear_summary_owed,
    drop_summary_owed,
    open_retros_in_channels,
    owed_summaries,
    retro_by_id,
    retro_items,
    retro_thread,
    set_summary_owed,
)

logger = logging.getLogger(__name__)

# What until_accepted raises when Slack could not be reached at all, its tries spent.
UNREACHABLE = (aiohttp.ClientError, TimeoutError)
NOTICE_LINES_PER_MESSAGE = 25  # status lines in one thread reply (Slack shows ~40k characters)


async def _carried(session, retro: Retro) -> CarriedOver:
    """What the retro's summary shows from the channel's earlier retros (none once closed)."""
    if retro.phase == RetroPhase.CLOSED:
        return NOTHING
    rows, total = await carried_items(session, retro, CARRIED_SHOWN_MAX)
    return CarriedOver(tuple(CarriedItem(item, title) for item, title in rows), total)


@dataclass(frozen=True)
class Shared:
    """What every retro one refresh re-renders shares: the workspace's Slack client and
    where each channel's items go (read once for all of them, not once per retro)."""

    client: AsyncWebClient
    destinations: dict[str, Destination]


async def destination(runtime: Runtime, workspace_id: int, channel_id: str) -> Destination:
    """Where the channel's items go in Jira, as the card (and /retro list) says it."""
    async with runtime.sessions() as session:
        return (await _destinations(session, workspace_id, {channel_id}))[channel_id]


async def _destinations(session, workspace_id: int, channels: set[str]) -> dict[str, Destination]:
    targets = await targets_for(session, workspace_id, channels)
    connection = await connection_for(session, workspace_id)
    reconnect = messages.connect_command(connection.method if connection else None)
    if connection is None or connection.status != ConnectionStatus.ACTIVE:
        return {channel: Destination(reconnect=reconnect) for channel in channels}
    return {
        channel: Destination(
            target.project_key if target else None,
            target.issue_type_name if target else None,
            connection.account_name,
            reconnect,
        )
        for channel, target in targets.items()
    }


async def _shared(runtime: Runtime, session, workspace_id: int, channels: set[str]):
    """Shared, or None when the workspace is gone (each render then says why)."""
    workspace = await session.get(Workspace, workspace_id)
    if workspace is None:
        return None
    try:
        client = bot_client(runtime, workspace)
    except LookupError:
        return None
    return Shared(client, await _destinations(session, workspace_id, channels))


@dataclass(frozen=True)
class _Read:
    """What a summary shows, read in one session (one connection checkout): the retro,
    its items, the workspace's client, where its items go and what it carries over."""

    retro: Retro
    items: list[ActionItem]
    client: AsyncWebClient | None = None
    going: Destination | None = None
    carried: CarriedOver = NOTHING

    def card(self) -> dict:
        return summary_message(self.retro, self.items, self.going, self.carried)


async def _read_summary(
    runtime: Runtime,
    workspace_id: int,
    retro_id: int,
    shared: Shared | None = None,
    *,
    posting: bool = False,
) -> _Read | None:
    """The retro's summary as the database holds it; only the retro and its items when it
    has no summary message to show them in (unless `posting` it). None when the retro is
    gone; LookupError when the workspace is (or has uninstalled the app)."""
    async with runtime.sessions() as session:
        retro = await retro_by_id(session, workspace_id, retro_id)
        if retro is None:
            return None
        items = await retro_items(session, workspace_id, retro_id)
        if not retro.summary_ts and not posting:
            return _Read(retro, items)
        channel = retro.channel_id
        if shared is None or channel not in shared.destinations:
            shared = await _shared(runtime, session, workspace_id, {channel})
        if shared is None:
            raise LookupError(f"no workspace {workspace_id} to show retro {retro_id} in")
        carried = await _carried(session, retro)
    return _Read(retro, items, shared.client, shared.destinations[channel], carried)


# -- the summary message ---------------------------------------------------------------------


async def post_summary(runtime: Runtime, workspace_id: int, retro_id: int) -> None:
    """Post a new retro's summary message in its channel and remember its ts and permalink.
    Raises SlackApiError (or LookupError when the app is uninstalled) so the caller can
    tell the person why the retro could not start."""
    read = await _read_summary(runtime, workspace_id, retro_id, posting=True)
    if read is None:
        raise LookupError(f"no retro {retro_id}")
    client = read.client
    posted = await client.chat_postMessage(channel=read.retro.channel_id, **read.card())
    ts, channel = posted["ts"], posted["channel"]
    permalink = None
    try:
        permalink = (await client.chat_getPermalink(channel=channel, message_ts=ts))["permalink"]
    except SlackApiError as exc:
        logger.warning("chat.getPermalink failed for retro %s: %s", retro_id, _error(exc))
    async with runtime.sessions.begin() as session:
        stored = await session.get(Retro, retro_id)
        stored.summary_ts = ts
        stored.summary_permalink = permalink


async def refresh_retro(
    runtime: Runtime, workspace_id: int, retro_id: int, shared: Shared | None = None
) -> bool:
    """Re-render the retro's summary message. True when this render read an item still
    open (so the retro is not all done as of now)."""
    # Per retro, one render at a time, and the number of refreshes asked for since the
    # last render began: a refresh that finds it at zero was covered by a render that
    # started after it was asked for.
    key, wanted = (workspace_id, retro_id), runtime.state.renders_wanted
    renders = runtime.state.retro_renders
    runtime.state.summary_pace.edited(key)  # before any await: refresh_paced relies on it
    wanted[key] = wanted.get(key, 0) + 1
    try:
        async with renders(key):
            if not wanted.get(key):
                return False  # a render that started after this request showed its state
            wanted[key] = 0
            began = utcnow()
            try:
                return await _render_retro(runtime, workspace_id, retro_id, shared)
            except (SlackApiError, LookupError, *UNREACHABLE) as exc:
                logger.warning("could not refresh retro %s: %s", retro_id, _error(exc))
                await _refused(runtime, workspace_id, retro_id, exc, began)
                return False
    finally:
        if key not in renders:  # nobody waits to render this retro: forget its count
            wanted.pop(key, None)


async def _refused(runtime: Runtime, workspace_id: int, retro_id: int, exc, began) -> None:
    """A 5xx or 429 past its retries, or Slack not reached: still owed
    (refresh_owed_summaries). A refusal that
    no retry can change (the message or its channel gone, the app uninstalled, a
    LookupError): owed no more, or the job would try it every minute for ever, oldest
    first, ahead of every summary owed after it. A mark written since the render began
    (an edit deferred meanwhile) stays: that edit may yet be shown."""
    still_owed = isinstance(exc, SlackApiError) and worth_retrying(exc)
    if still_owed or isinstance(exc, UNREACHABLE):
        await _summary_owed(runtime, workspace_id, retro_id, utcnow())
        return
    async with runtime.sessions.begin() as session:
        await drop_summary_owed(session, workspace_id, retro_id, began)


async def refresh_paced(
    runtime: Runtime,
    workspace_id: int,
    retro_id: int,
    shared: Shared | None = None,
    *,
    all_done: bool = False,
) -> bool | None:
    """refresh_retro within the summary's pace (bot/summary_pace.py): at once when the
    summary was not edited lately (refresh_retro's answer), else None: one trailing edit
    is due, which renders what the database holds when it is sent (and, `all_done`, then
    says so in the thread if the retro's last item is done)."""
    pace, key = runtime.state.summary_pace, (workspace_id, retro_id)
    if key in pace.trailing:  # not begun yet: it will read this change
        pace.trailing[key] |= all_done
        return None
    if pace.wait(key) <= 0:
        return await refresh_retro(runtime, workspace_id, retro_id, shared)
    pace.trailing[key] = all_done
    task = asyncio.create_task(_trailing(runtime, key), name="summary-trailing-edit")
    pace.tasks.add(task)
    task.add_done_callback(pace.tasks.discard)
    return None


async def _trailing(runtime: Runtime, key: tuple[int, int]) -> None:
    pace, (workspace_id, retro_id) = runtime.state.summary_pace, key
    try:
        # Owed until sent: should this process die first, refresh_owed_summaries sends it.
        await _summary_owed(runtime, workspace_id, retro_id, utcnow())
        while (wait := pace.wait(key)) > 0:
            await pace.sleep(wait)
        all_done = pace.trailing.pop(key)
        if not await refresh_retro(runtime, workspace_id, retro_id) and all_done:
            await _say_if_all_done(runtime, workspace_id, retro_id)
    except Exception:
        logger.exception("the trailing refresh of retro %s failed", retro_id)
    finally:
        pace.trailing.pop(key, None)


async def _render_retro(
    runtime: Runtime, workspace_id: int, retro_id: int, shared: Shared | None
) -> bool:
    """Whether an item read for the render is still open."""
    read = await _read_summary(runtime, workspace_id, retro_id, shared)
    if read is None:
        return False
    retro = read.retro
    open_seen = any(item.status == ItemStatus.OPEN for item in read.items)
    if not retro.summary_ts:
        return open_seen
    client, card = read.client, read.card()
    await until_accepted(
        lambda: client.chat_update(channel=retro.channel_id, ts=retro.summary_ts, **card),
        base_seconds=runtime.settings.slack_retry_base_seconds,
    )
    if retro.summary_owed_at is not None:
        # Only the mark this render read: one written since (an edit deferred meanwhile,
        # here or in another process) stays, for the job to send should that edit die.
        async with runtime.sessions.begin() as session:
            await clear_summary_owed(session, workspace_id, retro_id, retro.summary_owed_at)
    if retro.overflow_ts:
        # Earlier versions continued long retros in thread replies; the card now holds
        # them all (View all), so those replies say so once and are forgotten.
        for ts in retro.overflow_ts:
            await client.chat_update(channel=retro.channel_id, ts=ts, **emptied_continuation(retro))
        await _save_overflow(runtime, retro_id, [])
    return open_seen


async def _summary_owed(runtime: Runtime, workspace_id: int, retro_id: int, at) -> None:
    async with runtime.sessions.begin() as session:
        await set_summary_owed(session, workspace_id, retro_id, at)


async def refresh_owed_summaries(runtime: Runtime, *, limit: int = 200) -> int:
    """Scheduler job: render again the summaries whose refresh Slack kept refusing, or
    whose deferred edit a dead process never sent, so each ends up showing the truth.
    Only those owed for OWED_AFTER: a younger mark is a trailing edit still waiting out
    its pace, and another process would edit the summary at once, beside it. Returns how
    many were tried."""
    async with runtime.sessions() as session:
        owed = await owed_summaries(session, utcnow() - OWED_AFTER, limit)
    for workspace_id, retro_id in owed:
        await refresh_paced(runtime, workspace_id, retro_id)
    return len(owed)


async def _save_overflow(runtime: Runtime, retro_id: int, overflow: list[str]) -> None:
    async with runtime.sessions.begin() as session:
        stored = await session.get(Retro, retro_id)
        stored.overflow_ts = list(overflow) or None


# -- items -----------------------------------------------------------------------------------


async def refresh_items(
    runtime: Runtime, workspace_id: int, item_ids: Iterable[int], *, paced: bool = False
) -> None:
    """Re-render every Slack surface that shows these items: their retro's summary message
    (chat.update) and an item's own message (items made by Sync to Jira outside a retro).
    `paced`: summaries within their pace (refresh_paced), for changes that come in bursts
    (Jira's); a person's own change is shown at once."""
    ids = sorted(set(item_ids))
    if not ids:
        return
    async with runtime.sessions() as session:
        rows = await item_places(session, workspace_id, ids)
        # A newer open retro in the same channel shows these items as carried over.
        channels = {row.channel_id for row in rows if row.retro_id}
        newer = await open_retros_in_channels(session, workspace_id, channels) if channels else []
        shared = await _shared(runtime, session, workspace_id, channels) if channels else None
    own = {row.retro_id for row in rows if row.retro_id}
    still_open, later = set(), set()
    for retro_id in sorted(own | set(newer)):
        if not paced:
            shown = await refresh_retro(runtime, workspace_id, retro_id, shared)
        else:
            shown = await refresh_paced(
                runtime, workspace_id, retro_id, shared, all_done=retro_id in own
            )
        if shown:
            still_open.add(retro_id)
        elif shown is None:
            later.add(retro_id)  # its trailing edit asks whether it is all done
    # A retro whose render, read after these changes, showed an open item is not all done
    # now: no write transaction to ask (a later completion's refresh asks again).
    for retro_id in sorted(own - still_open - later):
        await _say_if_all_done(runtime, workspace_id, retro_id)
    for row in rows:
        if row.retro_id is None and row.message_ts:
            await _refresh_item_message(runtime, workspace_id, row.id)


async def refresh_open_retro(
    runtime: Runtime, workspace_id: int, channel_id: str, *, but: int | None = None
) -> None:
    """Re-render the channel's open retro (it may show an earlier retro's items), unless
    it is `but`, which the caller refreshed already."""
    async with runtime.sessions() as session:
        found = await open_retros_in_channels(session, workspace_id, {channel_id})
    for retro_id in found:
        if retro_id != but:
            await refresh_retro(runtime, workspace_id, retro_id)


async def _item(runtime: Runtime, workspace_id: int, item_id: int) -> ActionItem | None:
    async with runtime.sessions() as session:
        return await item_by_id(session, workspace_id, item_id)


async def _refresh_item_message(runtime: Runtime, workspace_id: int, item_id: int) -> None:
    item = await _item(runtime, workspace_id, item_id)
    if item is None or not item.message_ts:
        return
    try:
        client = await workspace_client(runtime, workspace_id)
        await client.chat_update(channel=item.channel_id, ts=item.message_ts, **item_message(item))
    except (SlackApiError, LookupError) as exc:
        logger.warning("could not refresh item %s: %s", item_id, _error(exc))


async def post_item_message(
    runtime: Runtime, workspace_id: int, item_id: int, *, thread_ts: str | None = None
) -> str | None:
    """Give an item outside any retro a message of its own in its channel (Sync to Jira),
    remember its ts, and return it. Later refreshes edit that message."""
    item = await _item(runtime, workspace_id, item_id)
    if item is None:
        return None
    try:
        client = await workspace_client(runtime, workspace_id)
        posted = await client.chat_postMessage(
            channel=item.channel_id, thread_ts=thread_ts, **item_message(item)
        )
    except (SlackApiError, LookupError) as exc:
        logger.warning("could not post item %s: %s", item_id, _error(exc))
        return None
    async with runtime.sessions.begin() as session:
        stored = await session.get(ActionItem, item_id)
        stored.message_ts = posted["ts"]
    return posted["ts"]


async def _say_if_all_done(runtime: Runtime, workspace_id: int, retro_id: int) -> None:
    """Once per retro, when its last open item is done: one line in its thread."""
    async with runtime.sessions.begin() as session:
        count = await claim_all_done(session, workspace_id, retro_id)
        retro = await session.get(Retro, retro_id) if count else None
    if retro is None:
        return
    title = escape(retro.title)
    text = (
        f"🎉 The action item of *{title}* is done."
        if count == 1
        else f"🎉 All {plural(count, 'action item')} of *{title}* are done."
    )
    await post_in_retro_thread(runtime, workspace_id, retro_id, text)


# -- threads and admins ----------------------------------------------------------------------


async def post_in_retro_thread(
    runtime: Runtime, workspace_id: int, retro_id: int, text: str
) -> str | None:
    """A threaded reply under the retro's summary message (in the channel when the summary
    is missing). Returns the reply's ts, or None when Slack could not be reached."""
    thread = await _thread(runtime, workspace_id, retro_id)
    if thread is None:
        return None
    try:
        return await _send_under(runtime, workspace_id, thread, text)
    except (SlackApiError, LookupError) as exc:
        logger.warning("could not post in retro %s's thread: %s", retro_id, _error(exc))
        return None


async def post_status_notices(
    runtime: Runtime,
    workspace_id: int,
    retro_id: int,
    lines: list[str],
    *,
    client: AsyncWebClient | None = None,
    sent: Callable[[int], None] | None = None,
) -> None:
    """Items finished or reopened, a line each, in as few thread replies as fit, each
    ending with the retro's tally as it is now: "… (3 of 5 done)".

    The caller owes these lines, so what Slack refused in the end is raised
    (SlackApiError; LookupError when uninstalled) for it to keep them owed; `sent(n)` is
    told after each reply Slack took, with how many of the lines it held (for a caller
    that must know which lines went out). `client`: the workspace's, when the caller has
    it."""
    thread = await _thread(runtime, workspace_id, retro_id) if lines else None
    if thread is None:
        return
    tally = f" ({thread.done} of {thread.items} done)"
    for start in range(0, len(lines), NOTICE_LINES_PER_MESSAGE):
        part = lines[start : start + NOTICE_LINES_PER_MESSAGE]
        await _send_under(runtime, workspace_id, thread, "\n".join(part) + tally, client)
        if sent is not None:
            sent(len(part))


async def _thread(runtime: Runtime, workspace_id: int, retro_id: int):
    """retro_thread's row: where the retro's replies go, and its tally as it is now."""
    async with runtime.sessions() as session:
        return await retro_thread(session, workspace_id, retro_id)


async def _send_under(runtime: Runtime, workspace_id: int, thread, text: str, client=None) -> str:
    """A reply under the retro's summary (`thread`: its channel_id and summary_ts), tried
    again through Slack's 5xx and 429 answers; raises what Slack refused in the end."""
    client = client or await workspace_client(runtime, workspace_id)
    posted = await until_accepted(
        lambda: client.chat_postMessage(
            channel=thread.channel_id, thread_ts=thread.summary_ts, text=text
        ),
        base_seconds=runtime.settings.slack_retry_base_seconds,
    )
    return posted["ts"]


async def tell_admins(runtime: Runtime, workspace_id: int, text: str) -> None:
    """A direct message to the people who administer the integration (the installer and
    whoever connected Jira)."""
    async with runtime.sessions() as session:
        workspace = await session.get(Workspace, workspace_id)
        admin = await connected_by(session, workspace_id)
    if workspace is None:
        return
    people = [u for u in dict.fromkeys([workspace.installer_user_id, admin]) if u]
    if not people:
        logger.warning("workspace %s has no admin to tell: %s", workspace_id, text[:80])
        return
    try:
        client = bot_client(runtime, workspace)
    except LookupError as exc:
        logger.warning("cannot tell admins of workspace %s: %s", workspace_id, exc)
        return
    for user_id in people:
        try:
            await client.chat_postMessage(channel=user_id, text=text)
        except SlackApiError as exc:
            logger.warning("could not DM %s: %s", user_id, _error(exc))


def _error(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error"))
    return str(exc)
