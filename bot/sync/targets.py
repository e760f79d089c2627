"""The one place that decides an item's Jira project and issue type: the channel's override
if it has one, else the workspace default."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from bot.jira.fields import Target
from storage.models import SyncSettings
from storage.settings_queries import overrides_of_channels

NO_PROJECT = (
    "No Jira project is chosen for this channel yet: an admin can choose one with `/jira settings`."
)


async def targets_for(
    session: AsyncSession, workspace_id: int, channel_ids: Iterable[str]
) -> dict[str, Target | None]:
    channels = set(channel_ids)
    overrides = await overrides_of_channels(session, workspace_id, channels)
    default = await session.get(SyncSettings, workspace_id)
    result: dict[str, Target | None] = {}
    for channel in channels:
        source = overrides.get(channel) or default
        if source is None or not source.project_id or not source.issue_type_id:
            result[channel] = None
        else:
            result[channel] = Target(
                source.project_id,
                source.project_key,
                source.issue_type_id,
                source.issue_type_name,
                _required(source.required_fields),
            )
    return result


def _required(saved: dict | None) -> tuple[tuple[str, str, str], ...]:
    """Saved defaults as a hashable, ordered tuple (targets group items)."""
    return tuple(
        (field_id, str(spec["kind"]), str(spec["value"]))
        for field_id, spec in sorted((saved or {}).items())
        if spec.get("kind") and spec.get("value") is not None
    )
