"""Due-date reminders: at 09:00 in the assignee's Slack time zone (users.info `tz`) on an
open item's due date, the assignee gets one direct message.

A periodic job looks at the open items due around today (time zones span a day either
side of UTC). An item whose assignee's local time has reached 09:00 on its due date is
claimed in the database for that date (a compare-and-set on `due_reminded_on`) before the
message goes out, so however many processes run the job, and however often they restart,
one message is sent per item and due date. A message Slack refuses gives its claim back
and is tried on the next run (until the day is over).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk.errors import SlackApiError

from bot.runtime import Runtime
from bot.views.due_reminder import reminder_message
from bot.workspaces import bot_client
from storage.clock import utcnow
from storage.item_queries import claim_reminder, due_between, release_reminder
from storage.models import ActionItem, Workspace
from storage.retro_queries import retro_title

logger = logging.getLogger(__name__)

REMINDER_HOUR = 9
CHECK_EVERY_SECONDS = 60
ITEMS_PER_RUN = 500
UTC_SPREAD = timedelta(hours=14)  # the farthest any time zone is from UTC


class _People:
    """Time zones of assignees, read once per run per person."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.clients: dict[int, object] = {}
        self.zones: dict[tuple[int, str], ZoneInfo] = {}

    async def client(self, workspace_id: int):
        if workspace_id not in self.clients:
            async with self.runtime.sessions() as session:
                workspace = await session.get(Workspace, workspace_id)
            try:
                self.clients[workspace_id] = bot_client(self.runtime, workspace)
            except (LookupError, AttributeError):
                self.clients[workspace_id] = None
        return self.clients[workspace_id]

    async def zone(self, workspace_id: int, user_id: str) -> ZoneInfo | None:
        key = (workspace_id, user_id)
        if key not in self.zones:
            client = await self.client(workspace_id)
            if client is None:
                return None
            try:
                user = (await client.users_info(user=user_id)).get("user") or {}
                self.zones[key] = ZoneInfo(user.get("tz") or "UTC")
            except (SlackApiError, ZoneInfoNotFoundError, ValueError) as exc:
                logger.info("no time zone for %s: %s", user_id, exc)
                self.zones[key] = ZoneInfo("UTC")
        return self.zones[key]


def reminder_due(item: ActionItem, zone: ZoneInfo, now: datetime) -> bool:
    """The assignee's morning of the due date has come (and the day is not over)."""
    local = now.astimezone(zone)
    return local.date() == item.due_date and local.hour >= REMINDER_HOUR


async def send_due_reminders(runtime: Runtime) -> int:
    """One run of the job; returns how many reminders this process sent."""
    now = utcnow()
    async with runtime.sessions() as session:
        items = await due_between(
            session, (now - UTC_SPREAD).date(), (now + UTC_SPREAD).date(), ITEMS_PER_RUN
        )
    people, sent = _People(runtime), 0
    for item in items:
        zone = await people.zone(item.workspace_id, item.assignee_user_id)
        if zone is None or not reminder_due(item, zone, now):
            continue
        if await _remind(runtime, people, item):
            sent += 1
    return sent


async def _remind(runtime: Runtime, people: _People, item: ActionItem) -> bool:
    async with runtime.sessions.begin() as session:
        if not await claim_reminder(session, item.id, item.due_date):
            return False  # another process (or an earlier run) has it
        title = (
            await retro_title(session, item.workspace_id, item.retro_id) if item.retro_id else None
        )
    client = await people.client(item.workspace_id)
    try:
        await client.chat_postMessage(
            channel=item.assignee_user_id, **reminder_message(item, title)
        )
    except SlackApiError as exc:
        logger.warning("due reminder for item %s not sent: %s", item.id, exc.response.get("error"))
        async with runtime.sessions.begin() as session:
            await release_reminder(session, item.id, item.due_date)
        return False
    return True
