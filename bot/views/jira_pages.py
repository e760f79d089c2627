"""The HTML pages of the OAuth callback: success, failure, and the site chooser. Pure; every
value that came from outside is escaped."""

from __future__ import annotations

from html import escape

STYLE = """
body{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,sans-serif;
max-width:34rem;margin:4rem auto;padding:0 1rem;color:#1d1c1d;line-height:1.5}
h1{font-size:1.4rem}.site{display:block;width:100%;margin:.5rem 0;padding:.8rem 1rem;
font-size:1rem;text-align:left;border:1px solid #bbb;border-radius:6px;background:#fff;
cursor:pointer}.site:hover{border-color:#1264a3}.muted{color:#616061;font-size:.9rem}
"""


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · Unpack</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def success_page(site_url: str, account_name: str | None, workspace_name: str) -> str:
    """Names the Slack workspace too: whoever finished the consent sees where it went."""
    who = f" as {escape(account_name)}" if account_name else ""
    return _page(
        "Jira connected",
        "<h1>Jira is connected</h1>"
        f"<p>Unpack in the Slack workspace <strong>{escape(workspace_name)}</strong> is "
        f"connected to <strong>{escape(site_url)}</strong>{who}.</p>"
        "<p>You can close this tab and go back to Slack, where a message confirms it. Next, "
        "choose the default project with <code>/jira settings</code>.</p>",
    )


def failure_page(reason: str) -> str:
    return _page(
        "Jira not connected",
        "<h1>Jira was not connected</h1>"
        f"<p>{escape(reason)}</p>"
        "<p>Nothing was saved. To try again, run <code>/jira connect</code> in Slack.</p>",
    )


def chooser_page(action_url: str, nonce: str, sites: list[tuple[str, str, str]]) -> str:
    """One submit button per site (cloud id, name, URL); choosing one completes the
    connection. The nonce makes the form single-use."""
    buttons = "".join(
        f'<button class="site" type="submit" name="site" value="{escape(cloud_id)}">'
        f"<strong>{escape(url)}</strong><br><span class=muted>{escape(name)}</span></button>"
        for cloud_id, name, url in sites
    )
    return _page(
        "Choose a Jira site",
        "<h1>Which Jira site should Unpack use?</h1>"
        "<p>Your Atlassian account reaches several Jira sites. Action items become issues in "
        "the one you choose.</p>"
        f'<form method="post" action="{escape(action_url)}">'
        f'<input type="hidden" name="nonce" value="{escape(nonce)}">{buttons}</form>'
        '<p class="muted">This choice expires in 10 minutes.</p>',
    )
