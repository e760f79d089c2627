"""A client that sends its request slowly, or stops half-way, is cut off after
REQUEST_READ_SECONDS (1 s here): a connection whose headers are late is closed, a body
that is late gets 408. Slowloris holds nothing for long."""

from __future__ import annotations

import re
import select
import socket
import time
import uuid

from tests.flows_sync import sync_app_fixture
from tests.flows_webhooks import hub_headers, token_webhook, webhook_path
from tests.harness import install_workspace

sync_app = sync_app_fixture(REQUEST_READ_SECONDS="1")
# Well past the 1 s deadline, well short of forever; a fixed deadline is never waited out.
GIVE_UP = 8.0


def connect(sync_app) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", sync_app.app.port))
    sock.settimeout(GIVE_UP)
    return sock


def answer_of(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    started, received = time.monotonic(), b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:  # closed while our bytes were still coming in
        pass
    except TimeoutError:
        raise AssertionError(f"still open after {GIVE_UP} s: {received!r}") from None
    finally:
        sock.close()
    return received, time.monotonic() - started


def test_a_connection_that_never_sends_a_request_is_closed(sync_app):
    answer, took = answer_of(connect(sync_app))
    assert answer == b""
    assert took < GIVE_UP


def test_headers_sent_a_byte_at_a_time_are_cut_off(sync_app):
    sock = connect(sync_app)
    started = time.monotonic()
    request = b"GET /healthz HTTP/1.1\r\nHost: unpack\r\nX-Padding: " + b"a" * 200
    try:
        for byte in request:  # slowloris: a byte every 50 ms keeps any per-read timeout happy
            sock.sendall(bytes([byte]))
            time.sleep(0.05)
    except OSError:  # closed under our feet: what we wanted
        pass
    answer, _ = answer_of(sock)
    assert answer == b""
    assert time.monotonic() - started < GIVE_UP


def test_a_slack_body_that_stops_half_way_gets_408(sync_app):
    sock = connect(sync_app)
    sock.sendall(
        b"POST /slack/events HTTP/1.1\r\nHost: unpack\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n"
        b"X-Slack-Request-Timestamp: %d\r\nX-Slack-Signature: v0=00\r\n\r\n"
        b"command=%%2Fretro&text=" % int(time.time())
    )
    answer, took = answer_of(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert took < GIVE_UP


def test_a_webhook_delivery_that_stops_half_way_gets_408(sync_app, slack_emulator, jira_emulator):
    site = jira_emulator.add_site("slow" + uuid.uuid4().hex[:8])
    site.add_project("TEAM", "Team board")
    team = install_workspace(sync_app.app, slack_emulator, sync_app.db)
    hook = token_webhook(
        sync_app.app, sync_app.slack, slack_emulator, sync_app.db, team, site, add_to_jira=False
    )
    body = b'{"webhookEvent": "jira:issue_updated", "issue": {"id": "1"}}'
    headers = "".join(f"{k}: {v}\r\n" for k, v in hub_headers(hook.secret, body).items())
    sock = connect(sync_app)
    sock.sendall(
        f"POST {webhook_path(hook.token)} HTTP/1.1\r\nHost: unpack\r\n{headers}"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body[:10]
    )
    answer, took = answer_of(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert took < GIVE_UP


def test_a_webhook_body_sent_a_byte_at_a_time_gets_408(sync_app, slack_emulator, jira_emulator):
    """The body's deadline counts from its headers, however often its bytes come."""
    site = jira_emulator.add_site("drip" + uuid.uuid4().hex[:8])
    site.add_project("TEAM", "Team board")
    team = install_workspace(sync_app.app, slack_emulator, sync_app.db)
    hook = token_webhook(
        sync_app.app, sync_app.slack, slack_emulator, sync_app.db, team, site, add_to_jira=False
    )
    body = b'{"webhookEvent": "jira:issue_updated", "issue": {"id": "1"}}' + b" " * 200
    headers = "".join(f"{k}: {v}\r\n" for k, v in hub_headers(hook.secret, body).items())
    sock = connect(sync_app)
    sock.sendall(
        f"POST {webhook_path(hook.token)} HTTP/1.1\r\nHost: unpack\r\n{headers}"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    started = time.monotonic()
    try:
        for byte in body:  # a byte every 50 ms, until answered: the whole would take 13 s
            if select.select([sock], [], [], 0.05)[0]:
                break
            sock.sendall(bytes([byte]))
    except OSError:  # closed under our feet
        pass
    answer, _ = answer_of(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert time.monotonic() - started < GIVE_UP


def one_answer(sock: socket.socket) -> bytes:
    """One whole answer (status line, headers, a body of its Content-Length)."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))
    while len(body) < length:
        body += sock.recv(65536)
    return head


def test_requests_sent_in_time_are_answered_on_a_kept_alive_connection(sync_app):
    with socket.create_connection(("127.0.0.1", sync_app.app.port)) as sock:
        sock.settimeout(GIVE_UP)
        for _ in range(2):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: unpack\r\n\r\n")
            assert one_answer(sock).startswith(b"HTTP/1.1 200 ")


def test_a_kept_alive_connection_stays_open_past_the_first_deadline(sync_app):
    """Each answer gives the next request's headers a deadline of their own: a client
    whose requests keep coming in time is never cut off, however long it stays."""
    with socket.create_connection(("127.0.0.1", sync_app.app.port)) as sock:
        sock.settimeout(GIVE_UP)
        started = time.monotonic()
        while time.monotonic() - started < 2.5:  # past two deadlines of 1 s
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: unpack\r\n\r\n")
            assert one_answer(sock).startswith(b"HTTP/1.1 200 ")
            time.sleep(0.2)


def test_late_headers_after_a_kept_alive_answer_are_cut_off(sync_app):
    """The deadline counts again from each answer: the next request's headers sent a
    byte at a time are cut off as the first request's would be."""
    sock = connect(sync_app)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: unpack\r\n\r\n")
    assert one_answer(sock).startswith(b"HTTP/1.1 200 ")
    started = time.monotonic()
    try:
        for byte in b"GET /healthz HTTP/1.1\r\nHost: unpack\r\nX-Padding: " + b"a" * 200:
            sock.sendall(bytes([byte]))
            time.sleep(0.05)
    except OSError:  # closed under our feet: what we wanted
        pass
    answer, _ = answer_of(sock)
    assert answer == b""
    assert time.monotonic() - started < GIVE_UP


def test_headers_past_64_kib_get_431_at_once(sync_app):
    """httptools keeps every header line: a client streaming them grew the process without
    bound. Past 64 KiB it is answered 431 and cut off."""
    sock = connect(sync_app)
    line = b"X-Padding: " + b"a" * 1000 + b"\r\n"
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: unpack\r\n" + line * 70)  # ~70 KiB
    answer, _ = answer_of(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
