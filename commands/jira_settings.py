"""The /jira settings modal: opening it, its menus' options, the project → issue-type
dependency, and saving."""

from __future__ import annotations

import json

from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot import jira_settings, messages
from bot.home import refresh_home
from bot.modals import open_modal
from bot.views import jira_ids as ids
from bot.views import jira_settings as views
from commands.admin_guard import admin_only


def register(app: AsyncApp) -> None:
    app.action(ids.OPEN_SETTINGS, middleware=[admin_only()])(handle_settings_button)
    app.options(ids.PROJECT_SELECT)(handle_project_options)
    app.options(ids.ISSUE_TYPE_SELECT)(handle_issue_type_options)
    app.action(ids.PROJECT_SELECT)(handle_project_chosen)
    app.action(ids.ISSUE_TYPE_SELECT)(handle_issue_type_chosen)
    app.view(ids.SETTINGS_MODAL, middleware=[admin_only(errors_on=ids.PROJECT_BLOCK)])(
        handle_settings_submission
    )


def _team_channel(channel_id: str | None) -> str | None:
    # Overrides belong to a team's channel; a DM with the app has none.
    return channel_id if channel_id and not channel_id.startswith("D") else None


async def open_settings(*, ack, command, context, client, respond, **_) -> None:
    """/jira settings (the caller is already known to be an admin)."""
    channel_id = _team_channel(command.get("channel_id"))
    try:
        form = await jira_settings.settings_form(
            context["runtime"], context["workspace_id"], channel_id
        )
    except jira_settings.NotConnected as exc:
        await ack(text=str(exc))
        return
    await ack()
    form = await jira_settings.with_required(context["runtime"], context["workspace_id"], form)
    if not await open_modal(client, command["trigger_id"], views.settings_modal(form)):
        await respond(text=messages.modal_not_opened("settings"), response_type="ephemeral")


async def handle_settings_button(ack, body, context, client) -> None:
    """Settings from App Home: workspace defaults only (there is no channel)."""
    await ack()
    user_id = body["user"]["id"]
    try:
        form = await jira_settings.settings_form(context["runtime"], context["workspace_id"], None)
    except jira_settings.NotConnected as exc:
        await client.chat_postMessage(channel=user_id, text=str(exc))
        return
    form = await jira_settings.with_required(context["runtime"], context["workspace_id"], form)
    if not await open_modal(client, body["trigger_id"], views.settings_modal(form)):
        # App Home has no response_url: say it where the app's notices arrive.
        await client.chat_postMessage(channel=user_id, text=messages.modal_not_opened("settings"))


async def handle_project_options(ack, body, context) -> None:
    projects = await jira_settings.project_choices(
        context["runtime"], context["workspace_id"], body.get("value") or ""
    )
    await ack(**views.options(projects, views.project_option))


async def handle_issue_type_options(ack, body, context) -> None:
    # The block id names the project the menu belongs to (view.state may lag behind).
    project_id = views.project_in_block(body.get("block_id"))
    types = await jira_settings.issue_type_choices(
        context["runtime"], context["workspace_id"], project_id, body.get("value") or ""
    )
    await ack(**views.options(types, views.issue_type_option))


async def handle_project_chosen(ack, body, context, client) -> None:
    """A project was picked: rebuild the modal so the issue-type menu is that project's."""
    await ack()
    view = body["view"]
    project = views.project_from_option(body["actions"][0].get("selected_option"))
    metadata = json.loads(view.get("private_metadata") or "{}")
    if project is None or project.id == metadata.get("project_id"):
        return
    form = await _form(context, metadata)
    if form is not None:
        await _redraw(client, view, jira_settings.with_project(form, project))


async def handle_settings_submission(ack, body, view, context, client) -> None:
    runtime, workspace_id, user_id = context["runtime"], context["workspace_id"], body["user"]["id"]
    submission = views.read_submission(view)
    outcome = await jira_settings.save_settings(runtime, workspace_id, submission)
    if outcome.errors:
        await ack(response_action="errors", errors=views.error_blocks(outcome.errors, view))
        return
    await ack(response_action="update", view=views.saved_view(outcome.summary))
    await jira_settings.after_save(runtime, workspace_id)
    await refresh_home(runtime, workspace_id, user_id, client=client)


async def handle_issue_type_chosen(ack, body, context, client) -> None:
    """An issue type was picked: rebuild the modal with the fields Jira requires for it."""
    await ack()
    view = body["view"]
    values = (view.get("state") or {}).get("values") or {}
    project = views.project_from_option(
        (values.get(ids.PROJECT_BLOCK, {}).get(ids.PROJECT_SELECT) or {}).get("selected_option")
    )
    chosen = views.issue_type_from_option(body["actions"][0].get("selected_option"))
    metadata = json.loads(view.get("private_metadata") or "{}")
    if project is None or chosen is None:
        return
    form = await _form(context, metadata)
    if form is None:
        return
    form = await jira_settings.with_required(
        context["runtime"],
        context["workspace_id"],
        jira_settings.with_issue_type(form, project, chosen),
    )
    await _redraw(client, view, form)


async def _form(context, metadata: dict):
    """The settings form as stored, for the modal's channel; None once Jira is disconnected."""
    try:
        return await jira_settings.settings_form(
            context["runtime"], context["workspace_id"], metadata.get("channel_id")
        )
    except jira_settings.NotConnected:
        return None


async def _redraw(client, view: dict, form) -> None:
    """Replaces the settings modal with `form`, unless a newer choice already redrew it."""
    try:
        await client.views_update(
            view_id=view["id"], hash=view.get("hash"), view=views.settings_modal(form)
        )
    except SlackApiError as exc:
        if exc.response.get("error") != "hash_conflict":  # a newer choice already won
            raise
