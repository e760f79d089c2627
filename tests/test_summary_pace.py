"""A retro's summary is edited at Slack's pace for chat.update (Tier 3): a change after a
quiet spell shows at once, a burst of changes edits the summary at most once per
SUMMARY_EVERY, and the last edit, rendered when it is sent, shows every final state. And
what a burst pays per summary and per thread line: one connection each."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from sqlalchemy import event

from bot import notifier
from bot.summary_pace import SUMMARY_EVERY, UPDATES_AT_ONCE, SummaryPace
from bot.workspaces import workspace_client
from tests.flows_retro import add_item, item_lines, start_retro, summary_message
from tests.flows_webhooks import notice_lines, run_in_process, synced_items, token_webhook
from tests.held_pace import HeldPace, complete_item, summary_edits

BURST = 10  # Jira changes to one retro, each in a send of its own


@pytest.fixture
def hook(app, slack, slack_emulator, db, team, site):
    return token_webhook(app, slack, slack_emulator, db, team, site)


def summary_ts(db, retro_id: int) -> str:
    return db.scalar("SELECT summary_ts FROM retros WHERE id = :r", r=retro_id)


def done_ids(slack_emulator, team, retro_title: str) -> set[int]:
    lines = item_lines(summary_message(slack_emulator, team, title=retro_title))
    return {item_id for item_id, line in lines.items() if line.startswith("✅")}


def quiet_retro(slack, slack_emulator, db, team, *titles: str):
    """Synced items of a new retro, once its summary shows their issues (the commit's last
    edit is out: none comes after it unasked) and its title."""
    items = synced_items(slack, slack_emulator, db, team, *titles)
    title = db.scalar("SELECT title FROM retros WHERE id = :r", r=items[0].retro_id)

    def keys_shown() -> bool:
        lines = item_lines(summary_message(slack_emulator, team, title=title))
        return all(item.key in lines.get(item.id, "") for item in items)

    slack_emulator.wait_for(keys_shown, message="the summary to show the issues")
    return items, title


def test_a_burst_edits_the_summary_at_its_pace_and_the_last_edit_shows_it_all(
    slack, slack_emulator, db, team, site, hook
):
    items, title = quiet_retro(slack, slack_emulator, db, team, "One", "Two", "Three")
    retro = items[0].retro_id
    ts = summary_ts(db, retro)
    # Three Done, three To Do, three Done, one To Do: each item's last move decides.
    moves = [(items[n % 3], "Done" if n // 3 % 2 == 0 else "To Do") for n in range(BURST)]
    final_done = {item.id: status == "Done" for item, status in moves}
    before, began = summary_edits(slack_emulator, ts), time.monotonic()

    for n, (item, status) in enumerate(moves, 1):
        site.transition(item.key, status, by=hook.jira_user)
        # Its thread line is out: the next change goes out in a later send.
        slack_emulator.wait_for(
            lambda n=n: len(notice_lines(slack_emulator, db, team, retro)) >= n,
            message=f"{n} status lines",
        )

    want = {item_id for item_id, done in final_done.items() if done}
    slack_emulator.wait_for(
        lambda: done_ids(slack_emulator, team, title) == want, message="the final states"
    )
    ended = time.monotonic()
    edits = summary_edits(slack_emulator, ts) - before
    # Edits begin SUMMARY_EVERY apart (one more for an edit the commit may still owe):
    # once a send (a second or so apart), as before the pace, is more.
    assert 1 <= edits <= 2 + (ended - began) / SUMMARY_EVERY, (edits, ended - began)
    # Owed while its trailing edit waited (for a process that dies meanwhile), no more.
    slack_emulator.wait_for(
        lambda: db.scalar("SELECT summary_owed_at IS NULL FROM retros WHERE id = :r", r=retro),
        message="the summary no longer owed",
    )


def test_a_lone_change_shows_at_once_and_a_quick_second_one_in_one_trailing_edit(
    app, slack, slack_emulator, db, team
):
    """Driven here with the test's clock: the first refresh edits at once, the next two
    within SUMMARY_EVERY make one trailing edit a pace later, showing both. (A retro not
    sent to Jira: nothing else edits its summary meanwhile.)"""
    title = "Retro " + uuid.uuid4().hex[:4]
    start_retro(slack, slack_emulator, team, title)
    ids = [add_item(slack, slack_emulator, team, name) for name in ("Alpha", "Bravo", "Charlie")]
    ts = summary_message(slack_emulator, team, title=title).ts
    held = HeldPace()

    async def changes(runtime):
        pace = held.install(runtime)
        ws, edits = team.workspace_id, lambda: summary_edits(slack_emulator, ts)
        first = edits()
        await complete_item(runtime, ids[0])
        await notifier.refresh_items(runtime, ws, [ids[0]], paced=True)
        lone = edits() - first  # edited before refresh_items returned, without a wait
        assert (lone, held.slept) == (1, [])
        for item_id in ids[1:]:
            await complete_item(runtime, item_id)
            await notifier.refresh_items(runtime, ws, [item_id], paced=True)
        assert edits() - first == 1  # both wait for their trailing edit
        held.release()
        await asyncio.gather(*pace.tasks)
        return edits() - first, list(held.slept)

    edited, waited = run_in_process(app, changes)

    assert edited == 2 and waited == [pytest.approx(SUMMARY_EVERY)]
    assert done_ids(slack_emulator, team, title) == set(ids)
    # The trailing edit read the last item done: the thread says so, once.
    thread = [m.text for m in slack_emulator.thread(team.channel, ts, team_id=team.team_id)]
    assert sum("All 3 action items" in text for text in thread) == 1, thread


def test_a_summary_and_a_thread_line_each_read_through_one_connection(
    app, slack, slack_emulator, db, team
):
    """A render reads the retro, its items, where they go and what it carries over in one
    session, and a thread line its place and tally in one statement: in a burst every
    connection checkout is work on the event loop (and, past the pool, a new thread)."""
    title = "Retro " + uuid.uuid4().hex[:4]
    start_retro(slack, slack_emulator, team, title)
    add_item(slack, slack_emulator, team, "Alpha")
    retro_id = db.scalar(
        "SELECT id FROM retros WHERE workspace_id = :w AND title = :t",
        w=team.workspace_id,
        t=title,
    )

    async def render(runtime):
        ws, checkouts = team.workspace_id, []
        client = await workspace_client(runtime, ws)  # the sender reads it once per send
        event.listen(runtime.engine.sync_engine, "checkout", lambda *_: checkouts.append(1))
        await notifier.refresh_retro(runtime, ws, retro_id)
        rendered = len(checkouts)
        await notifier.post_status_notices(runtime, ws, retro_id, ["a line"], client=client)
        return rendered, len(checkouts) - rendered

    assert run_in_process(app, render) == (1, 1)


def test_a_workspace_gets_its_budget_of_edits_at_once_then_its_rate():
    """Many retros of one workspace: UPDATES_AT_ONCE edits at once, then the rest wait
    for the budget (Tier 3), while another workspace's retros do not."""
    now = [0.0]
    pace = SummaryPace(clock=lambda: now[0])
    for retro_id in range(UPDATES_AT_ONCE):
        assert pace.wait((1, retro_id)) == 0
        pace.edited((1, retro_id))
    assert pace.wait((1, 99)) > 1.0  # one edit a minute's fiftieth: 1.2 s
    assert pace.wait((2, 99)) == 0
    now[0] += 60
    assert pace.wait((1, 99)) == 0 and pace.wait((1, 0)) == 0
