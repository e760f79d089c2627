"""Retro flows as a person runs them in Slack, for any test that needs a retro:

    summary = start_retro(slack, slack_emulator, team, "Sprint 42")
    item_id = add_item(slack, slack_emulator, team, "Fix the deploy", assignee=team.member)
    text = commit(slack, slack_emulator, team)

Everything goes through signed requests and the real modal; helpers wait for the app's
after-ack work (the reply on the response_url, the summary message's update).
"""

from __future__ import annotations

import time
from datetime import date

from bot.views import item_control_ids
from bot.views import retro_ids as ids
from tests.fakes.slack.models import Message, ResponsePost, View
from tests.fakes.slack.requests import date_value, text_value, user_value

ITEM_MODAL = ids.ITEM_MODAL


def replies(slack_emulator, url: str, count: int = 1, timeout: float = 10.0) -> list[ResponsePost]:
    """The first `count` posts the app made to a response_url (its ephemeral replies)."""
    return slack_emulator.wait_for(
        lambda: (found := slack_emulator.responses_to(url)) and len(found) >= count and found,
        timeout,
        message=f"{count} reply(ies) on {url}",
    )


def retro_command(slack, slack_emulator, team, text: str, *, user=None, channel=None) -> str:
    """Run `/retro <text>` and return the text of the app's (first) ephemeral reply."""
    response = slack.command(
        team.team_id, user or team.member, channel or team.channel, "/retro", text
    )
    assert response.status_code == 200, response.text
    return replies(slack_emulator, slack.last_response_url)[0].text


