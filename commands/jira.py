"""/jira: connecting, configuring and inspecting the workspace's Jira Cloud connection.

Admin subcommands check the caller with users.info before acking (bot.admins caches it);
others get ADMIN_ONLY and nothing changes. Subcommands owned by other surfaces (`log`,
`retry`: commands/sync.py) plug in with `add_subcommand`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from slack_bolt.app.async_app import AsyncApp

from bot import connections
from bot.admins import ADMIN_ONLY, is_admin
from bot.jira import oauth
from bot.views import jira_connect, jira_status
from bot.views import jira_ids as ids
from bot.views.help import jira_help
from commands import jira_settings

# A subcommand handler gets Bolt's ack/command/context/client/respond and the text after
# the subcommand as `args`.
SubcommandHandler = Callable[..., Awaitable[None]]
# Saving a token connection happens before the modal's ack, so the admin only sees
# "connected" once it is stored; cleaning up an old site's webhooks gets this long at most.
TOKEN_CLEANUP_SECONDS = 0.5
_extra_subcommands: dict[str, SubcommandHandler] = {}


def add_subcommand(name: str, handler: SubcommandHandler) -> None:
    """Let another surface answer `/jira NAME` (it does its own admin check)."""
    _extra_subcommands[name] = handler


def register(app: AsyncApp) -> None:
    app.command("/jira")(handle_jira)
    app.action(ids.AUTHORIZE_LINK)(ack_only)
    app.action(ids.CANCEL)(handle_cancel)
    app.action(ids.CONNECT_OAUTH)(handle_connect_button)
    app.action(ids.CONNECT_TOKEN)(handle_token_button)
    app.action(ids.DISCONNECT)(handle_disconnect_button)
    app.view(ids.TOKEN_MODAL)(handle_token_submission)
    jira_settings.register(app)


async def handle_jira(ack, command, context, client, respond) -> None:
    subcommand, _, args = (command.get("text") or "").strip().partition(" ")
    subcommand, args = subcommand.lower(), args.strip()
    kwargs = dict(ack=ack, command=command, context=context, client=client, respond=respond)
    if subcommand in ("", "help"):
        await ack(**jira_help())
    elif subcommand == "status":
        report = await connections.status_report(
            context["runtime"], context["workspace_id"], command.get("channel_id")
        )
        await ack(**jira_status.status_message(report))
    elif subcommand in ("connect", "settings", "disconnect"):
        if not await is_admin(client, context.team_id, command["user_id"]):
            await ack(text=ADMIN_ONLY)
        elif subcommand == "connect":
            await _connect(args, **kwargs)
        elif subcommand == "settings":
            await jira_settings.open_settings(**kwargs)
        else:
            await _disconnect_prompt(**kwargs)
    elif subcommand in _extra_subcommands:
        await _extra_subcommands[subcommand](**kwargs, args=args)
    else:
        await ack(text=f"`/jira {subcommand}` isn't a command I know. Try `/jira help`.")


async def ack_only(ack) -> None:
    await ack()


# --- connect ----------------------------------------------------------------------------


async def _connect(args: str, *, ack, command, context, client, respond) -> None:
    runtime = context["runtime"]
    if args.lower() == "token":
        await ack()
        await client.views_open(trigger_id=command["trigger_id"], view=jira_connect.token_modal())
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
    if not await _admin_or_tell(client, context, body):
        return
    if not runtime.settings.oauth_enabled:
        await client.views_open(trigger_id=body["trigger_id"], view=jira_connect.token_modal())
        return
    url = await oauth.begin(runtime, context["workspace_id"], user_id)
    await client.views_open(trigger_id=body["trigger_id"], view=jira_connect.authorize_modal(url))


async def handle_token_button(ack, body, context, client) -> None:
    await ack()
    if await _admin_or_tell(client, context, body):
        await client.views_open(trigger_id=body["trigger_id"], view=jira_connect.token_modal())


async def handle_token_submission(ack, body, view, context, client) -> None:
    runtime, workspace_id, user_id = context["runtime"], context["workspace_id"], body["user"]["id"]
    if not await is_admin(client, context.team_id, user_id):
        await ack(response_action="errors", errors={ids.SITE_BLOCK: ADMIN_ONLY})
        return
    check = await connections.check_api_token(runtime, jira_connect.read_token_form(view))
    if check.errors:
        await ack(response_action="errors", errors=check.errors)
        return
    new = check.connection
    await connections.replace_connection(
        runtime, workspace_id, user_id, new, cleanup_timeout=TOKEN_CLEANUP_SECONDS
    )
    await ack(
        response_action="update",
        view=jira_connect.token_connected_view(new.site_url, new.account_name),
    )
    await connections.follow_up_connect(runtime, workspace_id, user_id, new, announce=False)


# --- disconnect -------------------------------------------------------------------------


async def _disconnect_prompt(*, ack, context, **_) -> None:
    report = await connections.status_report(context["runtime"], context["workspace_id"], None)
    if not report.connected:
        await ack(text="Jira isn't connected, so there is nothing to disconnect.")
        return
    await ack(**jira_status.disconnect_prompt(report.site_url or ""))


async def handle_disconnect_button(ack, body, context, client, respond) -> None:
    """The confirmed Disconnect (Slack's confirm dialog ran first), from the /jira
    disconnect reply or from App Home."""
    await ack()
    if not await _admin_or_tell(client, context, body):
        return
    runtime, workspace_id = context["runtime"], context["workspace_id"]
    site_url = await connections.disconnect(runtime, workspace_id)
    if body.get("response_url"):
        await respond(replace_original=True, **jira_status.disconnected_message(site_url))
    await connections.refresh_home(runtime, workspace_id, body["user"]["id"], client=client)


async def handle_cancel(ack, body, respond) -> None:
    await ack()
    if body.get("response_url"):
        await respond(delete_original=True)


async def _admin_or_tell(client, context, body) -> bool:
    """For buttons: the clicker must be an admin too; if not, say so where they clicked."""
    user_id = body["user"]["id"]
    if await is_admin(client, context.team_id, user_id):
        return True
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    if channel:
        await client.chat_postEphemeral(channel=channel, user=user_id, text=ADMIN_ONLY)
    else:
        await client.chat_postMessage(channel=user_id, text=ADMIN_ONLY)
    return False
