"""Everything but issues: myself, projects, create metadata, users, dynamic webhooks."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from .rest import Call, JiraError, json_response, route


def _page(call: Call, path: str, items: list[Any], start: int, size: int) -> dict[str, Any]:
    values = items[start : start + size]
    last = start + size >= len(items)
    body = {
        "self": f"{call.base}/rest/api/3{path}?startAt={start}&maxResults={size}",
        "maxResults": size,
        "startAt": start,
        "total": len(items),
        "isLast": last,
        "values": values,
    }
    if not last:
        body["nextPage"] = f"{call.base}/rest/api/3{path}?startAt={start + size}&maxResults={size}"
    return body


@route("get", "/myself")
async def myself(call: Call) -> Response:
    body = call.caller.to_json(call.base)
    body["emailAddress"] = call.caller.email  # your own email is never hidden from you
    return json_response(body)


@route("get", "/project/search")
async def search_projects(call: Call) -> Response:
    start, size = call.q_int("startAt", 0), min(call.q_int("maxResults", 50), 100)
    text = (call.q("query") or "").lower()
    keys, ids = set(call.q_list("keys")), set(call.q_list("id"))
    action = call.q("action", "view")
    with call.lock:
        projects = sorted(call.site.projects.values(), key=lambda p: p.key)
        matched = [
            p
            for p in projects
            if (text in p.key.lower() or text in p.name.lower())
            and (not keys or p.key in keys)
            and (not ids or p.id in ids)
            and not (action == "create" and p.create_denied_status is not None)
        ]
        with_types = "issueTypes" in (call.q("expand") or "")
        values = [
            p.to_json(call.base)
            | (
                {"issueTypes": [t.to_json(call.base) for t in p.available_types()]}
                if with_types
                else {}
            )
            for p in matched
        ]
    if not values:  # the spec documents a 404 when nothing matches the criteria
        raise JiraError(404, ["No projects were found matching the search criteria."])
    return json_response(_page(call, "/project/search", values, start, size))


def _project(call: Call) -> Any:
    project = call.site.find_project(call.params["projectIdOrKey"])
    if project is None:
        ref = call.params["projectIdOrKey"]
        raise JiraError(404, [f"No project could be found with key '{ref}'."])
    return project


def _meta_page(call: Call, items: list[Any], name: str) -> dict[str, Any]:
    start, size = call.q_int("startAt", 0), call.q_int("maxResults", 50)
    if size > 200:
        raise JiraError(400, ["Parameter 'maxResults' must not exceed the limit '200'"])
    return {
        "maxResults": size,
        "startAt": start,
        "total": len(items),
        name: items[start : start + size],
    }


@route("get", "/issue/createmeta/{projectIdOrKey}/issuetypes")
async def create_meta_types(call: Call) -> Response:
    with call.lock:
        project = _project(call)
        types = [] if project.create_denied_status else project.available_types()
        items = [t.to_json(call.base) for t in types]
    return json_response(_meta_page(call, items, "issueTypes"))


def _field(
    key: str, name: str, schema: dict[str, Any], *, required: bool = False, **extra: Any
) -> dict[str, Any]:
    return {
        "required": required,
        "schema": schema,
        "name": name,
        "key": key,
        "fieldId": key,
        "hasDefaultValue": False,
        "operations": ["set"],
    } | extra


@route("get", "/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}")
async def create_meta_fields(call: Call) -> Response:
    with call.lock:
        project = _project(call)
        itype = project.find_type({"id": call.params["issueTypeId"]})
        if itype is None or project.create_denied_status:
            raise JiraError(
                404,
                [
                    "Issue type not found or you don't have permission to "
                    "create issues of this type."
                ],
            )
        user_url = f"{call.base}/rest/api/3/user/assignable/search?project={project.key}&query="
        fields = [
            _field("summary", "Summary", {"type": "string", "system": "summary"}, required=True),
            _field(
                "issuetype",
                "Issue Type",
                {"type": "issuetype", "system": "issuetype"},
                required=True,
                allowedValues=[itype.to_json(call.base)],
            ),
            _field(
                "project",
                "Project",
                {"type": "project", "system": "project"},
                required=True,
                allowedValues=[project.to_json(call.base)],
            ),
            _field("description", "Description", {"type": "string", "system": "description"}),
            _field(
                "reporter",
                "Reporter",
                {"type": "user", "system": "reporter"},
                hasDefaultValue=True,
                autoCompleteUrl=user_url,
            ),
            _field(
                "assignee",
                "Assignee",
                {"type": "user", "system": "assignee"},
                autoCompleteUrl=user_url,
            ),
            _field("duedate", "Due date", {"type": "date", "system": "duedate"}),
            _field(
                "labels",
                "Labels",
                {"type": "array", "items": "string", "system": "labels"},
                autoCompleteUrl=f"{call.base}/rest/api/1.0/labels/suggest?query=",
                operations=["add", "set", "remove"],
            ),
        ]
        if itype.hierarchy_level < 1:  # epics sit at the top: nothing to parent them
            fields.append(
                _field(
                    "parent",
                    "Parent",
                    {"type": "issuelink", "system": "parent"},
                    required=itype.hierarchy_level < 0,
                )
            )
        fields = [f for f in fields if f["fieldId"] not in project.off_screen]
        fields += [custom.meta() for custom in project.custom_fields]
    return json_response(_meta_page(call, fields, "fields"))


def _user_matches(user: Any, text: str) -> bool:
    text = text.lower()
    if "@" in text:  # an email-shaped query matches only the (visible) email, exactly
        return user.email_visible and user.email.lower() == text
    words = user.display_name.lower().split()
    return any(w.startswith(text) for w in words) or user.display_name.lower().startswith(text)


def _user_list(call: Call, users: list[Any]) -> Response:
    start, size = call.q_int("startAt", 0), call.q_int("maxResults", 50)
    return json_response([u.to_json(call.base) for u in users[start : start + size]])


@route("get", "/user/search")
async def find_users(call: Call) -> Response:
    query, account = call.q("query"), call.q("accountId")
    with call.lock:
        call.site.user_search_calls += 1
    if query is not None and account is not None:
        raise JiraError(400, ["The query parameters 'query' and 'accountId' can't be combined."])
    if query is None and account is None and call.q("property") is None:
        raise JiraError(
            400, ["One of the query parameters 'query', 'accountId' or 'property' is required."]
        )
    with call.lock:
        users = [
            u
            for u in call.site.users.values()
            if u.active and (u.account_id == account if account else _user_matches(u, query or ""))
        ]
    return _user_list(call, users)


@route("get", "/user/assignable/search")
async def find_assignable(call: Call) -> Response:
    query, account = call.q("query"), call.q("accountId")
    if query is not None and account is not None:
        raise JiraError(400, ["The query parameters 'query' and 'accountId' can't be combined."])
    if query is None and account is None:
        raise JiraError(400, ["One of the query parameters 'query' or 'accountId' is required."])
    with call.lock:
        site = call.site
        project = None
        if call.q("project"):  # ids, or keys matched case-sensitively
            ref = call.q("project")
            project = next((p for p in site.projects.values() if ref in (p.key, p.id)), None)
        elif call.q("issueKey") or call.q("issueId"):
            issue = site.find_issue(call.q("issueKey") or call.q("issueId"))
            project = site.projects[issue.fields["project"]] if issue else None
        else:
            raise JiraError(400, ["One of 'project', 'issueKey' or 'issueId' is required."])
        if project is None:
            raise JiraError(404, ["The project or issue was not found."])
        users = [
            u
            for u in site.users.values()
            if u.active
            and u.account_id not in project.unassignable
            and (u.account_id == account if account else _user_matches(u, query or ""))
        ]
    return _user_list(call, users)


def _only_apps(call: Call) -> None:
    if call.auth != "oauth":
        raise JiraError(
            403,
            ["Only Connect and OAuth 2.0 apps can use this operation: the caller isn't an app."],
        )


@route("post", "/webhook")
async def register_webhooks(call: Call) -> Response:
    _only_apps(call)
    with call.lock:
        results = [
            call.site.register_webhook(call.body["url"], spec, call.caller)
            for spec in call.body["webhooks"]
        ]
    return json_response({"webhookRegistrationResult": results})


def _mine(call: Call) -> list[Any]:
    return [w for w in call.site.webhooks.values() if w.registered_by == call.caller.account_id]


@route("get", "/webhook")
async def list_webhooks(call: Call) -> Response:
    _only_apps(call)
    with call.lock:
        values = [w.to_json() for w in sorted(_mine(call), key=lambda w: w.id)]
    return json_response(
        _page(call, "/webhook", values, call.q_int("startAt", 0), call.q_int("maxResults", 100))
    )


@route("delete", "/webhook")
async def delete_webhooks(call: Call) -> Response:
    _only_apps(call)
    with call.lock:
        for hook in _mine(call):  # ids of other callers are silently ignored
            if hook.id in call.body["webhookIds"]:
                del call.site.webhooks[hook.id]
    return Response(status_code=202)


@route("put", "/webhook/refresh")
async def refresh_webhooks(call: Call) -> Response:
    _only_apps(call)
    with call.lock:
        expiry = call.site.webhook_expiry()
        for hook in _mine(call):
            if hook.id in call.body["webhookIds"]:
                hook.expiration = expiry
    return json_response({"expirationDate": expiry})
