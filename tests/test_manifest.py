"""manifest.yml is a valid v1 Slack app manifest that declares what the app serves."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from jsonschema import Draft7Validator

from bot.views import sync_ids

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "manifest.yml"
SOCKET_MODE_MANIFEST = ROOT / "manifest.socket-mode.yml"
# Slack's published v1 manifest schema, kept in the repository (see tests/contracts/README.md).
SCHEMA = ROOT / "tests" / "contracts" / "slack-manifest.schema.json"

SUBCOMMANDS = {
    "/retro": ["start", "add", "list", "commit", "close", "help"],
    "/jira": [
        "connect",
        "connect token",
        "settings",
        "status",
        "log",
        "retry",
        "disconnect",
        "help",
    ],
}
BOT_SCOPES = {"commands", "chat:write", "chat:write.public", "users:read", "users:read.email"}
ROUTES = {"/slack/events", "/slack/oauth_redirect"}


@pytest.fixture(scope="module")
def manifest() -> dict:
    return yaml.safe_load(MANIFEST.read_text())


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    schema = json.loads(SCHEMA.read_text())
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def _errors(validator: Draft7Validator, document: dict) -> list[str]:
    return [
        f"{'/'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def _urls(node) -> list[str]:
    if isinstance(node, dict):
        return [url for value in node.values() for url in _urls(value)]
    if isinstance(node, list):
        return [url for value in node for url in _urls(value)]
    if isinstance(node, str) and node.startswith(("http://", "https://")):
        return [node]
    return []


def test_manifest_is_valid_against_slacks_schema(manifest, validator):
    assert _errors(validator, manifest) == []


def test_an_invalid_manifest_is_rejected(manifest, validator):
    broken = copy.deepcopy(manifest)
    broken["features"]["shortcuts"][0]["name"] = "x" * 30  # Slack allows 24 characters
    errors = _errors(validator, broken)
    assert errors and "too long" in errors[0], errors


def test_every_slash_command_is_declared_with_its_subcommands(manifest):
    commands = {c["command"]: c for c in manifest["features"]["slash_commands"]}
    assert set(commands) == set(SUBCOMMANDS)
    for name, subcommands in SUBCOMMANDS.items():
        hint = commands[name]["usage_hint"]
        for subcommand in subcommands:
            assert subcommand in hint, f"{name} usage hint lacks {subcommand!r}"


def test_sync_to_jira_is_a_message_shortcut(manifest):
    shortcuts = {s["callback_id"]: s for s in manifest["features"]["shortcuts"]}
    assert shortcuts[sync_ids.SYNC_TO_JIRA]["type"] == "message"
    assert shortcuts[sync_ids.SYNC_TO_JIRA]["name"] == "Sync to Jira"


def test_bot_scopes_and_events(manifest):
    assert BOT_SCOPES <= set(manifest["oauth_config"]["scopes"]["bot"])
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_home_opened", "app_uninstalled", "tokens_revoked"} <= events


def test_app_home_has_the_home_tab_and_a_read_only_messages_tab(manifest):
    app_home = manifest["features"]["app_home"]
    assert app_home["home_tab_enabled"] is True
    # Admin notices arrive as DMs from the app: the Messages tab shows them, read-only.
    assert app_home["messages_tab_enabled"] is True
    assert app_home["messages_tab_read_only_enabled"] is True


def test_every_url_points_at_a_slack_route(manifest):
    urls = _urls(manifest)
    assert len(urls) >= 6  # two commands, redirect, events, interactivity, options
    for url in urls:
        parsed = urlparse(url)
        assert parsed.scheme == "https", url
        assert parsed.path in ROUTES, url
    settings = manifest["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    assert urlparse(settings["interactivity"]["request_url"]).path == "/slack/events"
    assert urlparse(settings["interactivity"]["message_menu_options_url"]).path == "/slack/events"
    assert urlparse(settings["event_subscriptions"]["request_url"]).path == "/slack/events"
    assert [urlparse(u).path for u in manifest["oauth_config"]["redirect_urls"]] == [
        "/slack/oauth_redirect"
    ]
    assert settings["socket_mode_enabled"] is False


def _without_urls(node):
    """The manifest as Socket Mode needs it: every request and redirect URL left out."""
    if isinstance(node, dict):
        return {k: _without_urls(v) for k, v in node.items() if not _only_urls(v)}
    if isinstance(node, list):
        return [_without_urls(v) for v in node]
    return node


def _only_urls(value) -> bool:
    """A URL, or a list of nothing but URLs (redirect_urls)."""
    if isinstance(value, list):
        return bool(value) and all(_only_urls(v) for v in value)
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def test_the_socket_mode_manifest_is_manifest_yml_without_urls(manifest, validator):
    socket_mode = yaml.safe_load(SOCKET_MODE_MANIFEST.read_text())
    assert _errors(validator, socket_mode) == []
    assert socket_mode["settings"]["socket_mode_enabled"] is True
    assert _urls(socket_mode) == []
    expected = _without_urls(copy.deepcopy(manifest))
    expected["settings"]["socket_mode_enabled"] = True
    assert socket_mode == expected
