"""What a workspace's Jira connection looks like, as /jira status and App Home's Jira card
show it: the site and account, where items go, webhooks and failed syncs. Plain data, read
in one session; bot/views/jira_status.py words it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.runtime import Runtime
from storage.connection_queries import connection_for
from storage.item_queries import failed_count
from storage.models import ConnectionMethod, ConnectionStatus, SyncDirection, SyncSettings
from storage.settings_queries import channel_overrides


@dataclass
class Target:
    """A project and issue type, as the admin chose them."""

    project_key: str | None
    project_name: str | None
    issue_type_name: str | None


@dataclass
class Webhooks:
    """How the connection's webhooks stand."""

    error: str | None = None
    last_delivery_at: datetime | None = None
    registered: bool = False  # OAuth: Unpack registered them through the API
    expires_at: datetime | None = None
    secret_saved: bool = False  # API token: the admin pasted the secret Jira generated


@dataclass
class StatusReport:
    connected: bool
    oauth_enabled: bool
    site_url: str | None = None
    account_name: str | None = None
    method: str | None = None
    broken_reason: str | None = None
    default: Target = field(default_factory=lambda: Target(None, None, None))
    channel_id: str | None = None
    channel_override: Target | None = None
    overrides: list[tuple[str, Target]] = field(default_factory=list)
    webhooks_enabled: bool = True
    epic_per_retro: bool = False
    sync_direction: str = SyncDirection.TWO_WAY
    webhooks: Webhooks = field(default_factory=Webhooks)
    webhook_url: str | None = None
    failed_syncs: int = 0

    @property
    def broken(self) -> bool:
        return self.broken_reason is not None

    @classmethod
    def build(cls, conn, settings, overrides, *, channel_id, failed_syncs, oauth_enabled,
              webhook_url) -> StatusReport:  # fmt: skip
        targets = [
            (o.channel_id, Target(o.project_key, o.project_name, o.issue_type_name))
            for o in overrides
        ]
        report = cls(
            connected=conn is not None,
            oauth_enabled=oauth_enabled,
            channel_id=channel_id,
            channel_override=next((t for c, t in targets if c == channel_id), None),
            overrides=targets,
            failed_syncs=failed_syncs,
        )
        if settings is not None:
            report.default = Target(
                settings.project_key, settings.project_name, settings.issue_type_name
            )
            report.webhooks_enabled = settings.webhooks_enabled
            report.epic_per_retro = settings.epic_per_retro
            report.sync_direction = settings.sync_direction or SyncDirection.TWO_WAY
        if conn is not None:
            report.site_url = conn.site_url
            report.account_name = conn.account_name
            report.method = conn.method
            if conn.status != ConnectionStatus.ACTIVE:
                report.broken_reason = conn.broken_reason or "credentials refused"
            report.webhook_url = webhook_url if conn.method != ConnectionMethod.OAUTH else None
            report.webhooks = Webhooks(
                conn.webhook_error,
                conn.webhook_last_delivery_at,
                bool(conn.webhook_ids),
                conn.webhook_expires_at,
                conn.webhook_secret_enc is not None,
            )
        return report


async def status_report(
    runtime: Runtime, workspace_id: int, channel_id: str | None
) -> StatusReport:
    async with runtime.sessions() as session:
        conn = await connection_for(session, workspace_id)
        settings = await session.get(SyncSettings, workspace_id)
        overrides = await channel_overrides(session, workspace_id)
        failed = await failed_count(session, workspace_id)
    return StatusReport.build(
        conn,
        settings,
        overrides,
        channel_id=channel_id,
        failed_syncs=failed,
        oauth_enabled=runtime.settings.oauth_enabled,
        webhook_url=runtime.settings.public(f"/jira/webhook/{conn.webhook_token}")
        if conn
        else None,
    )
