"""Starting syncs again by hand: a Retry button (one item), `/jira retry` (every item in
sync-error state) and Sync to Jira (push now). Each starts again from attempt 1, and an
item whose create may have reached Jira is looked for before anything is sent."""

from __future__ import annotations

from dataclasses import dataclass

from bot import messages, notifier
from bot.runtime import Runtime
from bot.sync.queue import enqueue, queued_now
from bot.sync.transitions import DONE
from bot.views import retro_ids
from bot.views.blocks import escape
from bot.views.words import plural
from storage.item_queries import (
    all_failed,
    failed_in_retro,
    forget_deleted_issue,
    item_by_id,
    items_by_ids,
)
from storage.models import ActionItem, ItemStatus, SyncState, new_sync_label


@dataclass(frozen=True)
class Queued:
    text: str  # the confirmation for the person who asked
    item_ids: tuple[int, ...] = ()


def _on_its_way(title: str, item_id: int) -> Queued:
    return Queued(f"*{title}* is already on its way to Jira.", (item_id,))


async def retry_item(runtime: Runtime, workspace_id: int, item_id: int | None) -> Queued:
    """A Retry button: the item (of this workspace only) is queued from attempt 1."""
    async with runtime.sessions.begin() as session:
        item = await item_by_id(session, workspace_id, item_id)
        if item is None:
            return Queued(messages.ITEM_GONE)
        title = escape(item.title)
        if item.sync_state == SyncState.PENDING and not item.attempts:
            return _on_its_way(title, item.id)
        if item.sync_state == SyncState.SYNCED and item.revision <= item.synced_revision:
            return Queued(f"*{title}* is already in Jira as {item.jira_key}.", (item.id,))
        enqueue([item])
    await _after_queueing(runtime, workspace_id, [item.id])
    return Queued(f"Trying *{title}* again. Its line shows how it goes.", (item.id,))


async def retry_failed(runtime: Runtime, workspace_id: int, value: object) -> Queued:
    """The card's Retry for one cause ("retro_id:kind"): every item of that retro that
    failed for that cause is queued again."""
    retro_part, _, kind = str(value or "").partition(":")
    retro_id = retro_ids.parse_id(retro_part)
    async with runtime.sessions.begin() as session:
        items = await failed_in_retro(session, workspace_id, retro_id or 0, kind)
        enqueue(items)
    if not items:
        return Queued("Those action items are already on their way to Jira, or in it.")
    await _after_queueing(runtime, workspace_id, [i.id for i in items])
    text = f"Sending {plural(len(items), 'action item')} to Jira again. The card shows how it goes."
    return Queued(text, tuple(i.id for i in items))


async def create_again(runtime: Runtime, workspace_id: int, item_id: int | None) -> Queued:
    """Create again, on an item whose issue was deleted in Jira: one new issue. The old
    key is forgotten in the same statement that checks it was deleted, so a second click
    (or a second process) finds nothing to do."""
    async with runtime.sessions.begin() as session:
        item = await item_by_id(session, workspace_id, item_id)
        if item is None:
            return Queued(messages.ITEM_GONE)
        title = escape(item.title)
        if item.jira_deleted_at is None:
            return _on_its_way(title, item.id)
        # A done item's new issue is moved to Done once created; a note about the old
        # issue no longer applies.
        move = DONE if item.status == ItemStatus.COMPLETE else None
        forgotten = await forget_deleted_issue(
            session,
            item.id,
            sync_label=new_sync_label(),
            jira_transition=move,
            transition_note=None,
            **queued_now(),
        )
        if not forgotten:
            return _on_its_way(title, item.id)
    await _after_queueing(runtime, workspace_id, [item.id])
    return Queued(f"Creating *{title}* in Jira again. Its line shows the new key.", (item.id,))


async def retry_all(runtime: Runtime, workspace_id: int) -> int:
    """/jira retry: every item in sync-error state; returns how many were queued."""
    async with runtime.sessions.begin() as session:
        items = await all_failed(session, workspace_id)
        enqueue(items)
    await _after_queueing(runtime, workspace_id, [i.id for i in items])
    return len(items)


async def push_now(runtime: Runtime, workspace_id: int, item_ids: list[int]) -> list[ActionItem]:
    """Sync to Jira on existing items: create or push them now, whatever their state."""
    async with runtime.sessions.begin() as session:
        items = await items_by_ids(session, workspace_id, item_ids)
        enqueue(items)
    await _after_queueing(runtime, workspace_id, [i.id for i in items])
    return items


async def _after_queueing(runtime: Runtime, workspace_id: int, item_ids: list[int]) -> None:
    if not item_ids:
        return
    runtime.wake_sync()
    await notifier.refresh_items(runtime, workspace_id, item_ids)
