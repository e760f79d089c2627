"""Issue endpoints: create (single and bulk), edit, read, bulk fetch, JQL search,
assignee and entity properties."""

from __future__ import annotations

import base64
import time
from typing import Any

from starlette.responses import Response

from . import fields as F
from .jql import Evaluator, JqlError, check_search, ordering, parse
from .render import history_json, issue_json, wanted_fields
from .rest import Call, JiraError, json_response, not_found_issue, route

BULK_LIMIT = 50


def _create_one(call: Call, details: dict[str, Any], via: str) -> dict[str, str]:
    """Validates and stores one IssueUpdateDetails; the caller holds the lock."""
    merged = F.merge_update(details.get("fields") or {}, details.get("update"))
    project, itype = F.resolve_target(call, merged)
    values = F.check_values(call, project, itype, merged, creating=True)
    props = F.properties(details)
    values |= {"project": project.key, "issuetype": itype.id}
    values.setdefault("reporter", call.caller.account_id)
    issue = call.site.store_issue(values, via)
    issue.properties.update(props)
    return {"id": issue.id, "key": issue.key, "self": f"{call.base}/rest/api/3/issue/{issue.id}"}


@route("post", "/issue")
async def create_issue(call: Call) -> Response:
    with call.lock:
        return json_response(_create_one(call, call.body, "single"), 201)


@route("post", "/issue/bulk")
async def create_issues(call: Call) -> Response:
    updates = call.body.get("issueUpdates") or []
    if not updates:
        raise JiraError(400, ["Nothing to create: issueUpdates is empty."])
    if len(updates) > BULK_LIMIT:
        raise JiraError(400, [f"The number of issues to create exceeds the limit of {BULK_LIMIT}."])
    created, errors = [], []
    with call.lock:
        for number, details in enumerate(updates):
            try:
                created.append(_create_one(call, details, "bulk"))
            except JiraError as e:
                errors.append(
                    {
                        "status": e.status,
                        "failedElementNumber": number,
                        "elementErrors": e.collection(),
                    }
                )
    # All failed is a 400 with the same CreatedIssues body, not an ErrorCollection.
    return json_response({"issues": created, "errors": errors}, 201 if created else 400)


def _issue(call: Call) -> Any:
    issue = call.site.find_issue(call.params["issueIdOrKey"])
    if issue is None:
        raise not_found_issue()
    return issue


@route("get", "/issue/{issueIdOrKey}")
async def get_issue(call: Call) -> Response:
    with call.lock:
        issue = _issue(call)
        wanted = wanted_fields(call.query.get("fields"), "*all")
        return json_response(
            issue_json(call.site, issue, call.base, wanted, call.q_list("properties"))
        )


@route("put", "/issue/{issueIdOrKey}")
async def edit_issue(call: Call) -> Response:
    body = call.body or {}
    with call.lock:
        issue = _issue(call)
        project = call.site.projects[issue.fields["project"]]
        itype = next(t for t in project.issue_types if t.id == issue.fields["issuetype"])
        merged = F.merge_update(body.get("fields") or {}, body.get("update"), issue.fields)
        values = F.check_values(call, project, itype, merged, creating=False)
        issue.properties.update(F.properties(body))
        before = dict(issue.fields)
        changed = [name for name, value in values.items() if issue.fields.get(name) != value]
        issue.fields.update(values)  # a "transition" in the body is ignored, as in Jira
        issue.updated = time.time()
        # Jira tells webhooks about every edit, the caller's own included (an echo).
        planned = call.site.plan_edit(issue, changed, call.caller, before) if changed else []
        if call.q("returnIssue") == "true":
            answer = json_response(
                issue_json(call.site, issue, call.base, wanted_fields(None, "*all"))
            )
            call.site.send_later(planned)
            return answer
    call.site.send_later(planned)
    return Response(status_code=204)


@route("get", "/issue/{issueIdOrKey}/editmeta")
async def edit_meta(call: Call) -> Response:
    """The fields of the issue's edit screen (what a PUT /issue may set)."""
    with call.lock:
        issue = _issue(call)
        project = call.site.projects[issue.fields["project"]]
        names = sorted(F.ON_SCREEN - project.off_screen - {"project"})
        fields = {
            name: {
                "required": name in ("summary", "issuetype"),
                "name": name,
                "key": name,
                "fieldId": name,
                "operations": ["set"],
                "schema": {"system": name},
            }
            for name in names
        }
        fields |= {c.id: c.meta() | {"required": False} for c in project.custom_fields}
    return json_response({"fields": fields})


@route("put", "/issue/{issueIdOrKey}/assignee")
async def assign_issue(call: Call) -> Response:
    with call.lock:
        issue = _issue(call)
        project = call.site.projects[issue.fields["project"]]
        itype = next(t for t in project.issue_types if t.id == issue.fields["issuetype"])
        ref = call.body if call.body.get("accountId") is not None else None
        values = F.check_values(call, project, itype, {"assignee": ref}, creating=False)
        before = dict(issue.fields)
        issue.fields.update(values)
        issue.updated = time.time()
        if before.get("assignee") != issue.fields.get("assignee"):
            call.site.plan_edit(issue, ["assignee"], call.caller, before)  # history only
    return Response(status_code=204)


@route("post", "/issue/bulkfetch")
async def bulk_fetch(call: Call) -> Response:
    refs = call.body["issueIdsOrKeys"]
    if len(refs) > 100:
        raise JiraError(400, ["The number of issues to fetch exceeds the limit of 100."])
    wanted = wanted_fields(call.body.get("fields"), "*navigable")
    with call.lock:
        found = {i.id: i for i in (call.site.find_issue(r) for r in refs) if i is not None}
        issues = [
            issue_json(call.site, found[k], call.base, wanted, call.body.get("properties"))
            for k in sorted(found, key=int)
        ]
    return json_response({"issues": issues, "issueErrors": []})


