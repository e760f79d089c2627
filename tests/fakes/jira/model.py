"""The emulator's data: plain records, and how each renders as Jira JSON."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass, field
from typing import Any


def jira_time(ts: float) -> str:
    """Jira's timestamp format, e.g. ``2022-10-14T13:32:45.576+0000``."""
    d = dt.datetime.fromtimestamp(ts, dt.UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}+0000"


def new_account_id() -> str:
    # Real ids look like "5b10a2844c20165700ede21g" (24 chars) or "712020:<uuid>".
    return secrets.token_hex(12)


@dataclass(frozen=True)
class StatusCategory:
    id: int
    key: str  # the stable part: new / indeterminate / done
    color_name: str
    name: str  # localized, never to be relied on by clients

    def to_json(self, base: str) -> dict[str, Any]:
        return {
            "self": f"{base}/rest/api/3/statuscategory/{self.id}",
            "id": self.id,
            "key": self.key,
            "colorName": self.color_name,
            "name": self.name,
        }


@dataclass(frozen=True)
class Status:
    id: str
    name: str
    category: StatusCategory

    def to_json(self, base: str) -> dict[str, Any]:
        return {
            "self": f"{base}/rest/api/3/status/{self.id}",
            "description": "",
            "iconUrl": f"{base}/images/icons/statuses/generic.png",
            "name": self.name,
            "id": self.id,
            "statusCategory": self.category.to_json(base),
        }


NEW = StatusCategory(2, "new", "blue-gray", "To Do")
INDETERMINATE = StatusCategory(4, "indeterminate", "yellow", "In Progress")
DONE = StatusCategory(3, "done", "green", "Done")
# "Fertig" is a done status whose names are German, as on a localized site: a client
# that compares names instead of statusCategory.key misses it.
STATUSES: dict[str, Status] = {
    s.name: s
    for s in (
        Status("10000", "To Do", NEW),
        Status("3", "In Progress", INDETERMINATE),
        Status("10001", "Done", DONE),
        Status("10002", "Fertig", StatusCategory(3, "done", "green", "Fertig")),
    )
}
INITIAL_STATUS = "To Do"


@dataclass
class User:
    account_id: str
    email: str
    display_name: str
    email_visible: bool = True
    active: bool = True
    time_zone: str = "Europe/London"

    def to_json(self, base: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "self": f"{base}/rest/api/3/user?accountId={self.account_id}",
            "accountId": self.account_id,
            "accountType": "atlassian",
            "avatarUrls": {
                size: f"https://avatar.example.invalid/{self.account_id}.png?s={size[:2]}"
                for size in ("48x48", "24x24", "16x16", "32x32")
            },
            "displayName": self.display_name,
            "active": self.active,
            "timeZone": self.time_zone,
            "locale": "en_US",
        }
        # Hidden emails are simply absent, as with Atlassian's profile visibility.
        if self.email_visible:
            body["emailAddress"] = self.email
        return body


@dataclass
class IssueType:
    id: str
    name: str
    hierarchy_level: int = 0  # epics are 1, subtasks -1

    def to_json(self, base: str) -> dict[str, Any]:
        return {
            "self": f"{base}/rest/api/3/issuetype/{self.id}",
            "id": self.id,
            "description": f"The {self.name} issue type.",
            "iconUrl": f"{base}/images/icons/issuetypes/{self.name.lower()}.png",
            "name": self.name,
            "subtask": self.hierarchy_level < 0,
            "avatarId": 10318,
            "hierarchyLevel": self.hierarchy_level,
        }


@dataclass
class CustomField:
    """A field of the project's create (and edit) screen beyond Jira's system fields."""

    id: str  # customfield_NNNNN
    name: str
    schema: dict[str, Any]  # e.g. {"type": "option"}, {"type": "array", "items": "option"}
    required: bool = True
    allowed: list[dict[str, Any]] | None = None  # [{"id", "value"}] for select fields

    def meta(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "required": self.required,
            "schema": self.schema | {"custom": "com.atlassian.jira.plugin.system.customfieldtypes"},
            "name": self.name,
            "key": self.id,
            "fieldId": self.id,
            "hasDefaultValue": False,
            "operations": ["set"],
        }
        if self.allowed is not None:
            body["allowedValues"] = [dict(v) for v in self.allowed]
        return body


