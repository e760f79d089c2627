"""/jira: connecting, configuring and inspecting the workspace's Jira Cloud connection.

Each subcommand is a row of SUBCOMMANDS (as in commands/retro.py); the admin ones pass
the admin guard before their handler runs, so a member gets ADMIN_ONLY and nothing
changes. `log` and `retry` are answered by commands/sync.py, `settings` by
commands/jira_settings.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NamedTuple

from slack_bolt.app.async_app import AsyncApp

from bot import ack_budget, connections, messages
from bot.admins import admin_role
from bot.home import refresh_home
from bot.jira import oauth
from bot.jira_status import status_report
from bot.modals import open_modal
from bot.views import jira_connect, jira_status
from bot.views import jira_ids as ids
from bot.views.help import jira_help, unknown_subcommand
from commands.admin_guard import admin_only
from commands.jira_settings import open_settings
from commands.sync import handle_log, handle_retry_all


def register(app: AsyncApp) -> None:
    app.command("/jira", middleware=[admin_only(when=_needs_admin)])(handle_jira)
    app.action(ids.AUTHORIZE_LINK)(ack_only)
    app.action(ids.CANCEL)(handle_cancel)
    admins = [admin_only()]
    app.action(ids.CONNECT_OAUTH, middleware=admins)(handle_connect_button)
    app.action(ids.CONNECT_TOKEN, middleware=admins)(handle_token_button)
    app.action(ids.DISCONNECT, middleware=admins)(handle_disconnect_button)
    app.view(ids.TOKEN_MODAL, middleware=[admin_only(errors_on=ids.SITE_BLOCK)])(
        handle_token_submission
    )


def _parse(command: dict) -> tuple[str, str]:
    subcommand, _, args = (command.get("text") or "").strip().partition(" ")
    return subcommand.lower(), args.strip()


async def handle_jira(ack, command, context, client, respond) -> None:
    subcommand, args = _parse(command)
    if subcommand in ("", "help"):
        await ack(**jira_help(admin=await _reader_is_admin(context, client, command)))
        return
    row = SUBCOMMANDS.get(subcommand)
    if row is None:
        await ack(text=unknown_subcommand("/jira", subcommand))
        return
    await row.run(
        ack=ack, command=command, context=context, client=client, respond=respond, args=args
    )


def _needs_admin(body: dict) -> bool:
    row = SUBCOMMANDS.get(_parse(body)[0])
    return row is not None and row.admin


async def ack_only(ack) -> None:
    await ack()


async def _reader_is_admin(context, client, command: dict) -> bool:
    """For replies fitted to the reader; a role Slack could not tell reads as a member's."""
    role = await admin_role(context["runtime"], client, context.team_id, command["user_id"])
    return bool(role)


async def _status(*, ack, command, context, client, **_) -> None:
    report = await status_report(
        context["runtime"], context["workspace_id"], command.get("channel_id")
    )
    admin = await _reader_is_admin(context, client, command)
    await ack(**jira_status.status_message(report, admin=admin))


# --- connect ----------------------------------------------------------------------------


async def _connect(*, ack, command, context, client, args, respond, **_) -> None:
    runtime = context["runtime"]
    if args.lower() == "token":
        await ack()
        if not await open_modal(client, command["trigger_id"], jira_connect.token_modal()):
            await respond(text=messages.modal_not_opened("form"), response_type="ephemeral")
    elif args:
        await ack(text="Use `/jira connect` (Atlassian account) or `/jira connect token`.")
    elif not runtime.settings.oauth_enabled:
        await ack(**jira_connect.oauth_unavailable_reply())
    else:
        url = await oauth.begin(runtime, context["workspace_id"], command["user_id"])
        await ack(**jira_connect.authorize_reply(url))


async def handle_connect_button(ack, body, context, client) -> None:
    """Connect with Atlassian from App Home: the consent link opens in a modal."""
    runtime, user_id = context["runtime"], body["user"]["id"]
    await ack()
    if not runtime.settings.oauth_enabled:
        await client.views_open(trigger_id=body["trigger_id"], view=jira_connect.token_modal())
        return
    url = await oauth.begin(runtime, context["workspace_id"], user_id)
    await client.views_open(trigger_id=body["trigger_id"], view=jira_connect.authorize_modal(url))


async def handle_token_button(ack, body, client) -> None:
    await ack()
    await client.views_open(trigger_id=body["trigger_id"], view=jira_connect.token_modal())


async def handle_token_submission(ack, body, view, context, client) -> None:
    runtime, workspace_id, user_id = context["runtime"], context["workspace_id"], body["user"]["id"]
    check = await connections.check_api_token(runtime, jira_connect.read_token_form(view))
    if check.errors:
        await ack(response_action="errors", errors=jira_connect.token_error_blocks(check.errors))
        return
    new = check.connection
    await connections.replace_connection(
        runtime, workspace_id, user_id, new, cleanup_timeout=ack_budget.OLD_SITE_CLEANUP
    )
    await ack(
        response_action="update",
        view=jira_connect.token_connected_view(new.site_url, new.account_name),
    )
    await connections.follow_up_connect(runtime, workspace_id)
    await refresh_home(runtime, workspace_id, user_id)


# --- disconnect -------------------------------------------------------------------------


async def _disconnect_prompt(*, ack, context, **_) -> None:
    report = await status_report(context["runtime"], context["workspace_id"], None)
    if not report.connected:
        await ack(text=f"{messages.NOT_CONNECTED_YET} There's nothing to disconnect.")
        return
    await ack(**jira_status.disconnect_prompt(report.site_url or ""))


async def handle_disconnect_button(ack, body, context, client, respond) -> None:
    """The confirmed Disconnect (Slack's confirm dialog ran first), from the /jira
    disconnect reply or from App Home."""
    await ack()
    runtime, workspace_id = context["runtime"], context["workspace_id"]
    site_url = await connections.disconnect(runtime, workspace_id)
    if body.get("response_url"):
        await respond(replace_original=True, **jira_status.disconnected_message(site_url))
    await refresh_home(runtime, workspace_id, body["user"]["id"], client=client)


async def handle_cancel(ack, body, respond) -> None:
    await ack()
    if body.get("response_url"):
        await respond(delete_original=True)


# --- the table --------------------------------------------------------------------------

# A subcommand handler gets Bolt's ack/command/context/client/respond and the text after
# the subcommand as `args`.
SubcommandHandler = Callable[..., Awaitable[None]]


class Subcommand(NamedTuple):
    run: SubcommandHandler
    admin: bool = False


SUBCOMMANDS = {
    "status": Subcommand(_status),
    "connect": Subcommand(_connect, admin=True),
    "settings": Subcommand(open_settings, admin=True),
    "disconnect": Subcommand(_disconnect_prompt, admin=True),
    "log": Subcommand(handle_log, admin=True),
    "retry": Subcommand(handle_retry_all, admin=True),
}
