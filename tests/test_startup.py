"""Start-up: a missing or invalid setting stops the app with one line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from tests.harness import ROOT, free_port

GOOD = {
    "SLACK_SIGNING_SECRET": "s3cret",
    "SLACK_BOT_TOKEN": "xoxb-1",
    "ENCRYPTION_KEY": Fernet.generate_key().decode(),
}


def start(tmp_path, env: dict[str, str], dotenv: str | None = None):
    if dotenv is not None:
        (tmp_path / ".env").write_text(dotenv)
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    base.setdefault("DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    base["PORT"] = str(free_port())
    base.update(env)
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py")],
        cwd=tmp_path,
        env=base,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("missing", "expected"),
    [
        ("ENCRYPTION_KEY", "ENCRYPTION_KEY: is required"),
        ("SLACK_SIGNING_SECRET", "SLACK_SIGNING_SECRET: is required"),
        ("SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN (single workspace) or SLACK_CLIENT_ID"),
    ],
)
def test_missing_setting_is_one_line_naming_it(tmp_path, missing, expected):
    env = {k: v for k, v in GOOD.items() if k != missing}
    result = start(tmp_path, env)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("ENCRYPTION_KEY", "not-a-fernet-key", "ENCRYPTION_KEY: expected one or more"),
        (
            "DATABASE_URL",
            "mysql://db/unpack",
            "DATABASE_URL: expected a sqlite:// or postgresql://",
        ),
        ("DATABASE_URL", "::nonsense::", "DATABASE_URL: expected a SQLAlchemy URL"),
        ("DATABASE_URL", "postgresql://u:pw@127.0.0.1:1/x", "DATABASE_URL: cannot open"),
        ("PORT", "eighty", "PORT:"),
        ("SLACK_API_URL", "slack.com/api", "SLACK_API_URL: expected an http"),
        ("SYNC_INTERVAL_SECONDS", "0", "SYNC_INTERVAL_SECONDS:"),
        # A URL never matches a site's host: the admin's site would be refused, unexplained.
        (
            "JIRA_TRUSTED_HOSTS",
            "jira.corp.example:8443, https://jira.corp.example",
            "JIRA_TRUSTED_HOSTS: expected comma-separated hosts or host:port",
        ),
    ],
)
def test_invalid_setting_is_one_line_naming_it(tmp_path, name, value, expected):
    result = start(tmp_path, {**GOOD, name: value})
    assert result.returncode == 2
    assert expected in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "pw@" not in result.stderr  # a database password is never echoed


def test_dotenv_file_is_read(tmp_path):
    dotenv = "".join(f"{k}={v}\n" for k, v in {**GOOD, "ENCRYPTION_KEY": "bad"}.items())
    result = start(tmp_path, {}, dotenv=dotenv)
    assert result.returncode == 2
    assert "ENCRYPTION_KEY: expected one or more" in result.stderr


def test_secret_values_are_not_echoed(tmp_path):
    result = start(tmp_path, {**GOOD, "ENCRYPTION_KEY": "super-secret-value"})
    assert result.returncode == 2
    assert "ENCRYPTION_KEY: expected one or more" in result.stderr
    assert "super-secret-value" not in result.stderr + result.stdout
