"""How `pytest` spreads the tests over workers (pytest-xdist; pyproject's addopts ask for
`-n auto --dist loadgroup`). tests/conftest.py marks the groups a worker takes whole."""

from __future__ import annotations

import os

import pytest

MAX_WORKERS = 4


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config) -> int | None:
    """`-n auto`: a worker per core the process may use, at most MAX_WORKERS. Each worker
    runs its own emulators and app processes (each app holding up to 20 connections on a
    PostgreSQL run, where the server allows 100 in all), and the tests wait more than they
    compute, so more workers would only crowd the database. PYTEST_XDIST_AUTO_NUM_WORKERS
    still decides when set."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    return max(1, min(usable_cores(), MAX_WORKERS))


NEXT_ITEM = pytest.StashKey[object]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Keeps the test this process runs after `item` (a module fixture's teardown asks).
    Under pytest-xdist that is the next of this worker's tests, which session.items (every
    test of the run, on every worker) does not tell."""
    item.session.stash[NEXT_ITEM] = nextitem
    return (yield)


def next_item(session) -> pytest.Item | None:
    """The test this process runs after the current one; None after the last."""
    return session.stash.get(NEXT_ITEM, None)


def usable_cores() -> int:
    """The cores this process may run on (a container's share on Linux), else all."""
    if hasattr(os, "sched_getaffinity"):  # not on macOS
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def pytest_addoption(parser, pluginmanager) -> None:
    """A virtualenv made before pytest-xdist was a test dependency (or `-p no:xdist`) still
    runs the tests, in one process, instead of refusing the addopts' options."""
    if pluginmanager.has_plugin("xdist"):
        return
    group = parser.getgroup("xdist", "stand-ins while pytest-xdist is not loaded")
    # Lower-case short options are pytest's own; xdist adds -n the same way.
    group._addoption("-n", "--numprocesses", dest="numprocesses", default=None, help="ignored")
    group._addoption("--dist", dest="dist", default="no", help="ignored")


def pytest_configure(config) -> None:
    if config.pluginmanager.has_plugin("xdist"):
        return
    config.addinivalue_line("markers", "xdist_group(name): the tests one worker takes whole")
    if config.getoption("numprocesses") not in (None, "0", 0):
        config.issue_config_time_warning(
            pytest.PytestConfigWarning(
                "pytest-xdist is not installed (or not loaded): the tests run in one process "
                "(pip install -e '.[test]' -c constraints.txt to run them on every core)"
            ),
            stacklevel=2,
        )
