"""Two-way sync is a three-way merge per field: title, description, assignee, due date.

For each synced item the base (`ActionItem.field_base`) holds, per field, the Slack value
("s") and the Jira value ("j", normalised) last known to be in step, and when ("at") and
from which side ("by") the field last changed. Against it:

* a field whose Slack value differs from base "s" changed in Slack; a push sends it;
* a field whose Jira value differs from base "j" changed in Jira; a pull applies it
  (Two-way), or only records it as Jira's value (One-way: never pulled, never clobbered);
* both: the later change wins (the Slack edit's time against when Jira changed that
  field, from the issue's changelog; the issue's `updated` only when that is unknown, since
  an edit of any other field moves it), and the Sync Log says which value was kept;
* neither (an echo of our own push, a change of another field): nothing happens.

Values are compared normalised: descriptions through one canonical mrkdwn form, dates as
ISO dates, assignees as Jira account ids, summaries as one line. Pure functions only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from bot.jira.adf_mrkdwn import adf_to_mrkdwn, canonical
from bot.jira.fields import SUMMARY_MAX
from bot.jira.times import jira_time
from bot.messages import person_from_jira
from storage.clock import believable, utcnow

FIELDS = ("title", "description", "assignee", "due")
# The Jira field each item field maps to (also what a push sends and a webhook filters on).
JIRA_FIELD = {"title": "summary", "description": "description", "assignee": "assignee",
              "due": "duedate"}  # fmt: skip
ITEM_FIELD = {jira_name: name for name, jira_name in JIRA_FIELD.items()}  # and back
SLACK, JIRA = "slack", "jira"
# A base entry's mark: its Jira value changed in Jira while the workspace was One-way and
# was never taken into Slack (Two-way takes it as a change made in Jira).
HELD = "held"
LABELS = {"title": "title", "description": "description", "assignee": "assignee",
          "due": "due date"}  # fmt: skip


@dataclass(frozen=True)
class JiraIssue:
    """One issue as Jira reports it now (REST, fields limited to what the item shows)."""

    issue_id: str
    key: str
    project_key: str | None
    updated: datetime | None
    issue_type_id: str | None
    values: dict  # normalised Jira value per field, as stored in the base's "j"
    title: str
    description: str  # mrkdwn, without the app's links
    assignee_email: str | None
    assignee_name: str | None
    status_category: str | None
    status_name: str | None
    status_changed_at: datetime | None


def issue_from_json(issue: dict) -> JiraIssue:
    fields = issue.get("fields") or {}
    assignee = fields.get("assignee") if isinstance(fields.get("assignee"), dict) else {}
    status = fields.get("status") if isinstance(fields.get("status"), dict) else {}
    project = fields.get("project") if isinstance(fields.get("project"), dict) else {}
    issue_type = fields.get("issuetype") if isinstance(fields.get("issuetype"), dict) else {}
    description = fields.get("description")
    text = adf_to_mrkdwn(description) if isinstance(description, dict) else (description or "")
    title = _one_line(fields.get("summary"))
    return JiraIssue(
        issue_id=str(issue.get("id")),
        key=str(issue.get("key") or ""),
        project_key=project.get("key") or _project_of(issue.get("key")),
        updated=jira_time(fields.get("updated")),
        issue_type_id=str(issue_type["id"]) if issue_type.get("id") else None,
        values={
            "title": title,
            "description": text,
            "assignee": assignee.get("accountId") or None,
            "due": _iso_date(fields.get("duedate")),
        },
        title=title,
        description=text,
        assignee_email=assignee.get("emailAddress") or None,
        assignee_name=person_from_jira(assignee.get("displayName")),
        status_category=(status.get("statusCategory") or {}).get("key"),
        status_name=status.get("name"),
        status_changed_at=jira_time(fields.get("statuscategorychangedate")),
    )


def _project_of(key) -> str | None:
    return str(key).rsplit("-", 1)[0] if key and "-" in str(key) else None


def _one_line(value) -> str:
    return " ".join(str(value or "").split())[:SUMMARY_MAX]


def _iso_date(value) -> str | None:
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)[:10]).isoformat() if value else None
    except ValueError:
        return None


# --- the two sides' values ---------------------------------------------------------------


def slack_values(item) -> dict:
    """An item's fields as the base's "s" holds them."""
    return {
        "title": item.title,
        "description": item.description or "",
        "assignee": item.assignee_user_id or None,
        "due": item.due_date.isoformat() if item.due_date else None,
    }


def sent_values(jira_fields: dict) -> dict:
    """What a push or create sent, normalised as Jira will report it; only the fields sent."""
    out = {}
    for name, jira_name in JIRA_FIELD.items():
        if jira_name not in jira_fields:
            continue
        value = jira_fields[jira_name]
        if name == "title":
            out[name] = _one_line(value)
        elif name == "description":
            out[name] = adf_to_mrkdwn(value)
        elif name == "assignee":
            out[name] = (value or {}).get("accountId") or None
        else:
            out[name] = _iso_date(value)
    return out


def same_change(name: str, slack_value, jira_value) -> bool:
    """Both sides made the same change (so there is nothing to choose)."""
    if name == "title":
        return _one_line(slack_value) == jira_value
    if name == "description":
        return canonical(slack_value) == jira_value
    if name == "due":
        return slack_value == jira_value
    return False  # a Slack user and a Jira account: only a lookup tells (same_assignee)


# --- deciding -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Conflict:
    field: str
    kept: str  # SLACK or JIRA


@dataclass
class Decision:
    push: set[str] = field(default_factory=set)  # Slack's value goes to Jira
    pull: set[str] = field(default_factory=set)  # Jira's value comes to Slack
    # Jira's value becomes the base's "j", the base's Slack value stays: the first read of
    # an item whose Jira value was unknown, and One-way's Jira edits.
    adopt: set[str] = field(default_factory=set)
    # Both values as they are now become the base: both sides made the same change, or
    # One-way kept Jira's later change (Slack's value stays in Slack, never pushed).
    settle: set[str] = field(default_factory=set)
    conflicts: list[Conflict] = field(default_factory=list)
    # Of adopt and settle: Jira's changes One-way did not take. Their base entries say so
    # (HELD), so that Two-way takes them later, by the same rules, as changed in Jira.
    hold: set[str] = field(default_factory=set)


def changed_in_slack(base: dict | None, slack: dict) -> set[str]:
    """Fields to push when Jira's side is not known (no read before the push)."""
    base = base or {}
    return {name for name in FIELDS if name not in base or base[name].get("s") != slack[name]}


