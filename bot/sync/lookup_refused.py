"""Telling the admins, once, that Slack will not say who has an email.

Jira's assignees come back to Slack by email (users.lookupByEmail), which needs the
`users:read.email` scope. Without it every lookup is refused and each item assigned in
Jira reads "assigned in Jira to NAME", which looks like nobody in Slack matched: the
admins are told the real cause once, in a direct message and a Sync Log line, rather than
per item or per poll.
"""

from __future__ import annotations

import logging

from bot import notifier
from bot.runtime import Runtime
from storage.sync_log_queries import add_notice_once

logger = logging.getLogger(__name__)

MISSING_SCOPE = "missing_scope"
EMAIL_SCOPE = "users:read.email"
NOTICE = "slack scope"  # the Sync Log line's operation
# The Sync Log line (it shows 150 characters), then the direct message.
MISSING_EMAIL_SCOPE = (
    f"Slack refused to look up people by email: Unpack lacks the {EMAIL_SCOPE} scope"
)
TOLD = (
    f":warning: {MISSING_EMAIL_SCOPE}, so Jira assignees can't be matched to Slack people. "
    "Until a workspace admin reinstalls Unpack to grant it, items assigned in Jira show "
    '"assigned in Jira to NAME".'
)


async def tell_refusal(runtime: Runtime, workspace_id: int, error: str | None) -> None:
    """`error`: what Slack answered users.lookupByEmail (People.refusal()). Other
    refusals (a revoked token) are the install's own problem, said where it is used."""
    if error != MISSING_SCOPE:
        return
    try:
        async with runtime.sessions.begin() as session:
            first = await add_notice_once(session, workspace_id, NOTICE, MISSING_EMAIL_SCOPE)
        if first:
            await notifier.tell_admins(runtime, workspace_id, TOLD)
    except Exception:  # the lines say "assigned in Jira to NAME" either way
        logger.exception("could not tell workspace %s about the missing scope", workspace_id)
