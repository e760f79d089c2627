"""The /jira settings modal: project, issue type (only what the project offers), this
channel's override, webhooks, epic grouping, and for API-token connections the webhook to
set up in Jira. Pure builders, plus the reader that turns a submission into plain data.

Project and issue type are external selects (Slack asks the app for their options):
options come from Jira when the menu opens (`min_query_length` 0), the issue-type block
id carries the project id, and choosing a project rebuilds the view.
"""

from __future__ import annotations

import json

from bot.jira_settings import (
    FIELD_ISSUE_TYPE,
    FIELD_OPTIONS,
    FIELD_PROJECT,
    IssueTypeRef,
    ProjectRef,
    SettingsForm,
    SettingsSubmission,
    required_field_of,
)
from bot.views import jira_ids as ids
from bot.views.blocks import clip, context, escape, mrkdwn, plain, section
from bot.views.required_fields import read_required, required_field_blocks
from storage.models import SyncDirection

OPTION_TEXT_MAX = 75


# --- options ----------------------------------------------------------------------------


def project_option(project: ProjectRef) -> dict:
    label = f"{project.name} ({project.key})"
    if len(label) > OPTION_TEXT_MAX:
        label = f"{clip(project.name, OPTION_TEXT_MAX - len(project.key) - 3)} ({project.key})"
    return {"text": plain(label, OPTION_TEXT_MAX), "value": project.id}


def project_from_option(option: dict | None) -> ProjectRef | None:
    """Back from a chosen option's "Name (KEY)" label (ours), so no Jira call is needed."""
    if not option or not option.get("value"):
        return None
    label = (option.get("text") or {}).get("text") or ""
    name, _, key = label.rpartition(" (")
    return ProjectRef(str(option["value"]), key.rstrip(")") or label, name or label)


def issue_type_option(issue_type: IssueTypeRef) -> dict:
    return {"text": plain(issue_type.name, OPTION_TEXT_MAX), "value": issue_type.id}


def issue_type_from_option(option: dict | None) -> IssueTypeRef | None:
    if not option or not option.get("value"):
        return None
    return IssueTypeRef(str(option["value"]), (option.get("text") or {}).get("text") or "")


def options(choices: list, make) -> dict:
    """A block_suggestion answer (at most 100 options)."""
    return {"options": [make(choice) for choice in choices[:100]]}


# --- the modal --------------------------------------------------------------------------


def settings_modal(form: SettingsForm) -> dict:
    project_id = form.project.id if form.project else None
    blocks = [
        context(
            f"Jira: <{form.site_url}|{escape(form.site_url)}>"
            + (f" as {escape(form.account_name)}" if form.account_name else "")
        ),
        _project_input(form),
        _issue_type_input(form),
        *required_field_blocks(
            form.issue_type.id if form.issue_type else None, form.required, form.required_values
        ),
    ]
    if form.channel_id:
        blocks.append(_scope_input(form))
    blocks.append(_options_input(form))
    blocks.append(_direction_input(form))
    if form.webhook_url:
        blocks += _webhook_setup(form)
    return {
        "type": "modal",
        "callback_id": ids.SETTINGS_MODAL,
        "title": plain("Jira settings", 24),
        "submit": plain("Save", 24),
        "close": plain("Cancel", 24),
        "private_metadata": json.dumps({"channel_id": form.channel_id, "project_id": project_id}),
        "blocks": blocks,
    }


def _external_select(action_id: str, placeholder: str, initial: dict | None) -> dict:
    element = {
        "type": "external_select",
        "action_id": action_id,
        "placeholder": plain(placeholder, 150),
        "min_query_length": 0,
    }
    if initial:
        element["initial_option"] = initial
    return element


def _project_input(form: SettingsForm) -> dict:
    initial = project_option(form.project) if form.project else None
    return {
        "type": "input",
        "block_id": ids.PROJECT_BLOCK,
        "dispatch_action": True,  # choosing a project reloads the issue types
        "label": plain("Project"),
        "hint": plain("Projects the connected Jira account can create issues in."),
        "element": _external_select(ids.PROJECT_SELECT, "Search projects", initial),
    }


