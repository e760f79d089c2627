"""The Dockerfile and compose.yaml keep mirroring the README's commands (the tests cannot
build an image: no Docker daemon, no registry): same install, same entry point, health
checked, never root, never a developer's .env baked in."""

from __future__ import annotations

import re

import yaml

from tests.harness import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
README = (ROOT / "README.md").read_text()


def instructions(name: str) -> list[str]:
    joined = DOCKERFILE.replace("\\\n", " ")
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.startswith(name + " ")]


def test_the_image_installs_and_runs_as_the_quick_start_does():
    [base] = instructions("FROM")
    assert re.fullmatch(r"python:3\.11-slim", base)
    assert any("python3 -m venv" in run for run in instructions("RUN"))
    assert any("pip install --no-cache-dir . -c constraints.txt" in r for r in instructions("RUN"))
    assert "pip install -e . -c constraints.txt" in README  # the Quick start's install
    assert instructions("CMD") == ['["python", "app.py"]']


def test_the_image_runs_as_a_numbered_user_and_checks_its_health():
    [user] = instructions("USER")
    assert user.isdigit() and user != "0"
    assert f"--uid {user}" in DOCKERFILE
    [health] = instructions("HEALTHCHECK")
    assert "/healthz" in health


def test_no_secret_or_local_state_goes_into_the_image():
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[1] == "*"  # everything, then only what the image needs
    allowed = {line[1:] for line in ignored if line.startswith("!")}
    assert allowed == {
        "pyproject.toml",
        "constraints.txt",
        "README.md",
        "app.py",
        "bot/",
        "commands/",
        "storage/",
    }


def test_compose_runs_the_app_against_postgresql():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    app, db = compose["services"]["app"], compose["services"]["db"]
    assert app["build"] == "."
    assert app["environment"]["DATABASE_URL"].startswith("postgresql://unpack:")
    assert app["environment"]["DATABASE_URL"].endswith("@db:5432/unpack")
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert db["image"].startswith("postgres:")
    assert "docker compose up --build" in README
