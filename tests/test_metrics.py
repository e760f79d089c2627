"""METRICS_PORT: Prometheus metrics on a port of their own (never the public one), fed by
what the app really did: a commit through Jira faults, and webhook deliveries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.flows_jira import connect_with_oauth
from tests.flows_retro import add_item, commit, start_retro
from tests.flows_sync import sync_app_fixture, wait_for_keys, wait_for_state
from tests.flows_webhooks import post_delivery, token_webhook
from tests.harness import free_port, install_workspace
from tests.waiting import wait_until

METRICS_PORT = free_port()
sync_app = sync_app_fixture(METRICS_PORT=str(METRICS_PORT))


def scrape() -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} from GET /metrics on METRICS_PORT."""
    response = httpx.get(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_answer_on_their_own_port_only(sync_app):
    assert sync_app.app.get("/metrics").status_code == 404
    samples = scrape()
    assert samples and all(name.startswith("unpack_") for name, _ in samples)


def test_a_commit_and_webhook_deliveries_are_counted(sync_app, slack_emulator, jira_emulator, site):
    app, db, slack = sync_app.app, sync_app.db, sync_app.slack
    team = install_workspace(app, slack_emulator, db)
    hook = token_webhook(app, slack, slack_emulator, db, team, site)
    start_retro(slack, slack_emulator, team, "Sprint 9")
    good = add_item(slack, slack_emulator, team, "Fix the deploy")
    refused = add_item(slack, slack_emulator, team, "Refused")
    # Jira refuses this one for good (a label it cannot take); the whole first try is a 503.
    db.execute("UPDATE action_items SET sync_label = 'not a label' WHERE id = :i", i=refused)
    jira_emulator.faults.add("POST", f"/sites/{site.name}/rest/api/3/issue/bulk", "503", times=1)
    commit(slack, slack_emulator, team)
    wait_for_state(db, team, refused, "error", timeout=15)
    row = {r["id"]: r for r in wait_for_keys(db, team, 1, timeout=15)}[good]

    [delivery] = site.transition(row["jira_key"], "Done", by=hook.jira_user)
    assert delivery.status == 202
    assert post_delivery(app, hook.token, delivery.body, delivery.headers).status_code == 200
    forged = {**delivery.headers, "X-Hub-Signature": "sha256=" + "0" * 64}
    assert post_delivery(app, hook.token, delivery.body, forged).status_code == 401

    samples = scrape()
    assert value(samples, "unpack_items_created_total") == 1
    assert value(samples, "unpack_items_failed_total") == 1
    assert value(samples, "unpack_sync_retries_total") == 2  # both items, after the 503
    for outcome in ("accepted", "replayed", "rejected"):
        assert value(samples, "unpack_webhook_deliveries_total", outcome=outcome) == 1, outcome
    assert value(samples, "unpack_jira_requests_total", outcome="server_error") == 1
    jira_total = sum(v for (n, _), v in samples.items() if n == "unpack_jira_requests_total")
    assert value(samples, "unpack_jira_requests_total", outcome="ok") >= 5
    assert value(samples, "unpack_jira_request_seconds_count") == jira_total
    acked = value(samples, "unpack_slack_requests_total", outcome="acked")
    assert acked >= 5  # commands, modal submissions, settings
    assert value(samples, "unpack_slack_ack_seconds_count") >= acked
    assert value(samples, "unpack_slack_api_calls_total", outcome="ok") >= 5
    assert value(samples, "unpack_items_waiting") == 0


def test_atlassian_token_calls_are_counted_with_jira_s_requests(
    sync_app, slack_emulator, jira_emulator, site
):
    """The OAuth code exchange goes through authlib's client, not the Jira client: it is
    counted all the same. Atlassian's token service answers 503 once, the only failing
    answer of the connect."""
    app, db, slack = sync_app.app, sync_app.db, sync_app.slack
    team = install_workspace(app, slack_emulator, db)
    jira_emulator.faults.add("POST", "/auth/oauth/token", "503", times=1)
    exchanges = jira_emulator.token_requests["authorization_code"]
    before = scrape()

    attempt = connect_with_oauth(app, slack, slack_emulator, jira_emulator, team, [site])

    assert "Atlassian" in attempt.page.text and attempt.page.status_code >= 400
    assert jira_emulator.token_requests["authorization_code"] == exchanges  # refused first
    after = scrape()
    errors = [
        value(samples, "unpack_jira_requests_total", outcome="server_error")
        for samples in (before, after)
    ]
    assert errors[1] - errors[0] == 1


def test_items_waiting_is_read_from_the_queue(sync_app, slack_emulator, site):
    app, db, slack = sync_app.app, sync_app.db, sync_app.slack
    team = install_workspace(app, slack_emulator, db)
    start_retro(slack, slack_emulator, team, "Sprint 10")
    item_id = add_item(slack, slack_emulator, team, "Queued for later")
    # Set-up: queued, but not due for an hour, so no sync cycle takes it meanwhile.
    db.execute(
        "UPDATE action_items SET sync_state = 'pending', next_attempt_at = :t WHERE id = :i",
        t=datetime.now(UTC) + timedelta(hours=1),
        i=item_id,
    )
    assert value(scrape(), "unpack_items_waiting") == 1
    db.execute("UPDATE action_items SET sync_state = 'local' WHERE id = :i", i=item_id)
    wait_until(lambda: value(scrape(), "unpack_items_waiting") == 0, "the gauge to follow")


def test_metrics_on_the_public_port_are_refused(tmp_path):
    from tests.test_startup import GOOD, start

    result = start(tmp_path, {**GOOD, "PORT": "4321", "METRICS_PORT": "4321"})
    assert result.returncode == 2
    assert "METRICS_PORT must differ from PORT" in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr


def test_per_retro_locks_and_counts_are_forgotten_once_the_work_is_done(sync_app, slack_emulator):
    """Every retro's summary refresh takes a lock and a counter of its own; a process that
    runs for months must not keep one per retro it ever refreshed."""
    app, db, slack = sync_app.app, sync_app.db, sync_app.slack
    team = install_workspace(app, slack_emulator, db)
    for n in range(4):
        channel = f"{team.channel}R{n}"
        start_retro(slack, slack_emulator, team, f"Sprint {n}", channel=channel)
        add_item(slack, slack_emulator, team, f"Item {n}", channel=channel)  # refreshes

    def per_retro_entries():
        samples = scrape()
        kept = [
            samples.get(("unpack_memory_entries", (("map", name),)))
            for name in ("retro_renders", "renders_wanted")
        ]
        return None not in kept and sum(kept) == 0

    wait_until(per_retro_entries, "no per-retro lock or count left", timeout=5)
    sizes = {
        labels[0][1]: count
        for (name, labels), count in scrape().items()
        if name == "unpack_memory_entries"
    }
    assert {"retro_renders", "renders_wanted", "admin_roles", "edit_screens"} <= set(sizes)
