"""Slack mrkdwn → Atlassian Document Format (the `description` of a Jira v3 issue).

Block structure (paragraphs, bullet and numbered lists, quotes, code blocks) is parsed with
markdown-it-py, restricted to the constructs mrkdwn has; inline text is Slack's own
grammar (*bold*, _italic_, ~strike~, `code`, ```pre```, <url|text>, <@U…>), which is not
Markdown's, so it has a small parser of its own below.

Jira rejects ADF with empty text nodes, or with `code` combined with any mark but `link`;
the builder never produces either, whatever the input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from markdown_it import MarkdownIt
from markdown_it.token import Token

# Jira's text areas hold about 32k characters; leave room for the links we append.
MAX_SOURCE_CHARS = 30_000

_md = MarkdownIt("zero").enable(["list", "blockquote", "fence"])

_FENCE = re.compile(r"```(.*?)```", re.DOTALL)
# The space after the bullet stays on its line: a bullet alone on a line is an empty item,
# and the paragraph after it is not pulled into it.
_BULLET = re.compile(r"^(\s*)[•◦▪‣·](?:[ \t]+|$)", re.MULTILINE)
_QUOTE = re.compile(r"^(\s*)&gt;", re.MULTILINE)
_URL = re.compile(r"^(https?://|mailto:)\S+$", re.IGNORECASE)
_BARE_URL = re.compile(r"https?://[^\s<>|`]+", re.IGNORECASE)
_ENTITIES = {"&amp;": "&", "&lt;": "<", "&gt;": ">"}
_SPECIALS = {"here": "@here", "channel": "@channel", "everyone": "@everyone"}
_MARK_CHARS = {"*": "strong", "_": "em", "~": "strike"}
_CODE_ALLOWS = {"link"}  # the only mark ADF lets `code` keep company with


def mrkdwn_to_adf(
    text: str | None,
    *,
    names: Mapping[str, str] | None = None,
    links: list[tuple[str, str, str]] = (),
) -> dict:
    """A valid ADF document for Slack mrkdwn `text`.

    `names` maps Slack user ids to display names for <@U…> mentions. `links` are
    (label, link text, url) triples appended as their own paragraphs, e.g.
    ("Retro: ", "Sprint 12 retro", permalink).
    """
    source = (text or "")[:MAX_SOURCE_CHARS]
    blocks = _blocks(_md.parse(_prepare(source)), names or {})
    for label, link_text, url in links:
        if url:
            blocks.append(_paragraph(_label_and_link(label, link_text, url)))
    return {"version": 1, "type": "doc", "content": blocks}


def plain_text(text: str | None, *, names: Mapping[str, str] | None = None) -> str:
    """mrkdwn with the markup removed (for places that take plain strings)."""
    parts = []
    for segment in _Inline(text or "", names or {}).parse():
        parts.append(segment.text)
    return "".join(parts)


# --- blocks ---------------------------------------------------------------------------


def _prepare(text: str) -> str:
    """Rewrites mrkdwn's block syntax into the CommonMark markdown-it understands."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out, last = [], 0
    for match in _FENCE.finditer(text):
        out.append(_prepare_prose(text[last : match.start()]))
        body = match.group(1)
        if "\n" in body.strip("\n"):
            # A multi-line ```block``` becomes a fenced block on lines of its own.
            body = body.strip("\n").replace("```", "`\u200b``")
            out.append(f"\n```\n{body}\n```\n")
        else:
            out.append(match.group(0))  # inline ```code``` stays for the inline parser
        last = match.end()
    out.append(_prepare_prose(text[last:]))
    return "".join(out)


def _prepare_prose(text: str) -> str:
    text = _BULLET.sub(r"\1- ", text)
    text = _QUOTE.sub(r"\1>", text)
    lines, quoted = [], False
    for line in text.split("\n"):
        is_quote = line.lstrip().startswith(">")
        if quoted and not is_quote and line.strip():
            lines.append("")  # in Slack a quote is one line, not a lazy paragraph
        lines.append(line)
        quoted = is_quote
    return "\n".join(lines)


