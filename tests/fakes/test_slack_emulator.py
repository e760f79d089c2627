"""The Slack test tools against the real slack-sdk client and a real Bolt app.

Fast on purpose: one emulator and one tiny Bolt app for the module, served on loopback.
"""

from __future__ import annotations

import calendar
import json
import os
import time
import urllib.parse

import httpx
import pytest
from freezegun import freeze_time
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.routing import Route

from tests.fakes.loopback_server import LoopbackServer
from tests.fakes.slack import GhostClick, SlackEmulator
from tests.fakes.slack.block_kit_limits import options_violations, view_violations, violations
from tests.fakes.slack.requests import (
    SlackRequests,
    checkbox_values,
    date_value,
    option_value,
    text_value,
    user_value,
)

SECRET = "emulator-test-secret"


def section(text: str, block_id: str | None = None) -> dict:
    block = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if block_id:
        block["block_id"] = block_id
    return block


def button(action_id: str, text: str, value: str) -> dict:
    return {
        "type": "button",
        "action_id": action_id,
        "value": value,
        "text": {"type": "plain_text", "text": text},
    }


ITEM_MODAL = {
    "type": "modal",
    "callback_id": "item",
    "private_metadata": '{"retro": 7}',
    "title": {"type": "plain_text", "text": "Action item"},
    "submit": {"type": "plain_text", "text": "Save"},
    "blocks": [
        {
            "type": "input",
            "block_id": "title",
            "label": {"type": "plain_text", "text": "Title"},
            "element": {"type": "plain_text_input", "action_id": "title_input"},
        },
        {
            "type": "input",
            "block_id": "due",
            "optional": True,
            "label": {"type": "plain_text", "text": "Due"},
            "element": {"type": "datepicker", "action_id": "due_date"},
        },
        {
            "type": "input",
            "block_id": "issue_type:10000",
            "label": {"type": "plain_text", "text": "Issue type"},
            "element": {
                "type": "external_select",
                "action_id": "issue_type",
                "min_query_length": 0,
            },
        },
        {
            "type": "actions",
            "block_id": "project",
            "elements": [
                {
                    "type": "static_select",
                    "action_id": "project_select",
                    "options": [
                        {"text": {"type": "plain_text", "text": "Ops"}, "value": "10002"},
                        {"text": {"type": "plain_text", "text": "Web"}, "value": "10003"},
                    ],
                }
            ],
        },
    ],
}


@pytest.fixture(scope="module")
def emu():
    emulator = SlackEmulator()
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def ws(emu):
    team_id = f"T{time.monotonic_ns() % 10**9}"
    workspace = emu.add_workspace(team_id, name="Acme Corp")
    emu.add_user(team_id, "UADMIN", name="ana", email="ana@example.com", is_admin=True)
    emu.add_user(team_id, "UMEMBER", name="max")
    return workspace


def client(emu: SlackEmulator, ws) -> AsyncWebClient:
    return AsyncWebClient(base_url=emu.api_url, token=ws.bot_token)


def api(emu: SlackEmulator, ws, method: str, **args) -> dict:
    """A Web API call from synchronous test code, JSON like slack-sdk sends."""
    headers = {"Authorization": f"Bearer {ws.bot_token}"}
    return httpx.post(emu.api_url + method, headers=headers, json=args).json()


# -- the Web API through slack-sdk ----------------------------------------------------------


