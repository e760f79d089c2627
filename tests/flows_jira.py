"""Connecting Jira and choosing where action items go, driven the way an admin does it
(slash command, modal, Atlassian consent in a browser), for any test that needs a
connected workspace:

    connect_with_token(slack, slack_emulator, team, site)
    connect_with_oauth(app, slack, slack_emulator, jira_emulator, team, [site])
    choose_default_project(slack, slack_emulator, team, project_key="TEAM", issue_type="Task")
    set_channel_override(slack, slack_emulator, team, "C123", "OPS", "Bug")

Each one asserts that its step succeeded, so a broken connect fails where it broke.
"""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass

import httpx

from bot.views import jira_ids as ids
from tests.fakes.slack.requests import checkbox_values, text_value

EXTERNAL = "external_select"


def new_site(jira_emulator, prefix: str = "acme"):
    """A fresh Jira Cloud site of its own with projects TEAM and OPS (Task, Bug, Epic)."""
    site = jira_emulator.add_site(prefix + uuid.uuid4().hex[:8])
    site.add_project("TEAM", "Team board")
    site.add_project("OPS", "Operations")
    return site


# --- modals -------------------------------------------------------------------------------


def open_views_now(slack_emulator, team, user_id: str) -> set[str]:
    return {v.id for v in slack_emulator.open_views(user_id, team_id=team.team_id)}


def wait_for_modal(slack_emulator, team, user_id: str, callback_id: str, before: set[str]):
    """The modal the app opened after a command or click (views.open runs after the ack)."""

    def opened():
        views = slack_emulator.open_views(user_id, team_id=team.team_id)
        return next(
            (v for v in reversed(views) if v.callback_id == callback_id and v.id not in before),
            None,
        )

    return slack_emulator.wait_for(opened, message=f"a {callback_id} modal for {user_id}")


def current_view(slack_emulator, view):
    return slack_emulator.views[view.id]


# --- API token ----------------------------------------------------------------------------


def token_modal(slack, slack_emulator, team, *, user_id: str | None = None):
    user_id = user_id or team.admin
    before = open_views_now(slack_emulator, team, user_id)
    reply = slack.command(team.team_id, user_id, team.channel, "/jira", "connect token")
    assert reply.status_code == 200, reply.text
    return wait_for_modal(slack_emulator, team, user_id, ids.TOKEN_MODAL, before)


def submit_token_modal(
    slack, team, view, *, site_url: str, email: str, token: str, user_id: str | None = None
) -> httpx.Response:
    values = {
        ids.SITE_BLOCK: {ids.SITE_INPUT: text_value(site_url)},
        ids.EMAIL_BLOCK: {ids.EMAIL_INPUT: text_value(email)},
        ids.TOKEN_BLOCK: {ids.TOKEN_INPUT: text_value(token)},
    }
    return slack.view_submission(team.team_id, user_id or team.admin, view, values)


def connect_with_token(
    slack,
    slack_emulator,
    team,
    site,
    *,
    email: str | None = None,
    token: str | None = None,
    display_name: str = "Jira Robot",
) -> str:
    """Connects `team` to `site` with a fresh API token; returns the account's name."""
    email = email or f"robot.{uuid.uuid4().hex[:6]}@{site.name}.example.com"
    token = token or "ATATT" + uuid.uuid4().hex
    if site.find_user_by_email(email) is None:
        site.add_user(email, display_name)
    site.add_api_token(email, token)
    view = token_modal(slack, slack_emulator, team)
    answer = submit_token_modal(slack, team, view, site_url=site.url, email=email, token=token)
    body = answer.json()
    assert body.get("response_action") == "update", f"token connect refused: {body}"
    return site.find_user_by_email(email).display_name


# --- OAuth --------------------------------------------------------------------------------


@dataclass
class OAuthAttempt:
    reply: httpx.Response  # the ephemeral answer to /jira connect
    authorize_url: str  # Atlassian's consent page, where the app's start link sent the browser
    callback_url: str | None  # where Atlassian sent the browser back
    page: httpx.Response | None  # what the app showed there
    user: object  # the Atlassian account (emulator User) that consented


