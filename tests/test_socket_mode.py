"""SLACK_APP_TOKEN: Slack's requests reach the app over Socket Mode (a WebSocket the app
opens to the Slack emulator), not at /slack/events, and each is acked over that socket;
the HTTP server still serves /healthz. SLACK_APP_TOKEN is checked at start-up."""

from __future__ import annotations

import re

import httpx
import pytest

from bot.views.retro_ids import ADD_ITEM
from tests.fakes.slack.socket_requests import SocketModeRequests
from tests.flows_retro import (
    all_item_lines,
    item_values,
    open_item_modal,
    start_retro,
    submit_item,
)
from tests.harness import SlackTeam, free_port, launch_app
from tests.test_startup import GOOD, start

METRICS_PORT = free_port()
TEAM = SlackTeam("TSOCKET01", "UADMSOCK", "UMEMSOCK", "CSOCKET01", workspace_id=0)
BOT_TOKEN = "xoxb-socket-mode-workspace"


@pytest.fixture(scope="module")
def socket_app(slack_emulator, jira_emulator):
    slack_emulator.add_workspace(TEAM.team_id, name="Socket", bot_token=BOT_TOKEN)
    slack_emulator.add_user(TEAM.team_id, TEAM.admin, name="Ana Admin", is_admin=True)
    slack_emulator.add_user(TEAM.team_id, TEAM.member, name="Max Member")
    process = launch_app(
        slack_emulator,
        jira_emulator,
        multi_workspace=False,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=slack_emulator.app_token,
        METRICS_PORT=str(METRICS_PORT),
    )
    yield process
    process.stop()


@pytest.fixture
def over_the_socket(socket_app, slack_emulator) -> SocketModeRequests:
    slack_emulator.socket_mode.wait_for_connection()
    return SocketModeRequests(slack_emulator)


def test_the_app_opens_the_socket_and_serves_no_slack_route(socket_app, slack_emulator):
    slack_emulator.socket_mode.wait_for_connection()
    [call] = slack_emulator.calls_to("apps.connections.open")
    assert call.token == slack_emulator.app_token
    assert socket_app.post("/slack/events", content=b"{}").status_code == 404
    assert socket_app.get("/healthz").status_code == 200
    assert "Socket Mode: connected" in socket_app.log()


def test_command_button_and_modal_are_acked_over_the_socket(over_the_socket, slack_emulator):
    slack = over_the_socket
    summary = start_retro(slack, slack_emulator, TEAM, "Sprint 1")  # a slash command

    def click_add():  # a block action on the summary message
        return slack.block_action(
            TEAM.team_id, TEAM.member, ADD_ITEM, channel_id=TEAM.channel, message_ts=summary.ts
        )

    modal = open_item_modal(slack, slack_emulator, TEAM, click_add)
    # A view submission whose ack carries the modal's inline error, over the socket.
    refused = slack.view_submission(TEAM.team_id, TEAM.member, modal, item_values(""))
    assert refused.json()["response_action"] == "errors", refused.text
    assert slack_emulator.views[modal.id].is_open
    # And one whose ack closes it; the item reaches the summary.
    submit_item(slack, TEAM, modal, item_values("Fix the deploy"))
    slack_emulator.wait_for(
        lambda: "Fix the deploy" in str(all_item_lines(slack_emulator, TEAM)),
        message="the item on the summary",
    )
    assert not slack_emulator.views[modal.id].is_open
    assert slack_emulator.socket_mode.unknown_acks == []
    # Acks over the socket are counted as /slack/events answers are.
    metrics = httpx.get(f"http://127.0.0.1:{METRICS_PORT}/metrics").text
    acked = re.search(r'^unpack_slack_requests_total\{outcome="acked"\} (\S+)$', metrics, re.M)
    assert acked and float(acked.group(1)) >= 4, metrics


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SLACK_APP_TOKEN": "xoxb-not-an-app-token"}, "SLACK_APP_TOKEN: expected an app-level"),
        (
            {
                "SLACK_APP_TOKEN": "xapp-1-A1-1-abc",
                "SLACK_CLIENT_ID": "1.2",
                "SLACK_CLIENT_SECRET": "s",
            },
            "SLACK_APP_TOKEN (Socket Mode) works in single-workspace mode only",
        ),
    ],
)
def test_a_wrong_app_token_setting_is_one_line(tmp_path, env, expected):
    result = start(tmp_path, {**GOOD, **env})
    assert result.returncode == 2
    assert expected in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