def decide(
    base: dict | None,
    slack: dict,
    jira: dict,
    *,
    slack_edited: dict | None,
    jira_updated: datetime | None,
    two_way: bool,
    jira_changed_at: dict | None = None,
    same_assignee: bool = False,
) -> Decision:
    """`jira_changed_at`: when Jira last changed each field (the changelog), for the
    fields `in_conflict`; the issue's `updated` stands in for a field missing there.
    `same_assignee`: the Slack assignee and Jira's are one person (a Slack user and a Jira
    account only compare through a lookup, which the caller made)."""
    decision = Decision()
    base = base or {}
    for name in FIELDS:
        entry = base.get(name)
        slack_changed = entry is None or entry.get("s") != slack[name]
        if entry is not None and "j" not in entry:
            jira_changed = False
            decision.adopt.add(name)
        else:
            # A held field is still changed in Jira: One-way recorded it, never took it.
            jira_changed = entry is not None and (
                entry.get("j") != jira[name] or bool(entry.get(HELD))
            )
        if slack_changed and not jira_changed:
            if entry is None and same_change(name, slack[name], jira[name]):
                decision.settle.add(name)  # no base yet, but Jira already has it
            else:
                decision.push.add(name)
        elif jira_changed and not slack_changed:
            if two_way:
                decision.pull.add(name)
            elif entry.get("j") != jira[name]:  # held already when the same
                decision.adopt.add(name)
                decision.hold.add(name)
        elif jira_changed and slack_changed:
            if name == "assignee" and same_assignee:
                decision.settle.add(name)  # both sides chose the same person
                continue
            jira_at = _jira_time((jira_changed_at or {}).get(name) or jira_updated)
            _both(decision, name, slack, jira, slack_edited, jira_at, two_way)
    return decision


def _jira_time(when: datetime | None) -> datetime | None:
    """When Jira changed a field, as it says; a time far in the future (its clock ran
    ahead, or a forged one) counts as now, as a status change's does."""
    return None if when is None else believable(when) or utcnow()


def in_conflict(base: dict | None, slack: dict, jira: dict) -> set[str]:
    """The fields changed on both sides, differently, since they were last in step: those
    whose Jira change time decides (worth a changelog read)."""
    decision = decide(base, slack, jira, slack_edited=None, jira_updated=None, two_way=True)
    return {conflict.field for conflict in decision.conflicts}


def _both(decision, name, slack, jira, slack_edited, jira_at, two_way) -> None:
    if same_change(name, slack[name], jira[name]):
        decision.settle.add(name)
        return
    slack_at = parse_time((slack_edited or {}).get(name))
    if slack_at is not None and (jira_at is None or slack_at > jira_at):
        decision.push.add(name)
        decision.conflicts.append(Conflict(name, SLACK))
        return
    if two_way:
        decision.pull.add(name)
    else:
        decision.settle.add(name)
        decision.hold.add(name)
    decision.conflicts.append(Conflict(name, JIRA))


def parse_time(value) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- the new base -------------------------------------------------------------------------


def entry(slack_value, jira_value, at: datetime | None, by: str, *, held: bool = False) -> dict:
    made = {"s": slack_value, "j": jira_value, "at": (at or datetime.now(UTC)).isoformat(),
            "by": by}  # fmt: skip
    if held:
        made[HELD] = True
    return made


def held_fields(base: dict | None) -> set[str]:
    """The fields whose Jira change One-way did not take."""
    return {name for name, kept in (base or {}).items() if kept.get(HELD)}


def held_since(base: dict | None) -> datetime | None:
    """When the earliest of them changed in Jira (as Jira dated the issue then)."""
    times = [parse_time(base[name].get("at")) for name in held_fields(base)]
    return min(filter(None, times), default=None)


def with_entries(base: dict | None, entries: dict) -> dict:
    """A new base dict (JSON columns change only when assigned a new object)."""
    return {**(base or {}), **entries}


def without_edits(edited: dict | None, names) -> dict | None:
    left = {k: v for k, v in (edited or {}).items() if k not in set(names)}
    return left or None
