"""Who may talk to the studio: the Host, Origin and token checks, as one ASGI middleware.

* **Host**: bound to loopback, only loopback host names are answered. A web page elsewhere
  cannot then reach the studio by pointing its own domain at 127.0.0.1 (DNS rebinding).
* **Origin**: a request that changes something (POST, DELETE) from a browser must come from
  the studio's own page; another site's form cannot start or cancel jobs (CSRF).
* **Token**: bound to another address, every ``/api/`` request needs the token, as the header
  ``X-Painterly-Token`` (or ``Authorization: Bearer``) or the query parameter ``token`` (which
  the page uses for event streams, images and downloads). The page and its assets are not
  secret and need none.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection
from urllib.parse import urlsplit

from starlette.datastructures import Headers, QueryParams
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

TOKEN_HEADER = "x-painterly-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Guard:
    """Refuse requests with a foreign Host, a foreign Origin, or no valid token."""

    def __init__(
        self, app: ASGIApp, token: str | None = None, hosts: Collection[str] | None = None
    ) -> None:
        self.app = app
        self.token = token
        self.hosts = {h.lower() for h in hosts} if hosts is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problem = self.check(scope)
            if problem is not None:
                status, message = problem
                await JSONResponse({"error": message}, status)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def check(self, scope: Scope) -> tuple[int, str] | None:
        """(status, message) for a refused request, None for an accepted one."""
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if self.hosts is not None and _hostname(host) not in self.hosts:
            return 400, f"host {host!r} is not served here"
        origin = headers.get("origin")
        if scope["method"] not in SAFE_METHODS and origin and urlsplit(origin).netloc != host:
            return 403, "cross-origin requests are refused"
        if self.token is not None and scope["path"].startswith("/api/"):
            given = _given_token(headers, QueryParams(scope.get("query_string", b"")))
            if given is None or not hmac.compare_digest(given.encode(), self.token.encode()):
                return 401, "a valid token is required (header X-Painterly-Token or ?token=)"
        return None


def _hostname(host: str) -> str:
    """The Host header without its port: 'localhost:8765' -> 'localhost', '[::1]:80' -> '::1'."""
    host = host.lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _given_token(headers: Headers, query: QueryParams) -> str | None:
    if TOKEN_HEADER in headers:
        return headers[TOKEN_HEADER]
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return query.get("token")


__all__ = ["TOKEN_HEADER", "Guard"]
