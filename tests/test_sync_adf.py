"""Slack mrkdwn → ADF (bot/jira/adf.py), the field mapping (bot/jira/fields.py) and the
backoff schedule: pure functions, checked against the Jira emulator's ADF validator."""

from __future__ import annotations

import random
from datetime import date

import pytest

from bot.jira.adf import mrkdwn_to_adf, plain_text
from bot.jira.fields import IssueContext, Target, create_fields, summary, update_fields
from bot.sync.backoff import (
    MAX_RETRIES,
    RETRY_AFTER_MAX,
    retries_left,
    retry_after_seconds,
    retry_delay,
)
from storage.models import ActionItem
from tests.fakes.jira.adf import validate_adf


def inline(doc: dict) -> list[dict]:
    return doc["content"][0]["content"]


def texts_with_marks(doc: dict) -> list[tuple[str, tuple[str, ...]]]:
    out = []

    def walk(node):
        if node.get("type") == "text":
            out.append((node["text"], tuple(m["type"] for m in node.get("marks", []))))
        for child in node.get("content") or []:
            walk(child)

    walk(doc)
    return out


def test_inline_formatting_maps_to_marks():
    doc = mrkdwn_to_adf("*bold* _it_ ~gone~ `code` <https://x.io|site> <@U1> done")
    validate_adf(doc)
    assert texts_with_marks(doc) == [
        ("bold", ("strong",)),
        (" ", ()),
        ("it", ("em",)),
        (" ", ()),
        ("gone", ("strike",)),
        (" ", ()),
        ("code", ("code",)),
        (" ", ()),
        ("site", ("link",)),
        (" @U1 done", ()),
    ]


def test_mentions_use_display_names_when_known():
    doc = mrkdwn_to_adf("ask <@U1> and <@U2|bob>", names={"U1": "Ana Lima"})
    assert texts_with_marks(doc) == [("ask @Ana Lima and @bob", ())]


def test_blocks_lists_quotes_and_code():
    doc = mrkdwn_to_adf("Steps:\n• one\n• two\n&gt; a quote\nnot quoted\n```\nx = 1\ny = 2\n```")
    validate_adf(doc)
    kinds = [node["type"] for node in doc["content"]]
    assert kinds == ["paragraph", "bulletList", "blockquote", "paragraph", "codeBlock"]
    assert doc["content"][-1]["content"][0]["text"] == "x = 1\ny = 2"


def test_line_breaks_become_hard_breaks_and_entities_are_decoded():
    doc = mrkdwn_to_adf("a &amp; b\nc &lt;d&gt;")
    assert [n["type"] for n in inline(doc)] == ["text", "hardBreak", "text"]
    assert inline(doc)[0]["text"] == "a & b" and inline(doc)[2]["text"] == "c <d>"


def test_code_inside_bold_keeps_only_the_code_mark():
    doc = mrkdwn_to_adf("*see `make test` now*")
    validate_adf(doc)
    assert ("make test", ("code",)) in texts_with_marks(doc)


def test_bare_urls_become_links_without_trailing_punctuation():
    doc = mrkdwn_to_adf("see https://ci.example.com/run?a=1&amp;b=2.")
    link = inline(doc)[1]
    assert link["marks"][0]["attrs"]["href"] == "https://ci.example.com/run?a=1&b=2"
    assert inline(doc)[-1]["text"] == "."


def test_appended_links_and_empty_descriptions():
    doc = mrkdwn_to_adf("", links=[("From the retro: ", "Sprint 42", "https://s/p")])
    validate_adf(doc)
    assert doc["content"] == [
        {
            "type": "paragraph",
            "content": [
                {"type": "text", "text": "From the retro: "},
                {
                    "type": "text",
                    "text": "Sprint 42",
                    "marks": [{"type": "link", "attrs": {"href": "https://s/p"}}],
                },
            ],
        }
    ]
    assert mrkdwn_to_adf(None) == {"version": 1, "type": "doc", "content": []}


@pytest.mark.parametrize(
    "text",
    [
        "*",
        "**",
        "* *",
        "_",
        "~~",
        "``",
        "``````",
        "```",
        "<>",
        "<|>",
        "<@>",
        "<http://>",
        "- \n- ",
        "1.",
        "> ",
        "&gt;",
        "- > q",
        "> - a\n> > b",
        "*a _b* c_",
        "`a *b` c*",
        "\n\n\n",
        "\t",
        "x\u200b",
    ],
)
def test_awkward_input_still_gives_valid_adf(text):
    validate_adf(mrkdwn_to_adf(text, links=[("L: ", "t", "https://x")]))


