"""Jira Cloud emulator: a real HTTPS server on loopback for the app's tests.

A test tool only; the app never imports it. The implementation lives in
``tests/fakes/jira/`` (one module per concern); this module is the public entry point.

    emu = JiraEmulator()                 # client_id / client_secret of the 3LO app, tls=True
    emu.start()                          # uvicorn in a daemon thread; emu.stop() at the end
    app_env = {"ATLASSIAN_AUTH_URL": emu.auth_url, "ATLASSIAN_API_URL": emu.api_url,
               "SSL_CERT_FILE": emu.ca_file}

    site = emu.add_site("acme")          # site.url, site.cloud_id
    site.add_project("TEAM", "Team board")               # Task, Bug, Epic
    ana = site.add_user("ana@example.com", "Ana Lima")
    site.add_api_token("ana@example.com", "token")       # basic auth on site.url
    emu.consent(ana, [site])             # the next /authorize is accepted by Ana

    deliveries = site.transition("TEAM-1", "Done", by=ana)   # sends signed webhooks
    emu.faults.add("POST", "/issue/bulk", "created_then_500")
    emu.requests_to("POST", "/issue/bulk")                   # what the app sent

Knobs a test may turn (see each class): ``emu.latency``, ``emu.access_token_ttl``,
``emu.required_scopes``, ``emu.redirect_uris``, ``emu.app_owner``,
``site.search_lag_seconds``, ``site.deny_create``, ``site.remove_issue_type``,
``site.set_assignable``, ``site.webhook_limit_per_user``; counters:
``emu.refresh_token_reuses``, ``emu.token_requests``, ``site.user_search_calls``.
"""

# The package decides what is public; this module only gives it a findable name.
from .jira import *  # noqa: F403
from .jira import __all__  # noqa: F401
