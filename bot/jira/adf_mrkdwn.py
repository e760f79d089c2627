"""Atlassian Document Format → Slack mrkdwn: a Jira description coming back to Slack, the
inverse of bot/jira/adf.py.

It writes the same subset that bot/jira/adf.py reads (paragraphs, hard breaks, bullet and
numbered lists, quotes, code blocks, *bold*, _italic_, ~strike~, `code`, <url|links>), so a
description the app sent comes back as it was typed. What mrkdwn cannot show (headings,
tables, panels, media) keeps its text. The links the app appends to every description
("From the retro: …") are dropped: they belong to Jira's side only.

`canonical` is the one form in which two descriptions are compared: text → ADF → text, so
formatting differences that Jira or Slack introduce never look like an edit.
"""

from __future__ import annotations

from bot.jira.adf import mrkdwn_to_adf
from bot.jira.fields import APP_LINK_LABELS

NESTED_INDENT = "    "
_MARK_WRAP = {"strong": "*", "em": "_", "strike": "~"}


def adf_to_mrkdwn(doc: dict | None) -> str:
    """The mrkdwn of an ADF document, without the links the app appended (wherever they
    are now: someone who adds a line at the end in Jira writes it after them)."""
    if not isinstance(doc, dict):
        return ""
    blocks = [block for block in doc.get("content") or [] if not _is_app_link(block)]
    return _join_blocks(blocks, "").strip("\n")


def canonical(text: str | None) -> str:
    """A description in the form both sides are compared in."""
    return adf_to_mrkdwn(mrkdwn_to_adf(text or ""))


def _is_app_link(block: dict) -> bool:
    if block.get("type") != "paragraph":
        return False
    content = block.get("content") or []
    if len(content) != 2 or content[0].get("type") != "text":
        return False
    linked = any(m.get("type") == "link" for m in content[1].get("marks") or [])
    return content[0].get("text") in APP_LINK_LABELS and linked


def _join_blocks(blocks: list[dict], indent: str) -> str:
    parts = [_block(block, indent) for block in blocks]
    return "\n\n".join(part for part in parts if part)


def _block(node: dict, indent: str) -> str:
    kind = node.get("type")
    children = node.get("content") or []
    if kind in ("paragraph", "heading"):
        return _lines(_inline(children), indent)
    if kind == "bulletList":
        return _list(children, indent, ordered=False)
    if kind == "orderedList":
        start = (node.get("attrs") or {}).get("order") or 1
        return _list(children, indent, ordered=True, start=int(start))
    if kind == "blockquote":
        inner = _join_blocks(children, "")
        return "\n".join(f"{indent}> {line}".rstrip() for line in inner.split("\n"))
    if kind == "codeBlock":
        code = "".join(c.get("text", "") for c in children if c.get("type") == "text")
        return f"{indent}```\n{code}\n```" if code else ""
    if kind == "rule":
        return f"{indent}---"
    if kind == "text" or kind in _INLINE_KINDS:
        return _lines(_inline([node]), indent)
    return _join_blocks(children, indent)  # panels, tables, media…: their text


def _lines(text: str, indent: str) -> str:
    return "\n".join(indent + line for line in text.split("\n")) if text else ""


def _list(items: list[dict], indent: str, *, ordered: bool, start: int = 1) -> str:
    lines = []
    for number, item in enumerate(items, start):
        marker = f"{number}. " if ordered else "• "
        first, *rest = list(item.get("content") or []) or [{"type": "paragraph"}]
        head = _inline(first.get("content") or []) if first.get("type") == "paragraph" else ""
        lines.append(f"{indent}{marker}{head}".rstrip())
        if first.get("type") != "paragraph":
            rest = [first, *rest]
        for child in rest:
            nested = _block(child, indent + NESTED_INDENT)
            if nested:
                lines.append(nested)
    return "\n".join(lines)


# --- inline ---------------------------------------------------------------------------

_INLINE_KINDS = ("hardBreak", "mention", "emoji", "inlineCard", "date", "status")


def _inline(nodes: list[dict]) -> str:
    return "".join(_inline_node(node) for node in nodes)


def _inline_node(node: dict) -> str:
    kind = node.get("type")
    attrs = node.get("attrs") or {}
    if kind == "text":
        return _marked(node.get("text") or "", node.get("marks") or [])
    if kind == "hardBreak":
        return "\n"
    if kind == "mention":
        shown = attrs.get("text") or "someone"
        return shown if shown.startswith("@") else "@" + shown
    if kind == "emoji":
        return attrs.get("text") or attrs.get("shortName") or ""
    if kind == "inlineCard":
        return attrs.get("url") or ""
    if kind == "status":
        return attrs.get("text") or ""
    return _inline(node.get("content") or [])


def _marked(text: str, marks: list[dict]) -> str:
    kinds = [m.get("type") for m in marks]
    href = next(((m.get("attrs") or {}).get("href") for m in marks if m.get("type") == "link"), "")
    lead, core, trail = _split_spaces(text)
    if not core:
        return text
    if href:
        core = href if core == href else f"<{href}|{core}>"
    elif "code" in kinds:
        return f"{lead}`{core}`{trail}"
    for kind in ("strike", "em", "strong"):
        if kind in kinds:
            core = f"{_MARK_WRAP[kind]}{core}{_MARK_WRAP[kind]}"
    return lead + core + trail


def _split_spaces(text: str) -> tuple[str, str, str]:
    """Slack's markers must touch the text they mark, so spaces stay outside them."""
    core = text.strip()
    if not core:
        return text, "", ""
    start = text.index(core)
    return text[:start], core, text[start + len(core) :]
