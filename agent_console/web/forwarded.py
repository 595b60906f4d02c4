"""Behind a reverse proxy: take the client address and scheme from X-Forwarded-*.

Only when `trust_forwarded_headers` is set, because anyone can send those headers
to a service that is reachable directly. We trust exactly one proxy hop: the
right-most X-Forwarded-For entry is the address our proxy saw (nginx appends it
with `$proxy_add_x_forwarded_for`); everything left of it is whatever the client
sent and counts for nothing (the login throttle and the audit log use this
address). Only the proxy may reach the service when this is on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def forwarded_middleware() -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    @web.middleware
    async def forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        changes: dict[str, str] = {}
        # every X-Forwarded-For line, in order: a client may send its own line(s) and
        # the proxy appends to the list, so only the very last entry is the proxy's
        hops = [
            part.strip()
            for line in request.headers.getall("X-Forwarded-For", ())
            for part in line.split(",")
            if part.strip()
        ]
        if hops:
            changes["remote"] = hops[-1]
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        if proto in ("http", "https"):
            changes["scheme"] = proto
        host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
        if host:
            changes["host"] = host
        if changes:
            request = request.clone(**changes)  # type: ignore[arg-type]
        return await handler(request)

    return forwarded


def client_ip(request: web.Request) -> str:
    return request.remote or ""
