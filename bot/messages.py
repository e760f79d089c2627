"""Sentences the app says in more than one place, worded once.

Whether Jira is connected, how to connect it again, who may do what, and the link to an
issue read the same in a command's reply, on the retro card, in App Home, in the Sync Log
and in a direct message. Advice names the command that really fixes the problem for this
reader: an API-token workspace reconnects with `/jira connect token`, not with OAuth, and
a member is told that an admin acts rather than pointed at an admin-only command.
"""

from __future__ import annotations

import re

from storage.models import ConnectionMethod

CONNECT = "/jira connect"
CONNECT_TOKEN = "/jira connect token"  # noqa: S105 (a command, not a secret)

NOT_CONNECTED_YET = "Jira isn't connected to this workspace."
NOT_CONNECTED = f"{NOT_CONNECTED_YET} A workspace admin can connect it with `{CONNECT}`."
ADMIN_ONLY = "Only workspace admins and owners can do that. Ask one of them to run it for you."
ITEM_GONE = (
    "That action item can't be found. It may have been removed, or it belongs to another workspace."
)
COULD_NOT_CHECK_ADMIN = (
    "Slack couldn't tell Unpack whether you're an admin just now. Please try again in a moment."
)
DATABASE_SLOW = (
    "Unpack can't reach its database just now, so nothing was done. Please try again in a minute."
)
# Jira took longer than the app waits for it: the reason kept on the error, shown in the
# Sync Log, /jira status and the settings modal.
JIRA_NO_ANSWER = "Jira did not answer in time"
# A create sent without an answer: the issue may exist, so it is looked for before resending.
JIRA_NO_ANSWER_TO_CREATE = "Jira did not answer the create in time"
# Every try answered 429 (Jira's own detail is a bare "HTTP 429").
JIRA_KEPT_LIMITING = "Jira kept rate-limiting requests"
# Something Unpack did not expect stopped a sync (its own fault, not Jira's): the reader
# is told it is ours and what to do; the operator finds the traceback in the log.
WENT_WRONG = "Something went wrong on our side while syncing"
WENT_WRONG_RETRYING = f"{WENT_WRONG}; will try again shortly."
WENT_WRONG_FINAL = f"{WENT_WRONG}. Use Retry to try again."


# An e-mail address inside a name (its local part kept).
_ADDRESS = re.compile(r"([A-Za-z0-9._%+-]+)@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def person_from_jira(display_name: str | None) -> str | None:
    """A Jira account's display name as Unpack keeps and shows it, channel lines included.
    Jira may display an account that has no name of its own by its e-mail address, and an
    address is never shown in a channel: the part before the @ still says who it is."""
    if not display_name:
        return None
    if "@" not in display_name:  # no address to shorten (most names): no regex pass
        return display_name.strip() or None
    return _ADDRESS.sub(r"\1", display_name).strip() or None


def jira_unanswered(reason: str) -> str:
    """Why Jira did not answer, naming Jira once: the client's own reasons for a timeout
    or a lost connection are whole clauses already ("Jira did not answer in time"), a bare
    status or Jira's own words are not ("HTTP 503")."""
    if "jira" in reason.lower() or "atlassian" in reason.lower():
        return reason[:1].upper() + reason[1:]
    return f"Jira did not answer ({reason})"


def gave_up_on_jira(reason: str) -> str:
    """The last automatic try failed the way a retry could fix: say why once, then what
    the reader can do ("Jira did not answer in time after several tries. Use Retry…")."""
    return f"{jira_unanswered(reason.rstrip('.'))} after several tries. Use Retry to try again."


def no_site_at(site_url: str) -> str:
    """An address where no Jira Cloud site answered (a typo, or some other web site)."""
    return f"No Jira Cloud site answered at {site_url}."


def slack_connection_lost(install_url: str) -> str:
    """The workspace's bot token is stored but cannot be read (the operator's encryption
    key changed without the old one): only installing the app again mends it."""
    return (
        "Unpack can't act in this workspace right now: its connection to Slack needs "
        "setting up again, so nothing was done. A workspace admin can fix this by "
        f"<{install_url}|installing Unpack again>."
    )


def connect_command(method: str | None) -> str:
    """The command that connects again the way this workspace connected (OAuth when it
    is not known)."""
    return CONNECT_TOKEN if method == ConnectionMethod.API_TOKEN else CONNECT


def not_connected(*, for_admin: bool = False, oauth: bool = True) -> str:
    """ "Jira isn't connected…" and who connects it, with which command."""
    if not for_admin:
        return NOT_CONNECTED
    if not oauth:
        return f"{NOT_CONNECTED_YET} Connect it first with `{CONNECT_TOKEN}`."
    return f"{NOT_CONNECTED_YET} Connect it first with `{CONNECT}` (or `{CONNECT_TOKEN}`)."


def reconnect(method: str | None, *, for_admin: bool = False) -> str:
    """Who reconnects Jira, and with which command."""
    command = connect_command(method)
    if for_admin:
        return f"Reconnect with `{command}`."
    return f"A workspace admin needs to reconnect it with `{command}`."


def revoked(method: str | None, *, for_admin: bool = False) -> str:
    """Why nothing reaches Jira when the credentials stopped working."""
    return f"Jira credentials were revoked or expired. {reconnect(method, for_admin=for_admin)}"


def broken(reason: str, method: str | None) -> str:
    """A broken connection, for admins: why, and what stops until they act."""
    return (
        f"{reason}. Action items won't sync until an admin reconnects with "
        f"`{connect_command(method)}`."
    )


def deleted_in_jira(key: str) -> str:
    """An item whose issue is gone from Jira (its line offers Create again)."""
    return f"{key} was deleted in Jira"


def on_other_site(key: str, site_url: str | None) -> str:
    """An item whose issue lives on a site this workspace is no longer connected to: the
    connected site may hold an unrelated issue with the same id, so nothing is sent."""
    site = (site_url or "its site").removeprefix("https://").rstrip("/")
    return (
        f"{key} is on {site}, which is no longer connected, so nothing was sent to Jira. "
        f"An admin can connect {site} again with `{CONNECT}` to sync it."
    )


def browse_url(site_url: str, key: str) -> str:
    """An issue's page: `https://SITE/browse/KEY`."""
    return f"{site_url.rstrip('/')}/browse/{key}"


def jira_link(site_url: str | None, key: str) -> str:
    """An issue key as a link to its page (mrkdwn); the bare key without a site."""
    if not site_url:
        return key
    return f"<{browse_url(site_url, key)}|{key}>"


def modal_not_opened(what: str) -> str:
    """A modal Slack would not open (its trigger, good for 3 seconds, ran out)."""
    return f"Slack couldn't open the {what} in time. Please try again."