def readable(mrkdwn: str) -> str:
    """What a person reads in mrkdwn: entities decoded, the invisible joiners that keep
    user text from formatting removed."""
    text = mrkdwn.replace("\u200d", "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def header_text(message: Message) -> str:
    return next((b["text"]["text"] for b in message.blocks if b.get("type") == "header"), "")


def summary_message(slack_emulator, team, channel=None, title: str | None = None) -> Message:
    """The newest retro summary message in the channel (optionally the one for `title`)."""
    channel = channel or team.channel

    def find():
        found = [
            m
            for m in slack_emulator.messages(channel, team_id=team.team_id, include_replies=False)
            if header_text(m).startswith("Retro: ")
            and (title is None or header_text(m) == f"Retro: {title}")
        ]
        return found[-1] if found else None

    return slack_emulator.wait_for(find, message=f"a summary message in {channel}")


def start_retro(slack, slack_emulator, team, title: str = "Sprint 42", *, user=None, channel=None):
    """`/retro start <title>`; returns the summary message the app posted."""
    text = retro_command(slack, slack_emulator, team, f"start {title}", user=user, channel=channel)
    assert text.startswith("Started"), text
    return summary_message(slack_emulator, team, channel, title)


def open_item_modal(slack, slack_emulator, team, click, *, user=None) -> View:
    """Do `click()` (a command or button that opens the item modal); return the new modal."""
    user = user or team.member
    before = {v.id for v in slack_emulator.open_views(user, team_id=team.team_id)}
    response = click()
    assert response.status_code == 200, response.text

    def opened():
        views = slack_emulator.open_views(user, team_id=team.team_id)
        return next((v for v in views if v.id not in before and v.is_open), None)

    return slack_emulator.wait_for(opened, message="the action-item modal to open")


def click_for_modal(
    slack, slack_emulator, team, action_id: str, message_ts: str, *, value=None, user=None
) -> View:
    """Click a button of a channel message (the summary's Add action item, View all…)
    that opens a modal; returns the new modal."""
    user = user or team.member
    extra = {} if value is None else {"value": value}
    return open_item_modal(
        slack,
        slack_emulator,
        team,
        lambda: slack.block_action(
            team.team_id, user, action_id, channel_id=team.channel, message_ts=message_ts, **extra
        ),
        user=user,
    )


def item_values(title=None, *, description=None, assignee=None, due=None) -> dict:
    """View state for the item modal ({block_id: {action_id: leaf}})."""
    values = {ids.TITLE_BLOCK: {ids.TITLE_INPUT: text_value(title)}}
    if description is not None:
        values[ids.DESCRIPTION_BLOCK] = {ids.DESCRIPTION_INPUT: text_value(description)}
    if assignee is not None:
        values[ids.ASSIGNEE_BLOCK] = {ids.ASSIGNEE_INPUT: user_value(assignee)}
    if due is not None:
        due_text = due.isoformat() if isinstance(due, date) else due
        values[ids.DUE_BLOCK] = {ids.DUE_INPUT: date_value(due_text)}
    return values


def submit_item(slack, team, view: View, values: dict, *, user=None):
    response = slack.view_submission(team.team_id, user or team.member, view, values)
    assert response.status_code == 200, response.text
    return response


def add_item(
    slack,
    slack_emulator,
    team,
    title: str,
    assignee: str | None = None,
    due: date | str | None = None,
    description: str | None = None,
    *,
    user=None,
    channel=None,
) -> int:
    """`/retro add` and submit the modal; waits for the summary to show the item and
    returns the new item's id."""
    user, channel = user or team.member, channel or team.channel
    before = set(all_item_lines(slack_emulator, team, channel))
    view = open_item_modal(
        slack,
        slack_emulator,
        team,
        lambda: slack.command(team.team_id, user, channel, "/retro", "add"),
        user=user,
    )
    values = item_values(title, description=description, assignee=assignee, due=due)
    response = submit_item(slack, team, view, values, user=user)
    assert not response.content or "errors" not in response.text, response.text

    def added():
        lines = all_item_lines(slack_emulator, team, channel)
        return next(
            (i for i, line in lines.items() if i not in before and title in readable(line)), None
        )

    return slack_emulator.wait_for(added, message=f"the summary to show {title!r}")


def item_lines(message: Message) -> dict[int, str]:
    """{item id: line text} of a summary (or continuation) message."""
    return {
        ids.item_id_from_block_id(b["block_id"]): b["text"]["text"]
        for b in message.blocks
        if ids.item_id_from_block_id(b.get("block_id")) is not None
    }


def all_item_lines(slack_emulator, team, channel=None) -> dict[int, str]:
    """Every item line of the channel's newest retro: summary plus thread continuations."""
    summary = summary_message(slack_emulator, team, channel)
    lines = item_lines(summary)
    for reply in slack_emulator.thread(channel or team.channel, summary.ts, team_id=team.team_id):
        lines.update(item_lines(reply))
    return lines


def wait_for_line(slack_emulator, team, text: str, *, channel=None, timeout=5.0):
    """(item id, line) of the first item line containing `text`, once the summary shows it."""

    def find():
        lines = all_item_lines(slack_emulator, team, channel)
        return next(((i, line) for i, line in lines.items() if text in line), None)

    return slack_emulator.wait_for(find, timeout, message=f"an item line containing {text!r}")


def commit(slack, slack_emulator, team, *, user=None, channel=None) -> str:
    """`/retro commit`; returns the app's reply."""
    return retro_command(slack, slack_emulator, team, "commit", user=user, channel=channel)


# -- item controls (the overflow menu on every line) -------------------------------------------


def menu_options(block: dict) -> dict[str, dict]:
    """{control: option} of an item line's overflow menu ("edit", "done", "open", …)."""
    accessory = block.get("accessory") or {}
    assert accessory.get("action_id") == item_control_ids.ITEM_MENU, block
    return {o["value"].split(":")[0]: o for o in accessory["options"]}


def line_block(blocks: list[dict], item_id: int, prefix: str = ids.ITEM_BLOCK_PREFIX) -> dict:
    return next(b for b in blocks if b.get("block_id") == ids.item_block_id(item_id, prefix))


def choose(
    slack,
    team,
    item_id: int,
    control: str,
    *,
    user=None,
    channel=None,
    message_ts: str | None = None,
    view=None,
    prefix: str = ids.ITEM_BLOCK_PREFIX,
):
    """Pick `control` in the item line's overflow menu, on a channel message (message_ts;
    None for an ephemeral one such as /retro list) or on a view (App Home)."""
    place = {"view": view} if view is not None else {"channel_id": channel or team.channel}
    if view is None:
        place["message_ts"] = message_ts
    response = slack.block_action(
        team.team_id,
        user or team.member,
        item_control_ids.ITEM_MENU,
        block_id=ids.item_block_id(item_id, prefix),
        action_type="overflow",
        value=f"{control}:{item_id}",
        **place,
    )
    assert response.status_code == 200, response.text
    return response


def insert_items(
    db,
    team,
    count: int,
    first: int = 1,
    title=lambda n: f"Item {n:02d}",
    *,
    retro_id: int | None = None,
    channel: str | None = None,
    assigned: bool = True,
) -> list[int]:
    """Set-up only: many items straight into the open retro, or `retro_id` (the modal path
    is covered by the other tests; adding 50 through it is slow), made by the member and
    assigned to them unless `assigned` is False. Returns their ids, in order; the next
    refresh shows them."""
    if retro_id is None:
        retro_id = db.scalar(
            "SELECT id FROM retros WHERE workspace_id = :w AND phase != 'closed'",
            w=team.workspace_id,
        )
    ids = []
    for n in range(first, first + count):
        label = f"unpack-c{time.monotonic_ns() % 10**11:011d}{n:03d}"[:19]
        db.execute(
            "INSERT INTO action_items (workspace_id, retro_id, channel_id, title, status, "
            "created_by_user_id, assignee_user_id, revision, synced_revision, sync_state, "
            "attempts, sync_label, created_at, updated_at) VALUES (:w, :r, :c, :t, 'open', :u, "
            ":a, 1, 0, 'local', 0, :label, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            w=team.workspace_id,
            r=retro_id,
            c=channel or team.channel,
            t=title(n),
            u=team.member,
            a=team.member if assigned else None,
            label=label,
        )
        ids.append(db.scalar("SELECT id FROM action_items WHERE sync_label = :l", l=label))
    return ids
