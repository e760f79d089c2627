"""The slice of JQL the app needs, parsed and evaluated against emulator issues.

Supported: ``AND``/``OR``/``NOT``/parentheses, operators ``= != > >= < <= ~ IN, NOT IN,
IS [NOT] EMPTY``, relative dates (``-5m``, ``-2h``, ``-1d``, ``-1w``), ``currentUser()``
and ``now()``; ``ORDER BY updated|created [ASC|DESC]`` sorts a
search (any other ``ORDER BY`` is accepted and ignored). Unsupported syntax raises
:class:`JqlError`, which the REST layer turns into Jira's 400.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass
from typing import Any

from .model import STATUSES, Issue


class JqlError(ValueError):
    pass


@dataclass(frozen=True)
class Clause:
    field: str  # lower-cased
    op: str  # "=", "!=", ">", ">=", "<", "<=", "~", "in", "not in", "is", "is not"
    values: tuple[Any, ...]  # strings, or ("fn", name) tuples for functions
    name: str = ""  # the field as written, for error messages


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|>=|<=|!~|=|>|<|~|\(|\)|,)
      | (?P<word>[^\s"'=!<>~(),]+)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "is", "empty", "null", "order", "by"}


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise JqlError(f"Error in the JQL Query: unexpected character at position {pos}.")
        pos = m.end()
        if m.group("str") is not None:
            raw = m.group("str")[1:-1]
            tokens.append(("str", re.sub(r"\\(.)", r"\1", raw)))
        elif m.group("op") is not None:
            tokens.append(("op", m.group("op")))
        else:
            word = m.group("word")
            kind = "kw" if word.lower() in _KEYWORDS else "word"
            tokens.append((kind, word.lower() if kind == "kw" else word))
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise JqlError("Error in the JQL Query: the query ended unexpectedly.")
        self.i += 1
        return tok

    def at(self, kind: str, value: str | None = None) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == kind and (value is None or tok[1] == value)

    def parse(self) -> Any:
        expr = None
        if not self.at("kw", "order"):
            expr = self.or_expr()
        if self.at("kw", "order"):
            self.take()
            if not self.at("kw", "by"):
                raise JqlError("Error in the JQL Query: expecting 'BY' after 'ORDER'.")
            self.i = len(self.tokens)  # ordering is ignored
        if self.peek() is not None:
            raise JqlError(f"Error in the JQL Query: unexpected '{self.peek()[1]}'.")
        return expr

    def or_expr(self) -> Any:
        node = self.and_expr()
        while self.at("kw", "or"):
            self.take()
            node = ("or", node, self.and_expr())
        return node

    def and_expr(self) -> Any:
        node = self.unary()
        while self.at("kw", "and"):
            self.take()
            node = ("and", node, self.unary())
        return node

    def unary(self) -> Any:
        if self.at("kw", "not"):
            self.take()
            return ("not", self.unary())
        if self.at("op", "("):
            self.take()
            node = self.or_expr()
            if not self.at("op", ")"):
                raise JqlError("Error in the JQL Query: expecting ')'.")
            self.take()
            return node
        return self.clause()

    def value(self) -> Any:
        kind, text = self.take()
        if kind == "kw" and text in ("empty", "null"):
            return ("empty",)
        if kind not in ("str", "word"):
            raise JqlError(f"Error in the JQL Query: expecting a value but got '{text}'.")
        if kind == "word" and self.at("op", "("):  # a function call: currentUser(), now()
            self.take()
            while not self.at("op", ")"):
                self.take()
            self.take()
            return ("fn", text.lower())
        return text

    def clause(self) -> Clause:
        kind, name = self.take()
        if kind not in ("word", "str"):
            raise JqlError(f"Error in the JQL Query: expecting a field name but got '{name}'.")
        fld = name.lower()
        if self.at("kw", "not") and self.peek(1) == ("kw", "in"):
            self.i += 2
            return Clause(fld, "not in", self.value_list(), name)
        if self.at("kw", "in"):
            self.take()
            return Clause(fld, "in", self.value_list(), name)
        if self.at("kw", "is"):
            self.take()
            op = "is"
            if self.at("kw", "not"):
                self.take()
                op = "is not"
            if self.value() != ("empty",):
                raise JqlError("Error in the JQL Query: expecting EMPTY or NULL after IS.")
            return Clause(fld, op, (), name)
        kind, op = self.take()
        if kind != "op" or op in ("(", ")", ","):
            raise JqlError(f"Error in the JQL Query: expecting an operator but got '{op}'.")
        return Clause(fld, op, (self.value(),), name)

    def value_list(self) -> tuple[Any, ...]:
        if not self.at("op", "("):
            raise JqlError("Error in the JQL Query: expecting '(' after IN.")
        self.take()
        values = [self.value()]
        while self.at("op", ","):
            self.take()
            values.append(self.value())
        if not self.at("op", ")"):
            raise JqlError("Error in the JQL Query: expecting ')'.")
        self.take()
        return tuple(values)


def parse(text: str) -> Any:
    """Returns the expression tree, or None for an empty / ORDER BY-only query."""
    return _Parser(text or "").parse()


_ORDER_BY = re.compile(r"\border\s+by\s+(updated|created)(?:\s+(asc|desc))?\s*$", re.I)


def ordering(text: str) -> tuple[str, bool] | None:
    """`ORDER BY updated|created [ASC|DESC]` at the end of a query, as (field, descending);
    None for any other order (the search keeps its own: newest issue first)."""
    found = _ORDER_BY.search(text or "")
    if found is None:
        return None
    return found.group(1).lower(), (found.group(2) or "asc").lower() == "desc"


def clauses(node: Any) -> list[Clause]:
    if node is None:
        return []
    if isinstance(node, Clause):
        return [node]
    return [c for child in node[1:] for c in clauses(child)]


# --- evaluation -----------------------------------------------------------------------

FIELD_ALIASES = {"issuekey": "key", "issue": "key", "type": "issuetype", "due": "duedate"}
SEARCH_FIELDS = {
    "project",
    "key",
    "id",
    "labels",
    "status",
    "statuscategory",
    "updated",
    "created",
    "issuetype",
    "assignee",
    "reporter",
    "parent",
    "summary",
    "text",
    "duedate",
}
_REL = re.compile(r"^([+-]?)(\d+)([wdhm])$", re.IGNORECASE)
_UNIT = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60}


def canonical_field(name: str) -> str:
    return FIELD_ALIASES.get(name, name)


def _when(value: Any) -> float:
    if value == ("fn", "now"):
        return time.time()
    if isinstance(value, tuple):
        raise JqlError(f"Unsupported function in a date clause: {value[1]}().")
    m = _REL.match(value)
    if m:
        seconds = int(m.group(2)) * _UNIT[m.group(3).lower()]
        return time.time() + (-seconds if m.group(1) == "-" else seconds)
    for fmt in ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d"):
        try:
            parsed = dt.datetime.strptime(value, fmt)
        except ValueError:
            continue
        return parsed.replace(tzinfo=dt.UTC).timestamp()
    raise JqlError(f"Date value '{value}' for field is invalid.")


class Evaluator:
    """Evaluates a parsed query for one site; ``caller`` answers currentUser()."""

    def __init__(self, site: Any, caller: str | None):
        self.site, self.caller = site, caller

    def matches(self, node: Any, issue: Issue) -> bool:
        if node is None:
            return True
        if isinstance(node, Clause):
            return self.clause(node, issue)
        if node[0] == "and":
            return self.matches(node[1], issue) and self.matches(node[2], issue)
        if node[0] == "or":
            return self.matches(node[1], issue) or self.matches(node[2], issue)
        return not self.matches(node[1], issue)

    def _actual(self, fld: str, issue: Issue) -> list[str] | float | None:
        f = issue.fields
        if fld == "project":
            p = self.site.projects[f["project"]]
            return [p.key.lower(), p.id, p.name.lower()]
        if fld in ("key", "id"):
            return [issue.key.lower(), issue.id]
        if fld == "labels":
            return [label.lower() for label in f.get("labels") or []]
        if fld == "status":
            return [f["status"].lower(), STATUSES[f["status"]].id]
        if fld == "statuscategory":
            c = STATUSES[f["status"]].category
            return [
                c.key,
                str(c.id),
                c.name.lower(),
                {"new": "to do", "done": "done"}.get(c.key, "in progress"),
            ]
        if fld == "issuetype":
            t = next(
                t for t in self.site.projects[f["project"]].issue_types if t.id == f["issuetype"]
            )
            return [t.id, t.name.lower()]
        if fld in ("assignee", "reporter"):
            return [f[fld]] if f.get(fld) else []
        if fld == "parent":
            return [f["parent"].lower()] if f.get("parent") else []
        if fld in ("updated", "created"):
            return getattr(issue, fld)
        if fld == "duedate":
            return _when(f["duedate"]) if f.get("duedate") else None
        return None

    def _wanted(self, value: Any) -> str:
        if value == ("fn", "currentuser"):
            return self.caller or ""
        if isinstance(value, tuple):
            raise JqlError(f"Unsupported JQL function or value: {value}.")
        return str(value).lower()

    def clause(self, c: Clause, issue: Issue) -> bool:
        fld = canonical_field(c.field)
        if fld in ("summary", "text"):
            text = (issue.fields.get("summary") or "").lower()
            hit = all(word in text for word in self._wanted(c.values[0]).split())
            return hit if c.op == "~" else not hit
        actual = self._actual(fld, issue)
        if isinstance(actual, float) or (actual is None and fld in ("duedate",)):
            if c.op in ("is", "is not"):
                return (actual is None) == (c.op == "is")
            if actual is None:
                return False
            bound = _when(c.values[0])
            return {
                ">": actual > bound,
                ">=": actual >= bound,
                "<": actual < bound,
                "<=": actual <= bound,
                "=": actual == bound,
                "!=": actual != bound,
            }[c.op]
        actual = actual or []
        if c.op in ("is", "is not"):
            return (not actual) == (c.op == "is")
        wanted = [self._wanted(v) for v in c.values if v != ("empty",)]
        hit = any(w in actual for w in wanted) or (("empty",) in c.values and not actual)
        if c.op in ("=", "in"):
            return hit
        if c.op in ("!=", "not in"):
            return not hit
        raise JqlError(f"The operator '{c.op}' is not supported by the '{c.name}' field.")


# --- validation -----------------------------------------------------------------------


def check_search(node: Any, site: Any) -> None:
    """Raises JqlError as Jira's search would for unknown fields or projects."""
    for c in clauses(node):
        fld = canonical_field(c.field)
        if fld not in SEARCH_FIELDS:
            raise JqlError(
                f"Field '{c.name}' does not exist or you do not have permission to view it."
            )
        if fld == "project":
            for v in c.values:
                named = any(p.name.lower() == str(v).lower() for p in site.projects.values())
                if isinstance(v, str) and site.find_project(v) is None and not named:
                    raise JqlError(f"The value '{v}' does not exist for the field 'project'.")


# Dynamic webhooks accept only this subset (spec, WebhookDetails.jqlFilter).
WEBHOOK_FIELDS = {"issuekey", "project", "issuetype", "status", "assignee", "reporter"}
WEBHOOK_OPS = {"=", "!=", "in", "not in"}


def webhook_filter_errors(text: str) -> list[str]:
    try:
        node = parse(text)
    except JqlError as e:
        return [str(e)]
    if node is None:
        return ["The JQL filter is required."]
    errors = []
    for c in clauses(node):
        allowed = c.field in WEBHOOK_FIELDS or c.field.startswith(("issue.property", "cf["))
        if not allowed:
            errors.append(f"The clause {c.name} is unsupported")
        elif c.op not in WEBHOOK_OPS:
            errors.append(f"The operator {c.op.upper()} is unsupported")
    return errors