def _blocks(tokens: list[Token], names: Mapping[str, str]) -> list[dict]:
    root: dict = {"type": "doc", "content": []}
    stack = [root]
    for token in tokens:
        parent = stack[-1]
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            node = {"type": "bulletList" if kind.startswith("bullet") else "orderedList"}
            node["content"] = []
            parent["content"].append(node)
            stack.append(node)
        elif kind in ("list_item_open", "blockquote_open"):
            node = {"type": "listItem" if kind == "list_item_open" else "blockquote"}
            node["content"] = []
            parent["content"].append(node)
            stack.append(node)
        elif kind in ("bullet_list_close", "ordered_list_close", "list_item_close"):
            _close(stack.pop())
        elif kind == "blockquote_close":
            _close(stack.pop())
        elif kind == "inline":
            parent["content"].append(_paragraph(_inline(token.content, names)))
        elif kind == "fence":
            parent["content"].append(_code_block(token.content))
    return _prune(root["content"])


def _close(node: dict) -> None:
    """Containers ADF requires to be non-empty get an empty paragraph rather than break."""
    if node["type"] == "listItem":
        if not node["content"] or node["content"][0]["type"] not in ("paragraph", "codeBlock"):
            node["content"].insert(0, {"type": "paragraph", "content": []})
        _nest_lists_in_list_item(node)
    elif node["type"] == "blockquote":
        # Quotes hold paragraphs, lists and code; a nested quote is flattened into them.
        flat = []
        for child in node["content"]:
            flat.extend(child["content"] if child["type"] == "blockquote" else [child])
        node["content"] = flat or [{"type": "paragraph", "content": []}]


def _nest_lists_in_list_item(node: dict) -> None:
    flat = []
    for child in node["content"]:  # a quote inside a list item keeps its text, unquoted
        flat.extend(child["content"] if child["type"] == "blockquote" else [child])
    node["content"] = flat


def _prune(blocks: list[dict]) -> list[dict]:
    """Drops top-level paragraphs and code blocks with nothing in them (blank input)."""
    return [b for b in blocks if b["type"] not in ("paragraph", "codeBlock") or b["content"]]


def _paragraph(inline: list[dict]) -> dict:
    return {"type": "paragraph", "content": inline}


def _code_block(text: str) -> dict:
    text = text.rstrip("\n").replace("`\u200b``", "```")
    node: dict = {"type": "codeBlock", "content": []}
    if text:
        node["content"].append({"type": "text", "text": text})
    return node


def _label_and_link(label: str, link_text: str, url: str) -> list[dict]:
    nodes = [{"type": "text", "text": label}] if label else []
    nodes.append(
        {"type": "text", "text": link_text or url, "marks": [_link_mark(url)]},
    )
    return nodes


def _link_mark(url: str) -> dict:
    return {"type": "link", "attrs": {"href": url}}


# --- inline ---------------------------------------------------------------------------


@dataclass
class _Segment:
    text: str
    marks: tuple[str, ...] = ()  # strong / em / strike / code
    href: str | None = None


def _inline(text: str, names: Mapping[str, str]) -> list[dict]:
    nodes: list[dict] = []
    for segment in _merge(_Inline(text, names).parse()):
        lines = segment.text.split("\n")
        for i, line in enumerate(lines):
            if i:
                nodes.append({"type": "hardBreak"})
            if line:
                nodes.append(_text_node(line, segment))
    while nodes and nodes[-1]["type"] == "hardBreak":
        nodes.pop()
    return nodes


def _text_node(text: str, segment: _Segment) -> dict:
    marks = list(segment.marks)
    if "code" in marks:
        marks = ["code"]  # code + strong/em/strike is invalid ADF: keep the code
    node: dict = {"type": "text", "text": text}
    mark_nodes = [{"type": m} for m in dict.fromkeys(marks)]
    if segment.href:
        mark_nodes.append(_link_mark(segment.href))
    if mark_nodes:
        node["marks"] = mark_nodes
    return node


def _merge(segments: list[_Segment]) -> list[_Segment]:
    merged: list[_Segment] = []
    for segment in segments:
        if not segment.text:
            continue
        last = merged[-1] if merged else None
        if last and last.marks == segment.marks and last.href == segment.href:
            last.text += segment.text
        else:
            merged.append(_Segment(segment.text, segment.marks, segment.href))
    return merged


def _unescape(text: str) -> str:
    for entity, char in _ENTITIES.items():
        text = text.replace(entity, char)
    return text