def authorize_url_in(reply_body: dict) -> str:
    for block in reply_body.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("action_id") == ids.AUTHORIZE_LINK:
                return element["url"]
    raise AssertionError(f"no Authorize button in {reply_body}")


def start_oauth(slack, team, *, user_id: str | None = None) -> tuple[httpx.Response, str]:
    """/jira connect: its reply and the link it gives (the app's /jira/oauth/start)."""
    reply = slack.command(team.team_id, user_id or team.admin, team.channel, "/jira", "connect")
    assert reply.status_code == 200, reply.text
    return reply, authorize_url_in(reply.json())


def open_start_link(browser: httpx.Client, link: str) -> str:
    """The admin's browser opens /jira connect's link: the app binds the flow to it with a
    cookie (kept in `browser`'s jar) and redirects to Atlassian; returns where to."""
    answer = browser.get(link, follow_redirects=False)
    assert answer.status_code == 302, f"the start link was refused: {answer.text}"
    return answer.headers["location"]


def consent_in_browser(
    jira_emulator, authorize_url: str, user, sites, *, deny: bool = False
) -> str:
    """The admin's browser at Atlassian: consent (scripted) and the redirect back."""
    jira_emulator.consent(user, sites, deny=deny)
    with httpx.Client(verify=jira_emulator.ssl_context(), timeout=10) as browser:
        answer = browser.get(authorize_url)
    assert answer.status_code == 302, f"Atlassian refused the authorize URL: {answer.text}"
    return answer.headers["location"]


def connect_with_oauth(
    app,
    slack,
    slack_emulator,
    jira_emulator,
    team,
    sites,
    *,
    user=None,
    choose=None,
    deny: bool = False,
) -> OAuthAttempt:
    """Runs /jira connect to the end. With several sites, `choose` (a Site) is clicked on
    the chooser page; without it the attempt stops at that page."""
    sites = list(sites)
    if user is None:
        user = sites[0].add_user(f"ana.{uuid.uuid4().hex[:6]}@example.com", "Ana Lima")
    reply, link = start_oauth(slack, team)
    url = open_start_link(app.client, link)
    callback = consent_in_browser(jira_emulator, url, user, sites, deny=deny)
    page = app.client.get(callback)
    if choose is not None:
        assert page.status_code == 200, page.text
        page = choose_site(app, page, choose)
    return OAuthAttempt(reply, url, callback, page, user)


def chooser_form(page: httpx.Response) -> tuple[str, str, dict[str, str]]:
    """(form action, nonce, {cloud id: button text}) of the site chooser page."""
    text = page.text
    action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', text).group(1))
    nonce = html.unescape(re.search(r'name="nonce" value="([^"]+)"', text).group(1))
    buttons = {
        html.unescape(value): re.sub(r"<[^>]+>", " ", label)
        for value, label in re.findall(r'name="site" value="([^"]+)">(.*?)</button>', text)
    }
    return action, nonce, buttons


def choose_site(app, page: httpx.Response, site, *, nonce: str | None = None) -> httpx.Response:
    action, form_nonce, buttons = chooser_form(page)
    assert site.cloud_id in buttons, f"{site.url} is not offered: {buttons}"
    return app.client.post(action, data={"nonce": nonce or form_nonce, "site": site.cloud_id})


# --- settings -----------------------------------------------------------------------------


def open_settings(
    slack, slack_emulator, team, *, channel: str | None = None, user_id: str | None = None
):
    user_id = user_id or team.admin
    before = open_views_now(slack_emulator, team, user_id)
    reply = slack.command(team.team_id, user_id, channel or team.channel, "/jira", "settings")
    assert reply.status_code == 200, reply.text
    return wait_for_modal(slack_emulator, team, user_id, ids.SETTINGS_MODAL, before)


def project_options(slack, team, view, query: str = "") -> list[dict]:
    answer = slack.block_suggestion(team.team_id, team.admin, ids.PROJECT_SELECT, query, view=view)
    return answer.json()["options"]


