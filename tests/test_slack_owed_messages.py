"""A message owed to Slack survives Slack's errors: a completion notice and the summary
refresh that goes with it are tried again through 500 and 429 (after its Retry-After)
answers, the notice is marked sent only once Slack took it, and it is posted once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from freezegun import freeze_time

from bot import notifier
from bot.jira.deliveries import OWED_AFTER, send_owed_notices
from bot.runtime import Runtime
from storage.retro_queries import retro_by_id, set_summary_owed
from tests.flows_retro import add_item, start_retro, summary_message, wait_for_line
from tests.flows_webhooks import (
    after_marker,
    lines_about,
    run_in_process,
    run_in_processes,
    status_notices,
    synced_items,
    token_webhook,
    wait_for_thread,
)
from tests.harness import free_port
from tests.held_pace import HeldPace, complete_item, summary_edits
from tests.waiting import wait_until


@pytest.fixture
def hook(app, slack, slack_emulator, db, team, site):
    return token_webhook(app, slack, slack_emulator, db, team, site)


def _settled(slack_emulator, db, team, items) -> None:
    """Wait until the commit's own messages are out, so the faults below meet the
    completion notice and nothing else: the sync engine's "Created" reply in the retro's
    thread and the summary counting the items in Jira are the last the commit sends (the
    items have no owner, so no DM goes out)."""
    wait_for_thread(slack_emulator, db, team, items[0].retro_id, "Created ")
    in_jira = f"· {len(items)} in Jira)"
    slack_emulator.wait_for(
        lambda: in_jira in summary_message(slack_emulator, team).text,
        message=f"the summary saying {in_jira!r}",
    )


def _fail_then_rate_limit(slack_emulator, team, method: str) -> None:
    slack_emulator.fail(method, status=500, team_id=team.team_id)
    slack_emulator.fail(method, status=429, retry_after=1, team_id=team.team_id)


def test_a_completion_notice_and_summary_refresh_ride_out_500_and_429(
    slack, slack_emulator, db, team, site, hook
):
    [item, marker] = synced_items(slack, slack_emulator, db, team, "Fix the deploy", "Docs")
    _settled(slack_emulator, db, team, [item, marker])
    _fail_then_rate_limit(slack_emulator, team, "chat.postMessage")
    _fail_then_rate_limit(slack_emulator, team, "chat.update")
    posts_before = len(slack_emulator.calls_to("chat.postMessage"))

    [delivery] = site.transition(item.key, "Done", by=hook.jira_user)

    assert delivery.status == 202, delivery.response_text
    [text] = wait_for_thread(slack_emulator, db, team, item.retro_id, " finished ")
    assert item.key in text
    # The summary shows it too: its chat.update got through in the end.
    _, line = wait_for_line(slack_emulator, team, "done in Jira by Ana Lima", timeout=10)
    assert line.startswith("✅") and "Fix the deploy" in line
    tried = [
        c
        for c in slack_emulator.calls_to("chat.postMessage")[posts_before:]
        if " finished " in str(c.args.get("text"))
    ]
    assert len(tried) == 3  # 500, 429, then accepted
    after_marker(slack_emulator, db, team, site, hook, marker)
    assert len(lines_about(slack_emulator, db, team, item)) == 1
    # Each notice is marked sent once Slack took it (just after its line shows).
    owed = (
        "SELECT count(*) FROM webhook_deliveries WHERE workspace_id = :w "
        "AND notice IS NOT NULL AND notified_at IS NULL"
    )
    wait_until(lambda: db.scalar(owed, w=team.workspace_id) == 0, "both notices marked sent")


def test_a_notice_slack_keeps_refusing_stays_owed_and_goes_out_once_later(
    app, slack, slack_emulator, db, team, site, hook
):
    [item] = synced_items(slack, slack_emulator, db, team, "Rotate the keys")
    _settled(slack_emulator, db, team, [item])
    slack_emulator.fail("chat.postMessage", status=503, times=None, team_id=team.team_id)

    site.transition(item.key, "Done", by=hook.jira_user)

    owed = (
        "SELECT count(*) FROM webhook_deliveries WHERE workspace_id = :w "
        "AND notice IS NOT NULL AND notified_at IS NULL"
    )

    def attempts():
        return [
            c
            for c in slack_emulator.calls_to("chat.postMessage")
            if c.team_id == team.team_id and " finished " in str(c.args)
        ]

    wait_until(lambda: len(attempts()) >= 5, "every attempt to fail", timeout=20)
    wait_until(lambda: db.scalar(owed, w=team.workspace_id) == 1, "the claim given back", timeout=5)
    assert status_notices(slack_emulator, db, team, item.retro_id) == []

    slack_emulator.clear_faults()  # Slack is back; the recovery job finds what is owed
    # Later. The clock moves for this process only: the app's own minute run, on the real
    # clock, does not find the notice owed before the test's run does.
    with freeze_time(datetime.now(UTC) + OWED_AFTER * 1.5, tick=True):
        assert run_in_process(app, send_owed_notices) == 1
        assert run_in_process(app, send_owed_notices) == 0
    assert len(status_notices(slack_emulator, db, team, item.retro_id)) == 1
    assert db.scalar(owed, w=team.workspace_id) == 0


def test_a_summary_slack_refuses_past_the_retries_stays_owed_and_ends_up_true(
    app, slack, slack_emulator, db, team
):
    """chat.update fails 6 times: the refresh's 5 tries give up, the summary stays owed,
    and the next run of the owed-summary job shows what the database says."""
    start_retro(slack, slack_emulator, team, "Owed summary")
    item_id = add_item(slack, slack_emulator, team, "Old wording")
    retro_id = db.scalar("SELECT retro_id FROM action_items WHERE id = :i", i=item_id)
    db.execute("UPDATE action_items SET title = 'New wording' WHERE id = :i", i=item_id)
    slack_emulator.fail("chat.update", status=500, times=6, team_id=team.team_id)

    async def refresh(runtime):
        await notifier.refresh_retro(runtime, team.workspace_id, retro_id)

    run_in_process(app, refresh)
    owed = "SELECT summary_owed_at FROM retros WHERE id = :r"
    assert db.scalar(owed, r=retro_id) is not None
    assert wait_for_line(slack_emulator, team, "Old wording")  # Slack still shows the old
    # At once, the job leaves it: so young a mark may be a live edit's (the test below).
    assert run_in_process(app, notifier.refresh_owed_summaries) == 0

    # Later, on this process's clock only (see above).
    with freeze_time(datetime.now(UTC) + OWED_AFTER * 1.5, tick=True):
        assert run_in_process(app, notifier.refresh_owed_summaries) == 1
    wait_for_line(slack_emulator, team, "New wording")
    assert db.scalar(owed, r=retro_id) is None


def _retro(slack, slack_emulator, db, team, *titles: str) -> tuple[int, str, list[int]]:
    """A retro not sent to Jira (nothing else edits its summary), with these items: its id,
    its summary's ts and the items' ids."""
    title = "Retro " + uuid.uuid4().hex[:4]
    start_retro(slack, slack_emulator, team, title)
    ids = [add_item(slack, slack_emulator, team, name) for name in titles]
    ts = summary_message(slack_emulator, team, title=title).ts
    retro_id = db.scalar("SELECT retro_id FROM action_items WHERE id = :i", i=ids[0])
    return retro_id, ts, ids


async def _mark_owed(runtime, team, retro_id: int) -> datetime:
    """Marks the summary owed now, as the app marks it (so stored as the app stores it)."""
    at = datetime.now(UTC)
    async with runtime.sessions.begin() as session:
        await set_summary_owed(session, team.workspace_id, retro_id, at)
    return at


async def _owed_at(runtime, team, retro_id: int) -> datetime | None:
    async with runtime.sessions() as session:
        return (await retro_by_id(session, team.workspace_id, retro_id)).summary_owed_at


def _owed_since(db, retro_id: int) -> datetime | None:
    """The summary's owed mark as a UTC datetime (SQLite hands back its text)."""
    value = db.scalar("SELECT summary_owed_at FROM retros WHERE id = :r", r=retro_id)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


