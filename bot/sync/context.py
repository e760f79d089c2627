"""One workspace's share of a sync cycle: its Jira client, its Slack client, the people and
retro links its items need, and the outcomes collected so far."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.jira.client import JiraClient
from bot.jira.errors import JiraError
from bot.jira.fields import IssueContext
from bot.runtime import Runtime
from bot.sync import outcomes
from bot.sync.people import People
from storage.models import ActionItem, Retro, SyncDirection, SyncSettings

logger = logging.getLogger(__name__)

MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
# Our own ceiling on a create request: past it the create is ambiguous and is looked for
# (never resent) until Jira's search can be trusted to show it.
CREATE_TIMEOUT_MAX = 20.0


@dataclass
class WorkspaceSync:
    runtime: Runtime
    workspace_id: int
    jira: JiraClient
    slack: AsyncWebClient | None
    site_url: str
    account_name: str | None
    settings: SyncSettings | None
    retros: dict[int, Retro] = field(default_factory=dict)
    people: People = None  # type: ignore[assignment]
    results: list[outcomes.Outcome] = field(default_factory=list)
    applied: list[outcomes.Applied] = field(default_factory=list)
    epics_created: dict[int, str] = field(default_factory=dict)  # retro id → epic key
    # Field ids of create screens (by project and issue type) read this cycle.
    create_screens: dict[tuple[str, str], set[str] | None] = field(default_factory=dict)

    @property
    def two_way(self) -> bool:
        """Whether changes made in Jira come back to Slack (the default)."""
        direction = getattr(self.settings, "sync_direction", None)
        return direction != SyncDirection.ONE_WAY

    def __post_init__(self) -> None:
        if self.people is None:
            self.people = People(
                self.slack, self.jira, self.runtime.state.slack_users, self.workspace_id
            )

    # --- screens --------------------------------------------------------------------------

    async def create_screen(self, target) -> set[str] | None:
        """The field ids the target's create screen has (createmeta), read once a cycle;
        None when Jira would not say (the create then sends every field, as before)."""
        key = (target.project_id, target.issue_type_id)
        if key not in self.create_screens:
            try:
                meta = await self.jira.create_fields_meta(target.project_id, target.issue_type_id)
                self.create_screens[key] = {str(f.get("fieldId") or f.get("key")) for f in meta}
            except JiraError as exc:
                logger.info("no create metadata for %s: %s", key, exc)
                self.create_screens[key] = None
        return self.create_screens[key]

    async def edit_screen(
        self, issue_id: str, project_key: str | None, issue_type_id: str | None
    ) -> set[str]:
        """The field ids an edit of the issue may set (editmeta). Issues of one project and
        issue type share a screen, so a burst of pushes reads it once (for a short while,
        on the process: bot/runtime.py)."""
        if not (project_key and issue_type_id):
            return await self.jira.edit_screen(issue_id)
        key = (self.site_url, project_key, issue_type_id)
        screens = self.runtime.state.edit_screens
        return await screens.load(key, lambda: self.jira.edit_screen(issue_id))

    # --- timing of ambiguous creates ------------------------------------------------------

    @property
    def create_timeout(self) -> float:
        return min(CREATE_TIMEOUT_MAX, self.runtime.settings.sync_lease_seconds / 2)

    def resend_after(self, sent_at: datetime) -> datetime:
        """Before this time an unanswered create may still appear in Jira's search: it
        may still be in flight, and the search index lags behind writes."""
        lag = max(2 * self.runtime.settings.sync_retry_base_seconds, 1.0)
        return sent_at + timedelta(seconds=self.create_timeout + lag)

    # --- outcomes -------------------------------------------------------------------------

    async def record(self, results: list[outcomes.Outcome]) -> None:
        """Stores outcomes at once: a created key must reach the row before anything else
        can go wrong."""
        if results:
            self.applied.append(
                await outcomes.apply(self.runtime, self.workspace_id, self.site_url, results)
            )

    # --- what fields need -----------------------------------------------------------------

    async def issue_context(self, item: ActionItem, assignee_account_id: str | None):
        retro = self.retros.get(item.retro_id) if item.retro_id else None
        mentioned = set(MENTION.findall(item.description or ""))
        names = await self.people.names(mentioned) if mentioned else {}
        return IssueContext(
            retro_title=retro.title if retro else None,
            retro_permalink=await self.retro_permalink(retro) if retro else None,
            assignee_account_id=assignee_account_id,
            epic_issue_id=retro.epic_issue_id if retro else None,
            mention_names=names,
        )

    async def retro_permalink(self, retro: Retro) -> str | None:
        if retro.summary_permalink or not retro.summary_ts or self.slack is None:
            return retro.summary_permalink
        try:
            response = await self.slack.chat_getPermalink(
                channel=retro.channel_id, message_ts=retro.summary_ts
            )
        except SlackApiError as exc:
            logger.warning("no permalink for retro %s: %s", retro.id, exc.response.get("error"))
            return None
        retro.summary_permalink = response.get("permalink")
        return retro.summary_permalink
