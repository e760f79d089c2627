"""One exception for every Jira failure, with a kind the code acts on and a sentence a
user can act on. `explain` is the single place that words them."""

from __future__ import annotations

import enum

from bot import messages


class JiraErrorKind(enum.StrEnum):
    AUTH = "auth"  # credentials revoked/expired beyond refresh: reconnect
    PERMISSION = "permission"  # the account may not do this in this project
    NOT_FOUND = "not_found"  # project/issue gone or invisible
    ISSUE_TYPE = "issue_type"  # the issue type is no longer offered by the project
    INVALID = "invalid"  # Jira rejected the fields
    RATE_LIMITED = "rate_limited"  # 429: wait Retry-After
    UNAVAILABLE = "unavailable"  # 5xx, timeouts, resets: try again later
    AMBIGUOUS = "ambiguous"  # a create whose outcome is unknown (sent, no answer)
    # Our own fault, not Jira's: something the app did not expect stopped the sync. Tried
    # again like an outage (it may pass), worded so that nobody blames Jira for it.
    INTERNAL = "internal"


# Failures worth retrying automatically; the rest need a person to change something.
TRANSIENT = {
    JiraErrorKind.RATE_LIMITED,
    JiraErrorKind.UNAVAILABLE,
    JiraErrorKind.AMBIGUOUS,
    JiraErrorKind.INTERNAL,
}


class JiraError(Exception):
    def __init__(
        self,
        kind: JiraErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        field_errors: dict | None = None,
        method: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message  # already worded for users; never contains a secret
        self.status = status
        self.retry_after = retry_after
        self.field_errors = field_errors or {}
        # How the workspace connected, when known: AUTH advice names the command that
        # reconnects it that way.
        self.method = method

    @property
    def transient(self) -> bool:
        return self.kind in TRANSIENT


def explain(
    error: JiraError,
    *,
    project_key: str | None = None,
    issue_key: str | None = None,
    final: bool = False,
) -> str:
    """The sentence shown on an item's line, in the Sync Log and in /jira status.
    `issue_key`: the failure was an update of that issue. `final`: no retry follows."""
    project = project_key or "the project"
    if issue_key and error.kind is JiraErrorKind.PERMISSION:
        return f"Permission denied: the connected Jira account cannot edit {issue_key}."
    if issue_key and error.kind is JiraErrorKind.NOT_FOUND:
        return f"Jira issue {issue_key} was not found (deleted, or not visible to the account)."
    if error.kind is JiraErrorKind.INTERNAL:
        return messages.WENT_WRONG_FINAL if final else messages.WENT_WRONG_RETRYING
    if final and error.transient:
        if error.kind is JiraErrorKind.RATE_LIMITED:
            return messages.gave_up_on_jira(messages.JIRA_KEPT_LIMITING)
        return messages.gave_up_on_jira(error.message)
    match error.kind:
        case JiraErrorKind.AUTH if error.message == messages.NOT_CONNECTED:
            return messages.NOT_CONNECTED
        case JiraErrorKind.AUTH:
            return messages.revoked(error.method)
        case JiraErrorKind.PERMISSION:
            return (
                f"Permission denied: the connected Jira account cannot create issues in {project}."
            )
        case JiraErrorKind.ISSUE_TYPE:
            return (
                f"The issue type is no longer available in {project}: "
                "pick another in `/jira settings`."
            )
        case JiraErrorKind.NOT_FOUND:
            return f"Project {project} was not found in Jira (deleted, renamed, or not visible)."
        case JiraErrorKind.RATE_LIMITED:
            return "Jira is rate-limiting requests; will try again shortly."
        case JiraErrorKind.UNAVAILABLE | JiraErrorKind.AMBIGUOUS:
            return f"{messages.JIRA_NO_ANSWER}; will try again shortly."
        case _:
            return f"Jira rejected the issue: {error.message}"


def classify_field_errors(errors: dict, messages: list[str]) -> JiraErrorKind:
    """Jira says 400 for many different problems; the field it names tells which."""
    text = " ".join([*map(str, errors.values()), *messages]).lower()
    if "issuetype" in errors or "issue type" in text:
        return JiraErrorKind.ISSUE_TYPE
    if "permission" in text:
        return JiraErrorKind.PERMISSION
    if "project" in errors:
        return JiraErrorKind.NOT_FOUND
    return JiraErrorKind.INVALID
