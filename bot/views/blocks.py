"""Tiny constructors for the Block Kit pieces every view uses."""

from __future__ import annotations

# Slack's Block Kit limits; builders trim to them rather than fail at Slack.
SECTION_TEXT_MAX = 3000
BUTTON_TEXT_MAX = 75
MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100
# Slack rejects a message whose blocks carry much more than ~13k characters in all
# (msg_blocks_too_long, undocumented); stay well under it.
MESSAGE_TEXT_BUDGET = 10_000


def clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def mrkdwn(value: str) -> dict:
    return {"type": "mrkdwn", "text": clip(value, SECTION_TEXT_MAX)}


def plain(value: str, limit: int = SECTION_TEXT_MAX) -> dict:
    return {"type": "plain_text", "text": clip(value, limit), "emoji": True}


def section(value: str, **extra) -> dict:
    return {"type": "section", "text": mrkdwn(value), **extra}


def header(value: str) -> dict:
    return {"type": "header", "text": plain(value, 150)}


def context(*parts: str) -> dict:
    return {"type": "context", "elements": [mrkdwn(p) for p in parts[:10]]}


def divider() -> dict:
    return {"type": "divider"}


def button(
    label: str,
    action_id: str,
    value: str = "",
    *,
    style: str | None = None,
    label_for: str | None = None,
    **extra,
):
    """`label_for` names what the button acts on for screen readers ("Edit Fix the deploy"),
    so a list of identical buttons can be told apart."""
    element = {"type": "button", "text": plain(label, BUTTON_TEXT_MAX), "action_id": action_id}
    if label_for:
        element["accessibility_label"] = clip(f"{label} {label_for}", BUTTON_TEXT_MAX)
    if value:
        element["value"] = value
    if style:
        element["style"] = style
    element.update(extra)
    return element


def accessible_name(element: dict) -> str | None:
    """What a screen reader announces for a button: its label, else its text."""
    if element.get("type") != "button":
        return None
    return element.get("accessibility_label") or element["text"]["text"]


def distinct_names(blocks: list[dict]) -> list[dict]:
    """Screen readers tell a message's buttons apart only by name: a button whose name
    repeats an earlier one's (two items with the same title, say) gets a number, "Retry
    Fix the deploy (2)". Overflow menus take no label in Block Kit; each is announced
    after the line it ends, which names its item."""
    seen: dict[str, int] = {}
    for block in blocks:
        for element in [block.get("accessory") or {}, *block.get("elements", [])]:
            name = accessible_name(element)
            if name is None:
                continue
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:
                suffix = f" ({seen[name]})"
                element["accessibility_label"] = clip(name, BUTTON_TEXT_MAX - len(suffix)) + suffix
    return blocks


def actions(*elements: dict, block_id: str | None = None) -> dict:
    block = {"type": "actions", "elements": list(elements)[:25]}
    if block_id:
        block["block_id"] = block_id
    return block


# A zero-width joiner on each side of a formatting character keeps it from opening or
# closing bold, italics, strikethrough or code, and is invisible where it is shown.
ZWJ = "\u200d"
FORMATTING = "*_~`"
_NEUTRAL = str.maketrans({c: f"{ZWJ}{c}{ZWJ}" for c in FORMATTING})


def escape(value: str) -> str:
    """User text for mrkdwn (blocks and top-level `text` fallbacks alike): shown literally.

    `&`, `<` and `>` are escaped as Slack requires, so `<!channel>` or `<@U1>` in a title
    never becomes a mention or a link, and `*`, `_`, `~` and `` ` `` never format it."""
    escaped = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.translate(_NEUTRAL)


def fallback(value: str, limit: int = SECTION_TEXT_MAX) -> str:
    """A top-level `text` made of our words and already-escaped user text, within limits."""
    return clip(value, limit)
