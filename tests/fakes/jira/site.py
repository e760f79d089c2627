"""One Jira Cloud site: its projects, users, issues, webhooks, and the knobs tests turn
(permissions, removed issue types, index lag, status transitions, a clock running ahead)."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from . import jql, webhooks
from .model import (
    INITIAL_STATUS,
    STATUSES,
    AdminWebhook,
    CustomField,
    Delivery,
    DynamicWebhook,
    Issue,
    IssueType,
    Project,
    User,
    new_account_id,
)
from .render import adf_to_text


class Site:
    def __init__(self, emulator: Any, name: str, cloud_id: str | None = None):
        self.emulator = emulator
        self.name = name
        self.cloud_id = cloud_id or str(uuid.uuid4())
        self.projects: dict[str, Project] = {}  # by key
        self.users: dict[str, User] = {}  # by account id
        self.api_tokens: dict[str, str] = {}  # email -> token
        self.issues: dict[str, Issue] = {}  # by key
        self.webhooks: dict[int, DynamicWebhook] = {}
        self.admin_webhooks: list[AdminWebhook] = []
        self.deliveries: list[Delivery] = []
        self.moved_keys: dict[str, str] = {}  # a moved issue's old key -> its id
        self.search_lag_seconds = 0.0  # new issues reach JQL results this much later
        self.clock_ahead_seconds = 0.0  # changes are stamped this far in the future
        self.user_search_calls = 0
        self.webhook_limit_per_user = 5  # Atlassian's (unconfirmed) per app+user+site cap
        self._ids = {"issue": 10000, "type": 10001, "webhook": 1, "changelog": 10100}

    def __repr__(self) -> str:
        return f"<Site {self.name} {self.cloud_id}>"

    @property
    def url(self) -> str:
        return f"{self.emulator.base_url}/sites/{self.name}"

    def _next(self, kind: str) -> int:
        value = self._ids[kind]
        self._ids[kind] += 1
        return value

    # --- setup ----------------------------------------------------------------------

    def add_project(
        self, key: str, name: str, issue_types: tuple[str, ...] = ("Task", "Bug", "Epic")
    ) -> Project:
        with self.emulator.lock:
            types = [
                IssueType(
                    str(self._next("type")),
                    t,
                    1 if t == "Epic" else -1 if t.lower() in ("subtask", "sub-task") else 0,
                )
                for t in issue_types
            ]
            project = Project(str(10000 + len(self.projects)), key, name, types)
            self.projects[key] = project
            return project

    def add_user(
        self,
        email: str,
        display_name: str,
        *,
        account_id: str | None = None,
        email_visible: bool = True,
        active: bool = True,
    ) -> User:
        user = User(account_id or new_account_id(), email, display_name, email_visible, active)
        return self.add_member(user)

    def add_member(self, user: User) -> User:
        """Gives an existing Atlassian account (e.g. from another site) access here."""
        with self.emulator.lock:
            self.users[user.account_id] = user
        return user

    def add_api_token(self, email: str, token: str) -> None:
        with self.emulator.lock:
            if self.find_user_by_email(email) is None:
                self.add_user(email, email.split("@")[0].replace(".", " ").title())
            self.api_tokens[email.lower()] = token

    def revoke_api_token(self, email: str) -> None:
        with self.emulator.lock:
            self.api_tokens.pop(email.lower(), None)

    def deny_create(self, project_key: str, *, status: int = 400) -> None:
        """The caller loses *Create issues* in the project (400 as the spec lists it;
        pass status=403 for the other documented answer)."""
        with self.emulator.lock:
            self.projects[project_key].create_denied_status = status

    def allow_create(self, project_key: str) -> None:
        with self.emulator.lock:
            self.projects[project_key].create_denied_status = None

    def remove_issue_type(self, project_key: str, name: str) -> None:
        with self.emulator.lock:
            project = self.projects[project_key]
            project.removed_type_ids |= {t.id for t in project.issue_types if t.name == name}

    def set_assignable(self, project_key: str, user: User, assignable: bool) -> None:
        with self.emulator.lock:
            group = self.projects[project_key].unassignable
            (group.discard if assignable else group.add)(user.account_id)

    def set_workflow(self, project_key: str, workflow: dict[str, list] | None) -> None:
        """Which transitions exist from which status: {from: [to, ...]} where each entry is
        a status name (the transition is named after it) or a (name, to) pair. None goes
        back to the default, where every status moves to every other."""
        steps = None
        if workflow is not None:
            steps = {
                start: [(t, t) if isinstance(t, str) else tuple(t) for t in targets]
                for start, targets in workflow.items()
            }
            unknown = {to for targets in steps.values() for _n, to in targets} - set(STATUSES)
            if unknown:
                raise ValueError(f"unknown statuses {sorted(unknown)}; one of {sorted(STATUSES)}")
        with self.emulator.lock:
            self.projects[project_key].workflow = steps

    def configure_screens(
        self,
        project_key: str,
        *,
        without: tuple[str, ...] = (),
        custom: tuple[CustomField, ...] = (),
    ) -> None:
        """Takes system fields (labels, duedate, assignee…) off the project's create and edit
        screens and puts custom fields on them, required or not."""
        with self.emulator.lock:
            project = self.projects[project_key]
            project.off_screen = set(without)
            project.custom_fields = list(custom)

    def add_admin_webhook(
        self, url: str, secret: str, events: tuple[str, ...] = ("jira:issue_updated",)
    ) -> None:
        with self.emulator.lock:
            self.admin_webhooks.append(AdminWebhook(url, secret, tuple(events)))

    def number_issues_from(self, first_id: int) -> None:
        """The next issue made here gets id `first_id` (ids are per site: another site's
        issue may have the same one)."""
        with self.emulator.lock:
            self._ids["issue"] = first_id

    def create_issue(
        self,
        project_key: str,
        summary: str,
        *,
        issuetype: str = "Task",
        created_via: str = "single",
        **fields: Any,
    ) -> Issue:
        """Puts an issue straight into the site (no REST, no validation): for tests
        that need issues the app did not create."""
        with self.emulator.lock:
            project = self.projects[project_key]
            itype = next(t for t in project.issue_types if t.name == issuetype)
            values = {"summary": summary, "issuetype": itype.id, "project": project_key}
            return self.store_issue(values | fields, created_via)

    # --- lookups (callers hold the emulator lock) ----------------------------------

    def find_user_by_email(self, email: str) -> User | None:
        email = email.lower()
        return next((u for u in self.users.values() if u.email.lower() == email), None)

    def find_project(self, ref: str) -> Project | None:
        ref = str(ref)
        return next(
            (p for p in self.projects.values() if ref.upper() == p.key or ref == p.id), None
        )

    def find_issue(self, ref: str) -> Issue | None:
        """By key, id, or a key the issue had before it moved (Jira follows a moved
        issue's old key to the issue, which answers with its new key)."""
        ref = str(ref)
        ref = self.moved_keys.get(ref.upper(), ref)
        found = self.issues.get(ref.upper())
        return found or next((i for i in self.issues.values() if i.id == ref), None)

    def store_issue(self, values: dict[str, Any], created_via: str) -> Issue:
        """Adds a validated issue; ``values`` uses the plain shapes of ``Issue.fields``."""
        project = self.projects[values["project"]]
        now = time.time()
        key = f"{project.key}-{project.next_number}"
        project.next_number += 1
        fields = {
            "summary": "",
            "description": None,
            "assignee": None,
            "reporter": None,
            "duedate": None,
            "labels": [],
            "parent": None,
            "status": INITIAL_STATUS,
        } | values
        issue = Issue(
            str(self._next("issue")),
            key,
            fields,
            created_via,
            now,
            now,
            indexed_at=now + self.search_lag_seconds,
            status_changed=now,
        )
        self.issues[key] = issue
        return issue

    # --- events ---------------------------------------------------------------------

    def transition(self, key: str, status: str, *, by: User) -> list[Delivery]:
        """Moves the issue to ``status`` as user ``by`` and delivers ``jira:issue_updated``
        to every matching webhook, returning the deliveries (sent and answered)."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; one of {sorted(STATUSES)}")
        with self.emulator.lock:
            issue = self.find_issue(key)
            if issue is None:
                raise KeyError(key)
            planned = self.move(issue, status, by)
        return [self._send(d) for d in planned]

    def move(self, issue: Issue, status: str, by: User) -> list[Delivery]:
        """Sets the issue's status and plans the webhook deliveries (lock held)."""
        old = issue.fields["status"]
        issue.fields["status"] = status
        issue.updated = issue.status_changed = time.time() + self.clock_ahead_seconds
        item = {
            "field": "status",
            "fieldtype": "jira",
            "fieldId": "status",
            "from": STATUSES[old].id,
            "fromString": old,
            "to": STATUSES[status].id,
            "toString": status,
        }
        return webhooks.plan(self, issue, by, self.record_change(issue, by, [item]))

    def send_later(self, planned: list[Delivery]) -> None:
        """Delivers in the background, as Jira does after answering a REST call."""
        if planned:
            threading.Thread(target=lambda: [self._send(d) for d in planned], daemon=True).start()

    def edit(self, key: str, *, by: User, **changes: Any) -> list[Delivery]:
        """Edits fields as a person would in Jira (plain shapes: summary, description as
        ADF or None, assignee account id or None, duedate "YYYY-MM-DD" or None) and delivers
        ``jira:issue_updated`` with one changelog item per changed field."""
        with self.emulator.lock:
            issue = self.find_issue(key)
            if issue is None:
                raise KeyError(key)
            before = dict(issue.fields)
            changed = [name for name, value in changes.items() if issue.fields.get(name) != value]
            issue.fields.update(changes)
            issue.updated = time.time() + self.clock_ahead_seconds
            planned = self.plan_edit(issue, changed, by, before) if changed else []
        return [self._send(d) for d in planned]

    def plan_edit(
        self, issue: Issue, changed: list[str], by: User, before: dict[str, Any]
    ) -> list[Delivery]:
        """Records an edit of `changed` fields (lock held; `before`: the fields as they
        were) in the issue's history and plans its deliveries: one changelog item per
        field, which is what a webhook's field filter looks at."""
        items = [
            self._change_item(name, before.get(name), issue.fields.get(name)) for name in changed
        ]
        return webhooks.plan(self, issue, by, self.record_change(issue, by, items))

    def record_change(self, issue: Issue, by: User, items: list[dict[str, Any]]) -> dict[str, Any]:
        """One history entry at the issue's `updated`; returns the webhook's changelog."""
        changelog_id = str(self._next("changelog"))
        issue.history.append(
            {"id": changelog_id, "author": by.account_id, "created": issue.updated, "items": items}
        )
        return {"id": changelog_id, "items": items}

    def _change_item(self, name: str, old: Any, new: Any) -> dict[str, Any]:
        """A changelog item as Jira writes it: ids in from/to where the field has them
        (assignee account ids), display strings in fromString/toString."""
        item: dict[str, Any] = {"field": name, "fieldtype": "jira", "fieldId": name}
        if name == "assignee":
            return item | {
                "from": old,
                "fromString": self._display_name(old),
                "to": new,
                "toString": self._display_name(new),
            }
        return item | {"from": None, "fromString": _plain(old), "to": None, "toString": _plain(new)}

    def _display_name(self, account_id: str | None) -> str | None:
        user = self.users.get(account_id) if account_id else None
        return user.display_name if user else None

    def delete(self, key: str, *, by: User) -> list[Delivery]:
        """Deletes the issue and delivers ``jira:issue_deleted``."""
        with self.emulator.lock:
            issue = self.find_issue(key)
            if issue is None:
                raise KeyError(key)
            planned = webhooks.plan(self, issue, by, {"items": []}, "jira:issue_deleted")
            del self.issues[issue.key]
        return [self._send(d) for d in planned]

    def move_to_project(self, key: str, project_key: str, *, by: User) -> Issue:
        """Moves the issue to another project as user ``by``: a new key, the same id, its
        old key still leading to it, and ``jira:issue_updated`` delivered with the
        changelog Jira writes for a move (project and Key)."""
        with self.emulator.lock:
            issue = self.issues.pop(self.find_issue(key).key)
            old_key, old_project = issue.key, self.projects[issue.fields["project"]]
            project = self.projects[project_key]
            issue.key = f"{project.key}-{project.next_number}"
            project.next_number += 1
            type_name = next(
                t.name for t in old_project.issue_types if t.id == issue.fields["issuetype"]
            )
            issue.fields["project"] = project.key
            issue.fields["issuetype"] = next(
                t.id for t in project.issue_types if t.name == type_name
            )
            issue.updated = time.time()
            self.issues[issue.key] = issue
            self.moved_keys[old_key] = issue.id
            items = [
                {"field": "project", "fieldtype": "jira", "fieldId": "project",
                 "from": old_project.id, "fromString": old_project.name,
                 "to": project.id, "toString": project.name},
                {"field": "Key", "fieldtype": "jira", "fieldId": "issuekey",
                 "from": None, "fromString": old_key, "to": None, "toString": issue.key},
            ]  # fmt: skip
            planned = webhooks.plan(self, issue, by, self.record_change(issue, by, items))
        for delivery in planned:
            self._send(delivery)
        return issue

    def redeliver(self, delivery: Delivery) -> Delivery:
        """Sends a delivery again as Jira's retry would (same body and identifier)."""
        return self._send(webhooks.retry_of(self, delivery))

    def _send(self, delivery: Delivery) -> Delivery:
        webhooks.send(delivery, timeout=self.emulator.webhook_timeout)
        with self.emulator.lock:
            self.deliveries.append(delivery)
        return delivery

    def register_webhook(self, url: str, spec: dict[str, Any], caller: User) -> dict[str, Any]:
        """One entry of POST /webhook: the created id, or the errors Jira would give."""
        errors = jql.webhook_filter_errors(spec.get("jqlFilter") or "")
        mine = [w for w in self.webhooks.values() if w.registered_by == caller.account_id]
        if not errors and len(mine) >= self.webhook_limit_per_user:
            errors = [
                f"The number of webhooks per app and user exceeds the limit "
                f"({self.webhook_limit_per_user})."
            ]
        if not spec.get("events"):
            errors.append("The events are required.")
        if errors:
            return {"errors": errors}
        hook = DynamicWebhook(
            id=self._next("webhook"),
            url=url,
            events=list(spec["events"]),
            jqlFilter=spec["jqlFilter"],
            expiration=self.webhook_expiry(),
            registered_by=caller.account_id,
            fieldIdsFilter=spec.get("fieldIdsFilter"),
            filter_ast=jql.parse(spec["jqlFilter"]),
        )
        self.webhooks[hook.id] = hook
        return {"createdWebhookId": hook.id}

    @staticmethod
    def webhook_expiry() -> int:
        return int((time.time() + 30 * 86400) * 1000)


def _plain(value: Any) -> str | None:
    """A field value as a changelog's string: ADF as its text, None as None."""
    if value is None:
        return None
    return adf_to_text(value) if isinstance(value, dict) else str(value)
