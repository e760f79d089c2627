"""Tables. Every row that belongs to a workspace carries `workspace_id`, and every query
filters on it (see storage/queries.py); no route reaches a row by its id alone.

The database is also the sync queue: an action item's sync state, attempt count, next
attempt time, lease and last error live on its row, so a restart loses nothing and several
processes can share the work (docs/sync-protocol.md).
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.clock import utcnow
from storage.column_types import UtcDateTime, enum_column

# Alembic and the app agree on constraint names on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime()}


Base.metadata.naming_convention = NAMING


class StrEnum(enum.StrEnum):
    pass


class ConnectionMethod(StrEnum):
    OAUTH = "oauth"
    API_TOKEN = "api_token"  # noqa: S105 (a method name, not a secret)


class ConnectionStatus(StrEnum):
    ACTIVE = "active"
    BROKEN = "broken"  # credentials revoked or refresh failed: admins must reconnect


class RetroPhase(StrEnum):
    COLLECT = "collect"
    COMMIT = "commit"
    CLOSED = "closed"


class ItemStatus(StrEnum):
    OPEN = "open"
    COMPLETE = "complete"


class SyncDirection(StrEnum):
    TWO_WAY = "two_way"  # changes in Jira come back to Slack
    ONE_WAY = "one_way"  # Slack → Jira only (status completion still comes back)


class SyncState(StrEnum):
    LOCAL = "local"  # not queued for Jira yet (retro not committed)
    PENDING = "pending"  # queued: create (no key yet) or push changes (key present, dirty)
    SYNCED = "synced"  # Jira issue matches the item as of `synced_revision`
    ERROR = "error"  # retries exhausted; shown with a Retry button


def _ts() -> Mapped[datetime]:
    return mapped_column(default=utcnow)


def new_sync_label() -> str:
    """A Jira label unique to one item (or one retro's epic): finds an ambiguous create."""
    return f"unpack-{uuid.uuid4().hex[:12]}"


class Workspace(Base):
    """One Slack workspace that installed the app."""

    __tablename__ = "workspaces"

    id: Mapped[int] = mapped_column(primary_key=True)
    slack_team_id: Mapped[str] = mapped_column(String(32), unique=True)
    enterprise_id: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(255))
    # Multi-workspace installs: the bot token, encrypted (storage/crypto.py).
    bot_token_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    bot_user_id: Mapped[str | None] = mapped_column(String(32))
    bot_id: Mapped[str | None] = mapped_column(String(32))
    bot_scopes: Mapped[str | None] = mapped_column(Text)
    installer_user_id: Mapped[str | None] = mapped_column(String(32))
    app_id: Mapped[str | None] = mapped_column(String(32))
    installed_at: Mapped[datetime | None] = mapped_column()
    uninstalled_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = _ts()

    connection: Mapped[JiraConnection | None] = relationship(
        back_populates="workspace", uselist=False, lazy="raise"
    )


