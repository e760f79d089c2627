"""The /jira settings modal's inputs for the fields Jira requires on create: one input per
field (a select of Jira's allowed values, or text), under the issue type."""

from __future__ import annotations

from bot.jira.required_fields import (
    ALLOWED_SHOWN_MAX,
    MULTI_SELECT,
    NUMBER,
    SELECT,
    RequiredField,
)
from bot.views import required_field_ids as ids
from bot.views.blocks import clip, context, escape, plain

OPTION_TEXT_MAX = 75


def required_field_blocks(
    issue_type_id: str | None, fields: list[RequiredField], values: dict[str, str]
) -> list[dict]:
    """The inputs, or a note on a field the app cannot fill (saving then says so)."""
    if not issue_type_id or not fields:
        return []
    blocks = [context("Jira requires these fields for this issue type: every create sends them.")]
    for field in fields:
        if field.kind is None:
            blocks.append(
                context(
                    f"⚠️ *{escape(field.name)}* ({escape(field.type_name)}) is required, and "
                    "Unpack can't fill that kind of field."
                )
            )
            continue
        blocks.append(_input(issue_type_id, field, values.get(field.id)))
    return blocks


def _input(issue_type_id: str, field: RequiredField, value: str | None) -> dict:
    if field.kind in (SELECT, MULTI_SELECT):
        element = _select(field, value)
        hint = "Every action item's issue gets this value."
    else:
        element = {"type": "plain_text_input", "action_id": ids.REQUIRED_INPUT}
        if value:
            element["initial_value"] = value
        hint = "A number." if field.kind == NUMBER else "Every action item's issue gets this text."
    return {
        "type": "input",
        "block_id": ids.required_block(issue_type_id, field.id),
        "label": plain(f"{field.name} (required by Jira)", 2000),
        "hint": plain(hint),
        "element": element,
    }


def _select(field: RequiredField, value: str | None) -> dict:
    options = [
        {"text": plain(clip(label, OPTION_TEXT_MAX), OPTION_TEXT_MAX), "value": option_id}
        for option_id, label in field.allowed[:ALLOWED_SHOWN_MAX]
    ]
    element = {
        "type": "static_select",
        "action_id": ids.REQUIRED_INPUT,
        "placeholder": plain(f"Choose a {field.name}", 150),
        "options": options,
    }
    initial = next((o for o in options if o["value"] == value), None)
    if initial:
        element["initial_option"] = initial
    return element


def read_required(values: dict, issue_type_id: str | None) -> dict[str, tuple[str, str | None]]:
    """{field id: (block id, value)} of the inputs built for `issue_type_id`."""
    found = {}
    for block_id, actions in values.items():
        parsed = ids.parse_required_block(block_id)
        if parsed is None or parsed[0] != issue_type_id:
            continue
        leaf = (actions or {}).get(ids.REQUIRED_INPUT) or {}
        option = leaf.get("selected_option") or {}
        found[parsed[1]] = (block_id, option.get("value") or leaf.get("value"))
    return found
