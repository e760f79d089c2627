"""POST /jira/webhook/{token}: who may deliver, and what gets refused before anything is
read — HMAC and JWT signatures (valid, forged, expired, wrong algorithm, missing), unknown
tokens, malformed and oversized bodies, replays. Nothing refused leaves a trace."""

from __future__ import annotations

import json
import re
import uuid

import jwt
import pytest

from tests.flows_webhooks import (
    hub_headers,
    issue_payload,
    jwt_headers,
    oauth_webhook,
    post_delivery,
    token_webhook,
    wait_applied,
)
from tests.harness import ATLASSIAN_CLIENT_ID, ATLASSIAN_CLIENT_SECRET
from tests.waiting import wait_until


def _deliveries(db, team) -> list[dict]:
    return db.rows(
        "SELECT delivery_id, issue_id, outcome FROM webhook_deliveries WHERE workspace_id = :w",
        w=team.workspace_id,
    )


def _body(site, issue_id="424242") -> bytes:
    payload = issue_payload(site, issue_id=issue_id, key="TEAM-99", category="done", status="Done")
    return json.dumps(payload).encode()


@pytest.fixture
def token_hook(app, slack, slack_emulator, db, team, site):
    return token_webhook(app, slack, slack_emulator, db, team, site, add_to_jira=False)


@pytest.fixture
def oauth_hook(app, slack, slack_emulator, jira_emulator, db, team, site):
    return oauth_webhook(app, slack, slack_emulator, jira_emulator, db, team, site)


# --- X-Hub-Signature (API-token connections) -------------------------------------------------


def test_hub_signature_over_the_raw_body_is_accepted(app, db, team, site, token_hook):
    body = _body(site)
    answer = post_delivery(app, token_hook.token, body, hub_headers(token_hook.secret, body))

    assert answer.status_code == 202, answer.text
    # Accepted and recorded; the issue is not one the app created, so nothing else happened.
    wait_applied(db, team)
    assert [d["outcome"] for d in _deliveries(db, team)] == ["unknown_issue"]


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda h, b: h.update({"X-Hub-Signature": "sha256=" + "0" * 64}), id="forged"),
        pytest.param(lambda h, b: h.pop("X-Hub-Signature"), id="missing"),
        pytest.param(
            lambda h, b: h.update({"X-Hub-Signature": h["X-Hub-Signature"].replace("256", "1")}),
            id="other-algorithm",
        ),
        pytest.param(
            lambda h, b: h.update(hub_headers("not-the-secret", b)), id="signed-with-another-secret"
        ),
    ],
)
def test_bad_hub_signatures_get_401_and_change_nothing(app, db, team, site, token_hook, spoil):
    body = _body(site)
    headers = hub_headers(token_hook.secret, body)
    spoil(headers, body)

    answer = post_delivery(app, token_hook.token, body, headers)

    assert answer.status_code == 401
    assert token_hook.secret not in answer.text
    assert _deliveries(db, team) == []


def test_a_body_changed_after_signing_is_refused(app, db, team, site, token_hook):
    body = _body(site)
    headers = hub_headers(token_hook.secret, body)
    # Same JSON, different bytes: the signature covers the bytes, not the meaning.
    reserialized = json.dumps(json.loads(body), indent=1).encode()

    assert post_delivery(app, token_hook.token, reserialized, headers).status_code == 401
    assert _deliveries(db, team) == []


def test_a_jwt_does_not_open_an_api_token_workspace(app, db, team, site, token_hook):
    assert post_delivery(app, token_hook.token, _body(site), jwt_headers()).status_code == 401
    assert _deliveries(db, team) == []


# --- Bearer JWT (OAuth connections) ----------------------------------------------------------


def test_valid_jwt_is_accepted(app, db, team, site, oauth_hook):
    answer = post_delivery(app, oauth_hook.token, _body(site), jwt_headers())

    assert answer.status_code == 202, answer.text
    wait_applied(db, team)
    assert [d["outcome"] for d in _deliveries(db, team)] == ["unknown_issue"]