def issue_type_block_id(view) -> str:
    return next(
        b["block_id"]
        for b in view.blocks
        if b.get("block_id", "").startswith(ids.ISSUE_TYPE_BLOCK_PREFIX)
    )


def pick_project(slack, slack_emulator, team, view, project_key: str):
    """Choose the project in the menu and wait for the modal to offer its issue types."""
    option = next(
        o
        for o in project_options(slack, team, view, project_key)
        if o["text"]["text"].endswith(f"({project_key})")
    )
    slack.block_action(
        team.team_id,
        team.admin,
        ids.PROJECT_SELECT,
        view=current_view(slack_emulator, view),
        action_type=EXTERNAL,
        selected_option=option,
    )
    wanted = ids.issue_type_block(option["value"])
    slack_emulator.wait_for(
        lambda: issue_type_block_id(current_view(slack_emulator, view)) == wanted,
        message=f"the settings modal to show {project_key}'s issue types",
    )
    return option, current_view(slack_emulator, view)


def issue_type_options(slack, team, view, query: str = "") -> list[dict]:
    answer = slack.block_suggestion(
        team.team_id,
        team.admin,
        ids.ISSUE_TYPE_SELECT,
        query,
        view=view,
        block_id=issue_type_block_id(view),
    )
    return answer.json()["options"]


def settings_values(
    view,
    project_option: dict,
    type_option: dict | None,
    *,
    scope: str | None = None,
    webhooks: bool = True,
    epic: bool = False,
    webhook_secret: str | None = None,
) -> dict:
    values = {
        ids.PROJECT_BLOCK: {
            ids.PROJECT_SELECT: {"type": EXTERNAL, "selected_option": project_option}
        },
        issue_type_block_id(view): {
            ids.ISSUE_TYPE_SELECT: {"type": EXTERNAL, "selected_option": type_option}
        },
    }
    options = [ids.OPTION_WEBHOOKS] * webhooks + [ids.OPTION_EPIC] * epic
    values[ids.OPTIONS_BLOCK] = {ids.OPTIONS_INPUT: checkbox_values(*options)}
    if scope is not None:
        values[ids.SCOPE_BLOCK] = {
            ids.SCOPE_INPUT: {"type": "radio_buttons", "selected_option": {"value": scope}}
        }
    if webhook_secret is not None:
        values[ids.WEBHOOK_SECRET_BLOCK] = {ids.WEBHOOK_SECRET_INPUT: text_value(webhook_secret)}
    return values


def choose_default_project(
    slack,
    slack_emulator,
    team,
    project_key: str = "TEAM",
    issue_type: str = "Task",
    *,
    channel: str | None = None,
    scope: str = ids.SCOPE_WORKSPACE,
    webhooks: bool = True,
    epic: bool = False,
    webhook_secret: str | None = None,
) -> httpx.Response:
    """Opens /jira settings (in `channel`, default the team's) and saves the project and
    issue type, for the workspace (default) or, with scope=SCOPE_CHANNEL, that channel."""
    view = open_settings(slack, slack_emulator, team, channel=channel)
    option, view = pick_project(slack, slack_emulator, team, view, project_key)
    type_option = next(
        o for o in issue_type_options(slack, team, view) if o["text"]["text"] == issue_type
    )
    has_scope = any(b.get("block_id") == ids.SCOPE_BLOCK for b in view.blocks)
    values = settings_values(
        view,
        option,
        type_option,
        scope=scope if has_scope else None,
        webhooks=webhooks,
        epic=epic,
        webhook_secret=webhook_secret,
    )
    answer = slack.view_submission(team.team_id, team.admin, view, values)
    body = answer.json()
    assert body.get("response_action") == "update", f"settings refused: {body}"
    return answer


def set_channel_override(
    slack, slack_emulator, team, channel: str, project_key: str, issue_type: str, **options
) -> httpx.Response:
    """This channel's own project and issue type (run from that channel)."""
    return choose_default_project(
        slack,
        slack_emulator,
        team,
        project_key,
        issue_type,
        channel=channel,
        scope=ids.SCOPE_CHANNEL,
        **options,
    )
