"""Slack people as Jira accounts: the Slack profile email (users.info), then Jira's user
search by that email (the only thing both sides know of a person). Lookups run in
parallel and each answer is kept for the rest of the sync cycle, so a retro whose items
share an owner asks once."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import slack_retry
from bot.jira.client import JiraClient
from bot.runtime import TtlCache

logger = logging.getLogger(__name__)

# Jira's user search shares a tenant-wide rate limit: a few at a time, not fifty.
JIRA_LOOKUPS_AT_ONCE = 20
SLACK_LOOKUPS_AT_ONCE = 50
SLACK_USERS_PER_CYCLE = 10_000
# Slack's answer that nobody in the workspace has this email: the one answer about the
# person, so the one kept (bot/runtime.py's SLACK_USER_SECONDS).
NO_SUCH_USER = "users_not_found"


class SlackLookupFailed(Exception):
    """Slack could not say just now who has an email (rate-limited, or failing): the read
    that needed it is tried again later, rather than settled as "assigned in Jira to
    NAME" on an answer that was never about the person."""

    def __init__(self, error: str, retry_after: float | None = None) -> None:
        super().__init__(f"Slack could not look up a user by email ({error})")
        self.message = str(self)
        self.retry_after = retry_after


class _Refused(Exception):
    """A refusal that retrying cannot change (a missing scope, a revoked token): nobody
    is matched this time, and nothing is kept, so a fixed install matches at once."""


@dataclass(frozen=True)
class Person:
    user_id: str
    name: str | None
    email: str | None


@dataclass(frozen=True)
class Assignee:
    account_id: str | None
    note: str | None  # shown on the item's line when the person could not be assigned
    # For the Sync Log only (an admin's ephemeral view): which email matched no account.
    log: str | None = None


def unassignable_note(user_id: str | None, project_key: str | None) -> str:
    """Jira has the person but will not assign them issues in the project."""
    # Shown on a public line: the person is named, never their email.
    who = f"<@{user_id}>" if user_id else "the assignee"
    return f"unassigned in Jira: {who} can't be assigned issues in {project_key or 'the project'}"


class People:
    def __init__(
        self,
        slack: AsyncWebClient | None,
        jira: JiraClient,
        slack_users: TtlCache | None = None,
        workspace_id: int | None = None,
    ) -> None:
        """`slack_users` is the process's cache of Slack users by email (shared by every
        batch of the workspace); without it, answers are kept for this cycle only."""
        self._slack = slack
        self._jira = jira
        self._people: dict[str, asyncio.Task] = {}
        self._accounts: dict[str, asyncio.Task] = {}
        if slack_users is None:
            slack_users = TtlCache(float("inf"), SLACK_USERS_PER_CYCLE)
        self._slack_users = slack_users
        self._workspace_id = workspace_id
        self._slack_gate = asyncio.Semaphore(SLACK_LOOKUPS_AT_ONCE)
        self._jira_gate = asyncio.Semaphore(JIRA_LOOKUPS_AT_ONCE)
        self._refused: str | None = None  # Slack's error, until refusal() hands it on
        self._refusal_told = False

    async def person(self, user_id: str) -> Person:
        if user_id not in self._people:
            self._people[user_id] = asyncio.ensure_future(self._fetch_person(user_id))
        return await self._people[user_id]

    async def names(self, user_ids: set[str]) -> dict[str, str]:
        people = await asyncio.gather(*(self.person(u) for u in user_ids))
        return {p.user_id: p.name for p in people if p.name}

    async def assignee(self, user_id: str | None) -> Assignee:
        """The Jira account for a Slack assignee; raises JiraError when Jira fails."""
        if not user_id:
            return Assignee(None, None)
        person = await self.person(user_id)
        if not person.email:
            return Assignee(None, "unassigned in Jira: the assignee's Slack profile has no email")
        account = await self.account_for(person.email)
        if account is None:
            # The note shows on a public line: name the person, never their address.
            return Assignee(
                None,
                f"unassigned in Jira: no Jira account matches <@{user_id}>'s email",
                f"assignee not matched: no Jira account matches {person.email} (unassigned)",
            )
        return Assignee(account, None)

    async def account_for(self, email: str) -> str | None:
        key = email.lower()
        if key not in self._accounts:
            self._accounts[key] = asyncio.ensure_future(self._search(email))
        return await self._accounts[key]

    @staticmethod
    def cache_key(workspace_id: int | None, email: str) -> tuple:
        """Where the process keeps who has this email in that workspace."""
        return (workspace_id, email.lower())

    async def slack_user_for(self, email: str | None) -> str | None:
        """The Slack user with this email (users.lookupByEmail), if any."""
        if not email or self._slack is None:
            return None
        key = self.cache_key(self._workspace_id, email)
        try:
            # Only an answer is kept: a failed read is forgotten at once (TtlCache.load).
            return await self._slack_users.load(key, lambda: self._lookup_by_email(email))
        except _Refused as refused:
            logger.warning("workspace %s: Slack refused users.lookupByEmail: %s",
                           self._workspace_id, refused)  # fmt: skip
            self._refused = str(refused)
            return None

    def refusal(self) -> str | None:
        """Slack's error for a lookup it refused (say, "missing_scope"), the first time
        it is asked after one: the caller tells the admins, once for all these lookups."""
        if self._refused is None or self._refusal_told:
            return None
        self._refusal_told = True
        return self._refused

    async def _lookup_by_email(self, email: str) -> str | None:
        async with self._slack_gate:
            try:
                response = await self._slack.users_lookupByEmail(email=email)
            except SlackApiError as exc:
                error = str(exc.response.get("error") or exc.response.status_code)
                if error == NO_SUCH_USER:
                    return None
                if slack_retry.worth_retrying(exc):
                    raise SlackLookupFailed(error, slack_retry.retry_after(exc)) from None
                raise _Refused(error) from None
        user = response.get("user") or {}
        return None if user.get("deleted") else user.get("id")

    async def _fetch_person(self, user_id: str) -> Person:
        if self._slack is None:
            return Person(user_id, None, None)
        async with self._slack_gate:
            try:
                response = await self._slack.users_info(user=user_id)
            except SlackApiError:
                return Person(user_id, None, None)
        user = response.get("user") or {}
        profile = user.get("profile") or {}
        name = profile.get("display_name") or profile.get("real_name") or user.get("real_name")
        return Person(user_id, name or user.get("name"), profile.get("email") or None)

    async def _search(self, email: str) -> str | None:
        async with self._jira_gate:
            users = await self._jira.users_by_email(email)
        exact = [u for u in users if (u.get("emailAddress") or "").lower() == email.lower()]
        if exact:
            return exact[0].get("accountId")
        # A hidden email is not returned, but an email-shaped query matches only emails:
        # one active user answering it is that person.
        hidden = [u for u in users if not u.get("emailAddress")]
        if len(users) == 1 and hidden and hidden[0].get("accountType", "atlassian") == "atlassian":
            return hidden[0].get("accountId")
        return None
