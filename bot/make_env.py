"""`python -m bot.make_env` writes a starter `.env` in the current directory.

It holds a freshly generated ENCRYPTION_KEY, placeholders for the two Slack values an
operator must paste in, and every other setting commented out at its default. An existing
`.env` is never touched. `python -m bot.make_env --example` prints the same file without a
key: that is `.env.example`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cryptography.fernet import Fernet

from bot.config import Settings

ENV_FILE = ".env"
# Only the operator's Slack app can supply these. (A plain string: ruff's S608 mistakes
# "replace ... values" in a formatted string for SQL.)
SLACK_PLACEHOLDERS = """\
# Slack: replace with your app's values (api.slack.com/apps, your app).
# Basic Information > App Credentials > Signing Secret:
SLACK_SIGNING_SECRET=replace-with-your-apps-signing-secret
# Single workspace: OAuth & Permissions > Bot User OAuth Token (xoxb-...):
SLACK_BOT_TOKEN=xoxb-replace-with-your-apps-bot-token
# Or, to let several workspaces install the app at PUBLIC_URL/slack/install, remove
# SLACK_BOT_TOKEN and set the app's client id and secret instead:
"""
GENERATE_KEY = (
    "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)


def _default(name: str) -> str:
    """The variable's default as bot.config declares it, so this file cannot drift."""
    default = Settings.model_fields[name.lower()].default
    if default is None:
        return ""
    if isinstance(default, float) and default.is_integer():
        default = int(default)
    return str(default)


def _commented(*names: str) -> str:
    return "\n".join(f"# {name}={_default(name)}" for name in names)


def render(encryption_key: str | None) -> str:
    """The text of a `.env`: with this key, or (for `.env.example`) with none."""
    if encryption_key:
        key_lines = f"ENCRYPTION_KEY={encryption_key}"
    else:
        key_lines = (
            f"# Generate one with `python -m bot.make_env` or:\n#   {GENERATE_KEY}\nENCRYPTION_KEY="
        )
    return f"""\
# Unpack settings, read by `python app.py` from the current directory.
# Every variable is described in README.md ("Settings").

{SLACK_PLACEHOLDERS}{_commented("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_API_URL")}
# Socket Mode, for a trial without a public URL (single workspace): an xapp- token.
{_commented("SLACK_APP_TOKEN")}

# Jira Cloud OAuth 2.0 (3LO) app; without it only API-token connections are offered.
{_commented("ATLASSIAN_CLIENT_ID", "ATLASSIAN_CLIENT_SECRET")}
{_commented("ATLASSIAN_AUTH_URL", "ATLASSIAN_API_URL", "ATLASSIAN_DEADLINE_SECONDS")}

# Fernet key(s) encrypting Jira credentials at rest; losing it loses the connections.
# To rotate: put a new key first and keep the old ones after it, comma-separated.
{key_lines}

{_commented("PUBLIC_URL", "DATABASE_URL", "PORT")}
{_commented("SYNC_INTERVAL_SECONDS", "SYNC_RETRY_BASE_SECONDS", "SYNC_LEASE_SECONDS")}
{_commented("WEBHOOK_APPLY_EVERY_SECONDS", "REQUEST_READ_SECONDS")}
{_commented("LOG_FORMAT", "METRICS_PORT")}

# Hosts (or host:port) an API-token site URL may name though they are not public.
{_commented("JIRA_TRUSTED_HOSTS")}
"""


def write_env(path: Path) -> bool:
    """Creates `path` (readable by its owner only); False if it already exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as env_file:
        env_file.write(render(Fernet.generate_key().decode()))
    return True


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--example"]:
        sys.stdout.write(render(None))
        return 0
    if args:
        print("usage: python -m bot.make_env [--example]", file=sys.stderr)
        return 2
    path = Path.cwd() / ENV_FILE
    if not write_env(path):
        print(f"{path} already exists; left unchanged.")
        return 0
    print(
        f"Wrote {path} with a new ENCRYPTION_KEY.\n"
        "Replace the SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN placeholders in it with your "
        "Slack app's values (README.md, Quick start)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
