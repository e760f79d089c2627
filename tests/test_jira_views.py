"""The Jira connection views as pure functions: within Block Kit's limits whatever the data
(long names, many overrides), and nothing from outside reaches a page or message unescaped."""

from __future__ import annotations

from bot.jira_settings import (
    FIELD_ISSUE_TYPE,
    FIELD_OPTIONS,
    FIELD_PROJECT,
    IssueTypeRef,
    ProjectRef,
    SettingsForm,
    required_field_key,
)
from bot.jira_status import StatusReport, Target, Webhooks
from bot.views import jira_connect, jira_pages, jira_settings, jira_status, required_field_ids
from bot.views import jira_ids as ids
from tests.fakes.slack.block_kit_limits import message_violations, view_violations, violations

LONG = "Platform & <Infrastructure> " * 20
SITE = "https://acme.atlassian.net"


def _report(**changes) -> StatusReport:
    report = StatusReport(
        connected=True,
        oauth_enabled=True,
        site_url=SITE,
        account_name=LONG,
        method="oauth",
        default=Target("TEAM", LONG, LONG),
        channel_id="C1",
        channel_override=Target("OPS", "Operations", "Bug"),
        overrides=[(f"C{i:04d}", Target(f"P{i}", LONG, LONG)) for i in range(60)],
        webhooks=Webhooks(registered=True),
        failed_syncs=12,
    )
    for name, value in changes.items():
        setattr(report, name, value)
    return report


def _form(**changes) -> SettingsForm:
    form = SettingsForm(
        site_url=SITE,
        account_name=LONG,
        channel_id="C1",
        project=ProjectRef("10000", "TEAM", LONG),
        issue_type=IssueTypeRef("10001", LONG),
        scope=ids.SCOPE_CHANNEL,
        has_override=True,
        webhooks_enabled=True,
        epic_per_retro=True,
        webhook_url="https://unpack.example.com/jira/webhook/abc",
        webhook_secret_saved=True,
    )
    for name, value in changes.items():
        setattr(form, name, value)
    return form


def test_home_card_and_status_stay_within_limits():
    for report in (
        _report(),
        _report(broken_reason="Atlassian refused to refresh the access token"),
        _report(connected=False, oauth_enabled=False),
    ):
        assert violations("home", jira_status.home_card(report)) == []
        message = jira_status.status_message(report, admin=True)
        assert message_violations(message["text"], message["blocks"]) == []
    card = str(jira_status.home_card(_report()))
    assert "…and 50 more" in card and "<Infrastructure>" not in card


def test_broken_card_offers_reconnect_and_says_how():
    card = jira_status.home_card(_report(broken_reason="credentials refused"))
    text = str(card)
    assert "Connection broken" in text and "/jira connect" in text
    actions = [e["action_id"] for b in card if b["type"] == "actions" for e in b["elements"]]
    assert ids.CONNECT_OAUTH in actions and ids.DISCONNECT in actions


def test_settings_modal_stays_within_limits():
    for form in (
        _form(),
        _form(channel_id=None, has_override=False, scope=ids.SCOPE_WORKSPACE),
        _form(project=None, issue_type=None, webhook_url=None, epic_per_retro=False),
    ):
        assert view_violations(jira_settings.settings_modal(form)) == []


def test_project_options_keep_the_key_and_read_back():
    option = jira_settings.project_option(ProjectRef("10042", "PLATFORM", LONG))
    assert len(option["text"]["text"]) <= 75 and option["text"]["text"].endswith("(PLATFORM)")
    back = jira_settings.project_from_option(option)
    assert (back.id, back.key) == ("10042", "PLATFORM")
    assert jira_settings.project_from_option(None) is None


def test_connect_surfaces_stay_within_limits():
    reply = jira_connect.authorize_reply("https://auth.atlassian.com/authorize?state=x")
    assert message_violations(reply["text"], reply["blocks"]) == []
    for view in (
        jira_connect.token_modal(),
        jira_connect.authorize_modal("https://auth.atlassian.com/authorize"),
        jira_connect.token_connected_view(SITE, LONG),
    ):
        assert view_violations(view) == []
    prompt = jira_status.disconnect_prompt(SITE)
    assert message_violations(prompt["text"], prompt["blocks"]) == []


def test_pages_escape_what_came_from_outside():
    evil = '<script>alert("x")</script>'
    chooser = jira_pages.chooser_page(
        "https://unpack.example.com/jira/oauth/callback",
        'nonce"><b>',
        [("cloud-1", evil, "https://one.atlassian.net"), ('"><img>', "Two", evil)],
    )
    assert "<script>" not in chooser and "<img>" not in chooser and 'nonce"><b>' not in chooser
    assert chooser.count('type="submit"') == 2
    assert "<script>" not in jira_pages.failure_page(evil)
    assert "<script>" not in jira_pages.success_page(evil, evil, evil)


def test_the_settings_rule_speaks_of_fields_and_the_modal_places_them_on_its_blocks():
    issue_block = ids.issue_type_block("10000")
    component = required_field_ids.required_block("10001", "components")
    view = {
        "state": {
            "values": {
                ids.PROJECT_BLOCK: {ids.PROJECT_SELECT: {"selected_option": {"value": "10000"}}},
                issue_block: {ids.ISSUE_TYPE_SELECT: {"selected_option": {"value": "10001"}}},
                component: {required_field_ids.REQUIRED_INPUT: {"selected_option": {"value": "7"}}},
            }
        }
    }
    errors = {
        FIELD_PROJECT: "Choose a project.",
        FIELD_ISSUE_TYPE: "Choose an issue type.",
        FIELD_OPTIONS: "No epics.",
        required_field_key("components"): "Choose a Component.",
    }

    assert jira_settings.error_blocks(errors, view) == {
        ids.PROJECT_BLOCK: "Choose a project.",
        issue_block: "Choose an issue type.",
        ids.OPTIONS_BLOCK: "No epics.",
        component: "Choose a Component.",
    }
    assert jira_settings.read_submission(view).required == {"components": "7"}
