"""Checking issue fields on create and edit, with Jira's error texts.

Returns plain values (see ``Issue.fields``) or raises ``JiraError`` whose ``errors`` map
names the offending fields, the way Jira does.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from .adf import AdfError, validate_adf
from .model import IssueType, Project
from .rest import Call, JiraError

ON_SCREEN = {
    "summary",
    "description",
    "assignee",
    "reporter",
    "duedate",
    "labels",
    "parent",
    "project",
    "issuetype",
}
NOT_ON_SCREEN = "Field '{}' cannot be set. It is not on the appropriate screen, or unknown."
ADF_NEEDED = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"


def merge_update(
    fields: dict[str, Any], update: dict[str, Any] | None, current: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Folds ``update`` operations (set/add/remove) into ``fields``."""
    merged = dict(fields)
    errors = {}
    for name, ops in (update or {}).items():
        if name in fields:
            errors[name] = f"Field '{name}' cannot be set in both fields and update."
            continue
        value = (current or {}).get(name)
        for op in ops:
            if "set" in op:
                value = op["set"]
            elif "add" in op and name == "labels":
                value = [*(value or []), op["add"]]
            elif "remove" in op and name == "labels":
                value = [v for v in value or [] if v != op["remove"]]
            else:
                errors[name] = f"Field '{name}': operation {sorted(op)} is not supported."
        merged[name] = value
    if errors:
        raise JiraError(400, errors=errors)
    return merged


def resolve_target(call: Call, fields: dict[str, Any]) -> tuple[Project, IssueType]:
    """The project and issue type of a create, checked first as Jira does."""
    site = call.site
    ref = fields.get("project")
    project = None
    if ref is not None and not isinstance(ref, dict):  # a bare "TEAM" is not a project
        raise JiraError(400, errors={"project": "data was not an object"})
    if isinstance(ref, dict):
        project = site.find_project(ref.get("id") or ref.get("key") or "")
    if project is None:
        raise JiraError(400, errors={"project": "valid project is required"})
    if project.create_denied_status is not None:
        message = "You do not have permission to create issues in this project."
        if project.create_denied_status == 403:
            raise JiraError(403, [message])
        raise JiraError(project.create_denied_status, errors={"project": message})
    ref = fields.get("issuetype")
    if not isinstance(ref, dict) or not (ref.get("id") or ref.get("name")):
        raise JiraError(400, errors={"issuetype": "Specify an issue type"})
    itype = project.find_type(ref)
    if itype is None:
        raise JiraError(400, errors={"issuetype": "The issue type selected is invalid."})
    return project, itype