def _issue_type_input(form: SettingsForm) -> dict:
    project = form.project
    initial = issue_type_option(form.issue_type) if form.issue_type and project else None
    hint = (
        f"Only the issue types {project.key} offers."
        if project
        else "Choose a project first; its issue types appear here."
    )
    return {
        "type": "input",
        "block_id": ids.issue_type_block(project.id if project else None),
        "dispatch_action": True,  # choosing one shows the fields Jira requires for it
        "label": plain("Issue type"),
        "hint": plain(hint),
        "element": _external_select(ids.ISSUE_TYPE_SELECT, "Choose an issue type", initial),
    }


def _choice(value: str, text: str, description: str | None = None) -> dict:
    # Slack: option text and description at most 75 characters each.
    option = {"text": mrkdwn(text), "value": value}
    if description:
        option["description"] = mrkdwn(description)
    return option


def _scope_input(form: SettingsForm) -> dict:
    channel = f"<#{form.channel_id}>"
    choices = [
        _choice(
            ids.SCOPE_WORKSPACE,
            "*Workspace default*",
            "Used by every channel without its own project.",
        ),
        _choice(
            ids.SCOPE_CHANNEL,
            f"*Only {channel}*",
            "Only this channel's retros use it; other channels keep the default.",
        ),
    ]
    if form.has_override:
        choices.append(
            _choice(
                ids.SCOPE_REMOVE,
                f"*Remove {channel}'s override*",
                "This channel goes back to the workspace default.",
            )
        )
    initial = next(c for c in choices if c["value"] == form.scope)
    return {
        "type": "input",
        "block_id": ids.SCOPE_BLOCK,
        "label": plain("Applies to"),
        "element": {
            "type": "radio_buttons",
            "action_id": ids.SCOPE_INPUT,
            "options": choices,
            "initial_option": initial,
        },
    }


def _options_input(form: SettingsForm) -> dict:
    choices = [
        _choice(
            ids.OPTION_WEBHOOKS,
            "*Jira webhooks*",
            "Done in Jira completes items at once. Off: Unpack polls Jira instead.",
        ),
        _choice(
            ids.OPTION_EPIC,
            "*One epic per retro*",
            "Each retro's items become children of an epic named after it.",
        ),
    ]
    chosen = {ids.OPTION_WEBHOOKS: form.webhooks_enabled, ids.OPTION_EPIC: form.epic_per_retro}
    element = {"type": "checkboxes", "action_id": ids.OPTIONS_INPUT, "options": choices}
    initial = [c for c in choices if chosen[c["value"]]]
    if initial:
        element["initial_options"] = initial
    return {
        "type": "input",
        "block_id": ids.OPTIONS_BLOCK,
        "optional": True,
        "label": plain("Options (whole workspace)"),
        "element": element,
    }


DIRECTIONS = {
    SyncDirection.TWO_WAY: ("*Two-way*", "Changes made in Jira come back to Slack."),
    SyncDirection.ONE_WAY: (
        "*One-way (Slack → Jira only)*",
        "Only Done in Jira comes back; Jira's other changes stay in Jira.",
    ),
}


def _direction_input(form: SettingsForm) -> dict:
    choices = [_choice(value, *words) for value, words in DIRECTIONS.items()]
    chosen = form.sync_direction if form.sync_direction in DIRECTIONS else SyncDirection.TWO_WAY
    return {
        "type": "input",
        "block_id": ids.SYNC_DIRECTION_BLOCK,
        "optional": True,  # a choice is always made (initial option); older forms lack it
        "label": plain("Sync direction"),
        "hint": plain(
            "For the whole workspace. Either way, a change made in Jira is never overwritten "
            "by Slack."
        ),
        "element": {
            "type": "radio_buttons",
            "action_id": ids.SYNC_DIRECTION_INPUT,
            "options": choices,
            "initial_option": next(c for c in choices if c["value"] == chosen),
        },
    }


def _webhook_setup(form: SettingsForm) -> list[dict]:
    project = form.project.key if form.project else "YOUR_PROJECT"
    steps = (
        "*Webhook for status changes (API-token connections).* In Jira, open *Settings → "
        "System → WebHooks → Create a WebHook* and enter:\n"
        f"• URL: `{form.webhook_url}`\n"
        "• Events: *Issue → updated* and *Issue → deleted*\n"
        f"• JQL: `project = {project}` (add every project Unpack syncs to)\n"
        "• Secret: generate one, then paste it below."
    )
    hint = (
        "A secret is saved. Leave this empty to keep it, or paste a new one."
        if form.webhook_secret_saved
        else "Deliveries without a valid signature are refused."
    )
    return [
        section(steps),
        {
            "type": "input",
            "block_id": ids.WEBHOOK_SECRET_BLOCK,
            "optional": True,
            "label": plain("Webhook secret from Jira"),
            "hint": plain(hint),
            "element": {
                "type": "plain_text_input",
                "action_id": ids.WEBHOOK_SECRET_INPUT,
                "placeholder": plain("Paste the secret Jira generated"),
            },
        },
    ]


