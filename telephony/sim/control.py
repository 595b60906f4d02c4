"""The simulator's control API (CONTRACTS.md), as an aiohttp sub-application.

Mounted at `/sim/` on the console's port in the demo, or on its own port by
`callcenter sim`. It answers loopback clients only: it places calls and changes
agents' phones, which nobody off the machine should be able to do.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from crm_core.aio import loopback_peer
from telephony.sim.pbx import Simulator

SIM_KEY = web.AppKey("simulator", Simulator)


@web.middleware
async def _loopback_only(request: web.Request, handler: Any) -> web.StreamResponse:
    if not loopback_peer(request.transport):
        return web.json_response(
            {"error_id": "forbidden", "message": "the simulator answers loopback clients only"},
            status=403,
        )
    try:
        response: web.StreamResponse = await handler(request)
    except ValueError as exc:
        return web.json_response({"error_id": "bad-request", "message": str(exc)}, status=400)
    return response


def _number(body: dict[str, Any], key: str, default: float | None) -> float | None:
    value = body.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{key} must be a number of seconds >= 0 or null")
    return float(value)


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise ValueError("body must be JSON") from exc
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


async def place_call(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    body = await _json(request)
    number = str(body.get("from") or "").strip()
    if not number:
        raise ValueError("'from' (the caller's number) is required")
    queue = body.get("queue", "support")
    if queue is not None and queue not in sim.queues:
        raise ValueError(f"no queue {queue!r}; queues: {sorted(sim.queues)}")
    call_id = sim.place_call(
        number,
        str(body.get("name") or ""),
        queue,
        abandon_after=_number(body, "abandon_after", None),
        talk_seconds=_number(body, "talk_seconds", 30.0) or 30.0,
        ivr_route=body.get("ivr") or None,
        dtmf=str(body.get("dtmf") or ""),
        survey=str(body.get("survey") or ""),
    )
    return web.json_response({"call_id": call_id}, status=201)


async def set_agent(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    body = await _json(request)
    member = request.match_info["member_name"]
    if member not in sim.agents:
        return web.json_response(
            {"error_id": "no-such-agent", "message": f"no simulated agent {member!r}"},
            status=404,
        )
    phone = sim.agents[member]
    sim.set_agent(member, _number(body, "answer_after", None))
    if "talk_seconds" in body:  # the agent hangs up after N s (null: the caller decides)
        phone.talk_seconds = _number(body, "talk_seconds", None)
    return web.json_response(
        {
            "member_name": member,
            "answer_after": phone.answer_after,
            "talk_seconds": phone.talk_seconds,
        }
    )


async def kick(request: web.Request) -> web.Response:
    """`manager kick session`: close the AMI sessions (of one user, `?user=`)."""
    user = request.query.get("user") or None
    return web.json_response({"kicked": request.app[SIM_KEY].kick_sessions(user)})


async def state(request: web.Request) -> web.Response:
    return web.json_response(request.app[SIM_KEY].state())


def create_control_app(sim: Simulator) -> web.Application:
    app = web.Application(middlewares=[_loopback_only])
    app[SIM_KEY] = sim
    app.router.add_post("/calls", place_call)
    app.router.add_put("/agents/{member_name}", set_agent)
    app.router.add_get("/state", state)
    app.router.add_post("/ami/kick", kick)
    return app