async def test_post_update_and_permalink(emu, ws):
    web = client(emu, ws)
    posted = await web.chat_postMessage(channel="C1", text="Retro", blocks=[section("*Retro*")])
    reply = await web.chat_postMessage(channel="C1", text="done", thread_ts=posted["ts"])
    await web.chat_update(
        channel="C1", ts=posted["ts"], text="Retro v2", blocks=[section("*Retro v2*")]
    )
    link = await web.chat_getPermalink(channel="C1", message_ts=reply["ts"])

    assert float(reply["ts"]) > float(posted["ts"])
    summary = emu.message("C1", posted["ts"], team_id=ws.team_id)
    assert (summary.text, summary.updates, summary.user) == ("Retro v2", 1, ws.bot_user_id)
    assert summary.blocks[0]["text"]["text"] == "*Retro v2*"
    assert [m.text for m in emu.thread("C1", posted["ts"])] == ["done"]
    assert link["permalink"] == (
        f"https://{ws.domain}.slack.com/archives/C1/"
        f"p{reply['ts'].replace('.', '')}"
        f"?thread_ts={posted['ts']}&cid=C1"
    )
    call = emu.calls_to("chat.postMessage")[-1]
    assert (call.token, call.team_id, call.args["thread_ts"]) == (
        ws.bot_token,
        ws.team_id,
        posted["ts"],
    )

    await web.chat_update(channel="C1", ts=posted["ts"], text="text only")
    assert emu.message("C1", posted["ts"]).blocks == []  # as Slack: text alone drops blocks


async def test_users_info_and_lookup(emu, ws):
    web = client(emu, ws)
    admin = (await web.users_info(user="UADMIN"))["user"]
    member = (await web.users_info(user="UMEMBER"))["user"]
    assert admin["is_admin"] and admin["profile"]["email"] == "ana@example.com"
    assert not member["is_admin"] and "email" not in member["profile"]
    assert (await web.users_lookupByEmail(email="ANA@example.com"))["user"]["id"] == "UADMIN"
    with pytest.raises(SlackApiError) as e:
        await web.users_info(user="UNOBODY")
    assert e.value.response["error"] == "user_not_found"
    other = emu.add_workspace(ws.team_id + "X")
    with pytest.raises(SlackApiError) as e:  # another workspace's user does not exist here
        await client(emu, other).users_info(user="UADMIN")
    assert e.value.response["error"] == "user_not_found"


async def test_an_email_needs_the_users_read_email_scope(emu, ws):
    web = client(emu, ws)
    code = emu.oauth_code(ws.team_id, installer_user_id="UADMIN", scopes="commands,users:read")
    await AsyncWebClient(base_url=emu.api_url).oauth_v2_access(
        client_id="111.222", client_secret="shh", code=code
    )
    try:
        admin = (await web.users_info(user="UADMIN"))["user"]
        assert "email" not in admin["profile"]
        with pytest.raises(SlackApiError) as e:
            await web.users_lookupByEmail(email="ana@example.com")
        assert e.value.response["error"] == "missing_scope"
        assert e.value.response["needed"] == "users:read.email"
    finally:
        code = emu.oauth_code(ws.team_id, installer_user_id="UADMIN")
        await AsyncWebClient(base_url=emu.api_url).oauth_v2_access(
            client_id="111.222", client_secret="shh", code=code
        )
    assert (await web.users_info(user="UADMIN"))["user"]["profile"]["email"] == "ana@example.com"


async def test_bad_token_and_unknown_method(emu, ws):
    with pytest.raises(SlackApiError) as e:
        await AsyncWebClient(base_url=emu.api_url, token="xoxb-nope").auth_test()
    assert e.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as e:
        await client(emu, ws).api_call("conversations.kick", json={"channel": "C1"})
    assert e.value.response["error"] == "unknown_method"
    assert emu.calls_to("conversations.kick")[-1].team_id == ws.team_id
    auth = await client(emu, ws).auth_test()
    assert (auth["team_id"], auth["user_id"], auth["bot_id"]) == (
        ws.team_id,
        ws.bot_user_id,
        ws.bot_id,
    )


async def test_oauth_code_is_exchanged_once(emu, ws):
    emu.client_id, emu.client_secret = "111.222", "shh"
    try:
        code = emu.oauth_code(ws.team_id, installer_user_id="UADMIN")
        web = AsyncWebClient(base_url=emu.api_url)
        with pytest.raises(SlackApiError) as e:
            await web.oauth_v2_access(client_id="111.222", client_secret="wrong", code=code)
        assert e.value.response["error"] == "bad_client_secret"
        grant = await web.oauth_v2_access(client_id="111.222", client_secret="shh", code=code)
        assert (grant["access_token"], grant["team"]["id"], grant["authed_user"]["id"]) == (
            ws.bot_token,
            ws.team_id,
            "UADMIN",
        )
        assert grant["enterprise"] is None and grant["token_type"] == "bot"
        with pytest.raises(SlackApiError) as e:
            await web.oauth_v2_access(client_id="111.222", client_secret="shh", code=code)
        assert e.value.response["error"] == "invalid_code"
    finally:
        emu.client_id = emu.client_secret = None