def check_values(
    call: Call, project: Project, itype: IssueType, fields: dict[str, Any], *, creating: bool
) -> dict[str, Any]:
    """Validates the settable fields present in ``fields``; returns plain values."""
    site, errors, values = call.site, {}, {}
    custom = {f.id: f for f in project.custom_fields}
    on_screen = (ON_SCREEN - project.off_screen) | set(custom)
    for name in fields:
        if name not in on_screen or (name == "parent" and itype.hierarchy_level >= 1):
            errors[name] = NOT_ON_SCREEN.format(name)
        elif name in ("project", "issuetype") and not creating:
            errors[name] = NOT_ON_SCREEN.format(name)
    for fid, spec in custom.items():
        if fid in fields and fid not in errors:
            problem, value = _custom_value(spec, fields[fid])
            if problem:
                errors[fid] = problem
            else:
                values[fid] = value
        elif creating and spec.required and fid not in fields:
            errors[fid] = f"{spec.name} is required."
    if creating and "summary" not in fields:
        errors["summary"] = "You must specify a summary of the issue."
    if "summary" in fields:
        summary = fields["summary"]
        if not isinstance(summary, str) or not summary.strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif len(summary) > 255:
            errors["summary"] = "Summary must be less than 255 characters."
        elif "\n" in summary or "\r" in summary:
            errors["summary"] = "The summary is invalid because it contains newline characters."
        else:
            values["summary"] = summary
    if fields.get("description") is not None:
        try:
            validate_adf(fields["description"])
            values["description"] = fields["description"]
        except AdfError as e:
            errors["description"] = f"{ADF_NEEDED}: {e}"
    elif "description" in fields:
        values["description"] = None
    for role in ("assignee", "reporter"):
        if role in fields:
            account, problem = _person(site, project, fields[role], role)
            if problem:
                errors[role] = problem
            else:
                values[role] = account
    if fields.get("duedate") is not None:
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(fields["duedate"])):
                raise ValueError("Jira takes YYYY-MM-DD only")
            dt.date.fromisoformat(str(fields["duedate"]))
            values["duedate"] = fields["duedate"]
        except ValueError:
            errors["duedate"] = f"Error parsing date string: {fields['duedate']}"
    elif "duedate" in fields:
        values["duedate"] = None
    if "labels" in fields:
        labels = fields["labels"] or []
        if not isinstance(labels, list):
            errors["labels"] = "Operation value must be an array of strings."
        else:
            bad = [x for x in labels if not isinstance(x, str) or not x or " " in x or len(x) > 255]
            if bad:
                errors["labels"] = (
                    f"The label '{bad[0]}' contains spaces or is empty or too long, which is "
                    "invalid."
                )
            else:
                values["labels"] = list(dict.fromkeys(labels))
    if fields.get("parent") is not None and "parent" not in errors:
        ref = fields["parent"] if isinstance(fields["parent"], dict) else {}
        parent = site.find_issue(str(ref.get("key") or ref.get("id") or ""))
        if parent is None:
            errors["parent"] = "Could not find issue by id or key."
        else:
            ptype = site.projects[parent.fields["project"]].issue_types
            level = next(t.hierarchy_level for t in ptype if t.id == parent.fields["issuetype"])
            if level != itype.hierarchy_level + 1:
                errors["parent"] = (
                    "Given parent work item does not belong to appropriate hierarchy."
                )
            values["parent"] = parent.key
    elif "parent" in fields and "parent" not in errors:
        values["parent"] = None
    if errors:
        raise JiraError(400, errors=errors)
    return values


def _custom_value(spec: Any, value: Any) -> tuple[str, Any]:
    """(problem, plain value) of a custom field's value as Jira would check it."""
    kind, items = spec.schema.get("type"), spec.schema.get("items")
    if spec.allowed is not None:
        refs = value if kind == "array" else [value]
        if kind == "array" and not isinstance(value, list):
            return f"Specify the value for {spec.name} in an array", None
        ids = {str(v["id"]) for v in spec.allowed}
        chosen = [str(r.get("id")) if isinstance(r, dict) else None for r in refs]
        if not chosen or any(c not in ids for c in chosen):
            return f"Specify a valid value for {spec.name}", None
        if spec.required and not chosen:
            return f"{spec.name} is required.", None
        return "", chosen if kind == "array" else chosen[0]
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"Operation value must be a number for {spec.name}", None
        return "", value
    if kind == "string" or items == "string":
        if not isinstance(value, str) or (spec.required and not value.strip()):
            return f"{spec.name} is required.", None
        return "", value
    return f"Field {spec.id} of type {kind} is not supported here.", None


def _person(site: Any, project: Project, ref: Any, role: str) -> tuple[str | None, str]:
    if ref is None:
        return None, ""
    account = ref.get("accountId") or ref.get("id") if isinstance(ref, dict) else None
    if role == "assignee" and account == "-1":  # "automatic": the project has no default
        return None, ""
    user = site.users.get(account or "")
    if user is None:
        return None, f"Account ID {account or ''} does not exist."
    if role == "assignee" and (not user.active or user.account_id in project.unassignable):
        return None, f"User '{account}' cannot be assigned issues."
    return user.account_id, ""


def properties(details: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for prop in details.get("properties") or []:
        key, value = prop.get("key"), prop.get("value")
        if not key or len(key) > 255 or value in (None, "", {}, []):
            raise JiraError(
                400,
                [
                    "Issue property keys and values must be non-empty, "
                    "and keys at most 255 characters."
                ],
            )
        out[key] = value
    return out
