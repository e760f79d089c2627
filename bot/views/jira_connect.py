"""Connecting Jira from Slack: the OAuth reply and the API-token modal. Pure builders."""

from __future__ import annotations

from bot import messages
from bot.connections import FIELD_EMAIL, FIELD_SITE, FIELD_TOKEN, TokenForm
from bot.jira.oauth import FLOW_MINUTES
from bot.views import jira_ids as ids
from bot.views.blocks import actions, button, context, escape, plain, section


def read_token_form(view: dict) -> TokenForm:
    values = (view.get("state") or {}).get("values") or {}

    def text(block: str, action: str) -> str:
        return ((values.get(block) or {}).get(action) or {}).get("value") or ""

    return TokenForm(
        site_url=text(ids.SITE_BLOCK, ids.SITE_INPUT),
        email=text(ids.EMAIL_BLOCK, ids.EMAIL_INPUT),
        api_token=text(ids.TOKEN_BLOCK, ids.TOKEN_INPUT),
    )


def token_error_blocks(errors: dict[str, str]) -> dict[str, str]:
    """The token check's field-keyed errors on the modal's inputs."""
    blocks = {
        FIELD_EMAIL: ids.EMAIL_BLOCK,
        FIELD_TOKEN: ids.TOKEN_BLOCK,
        FIELD_SITE: ids.SITE_BLOCK,
    }
    return {blocks.get(name, ids.SITE_BLOCK): text for name, text in errors.items()}


def _authorize_button(url: str) -> dict:
    return button("Authorize in Atlassian", ids.AUTHORIZE_LINK, style="primary", url=url)


def _authorize_text() -> str:
    return (
        "*Connect Jira Cloud.* Sign in with your Atlassian account and allow Unpack to read and "
        "create issues. If your account reaches several Jira sites, you'll pick one next."
    )


_LINK_TERMS = f"The link works once, for {FLOW_MINUTES} minutes, and only for you."


def authorize_reply(url: str) -> dict:
    """The ephemeral reply to /jira connect: a button to Atlassian's consent page."""
    return {
        # Not the URL: it carries the flow's state, and notifications show this text.
        "text": "Connect Jira Cloud: authorize Unpack in Atlassian with the button below.",
        "blocks": [
            section(_authorize_text()),
            actions(_authorize_button(url)),
            context(f"{_LINK_TERMS} Prefer an API token? Use `{messages.CONNECT_TOKEN}`."),
        ],
    }


def authorize_modal(url: str) -> dict:
    """The same, as a modal (OAuth started from App Home has no reply to put a link in)."""
    return {
        "type": "modal",
        "callback_id": ids.AUTHORIZE_MODAL,
        "title": plain("Connect Jira", 24),
        "close": plain("Close", 24),
        "blocks": [
            section(_authorize_text()),
            actions(_authorize_button(url)),
            context(_LINK_TERMS),
        ],
    }


def oauth_unavailable_reply() -> dict:
    # Said in words: the admin reading this is rarely the one who runs the server, and a
    # variable name means nothing to them.
    text = (
        "Connecting with an Atlassian account isn't set up for this Unpack. Whoever runs "
        "Unpack's server can turn it on by registering Unpack as an app in Atlassian's "
        "developer console and giving Unpack that app's client ID and secret. Until then, "
        f"connect with an API token: `{messages.CONNECT_TOKEN}`."
    )
    return {
        "text": text,
        "blocks": [
            section(text),
            actions(button("Connect with an API token", ids.CONNECT_TOKEN, style="primary")),
        ],
    }


def _input(block_id: str, action_id: str, label: str, *, placeholder: str, hint: str = "",
           initial: str | None = None) -> dict:  # fmt: skip
    element = {
        "type": "plain_text_input",
        "action_id": action_id,
        "placeholder": plain(placeholder, 150),
    }
    if initial:
        element["initial_value"] = initial
    block = {"type": "input", "block_id": block_id, "label": plain(label, 2000), "element": element}
    if hint:
        block["hint"] = plain(hint, 2000)
    return block


def token_modal(*, site_url: str | None = None, email: str | None = None) -> dict:
    """Site URL, account email and API token; checked against Jira on submit."""
    return {
        "type": "modal",
        "callback_id": ids.TOKEN_MODAL,
        "title": plain("Connect Jira", 24),
        "submit": plain("Connect", 24),
        "close": plain("Cancel", 24),
        "blocks": [
            section(
                "Connect with an Atlassian API token. Unpack acts as this account: issues it "
                "creates are reported by it, so it needs *Create issues* in your projects."
            ),
            _input(
                ids.SITE_BLOCK,
                ids.SITE_INPUT,
                "Jira site URL",
                placeholder="https://your-team.atlassian.net",
                initial=site_url,
            ),
            _input(
                ids.EMAIL_BLOCK,
                ids.EMAIL_INPUT,
                "Account email",
                placeholder="you@example.com",
                initial=email,
            ),
            _input(
                ids.TOKEN_BLOCK,
                ids.TOKEN_INPUT,
                "API token",
                placeholder="Paste the token",
                hint="Create one at id.atlassian.com → Security → API tokens. "
                "It is stored encrypted and never shown again.",
            ),
        ],
    }


def token_connected_view(site_url: str, account_name: str | None) -> dict:
    who = f" as {escape(account_name)}" if account_name else ""
    return {
        "type": "modal",
        "callback_id": ids.TOKEN_MODAL + "_done",
        "title": plain("Jira connected", 24),
        "close": plain("Done", 24),
        "blocks": [
            section(f":white_check_mark: Connected to <{site_url}|{escape(site_url)}>{who}."),
            context(
                "Next, choose the default project and issue type with `/jira settings`, and set "
                "up the Jira webhook it shows so Done in Jira completes action items."
            ),
        ],
    }


def connect_failed_view(reason: str) -> dict:
    return {
        "type": "modal",
        "callback_id": ids.TOKEN_MODAL + "_failed",
        "title": plain("Jira not connected", 24),
        "close": plain("Close", 24),
        "blocks": [section(f":warning: {escape(reason)}")],
    }
