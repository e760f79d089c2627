"""An API-token site URL cannot make the app call its own network: loopback (by name, as
a number, shortened), a user name hiding the real host, or plain http are refused on the
form, and nothing is sent anywhere. The tests' Jira on 127.0.0.1 is a trusted host."""

from __future__ import annotations

import contextlib
import socket
import uuid

import pytest

from bot.jira.site_address import REFUSED
from bot.views import jira_ids as ids
from tests.flows_jira import submit_token_modal, token_modal


@pytest.fixture
def listeners():
    """Loopback ports that would notice any connection (IPv4 and IPv6, same port)."""
    v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    v4.bind(("127.0.0.1", 0))
    port = v4.getsockname()[1]
    sockets = [v4]
    with contextlib.suppress(OSError):
        v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        v6.bind(("::1", port))
        sockets.append(v6)
    for sock in sockets:
        sock.listen(8)
        sock.setblocking(False)
    yield port, sockets
    for sock in sockets:
        sock.close()


def connections_made(sockets) -> int:
    made = 0
    for sock in sockets:
        with contextlib.suppress(BlockingIOError):
            while True:
                sock.accept()[0].close()
                made += 1
    return made


@pytest.mark.parametrize(
    "template",
    [
        "https://localhost:{port}/admin",
        "https://[::1]:{port}",
        "https://2130706433:{port}",
        "https://127.1:{port}",
        "https://acme.atlassian.net@localhost:{port}/x",
        "http://127.0.0.1:{port}",
        "https://0.0.0.0:{port}",
    ],
)
def test_a_site_url_on_our_own_network_is_refused_inline_and_never_called(
    slack, slack_emulator, team, site, listeners, template
):
    port, sockets = listeners
    email, token = f"robot.{uuid.uuid4().hex[:6]}@example.com", "ATATT" + uuid.uuid4().hex
    site.add_user(email, "Jira Robot")
    site.add_api_token(email, token)
    view = token_modal(slack, slack_emulator, team)
    url = template.format(port=port)
    answer = submit_token_modal(slack, team, view, site_url=url, email=email, token=token)
    body = answer.json()
    assert body.get("response_action") == "errors", body
    assert ids.SITE_BLOCK in body["errors"], body
    assert connections_made(sockets) == 0


def test_the_same_url_is_accepted_once_its_host_is_trusted(
    slack, slack_emulator, team, site, jira_emulator
):
    """The emulator's own address (trusted in the tests) still connects."""
    email, token = f"robot.{uuid.uuid4().hex[:6]}@example.com", "ATATT" + uuid.uuid4().hex
    site.add_user(email, "Jira Robot")
    site.add_api_token(email, token)
    view = token_modal(slack, slack_emulator, team)
    answer = submit_token_modal(slack, team, view, site_url=site.url, email=email, token=token)
    assert answer.json().get("response_action") == "update", answer.text


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.1",  # a private network
        "https://192.168.1.1/admin",
        "https://169.254.169.254/latest/meta-data",  # a cloud's metadata service
        "https://100.64.0.1",  # carrier-grade NAT, shared address space
        "https://[fd00::1]",  # an IPv6 unique local address
        "https://[::ffff:10.0.0.1]",  # a private IPv4 address written as IPv6
    ],
)
def test_a_site_url_on_a_private_network_is_refused_as_not_public(
    slack, slack_emulator, team, site, url
):
    """Not only loopback: any address that is not public is refused before anything is
    sent, with the words that ask for the site's public address."""
    email, token = f"robot.{uuid.uuid4().hex[:6]}@example.com", "ATATT" + uuid.uuid4().hex
    view = token_modal(slack, slack_emulator, team)
    answer = submit_token_modal(slack, team, view, site_url=url, email=email, token=token)
    body = answer.json()
    assert body.get("response_action") == "errors", body
    assert body["errors"] == {ids.SITE_BLOCK: REFUSED}, body
