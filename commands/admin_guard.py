"""The one admin guard: a Bolt listener middleware for everything only admins may do.

The caller's role comes from users.info (bot.admins), never from the payload, and it is
checked before the listener runs, so a member's forged command, click or submission
reaches no listener and changes nothing. The refusal has one wording (ADMIN_ONLY), shown
where the person acted: the command's reply, the modal's field, or next to the button.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from slack_sdk.errors import SlackApiError

from bot import ack_budget
from bot.admins import admin_role
from bot.messages import ADMIN_ONLY, COULD_NOT_CHECK_ADMIN

logger = logging.getLogger(__name__)


def admin_only(*, errors_on: str | None = None, when: Callable[[dict], bool] | None = None):
    """A listener middleware letting only admins through. `errors_on`: the block of a modal
    that shows the refusal; `when`: which requests need an admin (default: all)."""

    async def guard(ack, body, context, client, next):
        if when is not None and not when(body):
            return await next()
        user_id = body.get("user_id") or (body.get("user") or {}).get("id")
        role = await admin_role(context["runtime"], client, context.team_id, user_id)
        if role:
            return await next()
        text = ADMIN_ONLY if role is False else COULD_NOT_CHECK_ADMIN
        return await _refuse(ack, body, client, user_id, errors_on, text)

    return guard


async def _refuse(ack, body, client, user_id: str, errors_on: str | None, text: str):
    if body.get("type") == "view_submission":
        return await ack(response_action="errors", errors={errors_on: text})
    if body.get("type") != "block_actions":  # a slash command
        return await ack(text=text)
    response = await ack()
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    if channel:
        notice = client.chat_postEphemeral(channel=channel, user=user_id, text=text)
    else:  # App Home: no channel, so a direct message
        notice = client.chat_postMessage(channel=user_id, text=text)
    try:
        await asyncio.wait_for(notice, ack_budget.REFUSAL_NOTICE)
    except (SlackApiError, TimeoutError):
        logger.warning("could not tell %s that only admins can do that", user_id)
    return response
