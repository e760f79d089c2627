"""Slack installations in our own tables, bot tokens encrypted.

slack-sdk's SQLAlchemy stores keep tokens in plain text and create tables outside Alembic,
so these small stores implement its interfaces on `workspaces` and
`slack_oauth_states` instead.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from storage.clock import utcnow
from storage.crypto import SecretBox, SecretUnreadable
from storage.models import SlackOAuthState, Workspace
from storage.workspace_queries import workspace_by_team


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class BotTokenUnreadable(Exception):
    """A workspace's bot token is stored but cannot be decrypted: nothing can be said to
    that workspace through Slack's Web API until it installs the app again (which stores
    a new token) or the operator restores the key. Names the workspace, never the token."""

    def __init__(self, workspace_id: int, team_id: str) -> None:
        super().__init__(
            f"workspace {workspace_id} (Slack team {team_id}): its bot token cannot be "
            "decrypted with ENCRYPTION_KEY; it works again once reinstalled or once the "
            "key it was sealed with is back in ENCRYPTION_KEY"
        )
        self.workspace_id = workspace_id


class WorkspaceInstallationStore(AsyncInstallationStore):
    def __init__(self, sessions: async_sessionmaker, box: SecretBox, client_id: str) -> None:
        self._sessions = sessions
        self._box = box
        self._client_id = client_id

    @property
    def logger(self):  # required by the interface; Bolt logs through its own logger
        import logging

        return logging.getLogger(__name__)

    async def async_save(self, installation: Installation) -> None:
        if not installation.team_id or not installation.bot_token:
            raise ValueError("only workspace installs with a bot token are supported")
        async with self._sessions.begin() as session:
            workspace = await workspace_by_team(session, installation.team_id)
            if workspace is None:
                workspace = Workspace(slack_team_id=installation.team_id)
                session.add(workspace)
            workspace.enterprise_id = installation.enterprise_id
            workspace.name = installation.team_name
            workspace.bot_token_enc = self._box.seal(installation.bot_token)
            workspace.bot_user_id = installation.bot_user_id
            workspace.bot_id = installation.bot_id
            workspace.bot_scopes = ",".join(installation.bot_scopes or [])
            workspace.installer_user_id = installation.user_id
            workspace.app_id = installation.app_id
            workspace.installed_at = utcnow()
            workspace.uninstalled_at = None

    async def async_find_bot(
        self, *, enterprise_id, team_id, is_enterprise_install=False
    ) -> Bot | None:
        installation = await self.async_find_installation(
            enterprise_id=enterprise_id, team_id=team_id
        )
        return installation.to_bot() if installation is not None else None

    async def async_find_installation(
        self, *, enterprise_id, team_id, user_id=None, is_enterprise_install=False
    ) -> Installation | None:
        workspace = await self._installed(team_id)
        if workspace is None:
            return None
        return Installation(
            app_id=workspace.app_id,
            enterprise_id=workspace.enterprise_id,
            team_id=workspace.slack_team_id,
            team_name=workspace.name,
            bot_token=self._bot_token(workspace),
            bot_id=workspace.bot_id,
            bot_user_id=workspace.bot_user_id,
            bot_scopes=workspace.bot_scopes or "",
            user_id=workspace.installer_user_id or "",
            installed_at=workspace.installed_at.timestamp(),
        )

    def _bot_token(self, workspace: Workspace) -> str:
        try:
            return self._box.open(workspace.bot_token_enc)
        except SecretUnreadable:
            raise BotTokenUnreadable(workspace.id, workspace.slack_team_id) from None

    async def async_delete_bot(self, *, enterprise_id, team_id) -> None:
        await self._forget(team_id)

    async def async_delete_installation(self, *, enterprise_id, team_id, user_id=None) -> None:
        await self._forget(team_id)

    async def async_delete_all(self, *, enterprise_id, team_id) -> None:
        await self._forget(team_id)

    async def _installed(self, team_id: str | None) -> Workspace | None:
        if not team_id:
            return None
        async with self._sessions() as session:
            return await session.scalar(
                select(Workspace).where(
                    Workspace.slack_team_id == team_id,
                    Workspace.bot_token_enc.is_not(None),
                )
            )

    async def _forget(self, team_id: str | None) -> None:
        await mark_uninstalled(self._sessions, team_id)


class DatabaseStateStore(AsyncOAuthStateStore):
    """Single-use install `state`, kept hashed, valid for `expiration_seconds`."""

    def __init__(self, sessions: async_sessionmaker, expiration_seconds: int = 600) -> None:
        self._sessions = sessions
        self.expiration_seconds = expiration_seconds

    @property
    def logger(self):
        import logging

        return logging.getLogger(__name__)

    async def async_issue(self, *args, **kwargs) -> str:
        state = secrets.token_urlsafe(32)
        async with self._sessions.begin() as session:
            session.add(
                SlackOAuthState(
                    state_hash=_hash(state),
                    expires_at=utcnow() + timedelta(seconds=self.expiration_seconds),
                )
            )
        return state

    async def async_consume(self, state: str) -> bool:
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(SlackOAuthState)
                .where(SlackOAuthState.state_hash == _hash(state))
                .where(SlackOAuthState.expires_at > utcnow())
            )
            return result.rowcount == 1


async def mark_uninstalled(sessions: async_sessionmaker, team_id: str | None) -> None:
    """Uninstall: drop the bot token, keep the workspace's retros and items."""
    async with sessions.begin() as session:
        workspace = await workspace_by_team(session, team_id)
        if workspace is not None:
            workspace.bot_token_enc = None
            workspace.uninstalled_at = utcnow()
