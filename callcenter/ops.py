"""Operations endpoints: `/healthz` (liveness), `/readyz` (AMI, database, Redis),
`/metrics` (Prometheus).

Health endpoints say only up/down and a short reason, so load balancers may call
them without a session. `/metrics` answers loopback scrapers, or anyone with the
`metrics_token` from settings as a bearer token.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

from crm_core import metrics
from crm_core.aio import loopback_peer
from crm_core.health import HealthRegistry

HEALTH_KEY = web.AppKey("health", HealthRegistry)


def setup_ops_routes(
    app: web.Application,
    health: HealthRegistry,
    *,
    db_ping: Callable[[], Awaitable[bool]] | None = None,
    metrics_token: str = "",
) -> None:
    app[HEALTH_KEY] = health

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        if db_ping is not None:
            try:
                ok = await db_ping()
            except Exception as exc:  # any driver error means "not ready"
                health.set("database", False, f"ping failed: {exc}")
            else:
                health.set("database", ok, "ping ok" if ok else "ping failed")
        body = {
            "ready": health.ready,
            "degraded": health.degraded,
            "components": health.snapshot(),
        }
        return web.json_response(body, status=200 if health.ready else 503)

    async def metrics_view(request: web.Request) -> web.Response:
        if not _may_scrape(request, metrics_token):
            return web.json_response(
                {"error_id": "forbidden", "message": "metrics: loopback or bearer token only"},
                status=403,
            )
        return web.Response(body=metrics.render(), content_type="text/plain", charset="utf-8")

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)


def _may_scrape(request: web.Request, token: str) -> bool:
    if token:
        header = request.headers.get("Authorization", "")
        if hmac.compare_digest(header, f"Bearer {token}"):
            return True
    return loopback_peer(request.transport)
