"""Atlassian OAuth 2.0 (3LO): authorize URL, the callback page, token refresh (issue 3)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response


async def jira_oauth_callback(request: Request) -> Response:
    """GET/POST /jira/oauth/callback."""
    return HTMLResponse("<p>Jira connections are not available yet.</p>", status_code=503)
