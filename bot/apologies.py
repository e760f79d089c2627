"""Answering a Slack request the app cannot serve, within Slack's 3 seconds and without
the workspace's bot token (a database that does not answer, a bot token that cannot be
read): the person is told, each kind of request the way Slack can show it.

- a slash command: the answer's text, which Slack shows the person who typed it;
- a modal submitted: the modal is replaced by one that says it (Slack shows any body
  other than a `response_action` as an error in the modal);
- a click in a message, or a message shortcut: an ephemeral note through the payload's
  response_url, after the answer (it needs no token);
- a menu's options: none;
- clicks in a modal or App Home, other shortcuts and events: nothing can be shown
  without the token, so an empty 200 (an event answered with an error is delivered
  again, and Slack turns off the events of an app that keeps failing them).
"""

from __future__ import annotations

import logging

import aiohttp
from slack_bolt.response import BoltResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.runtime import Runtime
from bot.views.item_modal import notice_modal

logger = logging.getLogger(__name__)

# A note to a response_url is owed after the answer, not before: bounded all the same.
NOTE_SECONDS = 10


def apology(runtime: Runtime, body: dict, text: str) -> BoltResponse:
    """The HTTP answer to the Slack request `body` that says `text` to its sender."""
    if "command" in body:
        return BoltResponse(status=200, body=text)
    kind = body.get("type")
    if kind == "view_submission":
        view = notice_modal("Unpack", text)
        return BoltResponse(status=200, body={"response_action": "update", "view": view})
    if kind == "block_suggestion":
        return BoltResponse(status=200, body={"options": []})
    if body.get("response_url"):
        runtime.finish_later(_note(runtime, body["response_url"], text))
    return BoltResponse(status=200, body="")


async def _note(runtime: Runtime, response_url: str, text: str) -> None:
    webhook = AsyncWebhookClient(response_url, timeout=NOTE_SECONDS, session=runtime.slack_session)
    try:
        answer = await webhook.send(text=text, response_type="ephemeral", replace_original=False)
    except (aiohttp.ClientError, TimeoutError) as exc:
        logger.info("apology not delivered to the response_url: %s", exc)
        return
    if answer.status_code != 200:
        logger.info("apology not delivered: %s %s", answer.status_code, answer.body)