def _unsigned(claims: dict) -> str:
    header = jwt.utils.base64url_encode(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = jwt.utils.base64url_encode(json.dumps(claims).encode())
    return f"{header.decode()}.{payload.decode()}."


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda: jwt_headers(secret="someone-elses-secret-value-32bytes"), id="forged"),
        pytest.param(lambda: jwt_headers(expires_in=-600), id="expired"),
        # Just past the 60 s allowed for clock skew.
        pytest.param(lambda: jwt_headers(expires_in=-65), id="expired-65s-ago"),
        pytest.param(lambda: jwt_headers(algorithm="HS512"), id="other-algorithm"),
        pytest.param(
            lambda: {"Authorization": "Bearer " + _unsigned({"exp": 9_999_999_999})},
            id="alg-none",
        ),
        pytest.param(
            lambda: {
                "Authorization": "Bearer "
                + jwt.encode({"iss": ATLASSIAN_CLIENT_ID}, ATLASSIAN_CLIENT_SECRET, "HS256")
            },
            id="no-expiry",
        ),
        pytest.param(lambda: {"Authorization": "Basic " + "x" * 20}, id="not-bearer"),
        pytest.param(lambda: {}, id="missing"),
        pytest.param(lambda: hub_headers(ATLASSIAN_CLIENT_SECRET, b"{}"), id="hmac-instead"),
    ],
)
def test_bad_jwts_get_401_and_change_nothing(app, db, team, site, oauth_hook, headers):
    answer = post_delivery(app, oauth_hook.token, _body(site), headers())

    assert answer.status_code == 401
    assert _deliveries(db, team) == []


def test_slightly_expired_jwt_is_within_clock_skew(app, db, team, site, oauth_hook):
    answer = post_delivery(app, oauth_hook.token, _body(site), jwt_headers(expires_in=-20))
    assert answer.status_code == 202


# --- the token, the body, replays ------------------------------------------------------------


def test_unknown_token_gets_404_without_detail(app, site):
    body = _body(site)
    for token in ("nope", "x" * 43, "y" * 500):
        answer = post_delivery(app, token, body, jwt_headers())
        assert answer.status_code == 404
        assert answer.json() == {"error": "unknown webhook"}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="not-json"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
        pytest.param(b"[1, 2]", id="not-an-object"),
        pytest.param(b'{"issue": ' + b"[" * 100_000, id="nested-past-the-parser"),
        pytest.param(
            json.dumps({"webhookEvent": "jira:issue_updated", "issue": {"key": "TEAM-1"}}).encode(),
            id="no-issue-id",
        ),
        pytest.param(
            json.dumps({"webhookEvent": "jira:issue_updated", "issue": {"id": "1"}}).encode(),
            id="no-status",
        ),
    ],
)
def test_malformed_bodies_get_400(app, db, team, token_hook, body):
    answer = post_delivery(app, token_hook.token, body, hub_headers(token_hook.secret, body))

    assert answer.status_code == 400
    assert _deliveries(db, team) == []


def test_other_events_are_acknowledged_and_ignored(app, db, team, site, token_hook):
    payload = json.loads(_body(site)) | {"webhookEvent": "comment_created"}
    body = json.dumps(payload).encode()

    answer = post_delivery(app, token_hook.token, body, hub_headers(token_hook.secret, body))

    assert answer.status_code == 200
    assert _deliveries(db, team) == []


def test_body_over_one_mebibyte_gets_413(app, db, team, site, token_hook):
    payload = json.loads(_body(site))
    payload["issue"]["fields"]["description"] = "x" * (1024 * 1024)
    body = json.dumps(payload).encode()
    assert len(body) > 1024 * 1024

    answer = post_delivery(app, token_hook.token, body, hub_headers(token_hook.secret, body))

    assert answer.status_code == 413
    assert _deliveries(db, team) == []


def test_body_just_under_the_limit_is_read(app, db, team, site, token_hook):
    payload = json.loads(_body(site))
    payload["issue"]["fields"]["description"] = ""
    room = 1024 * 1024 - len(json.dumps(payload).encode())
    payload["issue"]["fields"]["description"] = "x" * room
    body = json.dumps(payload).encode()
    assert len(body) == 1024 * 1024

    answer = post_delivery(app, token_hook.token, body, hub_headers(token_hook.secret, body))

    assert answer.status_code == 202


