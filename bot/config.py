"""Settings from the environment (and `.env` when present), validated once at start-up.

Every setting the app reads lives here (README.md, "Settings", describes them). A bad or
missing value becomes one line naming the variable and what is expected (see
`load_settings`), never a traceback.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Literal

from cryptography.fernet import Fernet
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from storage.db import async_url

# A host name, an IPv4 address or a bracketed (or bare) IPv6 address, and maybe a port.
TRUSTED_HOST = re.compile(
    r"(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)(?::\d{1,5})?"
)


class SettingsError(Exception):
    """A setting is missing or invalid; the message names the variable."""


class Settings(BaseSettings):
    # An empty value (`METRICS_PORT=` in an env file, `-e PORT=`) means unset: the default.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", frozen=True, env_ignore_empty=True
    )

    slack_signing_secret: str = Field(min_length=1)
    slack_bot_token: str | None = None
    slack_client_id: str | None = None
    slack_client_secret: str | None = None
    # An app-level token: Slack's requests then come over Socket Mode, not /slack/events.
    slack_app_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    # Where the browser goes to approve a multi-workspace install; tests point it at the emulator.
    slack_authorize_url: str = "https://slack.com/oauth/v2/authorize"

    atlassian_client_id: str | None = None
    atlassian_client_secret: str | None = None
    atlassian_auth_url: str = "https://auth.atlassian.com"
    atlassian_api_url: str = "https://api.atlassian.com"
    # How long one call to Atlassian's token service (a code exchange, a refresh) or to its
    # list of sites may take in all, answer included: httpx's timeouts are per read, and a
    # server sending a byte at a time never trips them.
    atlassian_deadline_seconds: float = Field(default=30, gt=0)

    public_url: str = "http://localhost:3000"
    database_url: str = "sqlite:///unpack.db"
    encryption_key: str = Field(min_length=1)
    port: int = Field(default=3000, ge=1, le=65535)
    sync_interval_seconds: float = Field(default=60, gt=0)
    sync_retry_base_seconds: float = Field(default=30, ge=0)
    # Pages (of up to 100 issues) one poll or reconcile of a workspace reads; a longer
    # catch-up (after days without polls) goes on from where it stopped, the next time.
    sync_poll_pages: int = Field(default=50, ge=1)
    # First wait before a message Slack refused with a 5xx or 429 is sent again (doubling).
    slack_retry_base_seconds: float = Field(default=0.5, ge=0)
    # How long a process owns the items it claimed; renewed while it works, so only a dead
    # process's claims lapse (and are taken over) after this long.
    sync_lease_seconds: float = Field(default=15, gt=0)
    # While Jira's webhook deliveries keep arriving, each process applies them at most this
    # often (at once when it was idle), and less often while a batch takes longer than
    # half of it: larger batches share one re-read and one transaction. Bounded, so a
    # Jira edit still shows in Slack within about a second (bot/jira/deliveries.py).
    webhook_apply_every_seconds: float = Field(default=0.2, ge=0, le=1)
    # Hosts (or host:port) an API-token site URL may name although they resolve to a
    # loopback or private address: a Jira in the operator's own network, or a test's.
    jira_trusted_hosts: str = ""
    # How long a client may take to send a request's headers, and then as long for its
    # body: a slow or stalled client (slowloris) is cut off, not waited for.
    request_read_seconds: float = Field(default=10, gt=0)
    # `json`: one JSON object a line, for log shippers; `text` for people.
    log_format: Literal["text", "json"] = "text"
    # Prometheus `/metrics` is served on this port only, never on the public PORT.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)

    @field_validator(
        "slack_api_url",
        "atlassian_auth_url",
        "atlassian_api_url",
        "public_url",
        "slack_authorize_url",
    )
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_level_token(cls, value: str | None) -> str | None:
        if value and not value.startswith("xapp-"):
            raise ValueError(
                "expected an app-level token (xapp-…, Basic Information → App-Level Tokens, "
                "scope connections:write)"
            )
        return value or None

    @field_validator("jira_trusted_hosts")
    @classmethod
    def _hosts(cls, value: str) -> str:
        # A URL here would never match a site's host, and the admin would only see their
        # site refused: say so at start-up instead.
        for entry in (part.strip() for part in value.split(",")):
            if entry and not TRUSTED_HOST.fullmatch(entry):
                raise ValueError(
                    "expected comma-separated hosts or host:port, such as jira.internal or "
                    f"jira.internal:8443, without https:// or a path (got {entry[:80]!r})"
                )
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError("expected a SQLAlchemy URL such as sqlite:///unpack.db") from exc
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError("expected a sqlite:// or postgresql:// URL")
        return value

    @field_validator("encryption_key")
    @classmethod
    def _fernet_keys(cls, value: str) -> str:
        for key in value.split(","):
            try:
                Fernet(key.strip())
            except (ValueError, TypeError) as exc:
                raise ValueError(
                    "expected one or more comma-separated Fernet keys "
                    "(make one with: python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())')"
                ) from exc
        return value

    @model_validator(mode="after")
    def _one_slack_mode(self) -> Settings:
        if not self.slack_bot_token and not (self.slack_client_id and self.slack_client_secret):
            raise ValueError(
                "SLACK_BOT_TOKEN (single workspace) or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET "
                "(multi-workspace install) must be set"
            )
        if self.slack_app_token and self.multi_workspace:
            raise ValueError(
                "SLACK_APP_TOKEN (Socket Mode) works in single-workspace mode only: "
                "set SLACK_BOT_TOKEN and remove SLACK_CLIENT_ID and SLACK_CLIENT_SECRET"
            )
        if self.metrics_port == self.port:
            raise ValueError("METRICS_PORT must differ from PORT: metrics are never public")
        if bool(self.atlassian_client_id) != bool(self.atlassian_client_secret):
            raise ValueError("ATLASSIAN_CLIENT_ID and ATLASSIAN_CLIENT_SECRET go together")
        return self

    @cached_property
    def trusted_jira_hosts(self) -> frozenset[str]:
        return frozenset(
            host.strip().lower() for host in self.jira_trusted_hosts.split(",") if host.strip()
        )

    @property
    def multi_workspace(self) -> bool:
        return bool(self.slack_client_id and self.slack_client_secret)

    @property
    def socket_mode(self) -> bool:
        return bool(self.slack_app_token)

    @property
    def oauth_enabled(self) -> bool:
        return bool(self.atlassian_client_id and self.atlassian_client_secret)

    @cached_property
    def async_database_url(self) -> str:
        return async_url(self.database_url)

    def public(self, path: str) -> str:
        return self.public_url.rstrip("/") + path


def load_settings(**overrides: object) -> Settings:
    """Settings, or SettingsError with one line per bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        field = "".join(str(part) for part in error["loc"][:1]).upper()
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "is required"
        lines.append(f"{field}: {message}" if field else message)
    return "; ".join(lines)