async def test_views_open_push_update_with_hash(emu, ws):
    web = client(emu, ws)
    opened = (await web.views_open(trigger_id=emu.trigger_id(user_id="UADMIN"), view=ITEM_MODAL))[
        "view"
    ]
    pushed = (await web.views_push(trigger_id=emu.trigger_id(user_id="UADMIN"), view=ITEM_MODAL))[
        "view"
    ]
    assert [v.id for v in emu.open_views("UADMIN")] == [opened["id"], pushed["id"]]
    assert pushed["root_view_id"] == opened["id"]

    updated = (
        await web.views_update(
            view_id=opened["id"], hash=opened["hash"], view={**ITEM_MODAL, "private_metadata": "x"}
        )
    )["view"]
    assert emu.views[opened["id"]].private_metadata == "x" and updated["hash"] != opened["hash"]
    with pytest.raises(SlackApiError) as e:  # the first hash is stale now
        await web.views_update(view_id=opened["id"], hash=opened["hash"], view=ITEM_MODAL)
    assert e.value.response["error"] == "hash_conflict"

    home = {"type": "home", "blocks": [section("Hello")]}
    await web.views_publish(user_id="UADMIN", view=home)
    await web.views_publish(user_id="UADMIN", view={**home, "blocks": [section("Again")]})
    assert emu.home(ws.team_id, "UADMIN")["blocks"][0]["text"]["text"] == "Again"


async def test_trigger_ids_are_single_use_and_expire(emu, ws):
    web = client(emu, ws)
    trigger = emu.trigger_id()
    await web.views_open(trigger_id=trigger, view=ITEM_MODAL)
    late = emu.trigger_id()
    emu.expire_trigger(late)
    for tid, error in [
        (trigger, "exchanged_trigger_id"),
        (late, "expired_trigger_id"),
        ("1.2.unknown", "expired_trigger_id"),
    ]:
        with pytest.raises(SlackApiError) as e:
            await web.views_open(trigger_id=tid, view=ITEM_MODAL)
        assert e.value.response["error"] == error
    assert [c.error for c in emu.calls_to("views.open")[-3:]] == [
        "exchanged_trigger_id",
        "expired_trigger_id",
        "expired_trigger_id",
    ]


def test_trigger_expiry_follows_the_real_clock_under_freezegun(emu, ws):
    emu.trigger_ttl = 0.05
    try:
        with freeze_time("2026-01-01"):
            trigger = emu.trigger_id()
            time.sleep(0.1)  # frozen time would never expire it
            with pytest.raises(AssertionError):
                emu.wait_for(lambda: False, timeout=0.05)  # and deadlines still pass
        answer = api(emu, ws, "views.open", trigger_id=trigger, view=ITEM_MODAL)
        assert answer["error"] == "expired_trigger_id"
    finally:
        emu.trigger_ttl = 3.0


# -- limits and faults --------------------------------------------------------------------


async def test_51_blocks_are_rejected_and_recorded(emu, ws):
    emu.violations.clear()
    with pytest.raises(SlackApiError) as e:
        await client(emu, ws).chat_postMessage(
            channel="C1", text="x", blocks=[section(f"{i}") for i in range(51)]
        )
    assert e.value.response["error"] == "invalid_blocks"
    assert "51 blocks > 50" in e.value.response["response_metadata"]["messages"][0]
    assert emu.messages("C1", team_id=ws.team_id) == []
    assert [v.where for v in emu.violations] == ["chat.postMessage"]
    with pytest.raises(AssertionError, match="51 blocks"):
        emu.assert_no_violations()
    emu.violations.clear()


