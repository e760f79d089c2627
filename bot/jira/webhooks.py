"""POST /jira/webhook/{token}: verify, deduplicate, apply (issue 6)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


async def jira_webhook(request: Request) -> Response:
    return JSONResponse({"error": "unknown webhook"}, status_code=404)