def test_a_summary_owed_by_a_waiting_trailing_edit_is_left_to_that_edit(
    app, slack, slack_emulator, db, team
):
    """A trailing edit marks its summary owed while it waits out the pace (for a process
    that dies meanwhile). Another process's owed-summary job knows nothing of that wait:
    it leaves so young a mark alone, and the summary is edited once, by the trailing
    edit, not once more in the middle of the burst."""
    retro_id, ts, ids = _retro(slack, slack_emulator, db, team, "Alpha", "Bravo")
    owed = "SELECT summary_owed_at FROM retros WHERE id = :r"
    held = HeldPace()

    async def burst(runtime):
        pace = held.install(runtime)
        ws, first = team.workspace_id, summary_edits(slack_emulator, ts)
        for item_id in ids:  # the first edits at once, the second waits its turn
            await complete_item(runtime, item_id)
            await notifier.refresh_items(runtime, ws, [item_id], paced=True)
        await slack_emulator.async_wait_for(
            lambda: db.scalar(owed, r=retro_id) is not None, message="the summary owed"
        )
        other = Runtime.build(runtime.settings)  # another process, on the same database
        try:
            tried = await notifier.refresh_owed_summaries(other)
        finally:
            await other.close()
        during = summary_edits(slack_emulator, ts) - first
        held.release()
        await asyncio.gather(*pace.tasks)
        return tried, during, summary_edits(slack_emulator, ts) - first

    assert run_in_process(app, burst) == (0, 1, 2)
    assert db.scalar(owed, r=retro_id) is None  # the trailing edit was sent


