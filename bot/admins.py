"""Who counts as an admin: a Slack workspace admin, owner or primary owner.

The answer comes from users.info, never from the payload (payloads carry no role). It is
cached for a few minutes per (team, user) because admin commands check it before ack().
"""

from __future__ import annotations

import asyncio
import logging
import time

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import ack_budget
from bot.runtime import Runtime

logger = logging.getLogger(__name__)

ADMIN_ONLY = "Only workspace admins and owners can do that. Ask one of them to run it for you."
CACHE_SECONDS = 300


async def is_admin(runtime: Runtime, client: AsyncWebClient, team_id: str, user_id: str) -> bool:
    key, cache = (team_id, user_id), runtime.state.admin_roles
    cached = cache.get(key)
    if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1]
    try:
        response = await asyncio.wait_for(client.users_info(user=user_id), ack_budget.ADMIN_LOOKUP)
    except (SlackApiError, TimeoutError):
        logger.warning("users.info failed for %s/%s; treating as non-admin", team_id, user_id)
        return False  # fail closed, and do not cache a failure
    user = response.get("user") or {}
    admin = bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
    cache[key] = (time.monotonic(), admin)
    return admin


async def user_email(client: AsyncWebClient, user_id: str) -> str | None:
    """The Slack profile email (needs users:read.email); None for bots and hidden emails."""
    try:
        response = await client.users_info(user=user_id)
    except SlackApiError:
        return None
    return ((response.get("user") or {}).get("profile") or {}).get("email") or None
