"""Issue transitions: what the project's workflow offers from the issue's status, and
moving it (which delivers ``jira:issue_updated`` like a move made in Jira's UI)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from .model import STATUSES
from .rest import Call, JiraError, json_response, route
from .rest_issues import _issue


def transition_id(name: str, to: str) -> str:
    """Stable per (name, target): Jira's ids are small numbers per workflow."""
    return str(11 + 10 * list(STATUSES).index(to) + sum(map(ord, name)) % 7)


def _offered(call: Call, issue: Any) -> list[dict[str, Any]]:
    project = call.site.projects[issue.fields["project"]]
    offered = []
    for name, to in project.transitions_from(issue.fields["status"]):
        offered.append(
            {
                "id": transition_id(name, to),
                "name": name,
                "to": STATUSES[to].to_json(call.base),
                "hasScreen": False,
                "isGlobal": project.workflow is None,
                "isInitial": False,
                "isAvailable": True,
                "isConditional": False,
                "isLooped": False,
            }
        )
    return offered


@route("get", "/issue/{issueIdOrKey}/transitions")
async def get_transitions(call: Call) -> Response:
    with call.lock:
        issue = _issue(call)
        return json_response({"expand": "transitions", "transitions": _offered(call, issue)})


@route("post", "/issue/{issueIdOrKey}/transitions")
async def do_transition(call: Call) -> Response:
    wanted = str(((call.body or {}).get("transition") or {}).get("id") or "")
    with call.lock:
        issue = _issue(call)
        chosen = next((t for t in _offered(call, issue) if t["id"] == wanted), None)
        if chosen is None:
            raise JiraError(
                400,
                [
                    f"Transition id '{wanted}' is not valid for this issue.",
                ],
            )
        planned = call.site.move(issue, chosen["to"]["name"], call.caller)
    call.site.send_later(planned)
    return Response(status_code=204)