async def test_an_email_in_a_channel_message_is_recorded_but_not_in_a_dm(emu, ws):
    emu.violations.clear()
    web = client(emu, ws)
    await web.chat_postMessage(channel="U1", text="your Jira email is ana@example.com")
    await web.chat_postMessage(channel="C1", text="<@U1> is fine, no address here")
    assert emu.violations == []
    posted = await web.chat_postMessage(channel="C1", text="hi")
    await web.chat_update(channel="C1", ts=posted["ts"], text="x", blocks=[section("ana@ex.io")])
    assert [v.where for v in emu.violations] == ["chat.update"]
    assert "ana@ex.io" in str(emu.violations[0])
    emu.violations.clear()


async def test_rate_limit_fault_has_integer_retry_after(emu, ws):
    emu.fail("chat.postMessage", status=429, retry_after=2)
    web = client(emu, ws)
    with pytest.raises(SlackApiError) as e:
        await web.chat_postMessage(channel="C1", text="hi")
    assert e.value.response.status_code == 429
    assert e.value.response.headers["Retry-After"] == "2"
    assert e.value.response["error"] == "ratelimited"
    assert (await web.chat_postMessage(channel="C1", text="hi"))["ok"]  # times=1
    assert emu.calls_to("chat.postMessage")[-2].injected


def _option(value: str, text: str | None = None) -> dict:
    return {"text": {"type": "plain_text", "text": text or value}, "value": value}


def test_initial_options_must_be_among_the_options():
    def menu(initial: dict) -> list:
        select = {"type": "static_select", "action_id": "pick", "initial_option": initial}
        select["options"] = [_option("a"), _option("b")]
        return [{"type": "actions", "elements": [select]}]

    def boxes(*initial: dict) -> list:
        element = {"type": "checkboxes", "action_id": "opts", "initial_options": list(initial)}
        element["options"] = [_option("a"), _option("b")]
        return [{"type": "input", "label": {"type": "plain_text", "text": "L"}, "element": element}]

    assert violations("modal", menu(_option("b"))) == []
    assert violations("modal", menu(_option("c"))) == [
        "blocks[0].elements[0].initial_option: 'c' is not one of the options"
    ]
    assert violations("modal", menu(_option("b", "B renamed")))  # the text must match too
    assert violations("modal", boxes(_option("a"), _option("b"))) == []
    assert violations("modal", boxes(_option("a"), _option("z"))) == [
        "blocks[0].element.initial_options[1]: 'z' is not one of the options"
    ]


def test_action_ids_are_unique_within_a_block():
    twice = [{"type": "actions", "elements": [button("go", "A", "1"), button("go", "B", "2")]}]
    assert violations("message", twice) == [
        "blocks[0].elements[1].action_id: 'go' is not unique in its block"
    ]
    apart = [
        {"type": "actions", "elements": [button("go", "A", "1")]},
        {"type": "actions", "elements": [button("go", "B", "2")]},
    ]
    assert violations("message", apart) == []


def test_block_kit_limits_directly():
    long = "x" * 3001
    assert violations("message", [section("ok", "a"), section("ok", "b")]) == []
    assert violations("modal", [section("x")] * 100) == []
    assert violations("home", [section("x")] * 101) == ["blocks: 101 blocks > 100 on a home"]
    assert violations("message", [section(long)]) == ["blocks[0].text.text: 3001 chars > 3000"]
    assert violations("message", [section("a", "dup"), section("b", "dup")]) == [
        "blocks[1].block_id: 'dup' is not unique"
    ]
    assert violations("message", [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}])
    assert violations(
        "message", [{"type": "actions", "elements": [button("a", "x" * 76, "v")]}]
    ) == ["blocks[0].elements[0].text.text: 76 chars > 75"]
    overflow = {
        "type": "overflow",
        "action_id": "menu",
        "options": [
            {"text": {"type": "plain_text", "text": str(i)}, "value": str(i)} for i in range(6)
        ],
    }
    assert violations(
        "message",
        [{"type": "section", "text": {"type": "mrkdwn", "text": "a"}, "accessory": overflow}],
    ) == ["blocks[0].accessory.options: 6 items > 5"]
    assert violations("modal", [{"type": "input", "label": {"type": "plain_text", "text": "L"}}])
    assert view_violations(ITEM_MODAL) == []
    assert view_violations({**ITEM_MODAL, "title": {"type": "plain_text", "text": "x" * 25}})
    assert view_violations({**ITEM_MODAL, "submit": None}) == [
        "view.submit: required when the modal has input blocks"
    ]
    assert options_violations(
        {"options": [{"text": {"type": "plain_text", "text": "T"}, "value": "v" * 151}]}
    )


