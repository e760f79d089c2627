"""The action-item modal: one builder and one validation for every way an item is made or
edited (/retro add, the Add and Edit buttons, and the Sync to Jira shortcut).

`build_item_modal` takes prefill values and opaque metadata (ids only); `read_item_form`
turns a submission's state into an ItemForm; `validate_item_form` is pure, so the
shortcut and the retro flow reject exactly the same input with the same words.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.views import retro_ids as ids
from bot.views.blocks import clip, context, plain, section
from storage.clock import utcnow

TITLE_MAX = 255
DESCRIPTION_MAX = 3000  # Slack's plain_text_input limit
MODAL_TEXT_MAX = 24  # modal title / submit / close


@dataclass(frozen=True)
class ItemForm:
    """What a person typed in the modal (or what a message prefilled)."""

    title: str = ""
    description: str = ""
    assignee_user_id: str | None = None
    due_date: date | None = None


def build_item_modal(
    metadata: dict,
    prefill: ItemForm | None = None,
    *,
    heading: str = "New action item",
    submit: str = "Add",
    intro: str | None = None,
    note: str | None = None,
    callback_id: str = ids.ITEM_MODAL,
) -> dict:
    """The modal. `intro` (mrkdwn) says where the item goes; `note` (mrkdwn) is a hint such
    as the linked Jira key. `metadata` is stored as private_metadata JSON: ids, not data."""
    prefill = prefill or ItemForm()
    blocks: list[dict] = []
    if intro:
        blocks.append(section(intro))
    blocks += [
        _input(
            ids.TITLE_BLOCK,
            "Title",
            _text_input(
                ids.TITLE_INPUT, clip(prefill.title, TITLE_MAX), TITLE_MAX, "What will we do?"
            ),
        ),
        _input(
            ids.DESCRIPTION_BLOCK,
            "Description",
            {
                **_text_input(
                    ids.DESCRIPTION_INPUT,
                    clip(prefill.description, DESCRIPTION_MAX),
                    DESCRIPTION_MAX,
                    "Why, and what done looks like",
                ),
                "multiline": True,
            },
            optional=True,
            hint="Slack formatting (*bold*, _italic_, lists, links) carries over to Jira.",
        ),
        _input(
            ids.ASSIGNEE_BLOCK, "Assignee", _user_select(prefill.assignee_user_id), optional=True
        ),
        _input(ids.DUE_BLOCK, "Due date", _date_picker(prefill.due_date), optional=True),
    ]
    if note:
        blocks.append(context(note))
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": json.dumps(metadata, separators=(",", ":")),
        "title": plain(heading, MODAL_TEXT_MAX),
        "submit": plain(submit, MODAL_TEXT_MAX),
        "close": plain("Cancel", MODAL_TEXT_MAX),
        "blocks": blocks,
    }


def notice_modal(heading: str, text: str) -> dict:
    """A modal that only says something (an error where no message can carry it)."""
    return {
        "type": "modal",
        "title": plain(heading, MODAL_TEXT_MAX),
        "close": plain("Close", MODAL_TEXT_MAX),
        "blocks": [section(text)],
    }


def read_metadata(view: dict) -> dict:
    try:
        value = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def read_item_form(state_values: dict) -> ItemForm:
    """The submitted values ({block_id: {action_id: leaf}}) as an ItemForm."""

    def leaf(block: str, action: str) -> dict:
        return (state_values.get(block) or {}).get(action) or {}

    due_text = leaf(ids.DUE_BLOCK, ids.DUE_INPUT).get("selected_date")
    try:
        due = date.fromisoformat(due_text) if due_text else None
    except ValueError:
        due = None
    return ItemForm(
        title=(leaf(ids.TITLE_BLOCK, ids.TITLE_INPUT).get("value") or "").strip(),
        description=(leaf(ids.DESCRIPTION_BLOCK, ids.DESCRIPTION_INPUT).get("value") or "").strip(),
        assignee_user_id=leaf(ids.ASSIGNEE_BLOCK, ids.ASSIGNEE_INPUT).get("selected_user") or None,
        due_date=due,
    )


def validate_item_form(form: ItemForm, today: date) -> dict[str, str]:
    """Inline errors keyed by input block id; empty when the form is fine."""
    errors: dict[str, str] = {}
    if not form.title:
        errors[ids.TITLE_BLOCK] = "Give the action item a title."
    elif len(form.title) > TITLE_MAX:
        errors[ids.TITLE_BLOCK] = (
            f"Keep the title to {TITLE_MAX} characters (it has {len(form.title)})."
        )
    if len(form.description) > DESCRIPTION_MAX:
        errors[ids.DESCRIPTION_BLOCK] = f"Keep the description to {DESCRIPTION_MAX} characters."
    if form.due_date is not None and form.due_date < today:
        errors[ids.DUE_BLOCK] = "The due date can't be in the past. Pick today or a later day."
    return errors


def today_in(tz_name: str | None, now: datetime | None = None) -> date:
    """Today's date where the person is (Slack's datepicker shows their local calendar)."""
    now = now or utcnow()
    try:
        return now.astimezone(ZoneInfo(tz_name)).date() if tz_name else now.date()
    except (ZoneInfoNotFoundError, ValueError):
        return now.date()


def _input(block_id: str, label: str, element: dict, *, optional=False, hint=None) -> dict:
    block = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label, 2000),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint, 2000)
    return block


def _text_input(action_id: str, initial: str, max_length: int, placeholder: str) -> dict:
    element = {
        "type": "plain_text_input",
        "action_id": action_id,
        "max_length": max_length,
        "placeholder": plain(placeholder, 150),
    }
    if initial:
        element["initial_value"] = initial
    return element


def _user_select(user_id: str | None) -> dict:
    element = {
        "type": "users_select",
        "action_id": ids.ASSIGNEE_INPUT,
        "placeholder": plain("Who owns it?", 150),
    }
    if user_id:
        element["initial_user"] = user_id
    return element


def _date_picker(due: date | None) -> dict:
    element = {
        "type": "datepicker",
        "action_id": ids.DUE_INPUT,
        "placeholder": plain("By when?", 150),
    }
    if due:
        element["initial_date"] = due.isoformat()
    return element