def test_random_mrkdwn_always_gives_valid_adf():
    pieces = [
        "*", "_", "~", "`", "```", "<", ">", "|", "@", "&gt;", "&amp;", "• ", "- ", "1. ",
        "> ", "\n", "\n\n", " ", "word", "https://x.io/a_b", "<https://y.io|y>", "<@U9>",
        "<!here>", "<#C1|gen>", "\t", "é", "😀",
    ]  # fmt: skip
    rng = random.Random(5)
    for _ in range(2000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 25)))
        try:
            validate_adf(mrkdwn_to_adf(text))
        except Exception as exc:
            raise AssertionError(f"invalid ADF for {text!r}: {exc}") from exc


def test_plain_text_drops_the_markup():
    assert plain_text("*Fix* the _deploy_ <https://x|now>") == "Fix the deploy now"


def item(**values) -> ActionItem:
    base = dict(
        id=1,
        title="Fix the deploy",
        description="Why: *flaky*",
        due_date=date(2030, 1, 31),
        sync_label="unpack-0123456789ab",
        source_permalink=None,
        revision=1,
    )
    return ActionItem(**{**base, **values})


def test_create_fields_follow_the_spec_mapping():
    target = Target("10000", "TEAM", "10001", "Task")
    context = IssueContext(
        retro_title="Sprint 42",
        retro_permalink="https://acme.slack.com/archives/C1/p1",
        assignee_account_id="acc-1",
        epic_issue_id="10050",
    )
    fields = create_fields(item(), target, context)
    validate_adf(fields["description"])
    assert fields["project"] == {"id": "10000"} and fields["issuetype"] == {"id": "10001"}
    assert fields["summary"] == "Fix the deploy"
    assert fields["assignee"] == {"accountId": "acc-1"}
    assert fields["duedate"] == "2030-01-31"
    assert fields["labels"] == ["unpack-0123456789ab", "unpack-for-slack"]
    assert fields["parent"] == {"id": "10050"}
    last = fields["description"]["content"][-1]["content"]
    assert last[1]["marks"][0]["attrs"]["href"] == "https://acme.slack.com/archives/C1/p1"


def test_update_fields_clear_what_was_removed_in_slack():
    fields = update_fields(item(due_date=None, description=None), IssueContext())
    assert fields["assignee"] is None and fields["duedate"] is None
    assert set(fields) == {"summary", "description", "assignee", "duedate"}


def test_summaries_are_one_line_of_at_most_255_characters():
    assert summary("a\nb  c") == "a b c"
    assert len(summary("x" * 300)) == 255
    assert summary("   ") == "Action item"


class PinnedJitter:
    """A random source whose uniform(lo, hi) always lands at `share` of the way."""

    def __init__(self, share: float) -> None:
        self.share = share

    def uniform(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * self.share


def test_backoff_doubles_with_jitter_and_honours_retry_after():
    rng = random.Random(1)
    delays = [retry_delay(n, 30, rng=rng) for n in (1, 2, 3)]
    for delay, expected in zip(delays, (30, 60, 120), strict=True):
        assert 0.75 * expected <= delay <= 1.25 * expected
    assert retry_delay(1, 30, retry_after=90, rng=rng) >= 90


def test_backoff_delays_are_exact_once_the_jitter_is_pinned():
    def delays(share: float) -> list[float]:
        return [retry_delay(n, 30, rng=PinnedJitter(share)) for n in (1, 2, 3, 4)]

    assert delays(0.5) == [30, 60, 120, 240]  # no jitter: doubling from the base
    assert delays(0.0) == [22.5, 45, 90, 180]  # the low end of ±25 %
    assert delays(1.0) == [37.5, 75, 150, 300]  # the high end
    assert retry_delay(1, 30, retry_after=90, rng=PinnedJitter(0.5)) == 90
    assert retry_delay(3, 30, retry_after=10, rng=PinnedJitter(0.5)) == 120
    assert [retries_left(n) for n in range(1, MAX_RETRIES + 2)] == [True, True, True, False]


def test_backoff_stops_growing_at_its_cap_but_never_cuts_a_retry_after():
    pinned = PinnedJitter(0.5)
    assert [retry_delay(n, 30, cap=900, rng=pinned) for n in (5, 6, 7)] == [480, 900, 900]
    assert retry_delay(10_000, 30, cap=900, rng=pinned) == 900  # no overflow however long
    assert retry_delay(9, 30, retry_after=3600, cap=900, rng=pinned) == 3600


def test_a_retry_after_is_read_the_same_from_jira_and_slack():
    """Seconds, fractions kept; a negative as none; an hour at most; a word, NaN or an
    HTTP date as no Retry-After (the caller's own backoff then)."""
    read = {
        value: retry_after_seconds(value)
        for value in ("2", "1.5", "0", "-3", "1e12", "inf", "soon", "nan", "", None)
    }
    assert read == {
        "2": 2.0,
        "1.5": 1.5,
        "0": 0.0,
        "-3": 0.0,
        "1e12": RETRY_AFTER_MAX,
        "inf": RETRY_AFTER_MAX,
        "soon": None,
        "nan": None,
        "": None,
        None: None,
    }
    assert retry_after_seconds("Wed, 21 Oct 2026 07:28:00 GMT") is None
