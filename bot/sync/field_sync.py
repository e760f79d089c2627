"""What a merge decision does to an item's row: the fields pulled from Jira, the new base
of each field settled, the Slack edits that reached Jira, and the Sync Log's conflict lines.

Built without the database (`changes_for`), applied to a row by `apply_changes`, which
works on an ORM object and on a plain dict alike, so the sync cycle, the webhook pipeline
and the poll share it. A pulled field is applied only if its Slack value is still the one
the decision saw: an edit made in Slack meanwhile is never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from bot.sync.merge import JIRA, LABELS, SLACK, Decision, JiraIssue, entry, with_entries
from bot.views.blocks import clip

SHOWN_MAX = 120
# The item columns each field's Slack value lives in.
COLUMN = {"title": "title", "description": "description", "assignee": "assignee_user_id",
          "due": "due_date"}  # fmt: skip


@dataclass(frozen=True)
class SlackPerson:
    """A Jira assignee as a Slack user (by email), or the note the line shows instead."""

    user_id: str | None
    note: str | None


@dataclass
class ItemChanges:
    columns: dict = field(default_factory=dict)  # column → value, applied as they are
    pulled: dict = field(default_factory=dict)  # field → (Slack value expected, column values)
    base: dict = field(default_factory=dict)  # field → new base entry
    pushed: dict = field(default_factory=dict)  # field → Slack value sent
    # (field, side kept, Sync Log line): logged by apply_changes when it settles the field.
    conflicts: list[tuple[str, str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.columns or self.pulled or self.base or self.pushed or self.conflicts)


def person_for(issue: JiraIssue, user_id: str | None) -> SlackPerson:
    if issue.values["assignee"] is None:
        return SlackPerson(None, None)
    if user_id:
        return SlackPerson(user_id, None)
    return SlackPerson(None, f"assigned in Jira to {issue.assignee_name or 'someone'}")


def changes_for(
    decision: Decision,
    base: dict | None,
    slack: dict,
    issue: JiraIssue,
    *,
    sent: dict | None = None,
    sent_at: datetime | None = None,
    person: SlackPerson | None = None,
) -> ItemChanges:
    """`sent`: the normalised Jira values pushed (the fields of decision.push that went)."""
    changes = ItemChanges()
    for name in decision.pull:
        value, columns = _pulled(name, issue, person)
        changes.pulled[name] = (slack[name], columns)
        changes.base[name] = entry(value, issue.values[name], issue.updated, JIRA)
    for name, jira_value in (sent or {}).items():
        changes.pushed[name] = slack[name]
        changes.base[name] = entry(slack[name], jira_value, sent_at, SLACK)
    held = decision.hold
    for name in decision.settle - set(changes.base):
        at = issue.updated
        changes.base[name] = entry(slack[name], issue.values[name], at, JIRA, held=name in held)
    for name in decision.adopt - set(changes.base):
        kept = (base or {}).get(name, {}).get("s", slack[name])  # a Slack edit stays to push
        changes.base[name] = entry(kept, issue.values[name], issue.updated, JIRA, held=name in held)
    for conflict in decision.conflicts:
        if conflict.kept == JIRA or conflict.field in changes.pushed:
            line = _conflict_line(conflict.field, conflict.kept, slack, issue)
            changes.conflicts.append((conflict.field, conflict.kept, line))
    return changes


def _pulled(name: str, issue: JiraIssue, person: SlackPerson | None) -> tuple:
    """(the field's new Slack value, the columns to write)."""
    if name == "title":
        return issue.title, {"title": issue.title or "Action item"}
    if name == "description":
        return issue.description, {"description": issue.description or None}
    if name == "assignee":
        person = person or SlackPerson(None, None)
        return person.user_id, {"assignee_user_id": person.user_id, "assignee_note": person.note}
    due = issue.values["due"]
    return due, {"due_date": date.fromisoformat(due) if due else None}


def _conflict_line(name: str, kept: str, slack: dict, issue: JiraIssue) -> str:
    if kept == SLACK:
        value = slack[name]
        shown = f"<@{value}>" if name == "assignee" and value else value
    else:
        shown = issue.assignee_name if name == "assignee" else issue.values[name]
    side = "Slack" if kept == SLACK else "Jira"
    return (
        f"{LABELS[name]} changed in Slack and in Jira; kept {side}'s: "
        f"{clip(str(shown or 'none'), SHOWN_MAX)}"
    )


def apply_changes(get, put, changes: ItemChanges) -> list[str]:
    """Write `changes` through get(column) / put(column, value); returns the Sync Log's
    conflict lines. The base is merged field by field into what the row holds now; a
    conflict that another path (a poll, a delivery) settled first is not logged twice."""
    pulled = set()
    before = get("field_base") or {}
    entries = dict(changes.base)
    for name, (expected, columns) in changes.pulled.items():
        if _slack_value(name, get(COLUMN[name])) != expected:
            entries.pop(name, None)  # edited in Slack meanwhile: that edit goes next
            continue
        for column, value in columns.items():
            put(column, value)
        pulled.add(name)
    for column, value in changes.columns.items():
        put(column, value)
    if entries:
        put("field_base", with_entries(get("field_base"), entries))
    reached = {n for n, value in changes.pushed.items() if _slack_value(n, get(COLUMN[n])) == value}
    if reached or pulled:
        edited = {k: v for k, v in (get("slack_edited") or {}).items() if k not in reached | pulled}
        put("slack_edited", edited or None)
    return [
        line
        for name, _kept, line in changes.conflicts
        if name in changes.pushed or (name in entries and _moves(before.get(name), entries[name]))
    ]


def _moves(old: dict | None, new: dict) -> bool:
    return old is None or (old.get("s"), old.get("j")) != (new["s"], new["j"])


def _slack_value(name: str, value):
    if name == "description":
        return value or ""
    if name == "due":
        return value.isoformat() if isinstance(value, date) else value
    return value or None
