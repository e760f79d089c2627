"""The Sync Log as Block Kit: `/jira log` (recent attempts and failures, each failure with
Retry) and App Home's admin section (failures with title, error, time, Retry)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.views import sync_ids as ids
from bot.views.blocks import (
    MESSAGE_BLOCKS_MAX,
    button,
    clip,
    context,
    distinct_names,
    escape,
    header,
    section,
)
from bot.views.words import plural

ERROR_MAX = 500
FAILURES_IN_MESSAGE = 15
ATTEMPTS_IN_MESSAGE = 20
FAILURES_IN_HOME = 8
OUTCOME_MARKS = {"ok": "✅", "retrying": "🔁", "failed": "⚠️"}


@dataclass(frozen=True)
class Failure:
    item_id: int
    title: str
    error: str
    at: datetime | None
    jira_key: str | None


@dataclass(frozen=True)
class Attempt:
    at: datetime
    operation: str
    outcome: str
    attempt: int
    title: str | None
    jira_key: str | None
    message: str | None


def when(at: datetime | None) -> str:
    """A time each reader sees in their own time zone (Slack date formatting)."""
    if at is None:
        return "some time ago"
    stamp = int(at.timestamp())
    fallback = at.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{stamp}^{{date_short_pretty}} {{time}}|{fallback}>"


def failure_block(failure: Failure, prefix: str) -> dict:
    key = f" ({failure.jira_key})" if failure.jira_key else ""
    text = (
        f"⚠️ *{escape(clip(failure.title, 200))}*{escape(key)}\n"
        f"{escape(clip(failure.error, ERROR_MAX))}\n_{when(failure.at)}_"
    )
    return section(
        text,
        block_id=f"{prefix}{failure.item_id}",
        accessory=button("Retry", ids.RETRY_ITEM, str(failure.item_id), label_for=failure.title),
    )


def attempt_line(attempt: Attempt) -> str:
    mark = OUTCOME_MARKS.get(attempt.outcome, "•")
    what = f"{attempt.operation} {attempt.jira_key or ''}".strip()
    title = f" · {escape(clip(attempt.title, 80))}" if attempt.title else ""
    detail = ""
    if attempt.message:
        # Why it failed, or what an admin should know of one that went: which value a
        # conflict kept, which assignee's email matched no Jira account (ephemeral here).
        detail = f" · {escape(clip(attempt.message, 150))}"
    return f"{mark} {when(attempt.at)} · {what}{title}{detail}"


def log_message(failures: Sequence[Failure], failed_total: int, attempts: Sequence[Attempt]):
    """The ephemeral reply to /jira log."""
    blocks = [header("Sync Log")]
    if failures:
        blocks.append(section(f"*{plural(failed_total, 'action item')} didn't reach Jira*"))
        blocks += [failure_block(f, ids.LOG_FAILURE_PREFIX) for f in failures]
        if failed_total > len(failures):
            more = failed_total - len(failures)
            blocks.append(context(f"…and {more} more. `/jira retry` retries them all."))
    else:
        blocks.append(section("*No failed syncs.* Every action item reached Jira."))
    if attempts:
        blocks.append(section("*Recent attempts*"))
        lines = [attempt_line(a) for a in attempts]
        for i in range(0, len(lines), 10):  # a context block holds at most 10 elements
            blocks.append(context(*lines[i : i + 10]))
    else:
        blocks.append(context("No sync attempts yet."))
    text = (
        f"Sync Log: {plural(failed_total, 'action item')} didn't reach Jira, "
        f"{plural(len(attempts), 'recent attempt')}."
    )
    return {"text": text, "blocks": distinct_names(blocks[:MESSAGE_BLOCKS_MAX])}


def home_section(failures: Sequence[Failure], failed_total: int) -> list[dict]:
    """App Home (admins): the failures, each with Retry; nothing at all when there are none."""
    if not failures:
        return []
    blocks = [header("Sync Log")]
    blocks += [failure_block(f, ids.HOME_FAILURE_PREFIX) for f in failures]
    if failed_total > len(failures):
        more = failed_total - len(failures)
        blocks.append(context(f"…and {more} more. `/jira retry` retries every failed sync."))
    return blocks


def retried_all_text(count: int) -> str:
    if count == 0:
        return "Every action item reached Jira or is on its way, so there's nothing to retry."
    items = plural(count, "action item")
    return f"Trying {items} again. Their lines show the Jira key as each arrives."
