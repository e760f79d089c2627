"""Sync settings: the default project and issue type, per-channel overrides,
webhooks on/off and epic grouping, as the /jira settings modal reads and writes them.

An issue type is only accepted when the chosen project offers it (Jira's createmeta), checked
again on submit because the menu's options are only as fresh as the moment it was opened.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from bot import ack_budget, messages
from bot.jira import webhook_registration
from bot.jira.credentials import jira_client_for
from bot.jira.errors import JiraError, JiraErrorKind, explain
from bot.jira.required_fields import RequiredField, problem_with, required_fields, stored
from bot.runtime import Runtime
from bot.sync import held
from bot.views import jira_ids as ids
from bot.views.jira_status import direction_text
from storage.connection_queries import connection_for
from storage.models import (
    ChannelOverride,
    ConnectionMethod,
    ConnectionStatus,
    JiraConnection,
    SyncDirection,
    SyncSettings,
)
from storage.settings_queries import channel_override, delete_overrides

logger = logging.getLogger(__name__)

EPIC_LEVEL = 1  # hierarchyLevel of epics in Jira Cloud (standard issue types are 0)

# What a save's errors are keyed by: the form's fields (the modal places them on its blocks).
FIELD_PROJECT = "project"
FIELD_ISSUE_TYPE = "issue_type"
FIELD_OPTIONS = "options"
_REQUIRED_FIELD = "required:"  # + a Jira field id: a required field's default


def required_field_key(field_id: str) -> str:
    return _REQUIRED_FIELD + field_id


def required_field_of(key: str) -> str | None:
    """The Jira field id an error is about, when it is about a required field's default."""
    return key[len(_REQUIRED_FIELD) :] if key.startswith(_REQUIRED_FIELD) else None


@dataclass(frozen=True)
class ProjectRef:
    id: str
    key: str
    name: str


@dataclass(frozen=True)
class IssueTypeRef:
    id: str
    name: str


@dataclass
class SettingsForm:
    site_url: str
    account_name: str | None
    channel_id: str | None  # where /jira settings ran; None from App Home
    project: ProjectRef | None
    issue_type: IssueTypeRef | None
    scope: str  # ids.SCOPE_WORKSPACE or ids.SCOPE_CHANNEL
    has_override: bool
    webhooks_enabled: bool
    epic_per_retro: bool
    webhook_url: str | None  # API-token connections: the URL to enter in Jira
    webhook_secret_saved: bool = False
    sync_direction: str = SyncDirection.TWO_WAY
    # Fields Jira requires for the chosen issue type, and their saved defaults.
    required: list[RequiredField] = field(default_factory=list)
    required_values: dict[str, str] = field(default_factory=dict)


@dataclass
class SettingsSubmission:
    channel_id: str | None
    project_id: str | None
    issue_type_project_id: str | None  # the project the issue-type menu was offered for
    issue_type_id: str | None
    scope: str
    webhooks_enabled: bool
    epic_per_retro: bool
    webhook_secret: str | None
    sync_direction: str = SyncDirection.TWO_WAY
    # {field id: value} of the required fields the form had an input for.
    required: dict[str, str | None] = field(default_factory=dict)


@dataclass
class SaveOutcome:
    errors: dict[str, str] = field(default_factory=dict)
    summary: list[str] = field(default_factory=list)


class NotConnected(Exception):
    """The workspace has no usable connection; `message` says what to do."""


# --- opening the modal ------------------------------------------------------------------