class _Inline:
    """Slack's inline grammar: markers open after a boundary, close before one, and never
    span a code span or an <…> construct."""

    def __init__(self, text: str, names: Mapping[str, str]) -> None:
        self.text = text
        self.names = names

    def parse(self, start: int = 0, end: int | None = None, marks=(), href=None):
        text, out, buf = self.text, [], []
        i, end = start, len(self.text) if end is None else end

        def flush() -> None:
            if buf:
                out.append(_Segment(_unescape("".join(buf)), marks, href))
                buf.clear()

        while i < end:
            char = text[i]
            skip = self._code(i, end)
            if skip:
                flush()
                body, i = skip
                out.append(_Segment(_unescape(body), (*marks, "code"), href))
                continue
            bare = self._bare_url(i, end) if href is None else None
            if bare:
                flush()
                url, i = bare
                out.append(_Segment(url, marks, url))
                continue
            if char == "<":
                construct = self._angle(i, end, marks, href)
                if construct:
                    flush()
                    segments, i = construct
                    out.extend(segments)
                    continue
            if char in _MARK_CHARS and self._opens(i, end):
                close = self._closing(i, end)
                if close is not None:
                    flush()
                    inner = (*marks, _MARK_CHARS[char])
                    out.extend(self.parse(i + 1, close, inner, href))
                    i = close + 1
                    continue
            buf.append(char)
            i += 1
        flush()
        return out

    def _code(self, i: int, end: int) -> tuple[str, int] | None:
        text = self.text
        if text.startswith("```", i):
            close = text.find("```", i + 3, end)
            if close > i + 3:
                return text[i + 3 : close], close + 3
        if text[i] == "`":
            close = text.find("`", i + 1, end)
            if close > i + 1 and "\n" not in text[i + 1 : close]:
                return text[i + 1 : close], close + 1
        return None

    def _angle(self, i: int, end: int, marks, href):
        close = self.text.find(">", i + 1, end)
        if close < 0:
            return None
        body = self.text[i + 1 : close]
        if not body or "\n" in body or "<" in body:
            return None
        target, _, label = body.partition("|")
        if target.startswith("@"):
            name = label or self.names.get(target[1:]) or target[1:]
            return [_Segment("@" + name.lstrip("@"), marks, href)], close + 1
        if target.startswith("#"):
            return [_Segment("#" + (label or target[1:]), marks, href)], close + 1
        if target.startswith("!"):
            word = target[1:].split("^")[0]
            shown = label or _SPECIALS.get(word) or ("@" + word)
            return [_Segment(_unescape(shown), marks, href)], close + 1
        url = _unescape(target)
        if not _URL.match(url):
            return None
        shown = _unescape(label) if label else url
        return [_Segment(shown, marks, url)], close + 1

    def _bare_url(self, i: int, end: int) -> tuple[str, int] | None:
        """A URL typed as is (not in <…>) becomes a link too, as Slack shows it."""
        text = self.text
        if text[i] not in "hH" or (i > 0 and (text[i - 1].isalnum() or text[i - 1] in "/|")):
            return None
        match = _BARE_URL.match(text, i, end)
        if not match:
            return None
        raw = re.split(r"&[lg]t;", match.group(0))[0].rstrip(".,;:!?)]}'\"")
        if len(raw) <= len("https://"):
            return None
        return _unescape(raw), i + len(raw)

    def _opens(self, i: int, end: int) -> bool:
        text = self.text
        before = text[i - 1] if i > 0 else " "
        after = text[i + 1] if i + 1 < end else " "
        return not before.isalnum() and before != text[i] and not after.isspace()

    def _closing(self, i: int, end: int) -> int | None:
        text, char, j = self.text, self.text[i], i + 1
        while j < end:
            if text[j] == "\n":
                return None  # Slack formatting does not cross lines
            skip = self._code(j, end)
            if skip:
                j = skip[1]
                continue
            if text[j] == "<":
                close = text.find(">", j + 1, end)
                if close > 0 and "\n" not in text[j:close]:
                    j = close + 1
                    continue
            if text[j] == char and j > i + 1 and not text[j - 1].isspace():
                after = text[j + 1] if j + 1 < end else " "
                if not after.isalnum():
                    return j
            j += 1
        return None
