"""Sync failures grouped by cause: one sentence per cause for the retro card ("3 items
didn't reach Jira: the connected account can't create issues in TEAM") and who can fix it.
Each item's own line only says it is not in Jira yet; the Sync Log keeps the details."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot import messages
from bot.jira.errors import JiraErrorKind
from bot.views.blocks import clip, escape
from storage.models import ActionItem, SyncState

NOT_IN_JIRA_YET = "not in Jira yet"
SAMPLE_MAX = 200


@dataclass(frozen=True)
class FailureGroup:
    kind: str
    project_key: str | None
    item_ids: tuple[int, ...]
    sample: str | None = None  # one item's full sentence, for causes only Jira can name

    @property
    def key(self) -> str:
        """Identifies the group in a Retry button's value."""
        return self.kind


def group_failures(items: Sequence[ActionItem], project_key: str | None) -> list[FailureGroup]:
    """The retro's failed items, one group per cause, biggest first."""
    groups: dict[str, list[ActionItem]] = {}
    for item in items:
        if item.sync_state == SyncState.ERROR:
            groups.setdefault(item.last_error_kind or JiraErrorKind.INVALID.value, []).append(item)
    found = [
        FailureGroup(
            kind,
            members[0].jira_project_key or project_key,
            tuple(i.id for i in members),
            members[0].last_error,
        )
        for kind, members in groups.items()
    ]
    return sorted(found, key=lambda g: (-len(g.item_ids), g.kind))


def cause(group: FailureGroup) -> str:
    """Why these items didn't reach Jira, in a few words."""
    project = escape(group.project_key) if group.project_key else "the project"
    match group.kind:
        case JiraErrorKind.AUTH:
            return "Jira isn't connected, or its connection needs renewing"
        case JiraErrorKind.PERMISSION:
            return f"the connected account can't create issues in {project}"
        case JiraErrorKind.ISSUE_TYPE:
            return f"the issue type is no longer available in {project}"
        case JiraErrorKind.NOT_FOUND:
            return f"project {project} wasn't found in Jira"
        case JiraErrorKind.RATE_LIMITED | JiraErrorKind.UNAVAILABLE | JiraErrorKind.AMBIGUOUS:
            return "Jira didn't answer after several tries"
        case JiraErrorKind.INTERNAL:
            return messages.WENT_WRONG[:1].lower() + messages.WENT_WRONG[1:]
        case _:
            if group.sample:  # Jira's own reason, e.g. a field it refused
                return escape(clip(group.sample.rstrip("."), SAMPLE_MAX))
            return "Jira didn't accept them"


def who_fixes(group: FailureGroup, reconnect: str = messages.CONNECT) -> str | None:
    """Who can fix the cause (and how), when it isn't something Retry alone can fix."""
    match group.kind:
        case JiraErrorKind.AUTH:
            return f"A workspace admin can connect Jira again with `{reconnect}`, then Retry."
        case JiraErrorKind.PERMISSION:
            return (
                "A workspace admin can give the account permission in Jira, or choose "
                "another project with `/jira settings`, then Retry."
            )
        case JiraErrorKind.ISSUE_TYPE | JiraErrorKind.NOT_FOUND:
            return "A workspace admin can choose another with `/jira settings`, then Retry."
        case (
            JiraErrorKind.RATE_LIMITED
            | JiraErrorKind.UNAVAILABLE
            | JiraErrorKind.AMBIGUOUS
            | JiraErrorKind.INTERNAL
        ):
            return None
        case _:
            return "A workspace admin can see why in the Sync Log on Unpack's Home tab."