async def settings_form(runtime: Runtime, workspace_id: int, channel_id: str | None):
    """The modal's starting values; NotConnected when there is nothing to configure."""
    async with runtime.sessions() as session:
        conn = await connection_for(session, workspace_id)
        _require_usable(conn, oauth=runtime.settings.oauth_enabled)
        settings = await session.get(SyncSettings, workspace_id) or SyncSettings(
            webhooks_enabled=True, epic_per_retro=False
        )
        override = await channel_override(session, workspace_id, channel_id) if channel_id else None
    source = override or settings
    project = (
        ProjectRef(source.project_id, source.project_key, source.project_name or "")
        if source.project_id
        else None
    )
    issue_type = (
        IssueTypeRef(source.issue_type_id, source.issue_type_name or source.issue_type_id)
        if source.issue_type_id
        else None
    )
    token_mode = conn.method == ConnectionMethod.API_TOKEN
    return SettingsForm(
        site_url=conn.site_url,
        account_name=conn.account_name,
        channel_id=channel_id,
        project=project,
        issue_type=issue_type,
        scope=ids.SCOPE_CHANNEL if override else ids.SCOPE_WORKSPACE,
        has_override=override is not None,
        webhooks_enabled=settings.webhooks_enabled,
        epic_per_retro=settings.epic_per_retro,
        sync_direction=settings.sync_direction or SyncDirection.TWO_WAY,
        webhook_url=runtime.settings.public(f"/jira/webhook/{conn.webhook_token}")
        if token_mode
        else None,
        webhook_secret_saved=conn.webhook_secret_enc is not None,
        required_values={k: str(v.get("value")) for k, v in (source.required_fields or {}).items()},
    )


async def with_required(runtime: Runtime, workspace_id: int, form: SettingsForm) -> SettingsForm:
    """The form with the fields Jira requires for its issue type (none when Jira does not
    answer in time: saving checks them again)."""
    if form.project is None or form.issue_type is None:
        form.required = []
        return form
    try:
        client = await jira_client_for(runtime, workspace_id)
        meta = await asyncio.wait_for(
            client.create_fields_meta(form.project.id, form.issue_type.id),
            ack_budget.REQUIRED_FIELDS_LOOKUP,
        )
    except (JiraError, TimeoutError) as exc:
        logger.warning("required fields unknown for workspace %s: %s", workspace_id, exc)
        meta = []
    form.required = required_fields(meta)
    return form


def with_issue_type(form: SettingsForm, project: ProjectRef, issue_type: IssueTypeRef):
    """The form after the admin picked an issue type (its required fields are asked)."""
    form.project, form.issue_type = project, issue_type
    return form


def _require_usable(conn: JiraConnection | None, *, oauth: bool) -> None:
    """Only admins open the settings, so the advice is theirs to follow."""
    if conn is None:
        raise NotConnected(messages.not_connected(for_admin=True, oauth=oauth))
    if conn.status != ConnectionStatus.ACTIVE:
        raise NotConnected(messages.revoked(conn.method, for_admin=True))


def with_project(form: SettingsForm, project: ProjectRef) -> SettingsForm:
    """The form after the admin picked another project: its issue type is asked again."""
    form.project = project
    form.issue_type = None
    return form


# --- menu options -----------------------------------------------------------------------


async def project_choices(runtime: Runtime, workspace_id: int, query: str) -> list[ProjectRef]:
    try:
        client = await jira_client_for(runtime, workspace_id)
        found = await asyncio.wait_for(
            client.search_projects(query.strip()), ack_budget.OPTIONS_LOOKUP
        )
    except (JiraError, TimeoutError) as exc:
        logger.warning("project search failed for workspace %s: %s", workspace_id, exc)
        return []
    return [ProjectRef(str(p["id"]), p["key"], p.get("name") or p["key"]) for p in found]


async def issue_type_choices(
    runtime: Runtime, workspace_id: int, project_id: str | None, query: str
) -> list[IssueTypeRef]:
    if not project_id:
        return []
    try:
        client = await jira_client_for(runtime, workspace_id)
        types = await asyncio.wait_for(client.issue_types(project_id), ack_budget.OPTIONS_LOOKUP)
    except (JiraError, TimeoutError) as exc:
        logger.warning("issue types failed for workspace %s: %s", workspace_id, exc)
        return []
    wanted = query.strip().lower()
    return [t for t in _creatable(types) if wanted in t.name.lower()]


