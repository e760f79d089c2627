"""Fields a project's issue type requires on create beyond what the app fills itself, read
from Jira's create metadata, and the defaults an admin gives them in /jira settings.

Only kinds the app can fill from one saved value are accepted: select fields (single or
multi, anything Jira lists `allowedValues` for: options, components, versions, priority),
text and number. Any other required field makes the project and issue type unusable, and
settings say so by the field's name when saving, not at the first commit.
"""

from __future__ import annotations

from dataclasses import dataclass

# What every create carries, or what the app sets itself when it has it.
APP_FILLED = {
    "summary",
    "issuetype",
    "project",
    "reporter",
    "description",
    "assignee",
    "duedate",
    "labels",
    "parent",
}
SELECT, MULTI_SELECT, TEXT, NUMBER = "select", "multi_select", "text", "number"
ALLOWED_SHOWN_MAX = 100  # a static select holds at most 100 options


@dataclass(frozen=True)
class RequiredField:
    id: str
    name: str
    kind: str | None  # None: a kind the app cannot fill
    type_name: str
    allowed: tuple[tuple[str, str], ...] = ()  # (id, label) of each allowed value


def _label(value: dict) -> str:
    return str(value.get("value") or value.get("name") or value.get("key") or value.get("id"))


def _kind(field: dict) -> str | None:
    schema = field.get("schema") or {}
    if field.get("allowedValues"):
        return MULTI_SELECT if schema.get("type") == "array" else SELECT
    if schema.get("type") == "string":
        return TEXT
    if schema.get("type") == "number":
        return NUMBER
    return None


def required_fields(meta: list[dict]) -> list[RequiredField]:
    """The required fields an admin must give defaults for, in Jira's order."""
    found = []
    for field in meta:
        field_id = str(field.get("fieldId") or field.get("key") or "")
        if not field.get("required") or field.get("hasDefaultValue") or field_id in APP_FILLED:
            continue
        schema = field.get("schema") or {}
        allowed = tuple(
            (str(v.get("id")), _label(v)) for v in field.get("allowedValues") or [] if v.get("id")
        )
        found.append(
            RequiredField(
                field_id,
                str(field.get("name") or field_id),
                _kind(field),
                str(schema.get("items") or schema.get("type") or "unknown"),
                allowed,
            )
        )
    return found


def problem_with(field: RequiredField, value: str | None) -> str | None:
    """Why `value` cannot be this field's default (None when it can)."""
    if field.kind is None:
        return (
            f"Jira requires *{field.name}* ({field.type_name}) for this issue type, and Unpack "
            "can't fill that kind of field. Choose another issue type, or make the field "
            "optional in Jira."
        )
    if value is None or not value.strip():
        return f"Jira requires {field.name} for this issue type: give it a default value."
    if field.kind in (SELECT, MULTI_SELECT) and value not in {i for i, _ in field.allowed}:
        return f"Choose one of the values Jira offers for {field.name}."
    if field.kind == NUMBER:
        try:
            float(value)
        except ValueError:
            return f"{field.name} takes a number."
    return None


def stored(fields: list[RequiredField], values: dict[str, str]) -> dict:
    """What settings keep: {field id: {"name", "kind", "value"}}."""
    return {
        f.id: {"name": f.name, "kind": f.kind, "value": values.get(f.id, "").strip()}
        for f in fields
        if f.kind
    }


def jira_value(kind: str, value: str):
    """A stored default as the create body wants it."""
    if kind == SELECT:
        return {"id": value}
    if kind == MULTI_SELECT:
        return [{"id": value}]
    if kind == NUMBER:
        number = float(value)
        return int(number) if number.is_integer() else number
    return value
