"""Usage text for /retro help and /jira help."""

from __future__ import annotations

from bot.views.blocks import context, header, section

RETRO_USAGE = [
    ("/retro start [title]", "Start a retro in this channel and post its summary"),
    ("/retro add [title]", "Add an action item to this channel's open retro"),
    ("/retro list", "Show the open retro's action items and their Jira state"),
    ("/retro commit", "Commit the action items: each one becomes a Jira issue"),
    ("/retro close", "Close the retro (facilitator or admin); synced items keep updating"),
    ("/retro help", "Show this help"),
]

JIRA_USAGE = [
    ("/jira connect", "Connect Jira Cloud with your Atlassian account (admins)"),
    ("/jira connect token", "Connect Jira Cloud with an API token (admins)"),
    (
        "/jira settings",
        "Default project, issue type, this channel's override, webhooks, epics (admins)",
    ),
    ("/jira status", "Connection, settings, webhook health and failed syncs"),
    ("/jira log", "Recent sync attempts and failures, with Retry (admins)"),
    ("/jira retry", "Retry every action item whose sync failed (admins)"),
    ("/jira disconnect", "Remove the Jira connection; issue keys keep linking (admins)"),
    ("/jira help", "Show this help"),
]


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


def jira_help() -> dict:
    return _usage(
        "Unpack for Jira Cloud",
        JIRA_USAGE,
        "Action items become Jira issues when a retro is committed; Done in Jira completes them.",
    )