# -- SlackRequests against a real Bolt app ------------------------------------------------


@pytest.fixture(scope="module")
def bolt(emu):
    """A tiny Bolt app, served like Unpack (Starlette + uvicorn), that records what it got."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("SLACK_")}
    seen: list[tuple[str, dict]] = []

    async def authorize(team_id, **_):
        ws = emu.workspace(team_id)
        return AuthorizeResult(
            enterprise_id=None,
            team_id=team_id,
            bot_token=ws.bot_token,
            bot_user_id=ws.bot_user_id,
            bot_id=ws.bot_id,
        )

    app = AsyncApp(
        signing_secret=SECRET, authorize=authorize, client=AsyncWebClient(base_url=emu.api_url)
    )

    @app.command("/retro")
    async def retro(ack, body, client, respond):
        seen.append(("command", body))
        if body["text"] == "modal":
            await ack()
            await client.views_open(trigger_id=body["trigger_id"], view=ITEM_MODAL)
        elif body["text"] == "post":
            await ack()
            await client.chat_postMessage(
                channel=body["channel_id"],
                text="Retro",
                blocks=[
                    section("Retro", "summary"),
                    {
                        "type": "actions",
                        "block_id": "item:42",
                        "elements": [button("retry_sync", "Retry", "42")],
                    },
                ],
            )
        elif body["text"] == "list":  # an ephemeral reply with a button in it
            await ack(
                text="List",
                blocks=[
                    {
                        "type": "actions",
                        "block_id": "item:7",
                        "elements": [button("retry_sync", "Retry", "7")],
                    }
                ],
            )
        else:
            await ack(text="help", blocks=[section("/retro start")])

    @app.action("retry_sync")
    async def retry(ack, body, respond):
        seen.append(("action", body))
        await ack()
        await respond(replace_original=True, text="Retried", blocks=[section("Retried")])

    @app.view("item")
    async def submit(ack, body, view):
        seen.append(("view", body))
        if not view["state"]["values"]["title"]["title_input"]["value"]:
            await ack(response_action="errors", errors={"title": "Title is required"})
        else:
            await ack()

    @app.action("project_select")
    async def project_chosen(ack, body, client):
        seen.append(("view_action", body))
        await ack()
        project = body["actions"][0]["selected_option"]["value"]
        await client.views_update(
            view_id=body["view"]["id"],
            hash=body["view"]["hash"],
            view={**ITEM_MODAL, "private_metadata": project},
        )

    @app.options("issue_type")
    async def issue_types(ack, body):
        seen.append(("options", body))
        await ack(options=[{"text": {"type": "plain_text", "text": "Task"}, "value": "10001"}])

    @app.shortcut("sync_to_jira")
    async def shortcut(ack, body):
        seen.append(("shortcut", body))
        await ack()

    @app.event("app_home_opened")
    async def home(event, client):
        await client.views_publish(
            user_id=event["user"], view={"type": "home", "blocks": [section("Home")]}
        )

    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler

    handler = AsyncSlackRequestHandler(app)

    async def endpoint(request):
        return await handler.handle(request)

    server = LoopbackServer(
        Starlette(routes=[Route("/slack/events", endpoint, methods=["POST"])]), name="bolt-app"
    )
    server.start()
    yield SlackRequests(server.url, SECRET, emu), seen
    server.stop()
    os.environ.update(saved)


def test_command_modal_submission_closes_or_shows_errors(emu, ws, bolt):
    slack, seen = bolt
    response = slack.command(ws.team_id, "UADMIN", "C9", "/retro", "modal")
    assert response.status_code == 200
    view = emu.wait_for(lambda: emu.open_views("UADMIN", team_id=ws.team_id))[-1]
    assert view.callback_id == "item" and view.user == "UADMIN"

    slack.view_submission(ws.team_id, "UADMIN", view, {"title": {"title_input": text_value("")}})
    assert view.is_open and view.errors == {"title": "Title is required"}
    state = seen[-1][1]["view"]["state"]["values"]
    assert state["due"] == {"due_date": {"type": "datepicker", "selected_date": None}}

    slack.view_submission(
        ws.team_id,
        "UADMIN",
        view,
        {
            "title": {"title_input": text_value("Fix deploy")},
            "due": {"due_date": date_value("2026-12-01")},
            "issue_type:10000": {
                "issue_type": option_value("10001", "Task", type="external_select")
            },
        },
    )
    assert not view.is_open and emu.open_views("UADMIN", team_id=ws.team_id) == []
    body = seen[-1][1]
    assert body["view"]["private_metadata"] == '{"retro": 7}'
    assert body["user"] == {"id": "UADMIN", "username": "ana", "name": "ana", "team_id": ws.team_id}
    emu.assert_no_violations()


def test_button_in_message_respond_replaces_it(emu, ws, bolt):
    slack, seen = bolt
    slack.command(ws.team_id, "UADMIN", "C9", "/retro", "post")
    summary = emu.wait_for(lambda: emu.messages("C9", team_id=ws.team_id))[-1]
    slack.block_action(ws.team_id, "UMEMBER", "retry_sync", channel_id="C9", message_ts=summary.ts)
    action = seen[-1][1]
    assert action["actions"][0]["block_id"] == "item:42" and action["actions"][0]["value"] == "42"
    assert action["container"] == {
        "type": "message",
        "message_ts": summary.ts,
        "channel_id": "C9",
        "is_ephemeral": False,
    }
    emu.wait_for(lambda: summary.updates == 1)
    assert summary.text == "Retried" and emu.responses[-1].json["replace_original"] is True
    # The button is gone from the message: Slack cannot send a click on it any more.
    with pytest.raises(GhostClick, match="retry_sync"):
        slack.block_action(
            ws.team_id, "UMEMBER", "retry_sync", channel_id="C9", message_ts=summary.ts
        )


def test_clicks_only_on_what_the_user_sees(emu, ws, bolt):
    slack, seen = bolt
    slack.command(ws.team_id, "UADMIN", "C9", "/retro", "post")
    summary = emu.wait_for(lambda: emu.messages("C9", team_id=ws.team_id))[-1]
    clicks = len(seen)
    for wrong in (
        {"value": "43"},  # the button sends its own value
        {"block_id": "item:43"},
        {"message_ts": "1.000001"},  # a message that was never posted
    ):
        with pytest.raises(GhostClick):
            slack.block_action(
                ws.team_id,
                "UMEMBER",
                "retry_sync",
                **{"channel_id": "C9", "message_ts": summary.ts, **wrong},
            )
    with pytest.raises(GhostClick, match="never opened"):
        slack.block_action(ws.team_id, "UADMIN", "project_select", view={"id": "VNEVER"})
    assert len(seen) == clicks  # none of them reached the app
    # forged=True sends it anyway, for tests of the app's own checks on ids.
    slack.block_action(
        ws.team_id, "UMEMBER", "retry_sync", value="43", channel_id="C9", message_ts=summary.ts,
        forged=True,
    )  # fmt: skip
    assert seen[-1][1]["actions"][0]["value"] == "43"


def test_click_in_an_ephemeral_reply_until_it_is_replaced(emu, ws, bolt):
    slack, seen = bolt
    slack.command(ws.team_id, "UMEMBER", "C9", "/retro", "list")
    with pytest.raises(GhostClick):  # another member does not see UMEMBER's reply
        slack.block_action(ws.team_id, "UADMIN", "retry_sync", channel_id="C9")
    [shown] = emu.visible_ephemerals(ws.team_id, "UMEMBER", "C9")
    slack.block_action(ws.team_id, "UMEMBER", "retry_sync", channel_id="C9")
    action = seen[-1][1]
    assert action["actions"][0]["value"] == "7"
    assert action["container"]["is_ephemeral"] is True
    assert action["container"]["message_ts"] == shown.message_ts
    emu.wait_for(lambda: shown.text == "Retried")  # replace_original replaced the ephemeral
    with pytest.raises(GhostClick):
        slack.block_action(ws.team_id, "UMEMBER", "retry_sync", channel_id="C9")


def test_command_ack_shortcut_options_and_home(emu, ws, bolt):
    slack, seen = bolt
    assert "/retro start" in str(slack.command(ws.team_id, "UMEMBER", "C9", "/retro").json())
    command = seen[-1][1]
    assert (command["command"], command["team_domain"], command["user_name"]) == (
        "/retro",
        ws.domain,
        "max",
    )
    assert command["response_url"] == slack.last_response_url

    slack.message_shortcut(ws.team_id, "UMEMBER", "C9", {"text": "Flaky deploy\nagain"})
    shortcut = seen[-1][1]
    assert shortcut["type"] == "message_action" and shortcut["message"]["text"].startswith("Fl")
    assert emu.find_message(ws.team_id, "C9", shortcut["message_ts"]) is not None

    view = api(emu, ws, "views.open", trigger_id=emu.trigger_id(), view=ITEM_MODAL)["view"]
    options = slack.block_suggestion(ws.team_id, "UMEMBER", "issue_type", "", view=view).json()
    assert options["options"][0]["value"] == "10001"
    assert seen[-1][1]["block_id"] == "issue_type:10000"

    assert slack.app_home_opened(ws.team_id, "UMEMBER").status_code == 200
    emu.wait_for(lambda: emu.home(ws.team_id, "UMEMBER"))
    emu.assert_no_violations()


def test_action_in_modal_updates_it_with_the_payload_hash(emu, ws, bolt):
    slack, seen = bolt
    web_view = api(
        emu, ws, "views.open", trigger_id=emu.trigger_id(user_id="UADMIN"), view=ITEM_MODAL
    )["view"]
    slack.block_action(
        ws.team_id,
        "UADMIN",
        "project_select",
        view=web_view,
        action_type="static_select",
        selected_option={"text": {"type": "plain_text", "text": "Ops"}, "value": "10002"},
    )
    body = seen[-1][1]
    assert body["container"] == {"type": "view", "view_id": web_view["id"]}
    assert "response_url" not in body
    view = emu.views[web_view["id"]]
    emu.wait_for(lambda: view.updates == 1)
    assert view.private_metadata == "10002"
    assert emu.calls_to("views.update")[-1].ok
    with pytest.raises(GhostClick):  # not one of the menu's options
        slack.block_action(
            ws.team_id, "UADMIN", "project_select", view=view,
            selected_option={"text": {"type": "plain_text", "text": "X"}, "value": "99999"},
        )  # fmt: skip
    with pytest.raises(GhostClick):  # another user's modal
        slack.block_action(ws.team_id, "UMEMBER", "project_select", view=view, value="10003")
    emu._close_stack(ws.team_id, "UADMIN")
    with pytest.raises(GhostClick, match="not the modal on top"):
        slack.block_action(ws.team_id, "UADMIN", "project_select", view=view, value="10003")


def test_view_submission_acks_update_push_and_clear(emu, ws):
    opened = api(
        emu, ws, "views.open", trigger_id=emu.trigger_id(user_id="UADMIN"), view=ITEM_MODAL
    )["view"]

    def ack(body):
        emu.apply_ack(
            "view_submission",
            team_id=ws.team_id,
            user_id="UADMIN",
            status=200,
            body=body,
            elapsed=0.01,
            view_id=opened["id"],
        )

    ack({"response_action": "update", "view": {**ITEM_MODAL, "callback_id": "step2"}})
    assert emu.views[opened["id"]].callback_id == "step2"
    ack({"response_action": "push", "view": ITEM_MODAL})
    assert len(emu.open_views("UADMIN", team_id=ws.team_id)) == 2
    ack({"response_action": "errors", "errors": {"nope": "x"}})
    assert "not the block_id of an input block" in str(emu.violations[-1])
    ack({"response_action": "clear"})
    assert emu.open_views("UADMIN", team_id=ws.team_id) == []
    emu.violations.clear()


def test_response_url_in_channel_and_use_limit(emu, ws):
    url = emu.response_url(team_id=ws.team_id, channel_id="C5")
    posts = [
        httpx.post(url, json={"text": f"hi {i}", "response_type": "in_channel"}) for i in range(6)
    ]
    assert [p.status_code for p in posts] == [200] * 5 + [404]
    assert [m.text for m in emu.messages("C5", team_id=ws.team_id)] == [f"hi {i}" for i in range(5)]
    assert len(emu.responses_to(url)) == 6


def test_delay_fault_and_server_still_work_under_freezegun(emu, ws):
    emu.delay("auth.test", 0.05)
    with freeze_time("2026-01-01"):
        assert api(emu, ws, "auth.test")["ok"]
        assert api(emu, ws, "chat.postMessage", channel="UADMIN", text="dm")["channel"] == "DADMIN"
    assert [m.text for m in emu.messages("UADMIN", team_id=ws.team_id)] == ["dm"]


# -- signatures -----------------------------------------------------------------------------


def _capture(slack: SlackRequests) -> list[httpx.Request]:
    """Swap the transport for one that records requests (no app needed)."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200)

    slack._client = httpx.Client(transport=httpx.MockTransport(handler))
    return sent


