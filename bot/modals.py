"""Opening a modal, the one way every surface does it.

A modal needs the click's trigger id, which Slack honours for 3 seconds: when the app
spent them reading what the modal shows (or Slack was slow), views.open is refused and
the person would see nothing at all. Callers tell them instead (MODAL_NOT_OPENED)."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

logger = logging.getLogger(__name__)


async def open_modal(
    client: AsyncWebClient, trigger_id: str, view: dict, *, on_top: bool = False
) -> bool:
    """views.open, or views.push on top of the modal the click came from (`on_top`, so
    closing returns to it). False when Slack refused it."""
    try:
        if on_top:
            await client.views_push(trigger_id=trigger_id, view=view)
        else:
            await client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:
        method = "views.push" if on_top else "views.open"
        logger.warning("%s (%s) failed: %s", method, view.get("type"), exc.response.get("error"))
        return False
    return True
