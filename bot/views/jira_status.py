"""What a workspace's Jira connection looks like: /jira status, the App Home card, the
connect / disconnect confirmations. Pure: data in, Block Kit out."""

from __future__ import annotations

from datetime import datetime

from bot import messages
from bot.jira_status import StatusReport, Target
from bot.views import jira_ids as ids
from bot.views.blocks import (
    SECTION_TEXT_MAX,
    actions,
    button,
    clip,
    context,
    divider,
    escape,
    header,
    section,
)
from bot.views.sync_log import when
from bot.views.words import plural
from storage.models import ConnectionMethod, SyncDirection

METHOD_LABELS = {
    ConnectionMethod.OAUTH: "OAuth (Atlassian account)",
    ConnectionMethod.API_TOKEN: "API token",
}
OVERRIDES_SHOWN = 10
OVERRIDES_TEXT_MAX = SECTION_TEXT_MAX - 100  # room for the "…and N more" line


def _describe(target: Target) -> str:
    if not target.project_key:
        return "not chosen yet"
    return f"{target.project_key} · {clip(target.issue_type_name or 'no issue type', 80)}"


def direction_text(direction: str | None) -> str:
    if direction == SyncDirection.ONE_WAY:
        return "One-way (Slack → Jira only): only Done in Jira comes back"
    return "Two-way: changes made in Jira come back to Slack"


def webhook_health(report: StatusReport) -> str:
    hooks = report.webhooks
    if not report.webhooks_enabled:
        return "off: status is read from Jira on every sync cycle"
    if hooks.error:
        return f":warning: {hooks.error}"
    last = _when(hooks.last_delivery_at)
    heard = f"; last delivery {last}" if last else "; no delivery received yet"
    if report.method == ConnectionMethod.OAUTH:
        if hooks.registered:
            renew = _when(hooks.expires_at)
            expiry = f", expires {renew} (renewed before then)" if renew else ""
            return "registered" + expiry + heard
        return "not registered yet (registered once a default project is chosen)"
    if not hooks.secret_saved:
        return (
            "waiting for set-up: add the webhook in Jira and paste its secret in `/jira settings`"
        )
    return "secret saved" + heard


def webhook_health_for_members(report: StatusReport) -> str:
    """What members see instead: the set-up and the fixes are admin work, so they are told
    the state and who acts, never pointed to admin commands."""
    health = webhook_health(report)
    if health.startswith(":warning:"):
        # The admin's wording names the commands that fix it (always in backticks); a
        # member keeps what happened and learns who acts.
        sentences = [s for s in health.split(". ") if "`" not in s]
        return ". ".join(sentences).rstrip(". ") + ". A workspace admin has been told."
    if health.startswith("waiting for set-up"):
        return "waiting for set-up by a workspace admin"
    return health


def _when(value: datetime | None) -> str | None:
    """In each reader's own time zone."""
    return when(value) if value else None


def _link(url: str) -> str:
    return f"<{url}|{escape(url)}>"


def _connection_lines(report: StatusReport) -> list[str]:
    return [
        f"*Site:* {_link(report.site_url or '')}",
        f"*Account:* {escape(report.account_name or 'unknown')}",
        f"*Method:* {METHOD_LABELS.get(report.method or '', report.method)}",
    ]


def _settings_lines(report: StatusReport) -> list[str]:
    lines = [f"*Default project and issue type:* {escape(_describe(report.default))}"]
    if report.channel_id:
        override = report.channel_override
        lines.append(
            f"*This channel (<#{report.channel_id}>):* "
            + (escape(_describe(override)) if override else "uses the default")
        )
    lines.append(f"*Epic per retro:* {'on' if report.epic_per_retro else 'off'}")
    lines.append(f"*Sync direction:* {direction_text(report.sync_direction)}")
    return lines


def _health_lines(report: StatusReport, *, admin: bool = True) -> list[str]:
    failed = report.failed_syncs
    failures = plural(failed, "action item") if failed else "none"
    hint = ""
    if failed:
        hint = (
            " (`/jira log` shows them, `/jira retry` retries them)"
            if admin
            else " (a workspace admin can see why and retry them)"
        )
    health = webhook_health(report) if admin else webhook_health_for_members(report)
    return [f"*Webhooks:* {health}", f"*Failed syncs:* {failures}{hint}"]


def status_message(report: StatusReport, *, admin: bool) -> dict:
    """The ephemeral reply to /jira status (anyone may ask; only admins are pointed to the
    admin commands)."""
    if not report.connected:
        return {"text": messages.NOT_CONNECTED, "blocks": [section(messages.NOT_CONNECTED)]}
    blocks = [header("Jira connection")]
    if report.broken:
        blocks.append(section(_broken_text(report)))
    blocks += [
        section("\n".join(_connection_lines(report))),
        section("\n".join(_settings_lines(report))),
        section("\n".join(_health_lines(report, admin=admin))),
    ]
    text = f"Jira: {report.site_url} as {report.account_name}" + (
        " (broken: reconnect)" if report.broken else ""
    )
    return {"text": text, "blocks": blocks}


