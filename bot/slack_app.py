"""Builds the Bolt AsyncApp: signature checks, authorization, and every listener in commands/."""

from __future__ import annotations

import logging

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings

from bot import ack_budget
from bot.apologies import apology
from bot.logging_setup import log_workspace
from bot.messages import DATABASE_SLOW, slack_connection_lost
from bot.runtime import Runtime
from bot.workspaces import workspace_id_for_team
from commands import register_all  # the one place bot/ reaches commands/ (docs/architecture.md)
from storage.db import DatabaseSlow, within
from storage.installations import (
    BotTokenUnreadable,
    DatabaseStateStore,
    WorkspaceInstallationStore,
)

logger = logging.getLogger(__name__)

BOT_SCOPES = ["commands", "chat:write", "chat:write.public", "users:read", "users:read.email"]


class InstalledWorkspaceAuthorize(AsyncAuthorize):
    """Authorizes from our own table, without Bolt's auth.test on every request."""

    def __init__(self, store: WorkspaceInstallationStore) -> None:
        self._store = store

    async def __call__(self, *, context, enterprise_id, team_id, user_id) -> AuthorizeResult | None:
        bot = await within(
            ack_budget.WORKSPACE_LOOKUP,
            self._store.async_find_bot(enterprise_id=enterprise_id, team_id=team_id),
        )
        if bot is None:
            return None
        return AuthorizeResult(
            enterprise_id=bot.enterprise_id,
            team_id=bot.team_id,
            bot_token=bot.bot_token,
            bot_user_id=bot.bot_user_id,
            bot_id=bot.bot_id,
            bot_scopes=bot.bot_scopes,
        )


def build_slack_app(runtime: Runtime) -> AsyncApp:
    settings = runtime.settings
    common = dict(
        signing_secret=settings.slack_signing_secret,
        # Listeners ack first and keep working; Bolt must not hold the HTTP response.
        process_before_response=False,
        request_verification_enabled=True,
    )
    if settings.multi_workspace:
        store = WorkspaceInstallationStore(runtime.sessions, runtime.box, settings.slack_client_id)
        app = AsyncApp(
            **common,
            client=runtime.slack_client(),
            installation_store=store,
            authorize=InstalledWorkspaceAuthorize(store),
            oauth_settings=AsyncOAuthSettings(
                client_id=settings.slack_client_id,
                client_secret=settings.slack_client_secret,
                scopes=BOT_SCOPES,
                install_path="/slack/install",
                redirect_uri_path="/slack/oauth_redirect",
                redirect_uri=settings.public("/slack/oauth_redirect"),
                authorization_url=settings.slack_authorize_url,
                installation_store=store,
                state_store=DatabaseStateStore(runtime.sessions),
                state_expiration_seconds=600,
            ),
        )
    else:
        # The token rides on the client: Bolt ignores `token` when a client is given.
        app = AsyncApp(**common, client=runtime.slack_client(settings.slack_bot_token))

    @app.middleware
    async def attach_runtime(context, body, next):
        """Every listener finds the runtime and its workspace id in the context."""
        context["runtime"] = runtime
        if context.team_id:
            context["workspace_id"] = await within(
                ack_budget.WORKSPACE_LOOKUP, workspace_id_for_team(runtime, context.team_id)
            )
            log_workspace(context["workspace_id"])
        await next()

    @app.error
    async def apologise(error, body):
        """A request the app cannot serve for want of its database or of the workspace's
        bot token is answered within Slack's 3 seconds, saying so to the person where
        Slack can show it (bot/apologies.py); anything else fails as Bolt would."""
        if isinstance(error, DatabaseSlow):
            logger.warning("answered a Slack request with 'try again': %s", error)
            return apology(runtime, body, DATABASE_SLOW)
        if isinstance(error, BotTokenUnreadable):
            logger.error("answered a Slack request with 'install again': %s", error)
            text = slack_connection_lost(settings.public("/slack/install"))
            return apology(runtime, body, text)
        logger.exception("a Slack request failed", exc_info=error)
        return None

    # app_uninstalled / tokens_revoked (the manifest subscribes) are heard in commands/
    # lifecycle.py: the bot token is forgotten, and the workspace's Jira set-up with it.
    register_all(app)
    return app
