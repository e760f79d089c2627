"""The ports tests start processes on: never one the kernel may hand out meanwhile (its
ephemeral range, for port 0 and outgoing connections), never one another pytest-xdist
worker hands out, never one a process listens on."""

from __future__ import annotations

import socket

from tests.harness import FIRST_PORT, PORT_BLOCK, free_port

# Workers far past tests/parallel.py's MAX_WORKERS: their blocks are the tests' own, not
# those of the workers running beside them.


def test_each_worker_has_ports_of_its_own_below_the_kernels_range(monkeypatch):
    given = {}
    for worker in ("gw20", "gw21", "gw23"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        given[worker] = {free_port() for _ in range(2 * PORT_BLOCK)}
    assert not given["gw20"] & given["gw21"] and not given["gw21"] & given["gw23"]
    low, high = socket_range()
    assert all(FIRST_PORT <= port < low for ports in given.values() for port in ports), high


def test_a_port_a_process_listens_on_is_not_given(monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw22")
    first = FIRST_PORT + 22 * PORT_BLOCK
    listening = []
    try:
        for port in range(first, first + PORT_BLOCK, 2):  # every other port of the block
            sock = socket.socket()
            sock.bind(("127.0.0.1", port))
            sock.listen()
            listening.append(sock)
        assert {free_port() for _ in range(PORT_BLOCK)} <= set(
            range(first + 1, first + PORT_BLOCK, 2)
        )
    finally:
        for sock in listening:
            sock.close()


def socket_range() -> tuple[int, int]:
    """The kernel's ephemeral range (Linux's default where it cannot be read)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
            low, high = map(int, ports.read().split())
    except OSError:
        return 32768, 60999
    return low, high
