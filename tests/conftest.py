"""Shared fixtures: one Slack emulator, one Jira emulator and one app process per test session.

Tests stay independent by giving each its own workspace (`team`) and Jira site (`site`),
so they can share the app without resetting it.
"""

from __future__ import annotations

import pytest

from tests.fakes.jira_emulator import JiraEmulator
from tests.fakes.slack import SlackEmulator
from tests.fakes.slack.requests import SlackRequests
from tests.flows_jira import new_site
from tests.harness import (
    ATLASSIAN_CLIENT_ID,
    ATLASSIAN_CLIENT_SECRET,
    SIGNING_SECRET,
    SLACK_CLIENT_ID,
    SLACK_CLIENT_SECRET,
    AppProcess,
    Database,
    SharedApps,
    SlackTeam,
    install_workspace,
    launch_app,
    module_app_settings,
)

# Worker count, and stand-ins for a virtualenv without pytest-xdist.
pytest_plugins = ["tests.parallel"]


@pytest.fixture(scope="session")
def slack_emulator() -> SlackEmulator:
    emulator = SlackEmulator()
    # The install flow must present the app's own client credentials to oauth.v2.access.
    emulator.client_id, emulator.client_secret = SLACK_CLIENT_ID, SLACK_CLIENT_SECRET
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def jira_emulator() -> JiraEmulator:
    emulator = JiraEmulator(client_id=ATLASSIAN_CLIENT_ID, client_secret=ATLASSIAN_CLIENT_SECRET)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def app(slack_emulator, jira_emulator) -> AppProcess:
    """The app in multi-workspace mode, as most deployments run it."""
    process = launch_app(slack_emulator, jira_emulator)
    yield process
    process.stop()


@pytest.fixture(scope="session")
def shared_apps(slack_emulator, jira_emulator) -> SharedApps:
    """App processes with settings of their own, each shared by the modules that ask for
    the same (tests/flows_sync.py's sync_app_fixture)."""
    apps = SharedApps(slack_emulator, jira_emulator)
    yield apps
    apps.stop_all()


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups marked here
def pytest_collection_modifyitems(items) -> None:
    """Modules that share an app's settings run one after another, at the place of the
    first of them (tests stay in file order otherwise), so each shared app is started
    once and stopped when its last module is done.

    Each such run is one group for pytest-xdist (`--dist loadgroup`, see pyproject.toml):
    a worker takes a whole module, or all the modules sharing an app, so module-scoped
    apps start once per run, not once per worker, and a module's tests keep their order."""
    modules: dict[object, list] = {}
    for item in items:
        modules.setdefault(item.module, []).append(item)
    runs: list[list] = []
    runs_by_settings: dict[tuple, list] = {}
    for module, tests in modules.items():
        settings = module_app_settings(module)
        if settings is None:
            runs.append(tests)
            continue
        key = tuple(sorted(settings.items()))
        if key not in runs_by_settings:
            runs_by_settings[key] = []
            runs.append(runs_by_settings[key])
        runs_by_settings[key].extend(tests)
    for run in runs:
        group = pytest.mark.xdist_group(run[0].module.__name__)
        for item in run:
            item.add_marker(group)
    items[:] = [item for run in runs for item in run]


@pytest.fixture(scope="session")
def db(app) -> Database:
    return Database(app.env["DATABASE_URL"])


@pytest.fixture(scope="session")
def slack(app, slack_emulator) -> SlackRequests:
    """Sends signed Slack requests to the app."""
    return SlackRequests(app.url, SIGNING_SECRET, slack_emulator)


@pytest.fixture
def team(app, slack_emulator, db) -> SlackTeam:
    """A freshly installed workspace with an admin, a member and a channel."""
    return install_workspace(app, slack_emulator, db)


@pytest.fixture
def site(jira_emulator):
    """A fresh Jira Cloud site with project TEAM (Task, Bug, Epic) and a few users."""
    return new_site(jira_emulator)


@pytest.fixture(autouse=True)
def slack_would_accept_everything(request):
    """Every test holds the app to Slack's rules: each request acked within 3 seconds with a
    200, every message, modal and Home within Block Kit limits; and to the product's: no
    email address in any channel (non-DM) message. Tests that provoke a
    violation on purpose say so with @pytest.mark.slack_violations_expected."""
    if "slack_emulator" not in request.fixturenames:
        yield
        return
    emulator = request.getfixturevalue("slack_emulator")
    before = len(emulator.violations)
    yield
    if request.node.get_closest_marker("slack_violations_expected"):
        return
    new = emulator.violations[before:]
    assert not new, "Slack (or the no-email rule) would have refused: " + "; ".join(map(str, new))
