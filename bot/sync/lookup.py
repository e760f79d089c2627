"""Finding issues we may have created, by the unique label each create carries."""

from __future__ import annotations

from bot.jira.client import JiraClient

LABELS_PER_SEARCH = 50


async def find_by_labels(jira: JiraClient, project_key: str, labels: list[str]) -> dict:
    """{label (lower-case): issue} for issues carrying any of `labels`; the oldest wins.
    The JQL names the project too: Jira wants searches bounded."""
    found: dict[str, dict] = {}
    for i in range(0, len(labels), LABELS_PER_SEARCH):
        quoted = ", ".join(f'"{label}"' for label in labels[i : i + LABELS_PER_SEARCH])
        jql = f'project = "{project_key}" AND labels in ({quoted}) ORDER BY created ASC'
        for issue in await jira.search_issues(jql, fields=["labels"]):
            for label in (issue.get("fields") or {}).get("labels") or []:
                current = found.get(label.lower())
                if current is None or int(issue["id"]) < int(current["id"]):
                    found[label.lower()] = issue
    return found
