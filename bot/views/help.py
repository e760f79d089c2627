"""Usage text for /retro help and /jira help."""

from __future__ import annotations

from bot.views.blocks import clip, context, escape, header, section

# An unknown subcommand is echoed back this long at most.
TYPED_SHOWN_MAX = 40

RETRO_USAGE = [
    ("/retro start [title]", "Start a retro in this channel and post its summary"),
    ("/retro add [title]", "Add an action item to this channel's open retro"),
    ("/retro list", "Show the open retro's action items and their Jira state"),
    ("/retro commit", "Commit the action items: each one becomes a Jira issue"),
    ("/retro close", "Close the retro (facilitator or admin); synced items keep updating"),
    ("/retro help", "Show this help"),
]

JIRA_USAGE = [
    ("/jira status", "Connection, settings, webhook health and failed syncs"),
    ("/jira help", "Show this help"),
]
JIRA_ADMIN_USAGE = [
    ("/jira connect", "Connect Jira Cloud with your Atlassian account"),
    ("/jira connect token", "Connect Jira Cloud with an API token"),
    ("/jira settings", "Default project, issue type, this channel's override, webhooks, epics"),
    ("/jira log", "Recent sync attempts and failures, with Retry"),
    ("/jira retry", "Retry every action item whose sync failed"),
    ("/jira disconnect", "Remove the Jira connection; issue keys keep linking"),
]
JIRA_FOOTER = (
    "Action items become Jira issues when a retro is committed; Done in Jira completes them."
)
# Members are not shown commands they would only be refused; they learn who acts instead.
MEMBER_NOTE = "A workspace admin connects Jira and chooses where action items go."


def _usage(title: str, rows: list[tuple[str, str]], footer: str) -> dict:
    lines = "\n".join(f"`{command}`  {what}" for command, what in rows)
    return {
        "text": f"{title}\n" + "\n".join(f"{c}: {w}" for c, w in rows),
        "blocks": [header(title), section(lines), context(footer)],
    }


def retro_help() -> dict:
    return _usage(
        "Unpack retros",
        RETRO_USAGE,
        "On any message, *More actions* (⋮) → *Sync to Jira* turns it into an action item.",
    )


def jira_help(*, admin: bool) -> dict:
    """Everything for admins; for members, what they can run and who does the rest."""
    if admin:
        return _usage("Unpack for Jira Cloud", JIRA_ADMIN_USAGE + JIRA_USAGE, JIRA_FOOTER)
    return _usage("Unpack for Jira Cloud", JIRA_USAGE, f"{MEMBER_NOTE} {JIRA_FOOTER}")


def unknown_subcommand(command: str, typed: str) -> str:
    """What was typed is echoed as text: `/retro <!channel>` mentions nobody."""
    shown = escape(clip(typed, TYPED_SHOWN_MAX))
    return f"`{command} {shown}` isn't a command I know. Try `{command} help`."