def saved_view(summary: list[str]) -> dict:
    return {
        "type": "modal",
        "callback_id": ids.SETTINGS_SAVED_MODAL,
        "title": plain("Jira settings", 24),
        "close": plain("Done", 24),
        "blocks": [section(":white_check_mark: Saved.\n" + "\n".join(summary))],
    }


# --- reading a submission ---------------------------------------------------------------


def read_submission(view: dict) -> SettingsSubmission:
    """The submitted view's state as plain data (keys are ids.*)."""
    values = (view.get("state") or {}).get("values") or {}
    metadata = json.loads(view.get("private_metadata") or "{}")
    issue_block = next((b for b in values if b.startswith(ids.ISSUE_TYPE_BLOCK_PREFIX)), None)
    project = _selected(values, ids.PROJECT_BLOCK, ids.PROJECT_SELECT)
    issue_type = _selected(values, issue_block, ids.ISSUE_TYPE_SELECT) if issue_block else None
    scope = _selected(values, ids.SCOPE_BLOCK, ids.SCOPE_INPUT) or ids.SCOPE_WORKSPACE
    checked = {
        o["value"]
        for o in (values.get(ids.OPTIONS_BLOCK, {}).get(ids.OPTIONS_INPUT) or {}).get(
            "selected_options"
        )
        or []
    }
    secret = (values.get(ids.WEBHOOK_SECRET_BLOCK, {}).get(ids.WEBHOOK_SECRET_INPUT) or {}).get(
        "value"
    )
    return SettingsSubmission(
        channel_id=metadata.get("channel_id"),
        project_id=project,
        issue_type_project_id=project_in_block(issue_block),
        issue_type_id=issue_type,
        scope=scope,
        webhooks_enabled=ids.OPTION_WEBHOOKS in checked,
        epic_per_retro=ids.OPTION_EPIC in checked,
        webhook_secret=(secret or "").strip() or None,
        sync_direction=_selected(values, ids.SYNC_DIRECTION_BLOCK, ids.SYNC_DIRECTION_INPUT)
        or SyncDirection.TWO_WAY,
        required={
            field_id: value
            for field_id, (_block, value) in read_required(values, issue_type).items()
        },
    )


def error_blocks(errors: dict[str, str], view: dict) -> dict[str, str]:
    """The save's field-keyed errors on the submitted modal's blocks."""
    values = (view.get("state") or {}).get("values") or {}
    issue_block = next((b for b in values if b.startswith(ids.ISSUE_TYPE_BLOCK_PREFIX)), None)
    project = _selected(values, ids.PROJECT_BLOCK, ids.PROJECT_SELECT)
    issue_type = _selected(values, issue_block, ids.ISSUE_TYPE_SELECT) if issue_block else None
    inputs = read_required(values, issue_type)
    blocks = {
        FIELD_PROJECT: ids.PROJECT_BLOCK,
        FIELD_ISSUE_TYPE: issue_block or ids.issue_type_block(project),
        FIELD_OPTIONS: ids.OPTIONS_BLOCK,
    }
    placed: dict[str, str] = {}
    for name, text in errors.items():
        field_id = required_field_of(name)
        block = inputs[field_id][0] if field_id in inputs else blocks.get(name, ids.PROJECT_BLOCK)
        placed[block] = f"{placed[block]} {text}" if block in placed else text
    return placed


def _selected(values: dict, block_id: str, action_id: str) -> str | None:
    leaf = (values.get(block_id) or {}).get(action_id) or {}
    option = leaf.get("selected_option") or {}
    return option.get("value")


def project_in_block(block_id: str | None) -> str | None:
    """The project id an issue-type block was built for."""
    if not block_id or not block_id.startswith(ids.ISSUE_TYPE_BLOCK_PREFIX):
        return None
    project_id = block_id[len(ids.ISSUE_TYPE_BLOCK_PREFIX) :]
    return None if project_id == "none" else project_id
