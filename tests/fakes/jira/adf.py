"""Atlassian Document Format checks: the rules of ``@atlaskit/adf-schema`` v1 that an app
converting Slack mrkdwn can break.

Not the full schema: the node and mark types a text converter produces, their nesting,
non-empty text, ``code`` combined only with ``link``, and no unknown keys.
"""

from __future__ import annotations

from typing import Any

INLINE = {"text", "hardBreak", "mention", "emoji", "inlineCard", "date", "status"}
BLOCK_CHILDREN = {
    "paragraph": INLINE,
    "heading": INLINE,
    "bulletList": {"listItem"},
    "orderedList": {"listItem"},
    "listItem": {"paragraph", "bulletList", "orderedList", "codeBlock", "mediaSingle"},
    "codeBlock": {"text"},
    "blockquote": {"paragraph", "bulletList", "orderedList", "codeBlock"},
    "panel": {"paragraph", "heading", "bulletList", "orderedList", "codeBlock"},
    "rule": set(),
}
TOP_LEVEL = set(BLOCK_CHILDREN) - {"listItem"}
NEEDS_CONTENT = {"bulletList", "orderedList", "listItem", "blockquote", "panel"}
MARKS = {"strong", "em", "code", "link", "strike", "underline", "subsup", "textColor"}
NODE_KEYS = {"type", "content", "text", "marks", "attrs"}


class AdfError(ValueError):
    pass


def validate_adf(doc: Any) -> None:
    """Raises AdfError naming the first problem found."""
    if not isinstance(doc, dict):
        raise AdfError("the value is not an Atlassian Document (a JSON object)")
    if doc.get("type") != "doc":
        raise AdfError("root node must have type 'doc'")
    if doc.get("version") != 1:
        raise AdfError("root node must have version 1")
    extra = set(doc) - {"type", "version", "content"}
    if extra:
        raise AdfError(f"root node has unknown properties {sorted(extra)}")
    content = doc.get("content")
    if not isinstance(content, list):
        raise AdfError("root node must have a content array")
    for i, node in enumerate(content):
        _node(node, TOP_LEVEL, f"content[{i}]")


def _node(node: Any, allowed: set[str], path: str) -> None:
    if not isinstance(node, dict) or not isinstance(node.get("type"), str):
        raise AdfError(f"{path}: a node must be an object with a type")
    kind = node["type"]
    if kind not in allowed:
        raise AdfError(f"{path}: node type '{kind}' is not allowed here")
    extra = set(node) - NODE_KEYS
    if extra:
        raise AdfError(f"{path}: unknown properties {sorted(extra)}")
    if kind == "text":
        _text(node, path)
        return
    if "text" in node or ("marks" in node and kind not in ("paragraph", "heading")):
        raise AdfError(f"{path}: '{kind}' nodes take no text or marks")
    if kind == "heading" and (node.get("attrs") or {}).get("level") not in range(1, 7):
        raise AdfError(f"{path}: heading needs attrs.level 1-6")
    children = BLOCK_CHILDREN.get(kind)
    if children is None:  # inline leaf nodes (hardBreak, mention, ...) have no content
        if "content" in node:
            raise AdfError(f"{path}: '{kind}' takes no content")
        return
    content = node.get("content", [])
    if not isinstance(content, list):
        raise AdfError(f"{path}: content must be an array")
    if kind in NEEDS_CONTENT and not content:
        raise AdfError(f"{path}: '{kind}' must not be empty")
    if (
        kind == "listItem"
        and content
        and content[0].get("type") not in ("paragraph", "codeBlock", "mediaSingle")
    ):
        raise AdfError(f"{path}: a listItem must start with a paragraph")
    for i, child in enumerate(content):
        _node(child, children, f"{path}.content[{i}]")
        if kind == "codeBlock" and child.get("marks"):
            raise AdfError(f"{path}.content[{i}]: text in a codeBlock takes no marks")


def _text(node: dict[str, Any], path: str) -> None:
    if "content" in node:
        raise AdfError(f"{path}: text nodes take no content")
    text = node.get("text")
    if not isinstance(text, str) or not text:
        raise AdfError(f"{path}: text must be a non-empty string")
    marks = node.get("marks", [])
    if not isinstance(marks, list):
        raise AdfError(f"{path}: marks must be an array")
    kinds = []
    for mark in marks:
        if not isinstance(mark, dict) or mark.get("type") not in MARKS:
            raise AdfError(f"{path}: unknown mark {mark!r}")
        if set(mark) - {"type", "attrs"}:
            raise AdfError(f"{path}: mark has unknown properties")
        if mark["type"] == "link":
            href = (mark.get("attrs") or {}).get("href")
            if not isinstance(href, str) or not href:
                raise AdfError(f"{path}: link mark needs attrs.href")
        kinds.append(mark["type"])
    if len(set(kinds)) != len(kinds):
        raise AdfError(f"{path}: a mark type appears twice")
    if "code" in kinds and set(kinds) - {"code", "link"}:
        raise AdfError(f"{path}: the code mark can only be combined with link")
