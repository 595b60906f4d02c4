"""/healthz, /readyz and /metrics over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callcenter.ops import setup_ops_routes
from crm_core import metrics
from crm_core.domain.events import AmiConnected, AmiDisconnected, ServiceHealthChanged
from crm_core.health import HealthRegistry


async def test_ready_follows_components_and_metrics_render() -> None:
    health = HealthRegistry(("ami", "database"))
    db_up = True

    async def ping() -> bool:
        return db_up

    app = web.Application()
    setup_ops_routes(app, health, db_ping=ping)
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/healthz")).status == 200
        resp = await client.get("/readyz")
        assert resp.status == 503  # AMI not connected yet
        body = await resp.json()
        assert body["components"]["ami"]["healthy"] is False

        now = datetime.now(UTC)
        health.handle(AmiConnected(at=now, host="127.0.0.1", port=5038))
        resp = await client.get("/readyz")
        assert resp.status == 200

        db_up = False
        resp = await client.get("/readyz")
        assert resp.status == 503
        assert (await resp.json())["components"]["database"]["healthy"] is False
        db_up = True

        health.handle(AmiDisconnected(at=now, host="127.0.0.1", port=5038, reason="EOF"))
        assert (await client.get("/readyz")).status == 503
        health.handle(AmiConnected(at=now, host="127.0.0.1", port=5038))
        health.handle(ServiceHealthChanged(at=now, component="redis", healthy=False, detail="x"))
        assert (await client.get("/readyz")).status == 503

        metrics.POPS_SENT.inc()
        resp = await client.get("/metrics")
        assert resp.status == 200
        text = await resp.text()
        assert "callcenter_pops_sent_total" in text
        assert "callcenter_pop_latency_seconds_bucket" in text
