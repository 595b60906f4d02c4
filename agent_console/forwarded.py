"""Behind a reverse proxy: take the client address and scheme from X-Forwarded-*.

Only when `trust_forwarded_headers` is set, because anyone can send those headers
to a service that is reachable directly. We trust exactly one proxy hop: the
right-most X-Forwarded-For entry is the address our proxy saw.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def forwarded_middleware() -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    @web.middleware
    async def forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        changes: dict[str, str] = {}
        xff = request.headers.get("X-Forwarded-For", "")
        if xff:
            hops = [part.strip() for part in xff.split(",") if part.strip()]
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
