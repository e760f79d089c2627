"""Settings as operators write them: variables left empty in an env file (`METRICS_PORT=`),
which mean "unset", not "invalid", and a Slack API base without its trailing slash."""

from __future__ import annotations

import pytest

from tests.fakes.slack.requests import SlackRequests
from tests.flows_retro import start_retro
from tests.harness import SIGNING_SECRET, Database, install_workspace, launch_app


@pytest.fixture(scope="module")
def written_app(slack_emulator, jira_emulator):
    process = launch_app(
        slack_emulator,
        jira_emulator,
        # As a person types it: `…/api`, not `…/api/`.
        SLACK_API_URL=slack_emulator.api_url.rstrip("/"),
        # Uncommented from .env.example without a value: the defaults (no metrics port,
        # a 15 s lease, no trusted hosts beyond the harness's).
        METRICS_PORT="",
        SYNC_LEASE_SECONDS="",
        SLACK_APP_TOKEN="",
    )
    yield process
    process.stop()


def test_empty_values_start_the_app_on_the_defaults(written_app):
    assert written_app.get("/healthz").json()["status"] == "ok"
    assert written_app.proc.poll() is None


def test_a_slack_api_url_without_its_trailing_slash_reaches_slack(written_app, slack_emulator):
    db = Database(written_app.env["DATABASE_URL"])
    # The install exchanges its code at oauth.v2.access; /retro start posts the summary.
    team = install_workspace(written_app, slack_emulator, db)
    slack = SlackRequests(written_app.url, SIGNING_SECRET, slack_emulator)

    summary = start_retro(slack, slack_emulator, team, "Sprint 7")

    assert summary.channel == team.channel