def _broken_text(report: StatusReport) -> str:
    reason = escape(report.broken_reason or "credentials refused")
    return f":warning: *Connection broken:* {messages.broken(reason, report.method)}"


def home_card(report: StatusReport) -> list[dict]:
    """The Jira card of App Home, for admins."""
    blocks = [header("Jira")]
    if not report.connected:
        blocks += [
            section(
                f"{messages.NOT_CONNECTED_YET} Connect a Jira Cloud site to turn action items "
                "into issues."
            ),
            actions(*_connect_buttons(report, primary=True)),
            divider(),
        ]
        return blocks
    if report.broken:
        blocks.append(section(_broken_text(report)))
    blocks += [
        section("\n".join(_connection_lines(report))),
        section("\n".join(_settings_lines(report))),
    ]
    if report.overrides:
        blocks.append(section(_overrides_text(report.overrides)))
    blocks.append(section("\n".join(_health_lines(report))))
    buttons = [button("Settings", ids.OPEN_SETTINGS, style="primary")]
    if report.broken:
        buttons = _connect_buttons(report, primary=True, label="Reconnect")
    # Disconnect apart from the everyday buttons, so it is never pressed for Settings.
    blocks += [
        actions(*buttons),
        context("Done with Jira? Disconnecting stops syncing; issue keys keep linking."),
        actions(disconnect_button(report.site_url or ""), block_id=ids.DISCONNECT_BLOCK),
    ]
    return blocks


def _overrides_text(overrides: list[tuple[str, Target]]) -> str:
    """As many lines as fit in one section, then how many more there are."""
    text = "*Channel overrides:*"
    for shown, (channel, target) in enumerate(overrides):
        line = f"\n<#{channel}>: {escape(_describe(target))}"
        if shown == OVERRIDES_SHOWN or len(text) + len(line) > OVERRIDES_TEXT_MAX:
            return text + f"\n…and {len(overrides) - shown} more"
        text += line
    return text


def _connect_buttons(report: StatusReport, *, primary: bool, label: str = "Connect") -> list:
    style = "primary" if primary else None
    if report.oauth_enabled:
        return [
            button(f"{label} with Atlassian", ids.CONNECT_OAUTH, style=style),
            button(f"{label} with an API token", ids.CONNECT_TOKEN),
        ]
    return [button(f"{label} with an API token", ids.CONNECT_TOKEN, style=style)]


def disconnect_button(site_url: str) -> dict:
    return button(
        "Disconnect",
        ids.DISCONNECT,
        "disconnect",
        style="danger",
        confirm={
            "title": {"type": "plain_text", "text": "Disconnect Jira?"},
            "text": {
                "type": "mrkdwn",
                "text": (
                    f"Unpack will forget the credentials for {escape(site_url)[:200]} and remove "
                    "its webhooks. Action items stop syncing; their issue keys keep linking."
                ),
            },
            "confirm": {"type": "plain_text", "text": "Disconnect"},
            "deny": {"type": "plain_text", "text": "Cancel"},
            "style": "danger",
        },
    )


def disconnect_prompt(site_url: str) -> dict:
    """The ephemeral reply to /jira disconnect: nothing happens until the admin confirms."""
    text = (
        f"Disconnect Jira ({site_url})? Unpack will forget the credentials and remove its "
        "webhooks; action items stop syncing, and their issue keys keep linking."
    )
    return {
        "text": text,
        "blocks": [
            section(
                f"Disconnect Jira ({_link(site_url)})?\nUnpack will forget the credentials and "
                "remove its webhooks. Action items stop syncing; their issue keys keep linking."
            ),
            actions(disconnect_button(site_url), button("Cancel", ids.CANCEL)),
        ],
    }


def disconnected_message(site_url: str | None) -> dict:
    if site_url is None:
        text = "Jira was already disconnected."
    else:
        text = (
            f"Disconnected from Jira ({site_url}). Credentials and webhooks are removed and "
            "action items no longer sync; their issue keys keep linking. "
            f"Connect again any time with `{messages.CONNECT}`."
        )
    return {"text": text, "blocks": [section(escape(text))]}


def connected_message(site_url: str, account_name: str | None, method: str) -> dict:
    """The confirmation the admin gets in Slack once a connection is saved."""
    who = f" as {account_name}" if account_name else ""
    how = METHOD_LABELS.get(method, method)
    text = f"Jira is connected: {site_url}{who} ({how})."
    body = (
        f":white_check_mark: Jira is connected: {_link(site_url)}{escape(who)} ({how}).\n"
        "Next, choose the default project and issue type with `/jira settings`."
    )
    return {"text": text, "blocks": [section(body)]}
