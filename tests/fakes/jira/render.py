"""Issues as Jira renders them: in REST responses (v3, ADF description) and in webhook
payloads (v2 links and a plain-text description, as in real captures)."""

from __future__ import annotations

from typing import Any

from .model import STATUSES, Issue, jira_time

EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"
# What "*all" / "*navigable" expand to for the fields the emulator keeps.
ALL_FIELDS = (
    "summary",
    "description",
    "status",
    "project",
    "issuetype",
    "assignee",
    "reporter",
    "duedate",
    "labels",
    "parent",
    "created",
    "updated",
    "statuscategorychangedate",
)


def wanted_fields(values: list[str] | None, default: str) -> set[str]:
    """Parses a ``fields`` parameter (repeated and/or comma-separated)."""
    items = [p.strip() for v in (values or [default]) for p in v.split(",") if p.strip()]
    wanted: set[str] = set()
    for item in items:
        if item in ("*all", "*navigable"):
            wanted.update(ALL_FIELDS)
        elif not item.startswith("-"):
            wanted.add(item)
    for item in items:
        if item.startswith("-"):
            wanted.discard(item[1:])
    return wanted


def adf_to_text(doc: Any) -> str:
    if not isinstance(doc, dict):
        return doc or ""
    if doc.get("type") == "text":
        return doc.get("text", "")
    if doc.get("type") == "hardBreak":
        return "\n"
    parts = [adf_to_text(child) for child in doc.get("content", [])]
    block = doc.get("type") in ("doc", "bulletList", "orderedList", "listItem")
    return ("\n" if block else "").join(parts)


def issue_fields(
    site: Any, issue: Issue, base: str, wanted: set[str], *, v2: bool = False
) -> dict[str, Any]:
    f = issue.fields
    project = site.projects[f["project"]]
    itype = next(t for t in project.issue_types if t.id == f["issuetype"])
    status = STATUSES[f["status"]]
    out: dict[str, Any] = {}

    def user(account_id: str | None) -> dict[str, Any] | None:
        found = site.users.get(account_id) if account_id else None
        return found.to_json(base) if found else None

    makers = {
        "summary": lambda: f["summary"],
        "description": lambda: adf_to_text(f["description"]) if v2 else f["description"],
        "status": lambda: status.to_json(base),
        "project": lambda: project.to_json(base),
        "issuetype": lambda: itype.to_json(base),
        "assignee": lambda: user(f.get("assignee")),
        "reporter": lambda: user(f.get("reporter")),
        "duedate": lambda: f.get("duedate"),
        "labels": lambda: list(f.get("labels") or []),
        "created": lambda: jira_time(issue.created),
        "updated": lambda: jira_time(issue.updated),
        "statuscategorychangedate": lambda: jira_time(issue.status_changed or issue.created),
    }
    for name in sorted(
        wanted,
        key=lambda n: (n not in ALL_FIELDS, ALL_FIELDS.index(n) if n in ALL_FIELDS else 0, n),
    ):
        if name in makers:
            out[name] = makers[name]()
        elif name == "parent" and f.get("parent"):
            parent = site.issues.get(f["parent"])
            if parent is not None:
                out["parent"] = {
                    "id": parent.id,
                    "key": parent.key,
                    "self": f"{base}/rest/api/3/issue/{parent.id}",
                    "fields": issue_fields(site, parent, base, {"summary", "status", "issuetype"}),
                }
    return out


def issue_json(
    site: Any, issue: Issue, base: str, wanted: set[str], properties: list[str] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "expand": EXPAND,
        "id": issue.id,
        "self": f"{base}/rest/api/3/issue/{issue.id}",
        "key": issue.key,
        "fields": issue_fields(site, issue, base, wanted),
    }
    if properties:
        body["properties"] = {k: issue.properties[k] for k in properties if k in issue.properties}
    return body


def history_json(site: Any, entry: dict[str, Any], base: str) -> dict[str, Any]:
    """One entry of an issue's history as Jira's changelog APIs render it."""
    author = site.users.get(entry["author"])
    body: dict[str, Any] = {"id": entry["id"], "created": jira_time(entry["created"])}
    if author is not None:  # UserDetails: the user without locale
        body["author"] = {k: v for k, v in author.to_json(base).items() if k != "locale"}
    # The spec types from/to as strings; an empty side is left out.
    body["items"] = [{k: v for k, v in i.items() if v is not None} for i in entry["items"]]
    return body
