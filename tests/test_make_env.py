"""`python -m bot.make_env` writes a usable `.env` once and never overwrites it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet
from dotenv import dotenv_values

from bot.make_env import render

ROOT = Path(__file__).resolve().parents[1]


def make_env(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.make_env"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_writes_a_fresh_key_and_keeps_an_existing_file(tmp_path):
    first = make_env(tmp_path)
    assert first.returncode == 0, first.stderr
    env_file = tmp_path / ".env"
    values = dotenv_values(env_file)
    Fernet(values["ENCRYPTION_KEY"])  # raises unless it is a valid Fernet key
    assert values["SLACK_SIGNING_SECRET"].startswith("replace-with")
    assert values["SLACK_BOT_TOKEN"].startswith("xoxb-replace-with")
    assert "# DATABASE_URL=sqlite:///unpack.db" in env_file.read_text()
    written = env_file.read_text()

    second = make_env(tmp_path)
    assert second.returncode == 0, second.stderr
    assert "already exists" in second.stdout
    assert env_file.read_text() == written


def test_env_example_matches_the_generator():
    assert (ROOT / ".env.example").read_text() == render(None), (
        "regenerate it: python -m bot.make_env --example > .env.example"
    )
