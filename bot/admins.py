"""Who counts as an admin: a Slack workspace admin, owner or primary owner.

The answer comes from users.info, never from the payload (payloads carry no role). It is
cached for a minute per (team, user) (ProcessState.admin_roles) because admin commands
check it before ack(); a minute is also how long a demoted admin keeps their rights here.
When Slack cannot answer (429, an error, too slow), nobody is told they are not an admin:
they are asked to retry.
"""

from __future__ import annotations

import asyncio
import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import ack_budget
from bot.runtime import Runtime

logger = logging.getLogger(__name__)


async def is_admin(runtime: Runtime, client: AsyncWebClient, team_id: str, user_id: str) -> bool:
    """True or False; False also when Slack could not say (fail closed)."""
    return bool(await admin_role(runtime, client, team_id, user_id))


async def admin_role(
    runtime: Runtime, client: AsyncWebClient, team_id: str, user_id: str
) -> bool | None:
    """Whether the user is an admin; None when Slack could not say (not cached)."""
    key, cache = (team_id, user_id), runtime.state.admin_roles
    cached = cache.get(key)
    if cached is not None:
        return cached
    try:
        response = await asyncio.wait_for(client.users_info(user=user_id), ack_budget.ADMIN_LOOKUP)
    except (SlackApiError, TimeoutError):
        logger.warning("users.info failed for %s/%s; could not check the role", team_id, user_id)
        return None
    user = response.get("user") or {}
    admin = bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
    cache.put(key, admin)
    return admin


async def user_email(client: AsyncWebClient, user_id: str) -> str | None:
    """The Slack profile email (needs users:read.email); None for bots and hidden emails."""
    try:
        response = await client.users_info(user=user_id)
    except SlackApiError:
        return None
    return ((response.get("user") or {}).get("profile") or {}).get("email") or None
