"""SIGTERM stops the app cleanly: background work ends, nothing is left half-done in the log."""

from __future__ import annotations

from tests.harness import launch_app


def test_sigterm_shuts_down_cleanly(slack_emulator, jira_emulator):
    process = launch_app(slack_emulator, jira_emulator)
    assert process.get("/healthz").status_code == 200
    process.stop()
    log = process.log()
    # uvicorn re-raises SIGTERM after its graceful shutdown, so supervisors see the signal.
    assert process.proc.returncode in (0, -15), log
    assert "Application shutdown complete" in log
    assert "Traceback" not in log
    assert "Task was destroyed but it is pending" not in log
