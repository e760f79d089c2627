"""The access log keeps paths but never the one-time codes and states of OAuth redirects."""

from __future__ import annotations

from tests.harness import install_workspace


def test_install_redirect_is_logged_without_its_code_and_state(app, slack_emulator, db):
    install_workspace(app, slack_emulator, db)
    log = app.log()
    assert "GET /slack/oauth_redirect HTTP/1.1" in log
    assert "code=" not in log
    assert "state=" not in log
