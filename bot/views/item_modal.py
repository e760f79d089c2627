"""The action-item modal: one builder and one validation for every way an item is made or
edited (/retro add, the Add button, a line's Edit, and the Sync to Jira shortcut).

`build_item_modal` takes prefill values and opaque metadata (ids only); `read_item_form`
turns a submission's state into an ItemForm (validated by bot/item_form.py); `error_blocks`
places the validation's errors on the inputs.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

from bot.item_form import (
    DESCRIPTION_MAX,
    FIELD_DESCRIPTION,
    FIELD_DUE_DATE,
    TITLE_MAX,
    ItemForm,
    clean_text,
)
from bot.views import retro_ids as ids
from bot.views.blocks import clip, context, plain, section

MODAL_TEXT_MAX = 24  # modal title / submit / close


def shown_in_modal(form: ItemForm) -> ItemForm:
    """The values as the modal's inputs hold them: a title or description written in Jira
    (which has no such limits) is clipped. What an edit left as shown is told apart from
    what the person changed by comparing with this, never with the item's full value."""
    return replace(
        form,
        title=clip(form.title, TITLE_MAX),
        description=clip(form.description, DESCRIPTION_MAX),
    )


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
    prefill = shown_in_modal(prefill or ItemForm())
    blocks: list[dict] = []
    if intro:
        blocks.append(section(intro))
    blocks += [
        _input(
            ids.TITLE_BLOCK,
            "Title",
            _text_input(ids.TITLE_INPUT, prefill.title, TITLE_MAX, "What will we do?"),
        ),
        _input(
            ids.DESCRIPTION_BLOCK,
            "Description",
            {
                **_text_input(
                    ids.DESCRIPTION_INPUT,
                    prefill.description,
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
        found = _mapping(_mapping(state_values).get(block)).get(action)
        return _mapping(found)

    due_text = leaf(ids.DUE_BLOCK, ids.DUE_INPUT).get("selected_date")
    try:
        due = date.fromisoformat(due_text) if isinstance(due_text, str) else None
    except ValueError:
        due = None
    assignee = leaf(ids.ASSIGNEE_BLOCK, ids.ASSIGNEE_INPUT).get("selected_user")
    return ItemForm(
        title=clean_text(leaf(ids.TITLE_BLOCK, ids.TITLE_INPUT).get("value")).strip(),
        description=clean_text(
            leaf(ids.DESCRIPTION_BLOCK, ids.DESCRIPTION_INPUT).get("value"), lines=True
        ).strip(),
        assignee_user_id=clean_text(assignee) or None,
        due_date=due,
    )


def _mapping(value: object) -> dict:
    """A part of a submitted view that should be an object; anything else reads as empty."""
    return value if isinstance(value, dict) else {}


def error_blocks(errors: dict[str, str]) -> dict[str, str]:
    """A submission's field-keyed errors on the modal's inputs."""
    blocks = {FIELD_DESCRIPTION: ids.DESCRIPTION_BLOCK, FIELD_DUE_DATE: ids.DUE_BLOCK}
    return {blocks.get(name, ids.TITLE_BLOCK): text for name, text in errors.items()}


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
