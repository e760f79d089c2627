"""``JiraEmulator``: the state a test sets up, and the HTTPS server that serves it.

The server (Starlette under uvicorn) runs in a daemon thread with its own event loop, so
synchronous and asynchronous tests alike just point the app at ``base_url``. State is
shared with the test thread behind one re-entrant lock (``emulator.lock``).
"""

from __future__ import annotations

import asyncio
import html
import shutil
import socket
import ssl
import threading
import time
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from . import openapi, rest_issues, rest_misc, rest_transitions  # noqa: F401  (routes)
from .faults import FaultPlan, FaultsAndRecording
from .model import Recorded, User
from .oauth import Consent, OAuthServer
from .rest import RestApi
from .site import Site
from .tls import CertFiles, make_loopback_cert

# The scopes the app must ask for; /authorize refuses a request that lacks one.
REQUIRED_SCOPES = (
    "read:jira-work",
    "write:jira-work",
    "read:jira-user",
    "manage:jira-webhook",
    "offline_access",
)
DEFAULT_APP_SCOPES = (
    "read:jira-work",
    "write:jira-work",
    "read:jira-user",
    "manage:jira-webhook",
    "offline_access",
    "read:me",
)
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]
# freezegun patches module attributes that hold the real clock functions; one kept inside
# a dict survives, so the server's event loop keeps real time while a test freezes it.
_REAL_CLOCK = {"monotonic": time.monotonic}


class _RealClockLoop(asyncio.SelectorEventLoop):
    def time(self) -> float:
        return _REAL_CLOCK["monotonic"]()


