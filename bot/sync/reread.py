"""Reading issues as Jira reports them now: one JQL search per 50 ids, fields limited to
what an item shows. A webhook delivery, a push and a poll all act on this, never on a
delivery's body, so a replayed or forged old body cannot roll an item back.

An issue that a search does not return is deleted only when Jira answers 404 for it; one
the account merely cannot see any more is left alone.

When a field changed on both sides, when Jira changed *that field* is read from the
issues' changelogs (`change_times`): one request for up to 1,000 issues, limited to the
fields in conflict. The issue's `updated` would not do: an edit of any other field moves it.
The changelog is read after the issue, so it may already hold a later change (often our own
push, made meanwhile by another path): only the changes up to the `updated` that was read
count, those the values read reflect.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime

from bot.jira.client import JiraClient
from bot.jira.errors import TRANSIENT, JiraError, JiraErrorKind
from bot.jira.times import jira_time
from bot.sync import merge

IDS_PER_SEARCH = 50  # also reconcileIssues' limit: read-after-write for exactly these ids
ISSUE_FIELDS = [
    "summary",
    "description",
    "assignee",
    "duedate",
    "status",
    "issuetype",  # which edit screen the issue has (bot/sync/context.py)
    "updated",
    "statuscategorychangedate",
]
# Jira refuses a whole search when one id in `id in (…)` no longer exists.
_GONE = re.compile(r"(?:issue|key)[^']*'(\d+)'[^']*does not exist", re.IGNORECASE)
GONE_CHECKS_AT_ONCE = 5
CHANGELOG_ISSUES_MAX = 1000  # bulkfetch's limit per request


async def read_issues(jira: JiraClient, issue_ids, fields=ISSUE_FIELDS) -> dict[str, dict]:
    """{issue id: issue JSON} of those Jira still shows, with `fields` (["id"]: only
    which of them Jira still has)."""
    ids = sorted({str(i) for i in issue_ids if i}, key=int)
    chunks = [ids[i : i + IDS_PER_SEARCH] for i in range(0, len(ids), IDS_PER_SEARCH)]
    pages = await asyncio.gather(*(_search(jira, chunk, fields) for chunk in chunks))
    return {str(issue["id"]): issue for page in pages for issue in page}


async def _search(jira: JiraClient, ids: list[str], fields: list[str]) -> list[dict]:
    for _ in range(3):
        if not ids:
            return []
        try:
            return await jira.search_issues(
                f"id in ({', '.join(ids)})",
                fields=fields,
                reconcile=[int(i) for i in ids],
            )
        except JiraError as exc:
            gone = set(_GONE.findall(exc.message)) if exc.kind is JiraErrorKind.INVALID else set()
            if not gone & set(ids):
                raise
            ids = [i for i in ids if i not in gone]
    return []


async def gone_among(jira: JiraClient, issue_ids) -> set[str]:
    """Which of these issues Jira says no longer exist, asking for nothing but their ids:
    a search per IDS_PER_SEARCH ids, then a read of each one left out (404: gone)."""
    ids = {str(i) for i in issue_ids if i}
    missing = ids - set(await read_issues(jira, ids, fields=["id"]))
    return await deleted_among(jira, missing) if missing else set()


async def deleted_among(jira: JiraClient, issue_ids) -> set[str]:
    """Which of these issues (missing from a search) Jira says do not exist."""
    gate = asyncio.Semaphore(GONE_CHECKS_AT_ONCE)

    async def gone(issue_id: str) -> bool:
        async with gate:
            try:
                await jira.request("GET", f"/issue/{issue_id}", params={"fields": "status"})
            except JiraError as exc:
                if exc.kind is JiraErrorKind.NOT_FOUND:
                    return True
                raise
        return False

    ids = sorted({str(i) for i in issue_ids})
    answers = await asyncio.gather(*(gone(i) for i in ids))
    return {i for i, is_gone in zip(ids, answers, strict=True) if is_gone}


async def change_times(
    jira: JiraClient, wanted: dict[str, set[str]], read: dict[str, merge.JiraIssue]
) -> dict[str, dict]:
    """When Jira last changed each field asked for: {issue id: {field: time}}, `wanted`
    being {issue id: fields (merge.FIELDS names)}, as of the issues `read`. A Jira without
    the changelog API (or that refuses it) leaves the answer empty, and the caller falls
    back on `updated`."""
    wanted = {str(issue_id): names for issue_id, names in wanted.items() if names}
    if not wanted:
        return {}
    field_ids = sorted({merge.JIRA_FIELD[name] for names in wanted.values() for name in names})
    ids = sorted(wanted, key=int)
    times: dict[str, dict[str, datetime]] = {}
    try:
        for start in range(0, len(ids), CHANGELOG_ISSUES_MAX):
            logs = await jira.changelogs(ids[start : start + CHANGELOG_ISSUES_MAX], field_ids)
            for log in logs:
                issue_id = str(log.get("issueId"))
                as_of = read[issue_id].updated if issue_id in read else None
                _latest_changes(times, issue_id, wanted.get(issue_id, set()), log, as_of)
    except JiraError as exc:
        if exc.kind in TRANSIENT:
            raise
        return {}
    return times


def _latest_changes(
    times: dict, issue_id: str, names: set[str], log: dict, as_of: datetime | None
) -> None:
    """`as_of`: the read issue's `updated`; a change after it is not in the values read."""
    for history in log.get("changeHistories") or []:
        at = jira_time(history.get("created"))
        if at is None or (as_of is not None and at > as_of):
            continue
        for item in history.get("items") or []:
            name = merge.ITEM_FIELD.get(item.get("fieldId") or item.get("field"))
            known = times.setdefault(issue_id, {})
            if name in names and (name not in known or at > known[name]):
                known[name] = at