def test_signatures_verify_with_slack_sdk(emu, ws):
    slack = SlackRequests("http://app.invalid", SECRET, emu)
    sent = _capture(slack)
    slack.command(ws.team_id, "UADMIN", "C1", "/retro", "start Sprint 42 & more")
    blocks = [{"type": "actions", "elements": [button("x", "X", "1")]}]
    posted = api(emu, ws, "chat.postMessage", channel="C1", text="x", blocks=blocks)
    slack.block_action(ws.team_id, "UADMIN", "x", channel_id="C1", message_ts=posted["ts"])
    slack.event(ws.team_id, {"type": "app_home_opened", "user": "UADMIN", "tab": "home"})
    verifier = SignatureVerifier(SECRET)
    for request in sent:
        assert verifier.is_valid_request(request.content, dict(request.headers))
        assert not SignatureVerifier("other").is_valid_request(
            request.content, dict(request.headers)
        )
    assert json.loads(sent[2].content)["authorizations"][0]["team_id"] == ws.team_id
    payload = json.loads(urllib.parse.parse_qs(sent[1].content.decode())["payload"][0])
    assert payload["type"] == "block_actions" and payload["response_url"].startswith(emu.base_url)


def test_signature_timestamp_follows_freezegun(emu, ws):
    slack = SlackRequests("http://app.invalid", SECRET, emu)
    sent = _capture(slack)
    with freeze_time("2026-03-01 12:00:00"):
        slack.command(ws.team_id, "UADMIN", "C1", "/retro")
        headers = dict(sent[0].headers)
        assert headers["x-slack-request-timestamp"] == str(calendar.timegm((2026, 3, 1, 12, 0, 0)))
        assert SignatureVerifier(SECRET).is_valid_request(sent[0].content, headers)


def test_leaf_helpers():
    assert user_value("U1") == {"type": "users_select", "selected_user": "U1"}
    assert checkbox_values("sync_now")["selected_options"][0]["value"] == "sync_now"
