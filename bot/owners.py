"""Telling owners: each gets one direct message when their items of a commit reach Jira
(not again when a Retry brings the rest). Mentions added by editing the card notify no one,
so this is the message that reaches them."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence

from slack_sdk.errors import SlackApiError

from bot.runtime import Runtime
from bot.views.owner_notice import owner_message
from bot.workspaces import workspace_client
from storage.models import ActionItem, Retro
from storage.owner_notices import claim_owner_notice

logger = logging.getLogger(__name__)


async def tell_owners(
    runtime: Runtime, workspace_id: int, retro_id: int, created: Sequence[ActionItem]
) -> None:
    """A direct message to each owner of `created` not yet told about this commit."""
    by_owner: dict[str, list[ActionItem]] = defaultdict(list)
    for item in sorted(created, key=lambda i: i.id):
        if item.assignee_user_id:
            by_owner[item.assignee_user_id].append(item)
    if not by_owner:
        return
    async with runtime.sessions.begin() as session:
        retro = await session.get(Retro, retro_id)
        if retro is None or retro.workspace_id != workspace_id:
            return
        told = [
            owner
            for owner in by_owner
            if await claim_owner_notice(session, workspace_id, retro_id, retro.commit_seq, owner)
        ]
        title, permalink = retro.title, retro.summary_permalink
    if not told:
        return
    client = await workspace_client(runtime, workspace_id)
    for owner in told:
        try:
            await client.chat_postMessage(
                channel=owner, **owner_message(title, permalink, by_owner[owner])
            )
        except SlackApiError as exc:
            logger.warning("could not tell %s about their items: %s", owner, exc.response["error"])
