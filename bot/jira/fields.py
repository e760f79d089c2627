"""An action item as Jira issue fields (the field mapping). Pure functions: the sync
engine gathers what they need (target project, assignee account, epic, links) first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.jira.adf import mrkdwn_to_adf
from bot.jira.required_fields import jira_value
from storage.models import ActionItem

# The labels of the link paragraphs appended to an issue's description; a pull from Jira
# drops the paragraphs that start with one of them (they belong to Jira's side only).
FROM_RETRO, FROM_SLACK, RETRO_IN_SLACK = "From the retro: ", "From Slack: ", "The retro in Slack: "
APP_LINK_LABELS = (FROM_RETRO, FROM_SLACK, RETRO_IN_SLACK)

SUMMARY_MAX = 255
# On every issue the app creates for an item, beside the item's own label: status polling
# asks Jira for "issues with this label updated since the last poll" in one search,
# whatever the workspace's history.
APP_LABEL = "unpack-for-slack"


@dataclass(frozen=True)
class Target:
    """Where an item's issue goes: the channel's override, else the workspace default."""

    project_id: str
    project_key: str
    issue_type_id: str
    issue_type_name: str | None = None
    # Defaults for the fields the issue type requires: ((field id, kind, value), ...).
    required: tuple[tuple[str, str, str], ...] = ()


# An issue property set in every create body: how an ambiguous create is found again when
# the project's screen has no labels (bot/sync/lookup.py).
ITEM_PROPERTY = "unpack.item"


@dataclass
class IssueContext:
    """What an item's fields need besides the item itself."""

    retro_title: str | None = None
    retro_permalink: str | None = None
    assignee_account_id: str | None = None
    epic_issue_id: str | None = None
    mention_names: Mapping[str, str] = field(default_factory=dict)


def summary(title: str) -> str:
    """Jira summaries are one line of at most 255 characters."""
    one_line = " ".join((title or "").split())
    return one_line[:SUMMARY_MAX] or "Action item"


def description(item: ActionItem, context: IssueContext) -> dict:
    links = []
    if context.retro_permalink:
        name = context.retro_title or "the retro"
        links.append((FROM_RETRO, name, context.retro_permalink))
    elif item.source_permalink and item.source_permalink not in (item.description or ""):
        links.append((FROM_SLACK, "the message", item.source_permalink))
    return mrkdwn_to_adf(item.description, names=context.mention_names, links=links)


def create_body(
    item: ActionItem, target: Target, context: IssueContext, screen: set[str] | None = None
) -> dict:
    """One IssueUpdateDetails: the fields the create screen has (`screen`: its field ids,
    None when unknown) and the item's property."""
    fields = on_screen(create_fields(item, target, context), screen)
    property_value = {"label": item.sync_label, "item": item.id}
    return {"fields": fields, "properties": [{"key": ITEM_PROPERTY, "value": property_value}]}


def on_screen(fields: dict, screen: set[str] | None) -> dict:
    """The fields a create screen has: Jira refuses the whole create for one it lacks."""
    if screen is None:
        return fields
    return {name: value for name, value in fields.items() if name in screen or name in KEEP}


# Sent whatever the screen metadata says: a create without them cannot succeed anyway.
KEEP = {"project", "issuetype", "summary"}


def create_fields(item: ActionItem, target: Target, context: IssueContext) -> dict:
    fields = {
        "project": {"id": target.project_id},
        "issuetype": {"id": target.issue_type_id},
        "summary": summary(item.title),
        "description": description(item, context),
        # The item's unique label: how an ambiguous create is found again (no duplicates).
        "labels": [item.sync_label, APP_LABEL],
    }
    if context.assignee_account_id:
        fields["assignee"] = {"accountId": context.assignee_account_id}
    if item.due_date:
        fields["duedate"] = item.due_date.isoformat()
    if context.epic_issue_id:
        fields["parent"] = {"id": context.epic_issue_id}
    for field_id, kind, value in target.required:
        fields[field_id] = jira_value(kind, value)
    return fields


def update_fields(item: ActionItem, context: IssueContext) -> dict:
    """What an edit in Slack may change: title, description, assignee, due date. A push
    sends only the fields changed in Slack since they were last in step with Jira
    (bot/sync/update.py), so a change made in Jira to another field is never undone."""
    assignee = {"accountId": context.assignee_account_id} if context.assignee_account_id else None
    return {
        "summary": summary(item.title),
        "description": description(item, context),
        "assignee": assignee,
        "duedate": item.due_date.isoformat() if item.due_date else None,
    }


def epic_body(
    title: str,
    label: str,
    target: Target,
    epic_type_id: str,
    link: str | None,
    screen: set[str] | None = None,
) -> dict:
    """The one epic of a retro, named after it: the fields the epic type's create screen
    has (`screen`, None when unknown), and the property that finds it again without labels."""
    links = [(RETRO_IN_SLACK, title, link)] if link else []
    fields = {
        "project": {"id": target.project_id},
        "issuetype": {"id": epic_type_id},
        "summary": summary(title),
        "description": mrkdwn_to_adf("", links=links),
        "labels": [label],
    }
    # The item type's required defaults, where the epic's screen has the same fields.
    for field_id, kind, value in target.required:
        if screen is not None and field_id in screen:
            fields[field_id] = jira_value(kind, value)
    property_value = {"label": label}
    return {
        "fields": on_screen(fields, screen),
        "properties": [{"key": ITEM_PROPERTY, "value": property_value}],
    }