def test_a_replayed_delivery_is_recorded_once(app, db, team, site, token_hook):
    body = _body(site)
    identifier = str(uuid.uuid4())
    headers = hub_headers(token_hook.secret, body, identifier)

    first = post_delivery(app, token_hook.token, body, headers)
    again = post_delivery(app, token_hook.token, body, headers | {"X-Atlassian-Webhook-Retry": "1"})

    assert (first.status_code, again.status_code) == (202, 200)
    assert [d["delivery_id"] for d in _deliveries(db, team)] == [identifier]


REFUSED_ISSUE = "990001"
# The database itself refuses the group's insert: a trigger, as a full disk or a broken
# constraint would, on each backend.
REFUSE_INSERT = {
    "sqlite": [
        "CREATE TRIGGER refuse_delivery BEFORE INSERT ON webhook_deliveries "
        f"WHEN NEW.issue_id = '{REFUSED_ISSUE}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_delivery() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF NEW.issue_id = '{REFUSED_ISSUE}' THEN RAISE EXCEPTION 'refused'; END IF; "
        "RETURN NEW; END $$",
        "CREATE TRIGGER refuse_delivery BEFORE INSERT ON webhook_deliveries "
        "FOR EACH ROW EXECUTE FUNCTION refuse_delivery()",
    ],
}
ALLOW_INSERT = {
    "sqlite": ["DROP TRIGGER refuse_delivery"],
    "postgresql": [
        "DROP TRIGGER refuse_delivery ON webhook_deliveries",
        "DROP FUNCTION refuse_delivery()",
    ],
}


def test_a_delivery_the_database_refuses_gets_503_and_is_recorded_on_retry(
    app, db, team, site, token_hook
):
    """A group whose transaction fails is answered 503, so that Jira retries; nothing of
    it is kept, and the connection it used takes the retry: recorded then (202, not a
    replay's 200)."""
    body = _body(site, issue_id=REFUSED_ISSUE)
    headers = hub_headers(token_hook.secret, body, str(uuid.uuid4()))  # the retry's too
    backend = db.async_url.get_backend_name()
    for sql in REFUSE_INSERT[backend]:
        db.execute(sql)
    try:
        refused = post_delivery(app, token_hook.token, body, headers)
    finally:
        for sql in ALLOW_INSERT[backend]:
            db.execute(sql)
    assert refused.status_code == 503, refused.text
    assert _deliveries(db, team) == []

    retried = post_delivery(app, token_hook.token, body, headers)
    assert retried.status_code == 202, retried.text
    wait_applied(db, team)
    assert [d["issue_id"] for d in _deliveries(db, team)] == [REFUSED_ISSUE]


def test_recorded_deliveries_are_logged_a_line_per_group_without_the_token(app, site, token_hook):
    body = _body(site)
    headers = hub_headers(token_hook.secret, body, str(uuid.uuid4()))
    seen = len(app.log())

    assert post_delivery(app, token_hook.token, body, headers).status_code == 202
    assert post_delivery(app, token_hook.token, body, headers).status_code == 200

    log = wait_until(lambda: (tail := app.log()[seen:]).count("recorded together") >= 2 and tail,
                     "the groups' lines")  # fmt: skip
    # What an operator sees of a burst: a line per group committed, with its answers...
    assert re.search(r'"POST /jira/webhook/… HTTP/1\.1" 202 ×1 \(1 recorded together\)', log)
    assert re.search(r'"POST /jira/webhook/… HTTP/1\.1" 200 ×1 \(1 recorded together\)', log)
    # ...not a line per delivery (hundreds a second in a burst)...
    assert not re.search(r'HTTP/1\.1" 20[02]$', log, re.MULTILINE)
    # ...and never the token that picks the workspace, nor the secret.
    assert token_hook.token not in app.log()
    assert token_hook.secret not in app.log()


def test_a_refused_delivery_keeps_a_line_of_its_own(app, site, token_hook):
    body = _body(site)
    seen = len(app.log())
    forged = hub_headers("not-the-secret", body)

    assert post_delivery(app, token_hook.token, body, forged).status_code == 401

    log = wait_until(lambda: (tail := app.log()[seen:]).count("POST /jira/webhook/") and tail,
                     "the refusal's line")  # fmt: skip
    assert re.search(r' - "POST /jira/webhook/… HTTP/1\.1" 401$', log, re.MULTILINE), log
    assert token_hook.token not in app.log()