def test_a_render_clears_the_owed_mark_it_read_and_not_a_newer_one(
    app, slack, slack_emulator, db, team
):
    """A render that read its summary owed clears the mark once Slack took the edit, but
    only the mark it read: one written while its chat.update was out (an edit deferred
    meanwhile, in this process or another) stays, so should that edit's process die, the
    job still sends it. Ordered by events: Slack answers the render only once the newer
    mark is written."""
    retro_id, ts, _ = _retro(slack, slack_emulator, db, team, "Alpha")
    edits = summary_edits(slack_emulator, ts)
    answer = slack_emulator.hold("chat.update", team_id=team.team_id)

    async def render(runtime):
        older = await _mark_owed(runtime, team, retro_id)  # young: the app's job leaves it
        rendering = asyncio.create_task(
            notifier.refresh_retro(runtime, team.workspace_id, retro_id)
        )
        await slack_emulator.async_wait_for(
            lambda: summary_edits(slack_emulator, ts) > edits, message="the render's edit"
        )
        # The render read the older mark and waits for Slack: a deferred edit marks anew.
        newer = await _mark_owed(runtime, team, retro_id)
        answer.set()
        await rendering
        return older, newer

    older, newer = run_in_process(app, render)
    assert older < newer
    assert run_in_process(app, _owed_at, team, retro_id) == newer  # as the app reads it


@pytest.mark.parametrize("refusal", ["message_not_found", "uninstalled"])
def test_a_summary_no_retry_can_show_is_owed_no_more(refusal, app, slack, slack_emulator, db, team):
    """Slack refuses the summary's edit for good (its message deleted), or the app was
    uninstalled: the summary is owed no more. It stayed owed, so the job tried it every
    minute for ever (the uninstalled workspace's oldest first, ahead of every summary owed
    after it, since its mark never moved)."""
    retro_id, ts, _ = _retro(slack, slack_emulator, db, team, "Alpha")
    owed = "SELECT summary_owed_at FROM retros WHERE id = :r"
    run_in_process(app, _mark_owed, team, retro_id)
    edits = summary_edits(slack_emulator, ts)
    if refusal == "uninstalled":
        db.execute("UPDATE workspaces SET bot_token_enc = NULL WHERE id = :w", w=team.workspace_id)
    else:
        slack_emulator.fail("chat.update", error=refusal, times=None, team_id=team.team_id)

    async def refresh(runtime):
        await notifier.refresh_retro(runtime, team.workspace_id, retro_id)

    run_in_process(app, refresh)
    assert db.scalar(owed, r=retro_id) is None
    # Refused once, not retried (nothing was sent at all once uninstalled).
    assert summary_edits(slack_emulator, ts) - edits == (refusal != "uninstalled")


def test_a_summary_whose_refresh_cannot_reach_slack_stays_owed(
    app, slack, slack_emulator, db, team
):
    """Slack not reached at all (connection refused on every try): the refresh gives up
    after its tries, logged, and the summary stays owed. The connection error used to be
    raised out of the refresh, into the sync or webhook that asked for it, and the
    summary was not marked owed: nothing would ever show the change."""
    retro_id, _, _ = _retro(slack, slack_emulator, db, team, "Alpha")
    owed = "SELECT summary_owed_at FROM retros WHERE id = :r"
    nowhere = f"http://127.0.0.1:{free_port()}/api/"  # nothing listens there

    async def refresh(runtime):
        return await notifier.refresh_retro(runtime, team.workspace_id, retro_id)

    [shown] = run_in_processes(app, refresh, env={"SLACK_API_URL": nowhere})
    assert shown is False
    assert db.scalar(owed, r=retro_id) is not None


def _tries(slack_emulator, team, method: str, text: str, since: int) -> list:
    return [
        c
        for c in slack_emulator.calls_to(method)[since:]
        if c.team_id == team.team_id and text in str(c.args)
    ]