@dataclass
class Project:
    id: str
    key: str
    name: str
    issue_types: list[IssueType]
    removed_type_ids: set[str] = field(default_factory=set)
    create_denied_status: int | None = None  # set by Site.deny_create
    unassignable: set[str] = field(default_factory=set)  # account ids
    next_number: int = 1
    # The workflow: {from status: [(transition name, to status), ...]}; None is Jira's
    # simplified default, where every status can move to every other (Site.set_workflow).
    workflow: dict[str, list[tuple[str, str]]] | None = None
    # Screens: system fields missing from the create and edit screens, and custom fields
    # on them (Site.configure_screens).
    off_screen: set[str] = field(default_factory=set)
    custom_fields: list[CustomField] = field(default_factory=list)

    def transitions_from(self, status: str) -> list[tuple[str, str]]:
        if self.workflow is None:
            return [(name, name) for name in STATUSES if name != status]
        return list(self.workflow.get(status, []))

    def available_types(self) -> list[IssueType]:
        return [t for t in self.issue_types if t.id not in self.removed_type_ids]

    def find_type(self, ref: dict[str, Any]) -> IssueType | None:
        for t in self.available_types():
            if ref.get("id") == t.id or (
                "id" not in ref and str(ref.get("name", "")).lower() == t.name.lower()
            ):
                return t
        return None

    def to_json(self, base: str) -> dict[str, Any]:
        return {
            "self": f"{base}/rest/api/3/project/{self.id}",
            "id": self.id,
            "key": self.key,
            "name": self.name,
            "avatarUrls": {"48x48": f"{base}/rest/api/3/universal_avatar/view/type/project"},
            "projectTypeKey": "software",
            "simplified": False,
            "style": "classic",
            "isPrivate": False,
            "properties": {},
        }


@dataclass
class Issue:
    id: str
    key: str
    # Plain values, convenient for test assertions: summary, description (ADF or None),
    # assignee (accountId or None), reporter, duedate, labels, parent (key or None),
    # project (key), issuetype (id), status (name).
    fields: dict[str, Any]
    created_via: str  # "bulk" or "single"
    created: float
    updated: float
    indexed_at: float  # JQL sees the issue only from this time on (index lag)
    properties: dict[str, Any] = field(default_factory=dict)
    status_changed: float = 0.0
    # The issue's history, oldest first, as Jira's changelog APIs return it: one entry per
    # change (id, author account id, created epoch seconds, items with one per field).
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class DynamicWebhook:
    id: int
    url: str
    events: list[str]
    jqlFilter: str
    expiration: int  # epoch ms
    registered_by: str  # account id of the OAuth user who registered it
    fieldIdsFilter: list[str] | None = None
    filter_ast: Any = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "jqlFilter": self.jqlFilter,
            "events": list(self.events),
            "expirationDate": self.expiration,
            "url": self.url,
        }
        if self.fieldIdsFilter is not None:
            body["fieldIdsFilter"] = list(self.fieldIdsFilter)
        return body


@dataclass
class AdminWebhook:
    url: str
    secret: str
    events: tuple[str, ...] = ("jira:issue_updated",)


@dataclass
class Delivery:
    """One webhook POST made by the emulator (or a redelivery of one)."""

    site: str
    kind: str  # "dynamic" or "admin"
    url: str
    headers: dict[str, str]
    body: bytes
    identifier: str
    webhook_ids: list[int]
    status: int | None = None  # None when the receiver could not be reached
    error: str | None = None
    response_text: str = ""
    retry: int = 0
    admin_secret: str | None = None  # kept so a redelivery can re-sign

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]  # first value of each parameter
    query_string: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    json: Any  # parsed body, or None
    timestamp: float
    site: str | None = None  # site name the call addressed
    auth: str | None = None  # "oauth", "basic" or None
    account_id: str | None = None  # the caller, once authenticated
    status: int | None = None  # None when the emulator dropped the connection
    fault: str | None = None  # the injected fault kind, if any
    rest_path: str | None = None  # the part after /rest/api/3, e.g. "/issue/bulk"
    answered_at: float | None = None  # time.time() when its answer began