def _creatable(types: list[dict]) -> list[IssueTypeRef]:
    # Subtasks need a parent issue, which an action item does not have.
    return [
        IssueTypeRef(str(t["id"]), t["name"])
        for t in types
        if not t.get("subtask") and t.get("hierarchyLevel", 0) >= 0
    ]


# --- saving -----------------------------------------------------------------------------


async def save_settings(
    runtime: Runtime, workspace_id: int, submission: SettingsSubmission
) -> SaveOutcome:
    """Validate against Jira and store; errors are keyed by the form's fields (FIELD_*)."""
    if submission.scope == ids.SCOPE_REMOVE and submission.channel_id:
        await _store(runtime, workspace_id, submission, None, None)
        return SaveOutcome(summary=_summary(submission, None, None))
    outcome = _check_form(submission)
    if outcome.errors:
        return outcome
    try:
        project, types, meta = await _project_and_types(
            runtime, workspace_id, submission.project_id, submission.issue_type_id
        )
    except JiraError as exc:
        return SaveOutcome(errors={FIELD_PROJECT: _project_error(exc)})
    issue_type = next((t for t in _creatable(types) if t.id == submission.issue_type_id), None)
    required = required_fields(meta)
    if issue_type is not None:
        outcome.errors |= _required_errors(submission, required)
    if issue_type is None:
        outcome.errors[FIELD_ISSUE_TYPE] = (
            f"{project.key} doesn't offer this issue type. Choose one from the list."
        )
    elif submission.epic_per_retro and not any(
        t.get("hierarchyLevel") == EPIC_LEVEL for t in types
    ):
        outcome.errors[FIELD_OPTIONS] = (
            f"{project.key} has no Epic issue type, so retros can't be grouped under epics there."
        )
    if outcome.errors:
        return outcome
    defaults = stored(required, {f: v or "" for f, v in submission.required.items()})
    await _store(runtime, workspace_id, submission, project, issue_type, defaults)
    return SaveOutcome(summary=_summary(submission, project, issue_type))


def _required_errors(submission: SettingsSubmission, required: list[RequiredField]) -> dict:
    """Inline errors naming each required field without a usable default: on its input,
    or on the issue type when the modal has no input for it (it can't be filled, or Jira
    started requiring it after the modal opened)."""
    errors: dict[str, str] = {}
    for wanted in required:
        has_input = wanted.id in submission.required
        problem = problem_with(wanted, submission.required.get(wanted.id))
        if problem is None:
            continue
        if wanted.kind is None or not has_input:
            where = FIELD_ISSUE_TYPE
            if wanted.kind is not None:
                problem = (
                    f"Jira requires {wanted.name} for this issue type. Choose the issue type "
                    "again to give it a default value."
                )
            errors[where] = f"{errors[where]} {problem}" if where in errors else problem
        else:
            errors[required_field_key(wanted.id)] = problem
    return errors


def _check_form(submission: SettingsSubmission) -> SaveOutcome:
    outcome = SaveOutcome()
    if not submission.project_id:
        outcome.errors[FIELD_PROJECT] = "Choose a project."
        return outcome
    if not submission.issue_type_id:
        outcome.errors[FIELD_ISSUE_TYPE] = "Choose an issue type."
    elif submission.issue_type_project_id != submission.project_id:
        outcome.errors[FIELD_ISSUE_TYPE] = "Choose an issue type of the selected project."
    return outcome


async def _project_and_types(runtime: Runtime, workspace_id: int, project_id: str, type_id):
    """The project, its issue types and the chosen type's create fields, in one wait."""
    client = await jira_client_for(runtime, workspace_id)
    try:
        project, types, meta = await asyncio.wait_for(
            asyncio.gather(
                client.creatable_project(project_id),
                client.issue_types(project_id),
                _create_meta(client, project_id, type_id),
            ),
            ack_budget.SETTINGS_CHECK,
        )
    except TimeoutError:
        raise JiraError(JiraErrorKind.UNAVAILABLE, messages.JIRA_NO_ANSWER) from None
    ref = ProjectRef(str(project["id"]), project["key"], project.get("name") or project["key"])
    return ref, types, meta