CHANGELOG_ISSUES_MAX = 1000


@route("post", "/changelog/bulkfetch")
async def bulk_changelogs(call: Call) -> Response:
    """The histories of up to 1,000 issues, oldest first (then by issue id), each keeping
    only the items of `fieldIds` when given; paged by history entries."""
    body = call.body or {}
    refs = body.get("issueIdsOrKeys") or []
    if len(refs) > CHANGELOG_ISSUES_MAX:
        raise JiraError(400, ["The number of issues exceeds the limit of 1000."])
    wanted = set(body.get("fieldIds") or [])
    size = int(body.get("maxResults") or 1000)
    try:
        token = body.get("nextPageToken")
        offset = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
    except ValueError:
        raise JiraError(400, ["The nextPageToken is invalid."]) from None
    with call.lock:
        found = {i.id: i for i in (call.site.find_issue(r) for r in refs) if i is not None}
        entries = sorted(
            (
                (entry["created"], int(issue.id), entry | {"items": items})
                for issue in found.values()
                for entry in issue.history
                if (items := [i for i in entry["items"] if not wanted or i["fieldId"] in wanted])
            ),
            key=lambda e: (e[0], e[1], int(e[2]["id"])),
        )
        page = entries[offset : offset + size]
        logs: dict[int, list] = {}
        for _created, issue_id, entry in page:
            logs.setdefault(issue_id, []).append(history_json(call.site, entry, call.base))
    answer: dict[str, Any] = {
        "issueChangeLogs": [
            {"issueId": str(issue_id), "changeHistories": histories}
            for issue_id, histories in logs.items()
        ]
    }
    if offset + size < len(entries):
        answer["nextPageToken"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
    return json_response(answer)


def _search(
    call: Call,
    jql: str | None,
    token: str | None,
    max_results: int,
    fields: list[str] | None,
    reconcile: list[int],
    props: list[str],
) -> Response:
    try:
        node = parse(jql or "")
        if node is None:
            raise JqlError(
                "Unbounded JQL queries are not allowed here. Please add a search "
                "restriction to your query."
            )
        with call.lock:
            check_search(node, call.site)
    except JqlError as e:
        raise JiraError(400, [str(e)]) from None
    try:
        offset = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
    except ValueError:
        raise JiraError(400, ["The nextPageToken is invalid."]) from None
    wanted = wanted_fields(fields, "id")
    ids_only = wanted <= {"id", "key"}
    max_results = max(0, min(max_results, 5000 if ids_only else 100))
    if call.emulator.search_page_size:  # Jira may return fewer than asked for
        max_results = min(max_results, call.emulator.search_page_size)
    now, evaluator, reconcile_ids = (
        time.time(),
        Evaluator(call.site, call.caller.account_id),
        {str(i) for i in reconcile},
    )
    with call.lock:
        # The index lags behind writes; reconcileIssues reads its ids consistently.
        hits = [
            i
            for i in sorted(call.site.issues.values(), key=lambda i: -int(i.id))
            if (i.indexed_at <= now or i.id in reconcile_ids) and evaluator.matches(node, i)
        ]
        order = ordering(jql or "")
        if order is not None:  # stable: equal times keep the newest issue first
            hits.sort(key=lambda i: getattr(i, order[0]), reverse=order[1])
        page = hits[offset : offset + max_results]
        if ids_only:
            issues = [{"id": i.id} | ({"key": i.key} if "key" in wanted else {}) for i in page]
        else:
            issues = [
                issue_json(call.site, i, call.base, wanted - {"id", "key"}, props) for i in page
            ]
    body: dict[str, Any] = {"issues": issues, "isLast": offset + max_results >= len(hits)}
    if not body["isLast"]:
        body["nextPageToken"] = base64.urlsafe_b64encode(
            str(offset + max_results).encode()
        ).decode()
    return json_response(body)


@route("get", "/search/jql")
async def search_get(call: Call) -> Response:
    reconcile = [int(x) for x in call.q_list("reconcileIssues")]
    return _search(
        call,
        call.q("jql"),
        call.q("nextPageToken"),
        call.q_int("maxResults", 50),
        call.query.get("fields"),
        reconcile,
        call.q_list("properties"),
    )


@route("post", "/search/jql")
async def search_post(call: Call) -> Response:
    b = call.body
    return _search(
        call,
        b.get("jql"),
        b.get("nextPageToken"),
        b.get("maxResults", 50),
        b.get("fields"),
        b.get("reconcileIssues") or [],
        b.get("properties") or [],
    )


@route("get", "/issue/{issueIdOrKey}/properties/{propertyKey}")
async def get_property(call: Call) -> Response:
    with call.lock:
        issue = _issue(call)
        key = call.params["propertyKey"]
        if key not in issue.properties:
            raise JiraError(404, [f"The property with key '{key}' does not exist."])
        return json_response({"key": key, "value": issue.properties[key]})


@route("put", "/issue/{issueIdOrKey}/properties/{propertyKey}")
async def set_property(call: Call) -> Response:
    if call.body in (None, "", {}, []):
        raise JiraError(400, ["The property value must be a non-empty JSON value."])
    with call.lock:
        issue = _issue(call)
        existed = call.params["propertyKey"] in issue.properties
        issue.properties[call.params["propertyKey"]] = call.body
    return Response(status_code=200 if existed else 201)