class JiraConnection(Base):
    """The workspace's link to one Jira Cloud site (its "connection")."""

    __tablename__ = "jira_connections"
    __table_args__ = (Index("ix_jira_connections_poll_due_at", "poll_due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), unique=True
    )
    method: Mapped[ConnectionMethod] = mapped_column(enum_column(ConnectionMethod, 16))
    status: Mapped[ConnectionStatus] = mapped_column(
        enum_column(ConnectionStatus, 16), default=ConnectionStatus.ACTIVE
    )
    broken_reason: Mapped[str | None] = mapped_column(Text)
    site_url: Mapped[str] = mapped_column(String(512))
    cloud_id: Mapped[str | None] = mapped_column(String(64), index=True)
    account_id: Mapped[str | None] = mapped_column(String(128))
    account_name: Mapped[str | None] = mapped_column(String(255))
    account_email: Mapped[str | None] = mapped_column(String(320))
    connected_by_user_id: Mapped[str | None] = mapped_column(String(32))
    # JSON of the secrets, encrypted: {"access_token", "refresh_token"} or {"api_token"}.
    credentials_enc: Mapped[bytes] = mapped_column(LargeBinary)
    access_expires_at: Mapped[datetime | None] = mapped_column()
    # Bumped on every token refresh: a refresh that lost the race sees a newer generation.
    credentials_generation: Mapped[int] = mapped_column(Integer, default=0)
    # Webhooks. The token picks the workspace in POST /jira/webhook/{token}.
    webhook_token: Mapped[str] = mapped_column(String(64), unique=True)
    webhook_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary)  # API-token mode HMAC
    # none_as_null: "no webhooks" must be SQL NULL (queries test IS NULL), not JSON null.
    webhook_ids: Mapped[list | None] = mapped_column(JSON(none_as_null=True))  # OAuth
    webhook_jql: Mapped[str | None] = mapped_column(Text)
    webhook_expires_at: Mapped[datetime | None] = mapped_column()
    webhook_error: Mapped[str | None] = mapped_column(Text)
    webhook_last_delivery_at: Mapped[datetime | None] = mapped_column()
    # Status polling (webhooks off), claimed in the database so that of several processes
    # one polls the workspace per cycle: a claim moves `poll_due_at` to the claim's end (a
    # dead poller's claim lapses there); a finished poll moves it one cycle on.
    poll_due_at: Mapped[datetime | None] = mapped_column()
    poll_claimed_by: Mapped[str | None] = mapped_column(String(64))
    # When the last successful read of what changed (a poll, or a webhook workspace's
    # reconcile) started: the next one asks for issues updated since.
    last_polled_at: Mapped[datetime | None] = mapped_column()
    # Polls failed since the last success: each failure waits longer (bot/sync/poll.py).
    poll_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The catch-up jobs (a webhook workspace's reconcile, the check for deleted issues),
    # claimed the same way, one turn per period between all processes (NULL: first due one
    # period after the connection was made).
    reconcile_due_at: Mapped[datetime | None] = mapped_column()
    reconcile_claimed_by: Mapped[str | None] = mapped_column(String(64))
    deleted_check_due_at: Mapped[datetime | None] = mapped_column()
    deleted_check_claimed_by: Mapped[str | None] = mapped_column(String(64))
    # Turns failed since each job's last successful one: each failure waits longer.
    reconcile_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    deleted_check_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The last item a check for deleted issues looked at, when it stopped part-way.
    deleted_checked_after: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    workspace: Mapped[Workspace] = relationship(back_populates="connection", lazy="raise")


class JiraOAuthFlow(Base):
    """One Atlassian 3LO attempt: the `state` (single use, 10 minutes, bound to workspace
    and admin) and, when the grant covers several sites, the tokens awaiting the choice."""

    __tablename__ = "jira_oauth_flows"
    __table_args__ = (Index("ix_jira_oauth_flows_expires_at", "expires_at"),)  # housekeeping

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    slack_user_id: Mapped[str] = mapped_column(String(32))
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    # Site chooser: encrypted tokens + the sites offered, and a one-time form nonce.
    pending_credentials_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    pending_sites: Mapped[list | None] = mapped_column(JSON)
    choice_nonce_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    completed_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = _ts()


class SyncSettings(Base):
    """Workspace defaults ("sync settings")."""

    __tablename__ = "sync_settings"

    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[str | None] = mapped_column(String(32))
    project_key: Mapped[str | None] = mapped_column(String(64))
    project_name: Mapped[str | None] = mapped_column(String(255))
    issue_type_id: Mapped[str | None] = mapped_column(String(32))
    issue_type_name: Mapped[str | None] = mapped_column(String(255))
    webhooks_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    epic_per_retro: Mapped[bool] = mapped_column(Boolean, default=False)
    # Defaults for the fields the project's issue type requires on create, beyond summary,
    # issue type, project and reporter: {field id: {"name", "type", "value"}}.
    required_fields: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    # Whether changes made in Jira come back to Slack.
    sync_direction: Mapped[SyncDirection] = mapped_column(
        enum_column(SyncDirection, 16),
        default=SyncDirection.TWO_WAY,
        server_default=SyncDirection.TWO_WAY.value,
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChannelOverride(Base):
    """A team's own project and issue type (per channel)."""

    __tablename__ = "channel_overrides"
    __table_args__ = (UniqueConstraint("workspace_id", "channel_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    channel_id: Mapped[str] = mapped_column(String(32))
    project_id: Mapped[str] = mapped_column(String(32))
    project_key: Mapped[str] = mapped_column(String(64))
    project_name: Mapped[str | None] = mapped_column(String(255))
    issue_type_id: Mapped[str] = mapped_column(String(32))
    issue_type_name: Mapped[str | None] = mapped_column(String(255))
    required_fields: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))  # as above


class Retro(Base):
    __tablename__ = "retros"
    __table_args__ = (
        # One open retro per channel, enforced by the database (races between two /retro start).
        Index(
            "uq_retros_open_per_channel",
            "workspace_id",
            "channel_id",
            unique=True,
            sqlite_where=text("phase != 'closed'"),
            postgresql_where=text("phase != 'closed'"),
        ),
        # The owed-summary job, every minute in every process: the few summaries owed,
        # not every retro ever held. Its query names the predicate as it is written here
        # (SQLite uses a partial index only then).
        Index(
            "ix_retros_summary_owed",
            "summary_owed_at",
            sqlite_where=text("summary_owed_at IS NOT NULL"),
            postgresql_where=text("summary_owed_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    channel_id: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(255))
    facilitator_user_id: Mapped[str] = mapped_column(String(32))
    phase: Mapped[RetroPhase] = mapped_column(
        enum_column(RetroPhase, 16), default=RetroPhase.COLLECT
    )
    summary_ts: Mapped[str | None] = mapped_column(String(32))
    summary_permalink: Mapped[str | None] = mapped_column(Text)
    # Extra messages when a large retro's summary spans several messages (Block Kit limits).
    overflow_ts: Mapped[list | None] = mapped_column(JSON)
    # Epic grouping: one epic per retro, created once.
    epic_issue_id: Mapped[str | None] = mapped_column(String(32))
    epic_key: Mapped[str | None] = mapped_column(String(64))
    epic_label: Mapped[str | None] = mapped_column(String(64))
    epic_create_sent_at: Mapped[datetime | None] = mapped_column()  # as ActionItem's
    created_at: Mapped[datetime] = _ts()
    committed_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    # How many times it was committed: owners are told once per commit (OwnerNotice).
    commit_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When its thread was told that every item is done (said once).
    all_done_at: Mapped[datetime | None] = mapped_column()
    # Set while the summary owes a refresh: Slack kept refusing it (after its retries), or
    # a trailing edit waits out the pace (bot/notifier.py). bot/notifier's owed-summary
    # job renders one owed longer than OWED_AFTER again, so it ends up true.
    summary_owed_at: Mapped[datetime | None] = mapped_column()

    items: Mapped[list[ActionItem]] = relationship(
        back_populates="retro", lazy="raise", order_by="ActionItem.id"
    )


class ActionItem(Base):
    __tablename__ = "action_items"
    __table_args__ = (
        # The queue: only pending rows, in the order they come due. Queries name the state
        # as a literal ('pending'): SQLite uses a partial index only for a literal match.
        Index(
            "ix_action_items_queue",
            "next_attempt_at",
            "id",
            sqlite_where=text("sync_state = 'pending'"),
            postgresql_where=text("sync_state = 'pending'"),
        ),
        # No index names the lease columns (claimed_by, claimed_until): a claim and its
        # release then update the row in place on PostgreSQL (HOT), touching no index,
        # helped by the free tenth of each page. A lease is only taken on a queued row, so
        # the earliest lapse is found through the queue index.
        Index("ix_action_items_jira_issue", "workspace_id", "jira_issue_id"),
        # A status poll's projects: each distinct one of a workspace's open synced items in
        # one probe (storage/polling.py), whatever the workspace's history.
        Index(
            "ix_action_items_open_projects",
            "workspace_id",
            "jira_project_key",
            sqlite_where=text("status = 'open' AND jira_issue_id IS NOT NULL"),
            postgresql_where=text("status = 'open' AND jira_issue_id IS NOT NULL"),
        ),
        # The due-date reminder job, every minute in every process: the items due around
        # today, not every item ever made (a range of due dates; most items have none).
        Index(
            "ix_action_items_due_date",
            "due_date",
            "id",
            sqlite_where=text("due_date IS NOT NULL"),
            postgresql_where=text("due_date IS NOT NULL"),
        ),
        {"postgresql_with": {"fillfactor": 90}},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    retro_id: Mapped[int | None] = mapped_column(
        ForeignKey("retros.id", ondelete="CASCADE"), index=True
    )
    channel_id: Mapped[str] = mapped_column(String(32))
    # An item made by "Sync to Jira" outside a retro gets a message of its own.
    message_ts: Mapped[str | None] = mapped_column(String(32))
    source_permalink: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    assignee_user_id: Mapped[str | None] = mapped_column(String(32))
    due_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[ItemStatus] = mapped_column(enum_column(ItemStatus, 16), default=ItemStatus.OPEN)
    created_by_user_id: Mapped[str] = mapped_column(String(32))
    # Every edit bumps `revision`; a push records the revision it sent in `synced_revision`.
    revision: Mapped[int] = mapped_column(Integer, default=1)
    synced_revision: Mapped[int] = mapped_column(Integer, default=0)

    # --- the sync queue ---
    sync_state: Mapped[SyncState] = mapped_column(
        enum_column(SyncState, 16), default=SyncState.LOCAL
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_kind: Mapped[str | None] = mapped_column(String(32))
    # Lease: a process owns the item until `claimed_until`; a dead process's lease lapses.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column()
    # Unique Jira label sent with the create, so an ambiguous create can be found, never resent.
    sync_label: Mapped[str] = mapped_column(String(64), unique=True, default=new_sync_label)
    create_sent_at: Mapped[datetime | None] = mapped_column()

    # --- what Jira knows ---
    jira_issue_id: Mapped[str | None] = mapped_column(String(32))
    jira_key: Mapped[str | None] = mapped_column(String(64))
    jira_site_url: Mapped[str | None] = mapped_column(String(512))  # links survive disconnect
    jira_project_key: Mapped[str | None] = mapped_column(String(64))
    jira_status_category: Mapped[str | None] = mapped_column(String(32))
    assignee_note: Mapped[str | None] = mapped_column(Text)  # "unassigned in Jira: …"
    completed_by: Mapped[str | None] = mapped_column(String(255))
    # Item controls: who ticked it off in Slack, and when it was completed (either side).
    completed_by_user_id: Mapped[str | None] = mapped_column(String(32))
    completed_at: Mapped[datetime | None] = mapped_column()
    # A status move owed to Jira ("done" / "reopen"), kept on the row like any queued sync
    # so it survives restarts; cleared once Jira moved, or said it cannot.
    jira_transition: Mapped[str | None] = mapped_column(String(16))
    transition_note: Mapped[str | None] = mapped_column(Text)  # "couldn't move KEY to Done…"
    jira_status_name: Mapped[str | None] = mapped_column(String(255))  # as Jira last showed it
    # The due-date reminder: the assignee's local date it was sent for (one DM per day).
    due_reminded_on: Mapped[date | None] = mapped_column(Date)
    status_changed_at: Mapped[datetime | None] = mapped_column()  # orders webhook deliveries
    # --- two-way sync: the three-way merge per field (bot/sync/merge.py) ---
    # Per field (title, description, assignee, due): {"s": the Slack value and "j": the
    # Jira value (normalised) last known in step, "at": when and "by": which side last
    # changed it}. No entry: never in step yet (everything is pushed); no "j": the Jira
    # value is unknown and the next read of the issue adopts it.
    field_base: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    # Per field: when it was last edited in Slack (orders a conflict with a Jira edit).
    slack_edited: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    # The issue's `updated` as last read: an older read (a replay, a slow process) is ignored.
    jira_updated_at: Mapped[datetime | None] = mapped_column()
    jira_deleted_at: Mapped[datetime | None] = mapped_column()  # the issue is gone from Jira
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    retro: Mapped[Retro | None] = relationship(back_populates="items", lazy="raise")


class OwnerNotice(Base):
    """An owner was sent the direct message about their items of one commit of a retro;
    the unique key makes it once, whatever retries and processes do."""

    __tablename__ = "owner_notices"
    __table_args__ = (
        UniqueConstraint(
            "workspace_id", "retro_id", "commit_seq", "user_id", name="uq_owner_notices_once"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    retro_id: Mapped[int] = mapped_column(ForeignKey("retros.id", ondelete="CASCADE"))
    commit_seq: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[str] = mapped_column(String(32))
    sent_at: Mapped[datetime] = _ts()


class SyncAttempt(Base):
    """The Sync Log: one row per attempt to create, update or poll an item."""

    __tablename__ = "sync_attempts"
    __table_args__ = (
        Index("ix_sync_attempts_workspace_at", "workspace_id", "at"),
        Index("ix_sync_attempts_at", "at"),  # housekeeping: rows past the age limit
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("action_items.id", ondelete="CASCADE"))
    at: Mapped[datetime] = _ts()
    operation: Mapped[str] = mapped_column(String(16))  # create / update / status / epic
    outcome: Mapped[str] = mapped_column(String(16))  # ok / retrying / failed
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    error_kind: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(Text)
    jira_key: Mapped[str | None] = mapped_column(String(64))


class WebhookDelivery(Base):
    """Jira webhook deliveries seen, for at-most-once processing.

    A delivery is recorded before Jira hears 2xx and applied to its item after (`outcome`
    stays NULL until then; bot/jira/deliveries.py): `status_category` and `actor_name` are
    what the apply takes from the body, and `apply_claimed_at` the lease of the recovery
    job that applies what a killed process recorded but never applied.

    A delivery that changed an item also owes the retro's thread a message: `notice` holds
    it until `notified_at` is set (once Slack took it), so a process that dies after
    answering Jira (which will not resend a 2xx), or while posting, still gets the message
    out on restart (bot/jira/deliveries.py)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("workspace_id", "delivery_id"),
        Index(
            "ix_webhook_deliveries_owed",
            "received_at",
            sqlite_where=text("notice IS NOT NULL AND notified_at IS NULL"),
            postgresql_where=text("notice IS NOT NULL AND notified_at IS NULL"),
        ),
        Index("ix_webhook_deliveries_received_at", "received_at"),  # housekeeping
        Index(
            "ix_webhook_deliveries_unapplied",
            "received_at",
            sqlite_where=text("outcome IS NULL"),
            postgresql_where=text("outcome IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    delivery_id: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = _ts()
    issue_id: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str | None] = mapped_column(String(32))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("action_items.id", ondelete="CASCADE"))
    notice: Mapped[str | None] = mapped_column(Text)
    # Who posts it claims it first (a lease: a claim older than NOTICE_LEASE in
    # bot/jira/deliveries.py was left by a process that died before posting).
    notice_claimed_at: Mapped[datetime | None] = mapped_column()
    notified_at: Mapped[datetime | None] = mapped_column()
    status_category: Mapped[str | None] = mapped_column(String(32))
    actor_name: Mapped[str | None] = mapped_column(String(255))
    apply_claimed_at: Mapped[datetime | None] = mapped_column()


class SlackOAuthState(Base):
    """`state` values of the Slack install flow (single use, 10 minutes)."""

    __tablename__ = "slack_oauth_states"
    __table_args__ = (Index("ix_slack_oauth_states_expires_at", "expires_at"),)  # housekeeping

    id: Mapped[int] = mapped_column(primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column()