async def _create_meta(client, project_id: str, type_id: str) -> list[dict]:
    try:
        return await client.create_fields_meta(project_id, type_id)
    except JiraError as exc:
        if exc.kind is JiraErrorKind.NOT_FOUND:  # the type is gone: said on the type itself
            return []
        raise


def _project_error(error: JiraError) -> str:
    if error.kind is JiraErrorKind.NOT_FOUND:
        return "This project no longer exists, or the connected Jira account can't see it."
    if error.kind in (JiraErrorKind.UNAVAILABLE, JiraErrorKind.RATE_LIMITED):
        return f"{messages.JIRA_NO_ANSWER}. Try saving again."
    return explain(error)


async def _store(runtime, workspace_id, submission, project, issue_type, defaults=None) -> None:
    async with runtime.sessions.begin() as session:
        settings = await session.get(SyncSettings, workspace_id)
        if settings is None:
            settings = SyncSettings(workspace_id=workspace_id)
            session.add(settings)
        settings.webhooks_enabled = submission.webhooks_enabled
        settings.epic_per_retro = submission.epic_per_retro
        if submission.sync_direction in set(SyncDirection):  # the form's value, checked
            was = settings.sync_direction
            settings.sync_direction = SyncDirection(submission.sync_direction)
            if was == SyncDirection.ONE_WAY and settings.sync_direction == SyncDirection.TWO_WAY:
                await held.take_held_changes(session, workspace_id)
        if submission.webhook_secret:
            conn = await connection_for(session, workspace_id)
            if conn is not None and conn.method == ConnectionMethod.API_TOKEN:
                conn.webhook_secret_enc = runtime.box.seal(submission.webhook_secret)
        channel_id = submission.channel_id
        if submission.scope == ids.SCOPE_REMOVE and channel_id:
            await delete_overrides(session, workspace_id, channel_id)
        elif submission.scope == ids.SCOPE_CHANNEL and channel_id:
            override = await channel_override(session, workspace_id, channel_id)
            if override is None:
                override = ChannelOverride(workspace_id=workspace_id, channel_id=channel_id)
                session.add(override)
            _aim(override, project, issue_type)
            override.required_fields = defaults or None
        else:
            _aim(settings, project, issue_type)
            settings.required_fields = defaults or None


def _aim(target, project: ProjectRef, issue_type: IssueTypeRef) -> None:
    target.project_id, target.project_key, target.project_name = (
        project.id,
        project.key,
        project.name,
    )
    target.issue_type_id, target.issue_type_name = issue_type.id, issue_type.name


def _summary(submission: SettingsSubmission, project, issue_type) -> list[str]:
    channel = f"<#{submission.channel_id}>" if submission.channel_id else ""
    if submission.scope == ids.SCOPE_REMOVE:
        first = f"{channel} now uses the workspace default project and issue type."
    elif submission.scope == ids.SCOPE_CHANNEL and channel:
        first = f"Action items from {channel} go to *{project.key}* as *{issue_type.name}*."
    else:
        first = f"Default: action items go to *{project.key}* as *{issue_type.name}*."
    webhooks = "on" if submission.webhooks_enabled else "off (Unpack polls Jira instead)"
    epics = "on" if submission.epic_per_retro else "off"
    lines = [
        first,
        f"Webhooks: {webhooks}. One epic per retro: {epics}.",
        f"Sync direction: {direction_text(submission.sync_direction)}.",
    ]
    if submission.webhook_secret:
        lines.append("The webhook secret is saved.")
    return lines


async def after_save(runtime: Runtime, workspace_id: int) -> None:
    """Webhooks follow the settings (registered for the new projects, or dropped)."""
    try:
        await webhook_registration.settings_changed(runtime, workspace_id)
    except Exception:
        logger.exception("webhook update after a settings change failed")
