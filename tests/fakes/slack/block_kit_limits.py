"""Block Kit limits as Slack enforces them, for tests.

Slack rejects a surface that breaks one of these rules with `invalid_blocks` (or
`invalid_arguments` / `view_too_large` for views). The emulator runs every posted
message and view through here, and tests can call the same functions directly on
view builders:

    assert violations("modal", build_item_modal(...)["blocks"]) == []

Every problem is a string that starts with a JSON-pointer-like path, e.g.
``blocks[3].text.text: 3012 chars > 3000``, so a failing assert says what to fix.
Deliberately not modelled: rich_text internals, the undocumented total-text cap.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_BLOCKS = {"message": 50, "modal": 100, "home": 100}
MAX_MESSAGE_TEXT = 40_000
MAX_VIEW_BYTES = 250_000

_BLOCKS_BY_SURFACE = {
    "message": {
        "section",
        "divider",
        "image",
        "actions",
        "context",
        "header",
        "input",
        "rich_text",
        "video",
        "file",
        "markdown",
        "table",
        "context_actions",
    },
    "modal": {
        "section",
        "divider",
        "image",
        "actions",
        "context",
        "header",
        "input",
        "rich_text",
        "video",
    },
    "home": {
        "section",
        "divider",
        "image",
        "actions",
        "context",
        "header",
        "input",
        "rich_text",
        "video",
    },
}

# Elements allowed where (actions blocks, section accessories, input blocks).
_SELECTS = {
    "static_select",
    "external_select",
    "users_select",
    "conversations_select",
    "channels_select",
    "multi_static_select",
    "multi_external_select",
    "multi_users_select",
    "multi_conversations_select",
    "multi_channels_select",
}
_PICKERS = {"datepicker", "timepicker", "datetimepicker", "checkboxes", "radio_buttons"}
_ACTION_ELEMENTS = {
    "button",
    "overflow",
    *_SELECTS,
    *_PICKERS,
    "workflow_button",
    "rich_text_input",
}
_ACCESSORIES = {"button", "overflow", "image", *_SELECTS, *_PICKERS, "workflow_button"}
_INPUT_ELEMENTS = {
    "plain_text_input",
    "number_input",
    "email_text_input",
    "url_text_input",
    "rich_text_input",
    "file_input",
    *_SELECTS,
    *_PICKERS,
}

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}$")


def violations(surface: str, blocks: list) -> list[str]:
    """Problems Slack would reject in `blocks` shown on `surface` (message, modal, home)."""
    return _Checker(surface).blocks(blocks)


def message_violations(text: str | None, blocks: list | None) -> list[str]:
    """A chat.postMessage / chat.update / response_url payload: text and blocks together."""
    problems = []
    if text is not None and len(text) > MAX_MESSAGE_TEXT:
        problems.append(f"text: {len(text)} chars > {MAX_MESSAGE_TEXT}")
    if blocks is not None:
        problems += violations("message", blocks)
    return problems


def view_violations(view: dict) -> list[str]:
    """A whole view object as passed to views.open/push/update/publish."""
    if not isinstance(view, dict):
        return ["view: must be an object"]
    kind = view.get("type")
    if kind not in ("modal", "home"):
        return [f"view.type: {kind!r} is not modal or home"]
    c = _Checker(kind)
    c.blocks(view.get("blocks"), "view.blocks")
    if kind == "modal":
        c.text(view.get("title"), "view.title", plain=True, limit=24, required=True)
        c.text(view.get("submit"), "view.submit", plain=True, limit=24)
        c.text(view.get("close"), "view.close", plain=True, limit=24)
        has_input = any(
            isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks") or []
        )
        if has_input and not view.get("submit"):
            c.problems.append("view.submit: required when the modal has input blocks")
    c.length(view.get("private_metadata"), "view.private_metadata", 3000)
    c.length(view.get("callback_id"), "view.callback_id", 255)
    c.length(view.get("external_id"), "view.external_id", 255)
    return c.problems


def view_too_large(view: dict) -> bool:
    return len(json.dumps(view, separators=(",", ":")).encode()) > MAX_VIEW_BYTES


def options_violations(response: dict) -> list[str]:
    """A block_suggestion answer: {"options": [...]} or {"option_groups": [...]}."""
    c = _Checker("modal")
    if "option_groups" in response:
        groups = response["option_groups"] or []
        c.count(groups, "option_groups", 1, 100)
        for i, group in enumerate(groups):
            c.text(
                group.get("label"), f"option_groups[{i}].label", plain=True, limit=75, required=True
            )
            c.options(group.get("options"), f"option_groups[{i}].options", plain=True)
    else:
        c.options(response.get("options"), "options", plain=True, minimum=0)
    return c.problems


class _Checker:
    """Walks one surface, collecting problems; block_ids are unique per surface."""

    def __init__(self, surface: str):
        self.surface = surface
        self.problems: list[str] = []
        self.block_ids: set[str] = set()

    # -- blocks -------------------------------------------------------------------

    def blocks(self, blocks: Any, path: str = "blocks") -> list[str]:
        if blocks is None:
            return self.problems
        if not isinstance(blocks, list):
            self.problems.append(f"{path}: must be an array")
            return self.problems
        limit = MAX_BLOCKS.get(self.surface)
        if limit is None:
            self.problems.append(f"surface {self.surface!r} is not message, modal or home")
            return self.problems
        if len(blocks) > limit:
            self.problems.append(f"{path}: {len(blocks)} blocks > {limit} on a {self.surface}")
        for i, block in enumerate(blocks):
            self.block(block, f"{path}[{i}]")
        return self.problems

    def block(self, block: Any, path: str) -> None:
        if not isinstance(block, dict):
            self.problems.append(f"{path}: must be an object")
            return
        kind = block.get("type")
        if kind not in _BLOCKS_BY_SURFACE[self.surface]:
            self.problems.append(f"{path}.type: {kind!r} is not allowed on a {self.surface}")
            return
        block_id = block.get("block_id")
        if block_id is not None:
            self.length(block_id, f"{path}.block_id", 255, minimum=1)
            if block_id in self.block_ids:
                self.problems.append(f"{path}.block_id: {block_id!r} is not unique")
            self.block_ids.add(block_id)
        getattr(self, f"_block_{kind}", lambda b, p: None)(block, path)

    def _block_section(self, b: dict, path: str) -> None:
        if b.get("text") is None and not b.get("fields"):
            self.problems.append(f"{path}: a section needs text or fields")
        self.text(b.get("text"), f"{path}.text", limit=3000)
        fields = b.get("fields")
        if fields is not None:
            self.count(fields, f"{path}.fields", 1, 10)
            for i, field in enumerate(fields or []):
                self.text(field, f"{path}.fields[{i}]", limit=2000, required=True)
        if b.get("accessory") is not None:
            self.element(b["accessory"], f"{path}.accessory", _ACCESSORIES)

    def _block_header(self, b: dict, path: str) -> None:
        self.text(b.get("text"), f"{path}.text", plain=True, limit=150, required=True)

    def _block_context(self, b: dict, path: str) -> None:
        elements = b.get("elements")
        self.count(elements, f"{path}.elements", 1, 10)
        for i, el in enumerate(elements or []):
            p = f"{path}.elements[{i}]"
            if isinstance(el, dict) and el.get("type") == "image":
                self._element_image(el, p)
            else:
                self.text(el, p, limit=3000, required=True)

    def _block_actions(self, b: dict, path: str) -> None:
        elements = b.get("elements")
        self.count(elements, f"{path}.elements", 1, 25)
        seen: set[str] = set()
        for i, el in enumerate(elements or []):
            self.element(el, f"{path}.elements[{i}]", _ACTION_ELEMENTS)
            action_id = el.get("action_id") if isinstance(el, dict) else None
            if action_id is not None:
                # Slack tells the clicks of one block apart by action_id alone.
                if action_id in seen:
                    self.problems.append(
                        f"{path}.elements[{i}].action_id: {action_id!r} is not unique in its block"
                    )
                seen.add(action_id)

    def _block_input(self, b: dict, path: str) -> None:
        self.text(b.get("label"), f"{path}.label", plain=True, limit=2000, required=True)
        self.text(b.get("hint"), f"{path}.hint", plain=True, limit=2000)
        if b.get("element") is None:
            self.problems.append(f"{path}.element: required in an input block")
        else:
            self.element(b["element"], f"{path}.element", _INPUT_ELEMENTS)

    def _block_image(self, b: dict, path: str) -> None:
        self._element_image(b, path)
        self.text(b.get("title"), f"{path}.title", plain=True, limit=2000)

    def _block_markdown(self, b: dict, path: str) -> None:
        self.length(b.get("text"), f"{path}.text", 12_000, minimum=1, required=True)

    # -- elements -----------------------------------------------------------------

    def element(self, el: Any, path: str, allowed: set[str]) -> None:
        if not isinstance(el, dict):
            self.problems.append(f"{path}: must be an object")
            return
        kind = el.get("type")
        if kind not in allowed:
            self.problems.append(f"{path}.type: {kind!r} is not allowed here")
            return
        if kind != "image":
            self.length(el.get("action_id"), f"{path}.action_id", 255, minimum=1)
        self.text(el.get("placeholder"), f"{path}.placeholder", plain=True, limit=150)
        self.confirm(el.get("confirm"), f"{path}.confirm")
        handler = getattr(self, f"_element_{kind}", None)
        if handler is None and kind in _SELECTS:
            handler = self._element_select
        if handler is not None:
            handler(el, path)

    def _element_button(self, el: dict, path: str) -> None:
        self.text(el.get("text"), f"{path}.text", plain=True, limit=75, required=True)
        self.length(el.get("value"), f"{path}.value", 2000)
        self.length(el.get("url"), f"{path}.url", 3000)
        if el.get("style") not in (None, "primary", "danger"):
            self.problems.append(f"{path}.style: {el['style']!r} is not primary or danger")

    def _element_overflow(self, el: dict, path: str) -> None:
        self.options(el.get("options"), f"{path}.options", plain=True, minimum=1, maximum=5)

    def _element_select(self, el: dict, path: str) -> None:
        kind = el["type"]
        if kind in ("static_select", "multi_static_select"):
            if "option_groups" in el:
                for i, group in enumerate(el.get("option_groups") or []):
                    self.text(
                        group.get("label"),
                        f"{path}.option_groups[{i}].label",
                        plain=True,
                        limit=75,
                        required=True,
                    )
                    self.options(
                        group.get("options"), f"{path}.option_groups[{i}].options", plain=True
                    )
                self.count(el.get("option_groups"), f"{path}.option_groups", 1, 100)
            else:
                self.options(el.get("options"), f"{path}.options", plain=True)
            self._initial_in_options(el, path)
        if el.get("initial_option") is not None:
            self.option(el["initial_option"], f"{path}.initial_option", plain=True)
        for i, opt in enumerate(el.get("initial_options") or []):
            self.option(opt, f"{path}.initial_options[{i}]", plain=True)

    def _initial_in_options(self, el: dict, path: str) -> None:
        # Slack rejects an initial option that is not exactly (value and text) one of the
        # element's options.
        options = list(el.get("options") or [])
        for group in el.get("option_groups") or []:
            options += group.get("options") or [] if isinstance(group, dict) else []
        known = {_option_key(o) for o in options if isinstance(o, dict)}
        initial = [("initial_option", el.get("initial_option"))] + [
            (f"initial_options[{i}]", o) for i, o in enumerate(el.get("initial_options") or [])
        ]
        for where, option in initial:
            if isinstance(option, dict) and _option_key(option) not in known:
                self.problems.append(
                    f"{path}.{where}: {option.get('value')!r} is not one of the options"
                )

    def _element_checkboxes(self, el: dict, path: str) -> None:
        self.options(el.get("options"), f"{path}.options", plain=False, maximum=10)
        self._initial_in_options(el, path)

    _element_radio_buttons = _element_checkboxes

    def _element_plain_text_input(self, el: dict, path: str) -> None:
        self.length(el.get("initial_value"), f"{path}.initial_value", 3000)
        for key, low in (("min_length", 0), ("max_length", 1)):
            value = el.get(key)
            if value is not None and not (isinstance(value, int) and low <= value <= 3000):
                self.problems.append(f"{path}.{key}: {value!r} is not in {low}..3000")

    def _element_datepicker(self, el: dict, path: str) -> None:
        value = el.get("initial_date")
        if value is not None and not (isinstance(value, str) and _DATE.match(value)):
            self.problems.append(f"{path}.initial_date: {value!r} is not YYYY-MM-DD")

    def _element_timepicker(self, el: dict, path: str) -> None:
        value = el.get("initial_time")
        if value is not None and not (isinstance(value, str) and _TIME.match(value)):
            self.problems.append(f"{path}.initial_time: {value!r} is not HH:mm")

    def _element_image(self, el: dict, path: str) -> None:
        if not el.get("image_url") and not el.get("slack_file"):
            self.problems.append(f"{path}.image_url: required")
        self.length(el.get("image_url"), f"{path}.image_url", 3000)
        self.length(el.get("alt_text"), f"{path}.alt_text", 2000, minimum=1, required=True)

    # -- composition objects ------------------------------------------------------

    def text(
        self, obj: Any, path: str, *, plain: bool = False, limit: int, required: bool = False
    ) -> None:
        if obj is None:
            if required:
                self.problems.append(f"{path}: required")
            return
        if not isinstance(obj, dict):
            self.problems.append(f"{path}: must be a text object, not {type(obj).__name__}")
            return
        kind = obj.get("type")
        if plain and kind != "plain_text":
            self.problems.append(f"{path}.type: must be plain_text, not {kind!r}")
        elif kind not in ("plain_text", "mrkdwn"):
            self.problems.append(f"{path}.type: {kind!r} is not plain_text or mrkdwn")
        if kind == "mrkdwn" and "emoji" in obj:
            self.problems.append(f"{path}.emoji: only allowed on plain_text")
        self.length(obj.get("text"), f"{path}.text", limit, minimum=1, required=True)

    def option(self, opt: Any, path: str, *, plain: bool) -> None:
        if not isinstance(opt, dict):
            self.problems.append(f"{path}: must be an option object")
            return
        self.text(opt.get("text"), f"{path}.text", plain=plain, limit=75, required=True)
        self.length(opt.get("value"), f"{path}.value", 150, minimum=1, required=True)
        self.text(opt.get("description"), f"{path}.description", plain=plain, limit=75)
        self.length(opt.get("url"), f"{path}.url", 3000)

    def options(
        self, opts: Any, path: str, *, plain: bool, minimum: int = 1, maximum: int = 100
    ) -> None:
        self.count(opts, path, minimum, maximum)
        for i, opt in enumerate(opts or []):
            self.option(opt, f"{path}[{i}]", plain=plain)

    def confirm(self, obj: Any, path: str) -> None:
        if obj is None:
            return
        self.text(obj.get("title"), f"{path}.title", plain=True, limit=100, required=True)
        self.text(obj.get("text"), f"{path}.text", limit=300, required=True)
        self.text(obj.get("confirm"), f"{path}.confirm", plain=True, limit=30, required=True)
        self.text(obj.get("deny"), f"{path}.deny", plain=True, limit=30, required=True)

    # -- primitives ---------------------------------------------------------------

    def length(
        self, value: Any, path: str, limit: int, *, minimum: int = 0, required: bool = False
    ) -> None:
        if value is None:
            if required:
                self.problems.append(f"{path}: required")
            return
        if not isinstance(value, str):
            self.problems.append(f"{path}: must be a string, not {type(value).__name__}")
        elif len(value) > limit:
            self.problems.append(f"{path}: {len(value)} chars > {limit}")
        elif len(value) < minimum:
            self.problems.append(f"{path}: must not be empty")

    def count(self, items: Any, path: str, minimum: int, maximum: int) -> None:
        if items is None:
            if minimum:
                self.problems.append(f"{path}: required")
            return
        if not isinstance(items, list):
            self.problems.append(f"{path}: must be an array")
        elif len(items) > maximum:
            self.problems.append(f"{path}: {len(items)} items > {maximum}")
        elif len(items) < minimum:
            self.problems.append(f"{path}: {len(items)} items < {minimum}")


def _option_key(option: dict) -> tuple:
    text = option.get("text") if isinstance(option.get("text"), dict) else {}
    return (option.get("value"), text.get("type"), text.get("text"))