class _Server(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Tests stop the emulator with clients still holding keep-alive TLS connections;
        # a polite TLS close waits for the peer's close_notify, which idle clients never
        # send. Cutting the connections makes stop() take ~0.2 s instead of the timeout.
        for connection in list(self.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        await super().shutdown(sockets)


class JiraEmulator:
    def __init__(
        self,
        *,
        client_id: str = "atl-client-id",
        client_secret: str = "atl-client-secret",  # noqa: S107 - a test fixture value
        tls: bool = True,
    ):
        self.client_id, self.client_secret, self.tls = client_id, client_secret, tls
        self.lock = threading.RLock()
        self.faults = FaultPlan()
        self.base_url = ""
        self.certs: CertFiles | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    def reset(self) -> None:
        """Forgets sites, issues, grants, faults and records; the server keeps running."""
        with self.lock:
            self.sites: dict[str, Site] = {}
            self.requests: list[Recorded] = []
            self.oauth = OAuthServer(self)
            self.faults.clear()
            self.latency = 0.0  # seconds added to every REST request
            # Issues per page of a search at most (None: Jira's own caps), so that tests
            # see results that really span several pages.
            self.search_page_size: int | None = None
            self.access_token_ttl = 3600
            self.webhook_timeout = 20.0
            self.app_scopes: tuple[str, ...] = DEFAULT_APP_SCOPES  # added in the dev console
            self.required_scopes: tuple[str, ...] = REQUIRED_SCOPES
            self.redirect_uris: list[str] | None = None  # None: any callback URL is accepted
            # Private 3LO apps only get dynamic-webhook deliveries for webhooks registered
            # by the app owner (spec, registerDynamicWebhooks). None: no such restriction.
            self.app_owner: str | None = None  # account id

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the Jira emulator is already running")
        openapi.preload()  # parse the spec now rather than inside the first request
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto
        # says TCP, and without it every keep-alive response waits ~40 ms on delayed ACKs.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        tls: dict[str, Any] = {}
        if self.tls:
            self.certs = make_loopback_cert()
            tls = {"ssl_certfile": self.certs.cert_file, "ssl_keyfile": self.certs.key_file}
        config = uvicorn.Config(
            FaultsAndRecording(self._starlette(), self),
            host="127.0.0.1",
            port=port,
            http="h11",
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
            **tls,
        )
        self._server = _Server(config)
        self.base_url = f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"
        self._thread = threading.Thread(
            target=self._serve, args=(self._server, sock), name="jira-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Jira emulator failed to start")
            time.sleep(0.005)

    @staticmethod
    def _serve(server: _Server, sock: socket.socket) -> None:
        loop = _RealClockLoop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.serve(sockets=[sock]))
        finally:
            loop.close()

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._server = self._thread = None
        if self.certs is not None:
            shutil.rmtree(self.certs.directory, ignore_errors=True)
            self.certs = None

    def __enter__(self) -> JiraEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses and TLS ----------------------------------------------------------

    @property
    def auth_url(self) -> str:
        return self.base_url + "/auth"

    @property
    def api_url(self) -> str:
        return self.base_url + "/api"

    @property
    def ca_file(self) -> str:
        if self.certs is None:
            raise RuntimeError("no CA file: start the emulator with tls=True first")
        return self.certs.ca_file

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client that trusts the emulator (for the emulator's own tests)."""
        verify = self.ssl_context() if self.tls else True
        return httpx.Client(base_url=self.base_url, verify=verify, **kwargs)

    # --- test setup -----------------------------------------------------------------

    def add_site(self, name: str, *, cloud_id: str | None = None) -> Site:
        with self.lock:
            if name in self.sites:
                raise ValueError(f"site {name!r} exists")
            site = Site(self, name, cloud_id)
            self.sites[name] = site
            return site

    def consent(self, user: User, sites: list[Site], deny: bool = False) -> None:
        """Scripts the consent screen: the next /authorize is accepted (or denied) by
        ``user`` for ``sites``."""
        with self.lock:
            for site in sites:
                site.users.setdefault(user.account_id, user)
            self.oauth.consent_plan = Consent(user, [s.name for s in sites], deny)

    def revoke_grant(self, user: User) -> None:
        """As if the user removed the app under "Connected apps"."""
        self.oauth.revoke_grant(user)

    @property
    def refresh_token_reuses(self) -> int:
        """Refreshes made with an already-rotated refresh token (inside or past the
        10-minute leeway); a correct client keeps this at 0."""
        return self.oauth.refresh_token_reuses

    @property
    def token_requests(self) -> dict[str, int]:
        """Calls to /oauth/token by grant_type."""
        return self.oauth.token_requests

    # --- records --------------------------------------------------------------------

    def _add_record(self, record: Recorded) -> None:
        with self.lock:
            self.requests.append(record)

    def requests_to(self, method: str, path_suffix: str) -> list[Recorded]:
        method = method.upper()
        with self.lock:
            return [
                r
                for r in self.requests
                if method in ("*", r.method) and r.path.endswith(path_suffix)
            ]

    # --- HTTP -----------------------------------------------------------------------

    def _starlette(self) -> Starlette:
        api = RestApi(self)

        # Wrappers rather than bound methods: reset() replaces self.oauth.
        async def authorize(request: Request) -> Response:
            return await self.oauth.authorize(request)

        async def token(request: Request) -> Response:
            return await self.oauth.token(request)

        async def resources(request: Request) -> Response:
            return await self.oauth.accessible_resources(request)

        async def browse(request: Request) -> Response:
            with self.lock:
                site = self.sites.get(request.path_params["site"])
                issue = site.find_issue(request.path_params["key"]) if site else None
                title = html.escape(f"[{issue.key}] {issue.fields['summary']}") if issue else ""
            if not issue:
                return HTMLResponse("<h1>Issue not found</h1>", status_code=404)
            return HTMLResponse(f"<html><head><title>{title}</title></head></html>")

        return Starlette(
            routes=[
                Route("/auth/authorize", authorize, methods=["GET"]),
                Route("/auth/oauth/token", token, methods=["POST"]),
                Route("/api/oauth/token/accessible-resources", resources, methods=["GET"]),
                Route(
                    "/api/ex/jira/{cloudid}/rest/api/3/{rest:path}",
                    api.via_gateway,
                    methods=METHODS,
                ),
                Route("/sites/{site}/rest/api/3/{rest:path}", api.via_site, methods=METHODS),
                Route("/sites/{site}/browse/{key}", browse, methods=["GET"]),
            ]
        )
