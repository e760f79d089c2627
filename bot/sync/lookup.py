"""Finding issues we may have created: by the unique label each create carries, or, where
the project's create screen has no labels, by the issue property every create sets, checked
on the candidates that Jira's search finds by summary and creation time."""

from __future__ import annotations

import math
import re
from datetime import datetime

from bot.jira.client import JiraClient
from bot.jira.fields import ITEM_PROPERTY, summary
from storage.clock import utcnow

WORDS_SEARCHED = 6
# Jira stores `created` to the minute in JQL; look a little further back than the send.
CREATED_MARGIN_MINUTES = 2

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


def _words(title: str) -> str:
    """The summary's longest words, without JQL text-search operators."""
    words = re.findall(r"[^\W_]+", summary(title))
    longest = sorted(set(words), key=lambda w: (-len(w), w))[:WORDS_SEARCHED]
    return " ".join(longest)


def _minutes_since(sent_at: datetime) -> int:
    return math.ceil((utcnow() - sent_at).total_seconds() / 60) + CREATED_MARGIN_MINUTES


async def find_by_property(
    jira: JiraClient, project_key: str, title: str, label: str, sent_at: datetime
) -> dict | None:
    """The issue created under `label` (an item's, or a retro's epic's), if any: candidates
    with the summary's words created since the create was sent, and the one whose property
    names the label."""
    words = _words(title)
    text = f' AND summary ~ "{words}"' if words else ""
    jql = (
        f'project = "{project_key}"{text} AND created >= -{_minutes_since(sent_at)}m '
        "ORDER BY created ASC"
    )
    issues = await jira.search_issues(jql, fields=["summary"], properties=[ITEM_PROPERTY])
    for issue in issues:
        value = ((issue.get("properties") or {}).get(ITEM_PROPERTY)) or {}
        if isinstance(value, dict) and value.get("label") == label:
            return issue
    return None