@pytest.mark.parametrize("header", ["1.5", "soon", "-3"])
def test_a_retry_after_slack_never_sends_is_waited_out_and_the_messages_go_out(
    header, slack, slack_emulator, db, team, site, hook
):
    """A 429 whose Retry-After is a fraction, a word or negative (a proxy's, say). slack_sdk
    read it with int(): the first two raised ValueError out of the call, which is no
    SlackApiError, so the summary's refresh was neither retried nor kept owed; a negative
    one was retried at once. Each is now a 429 like any other: waited out (at least a
    second), then retried, and both the notice and the summary go out."""
    [item, marker] = synced_items(slack, slack_emulator, db, team, "Fix the deploy", "Docs")
    _settled(slack_emulator, db, team, [item, marker])
    for method in ("chat.postMessage", "chat.update"):
        slack_emulator.fail(method, status=429, retry_after=header, team_id=team.team_id)
    posts, updates = (len(slack_emulator.calls_to(m)) for m in ("chat.postMessage", "chat.update"))

    [delivery] = site.transition(item.key, "Done", by=hook.jira_user)

    assert delivery.status == 202, delivery.response_text
    wait_for_thread(slack_emulator, db, team, item.retro_id, " finished ")
    _, line = wait_for_line(slack_emulator, team, "done in Jira by Ana Lima")
    assert line.startswith("✅") and "Fix the deploy" in line
    tried = _tries(slack_emulator, team, "chat.postMessage", " finished ", posts)
    assert [c.status for c in tried] == [429, 200]
    assert tried[1].time - tried[0].time >= 1.0
    refused = [c for c in slack_emulator.calls_to("chat.update")[updates:] if c.status == 429]
    assert len(refused) == 1


def test_a_retry_after_of_a_day_holds_no_sender_and_the_messages_stay_owed(
    app, slack, slack_emulator, db, team, site, hook
):
    """A 429 asking for a day. slack_sdk slept through it inside the call: the sender of the
    notice held its claim all that time (and past NOTICE_LEASE another process would post
    it too), the summary's refresh the same. Now the 429 comes back at once: the notice's
    claim is given back and the summary marked owed, and their jobs send both later."""
    [item] = synced_items(slack, slack_emulator, db, team, "Rotate the keys")
    _settled(slack_emulator, db, team, [item])
    for method in ("chat.postMessage", "chat.update"):
        slack_emulator.fail(method, status=429, retry_after="86400", team_id=team.team_id)
    posts = len(slack_emulator.calls_to("chat.postMessage"))
    updates = len(slack_emulator.calls_to("chat.update"))

    site.transition(item.key, "Done", by=hook.jira_user)

    given_back = (
        "SELECT count(*) FROM webhook_deliveries WHERE workspace_id = :w "
        "AND notice IS NOT NULL AND notified_at IS NULL AND notice_claimed_at IS NULL"
    )
    wait_until(
        lambda: _tries(slack_emulator, team, "chat.postMessage", " finished ", posts),
        "the notice refused",
    )
    wait_until(lambda: db.scalar(given_back, w=team.workspace_id) == 1, "the claim given back")
    assert len(_tries(slack_emulator, team, "chat.postMessage", " finished ", posts)) == 1
    owed_summary = "SELECT summary_owed_at FROM retros WHERE id = :r"
    # Owed by the refusal, not only by a trailing edit's wait before it (that mark, older,
    # the trailing edit clears once it is sent: the refusal's would then stay, newer).
    refused = wait_until(
        lambda: next(
            (c for c in slack_emulator.calls_to("chat.update")[updates:] if c.status == 429),
            None,
        ),
        "the summary's edit refused",
    )
    refused_at = datetime.fromtimestamp(refused.time, UTC)
    wait_until(
        lambda: (_owed_since(db, item.retro_id) or refused_at) > refused_at,
        "the summary owed since the refusal",
    )

    # Later, on this process's clock only (see above): each job sends what is owed, once.
    with freeze_time(datetime.now(UTC) + OWED_AFTER * 1.5, tick=True):
        assert run_in_process(app, send_owed_notices) == 1
        assert run_in_process(app, send_owed_notices) == 0
        run_in_process(app, notifier.refresh_owed_summaries)
    assert len(status_notices(slack_emulator, db, team, item.retro_id)) == 1
    wait_for_line(slack_emulator, team, "done in Jira by Ana Lima")
    assert db.scalar(owed_summary, r=item.retro_id) is None
