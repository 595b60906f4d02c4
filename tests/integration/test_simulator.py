"""The simulator's control API over real HTTP, mounted under /sim/ as in the demo."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from telephony.sim import Simulator, create_control_app, demo_simulator


def _non_loopback_address() -> str:
    """This machine's own LAN address (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only used to pick a route
        address: str = probe.getsockname()[0]
    return address


async def _serve(sim: Simulator, host: str) -> tuple[web.AppRunner, str]:
    root = web.Application()
    root.add_subapp("/sim/", create_control_app(sim))
    runner = web.AppRunner(root)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://{host}:{port}/sim"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = demo_simulator(preload_members=True, answer_after=None)
    await simulator.start()
    yield simulator
    await simulator.stop()


async def test_place_call_set_agent_and_state(sim: Simulator) -> None:
    runner, base = await _serve(sim, "127.0.0.1")
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{base}/calls", json={"from": "13800138000", "name": "张三", "queue": "support"}
            ) as resp:
                assert resp.status == 201
                call_id = (await resp.json())["call_id"]
            async with http.put(f"{base}/agents/Agent 1002", json={"answer_after": 2.5}) as resp:
                assert resp.status == 200
                assert (await resp.json())["answer_after"] == 2.5
            assert sim.agents["Agent 1002"].answer_after == 2.5
            async with http.get(f"{base}/state") as resp:
                state: dict[str, Any] = await resp.json()
            assert call_id in str(state["calls"])
            assert "张三" in str(state["calls"])
            assert sim.calls[call_id].caller_name == "张三"
    finally:
        await runner.cleanup()


async def test_bad_requests_are_clear_errors(sim: Simulator) -> None:
    runner, base = await _serve(sim, "127.0.0.1")
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{base}/calls", json={"name": "no number"}) as resp:
                assert resp.status == 400
                assert (await resp.json())["error_id"] == "bad-request"
            async with http.post(f"{base}/calls", json={"from": "1", "queue": "nope"}) as resp:
                assert resp.status == 400
                assert "nope" in (await resp.json())["message"]
            async with http.post(f"{base}/calls", data=b"not json") as resp:
                assert resp.status == 400
            async with http.put(f"{base}/agents/Agent 9999", json={"answer_after": 1}) as resp:
                assert resp.status == 404
                assert (await resp.json())["error_id"] == "no-such-agent"
            async with http.put(f"{base}/agents/Agent 1001", json={"answer_after": -1}) as resp:
                assert resp.status == 400
        assert not sim.calls
    finally:
        await runner.cleanup()


async def test_non_loopback_clients_are_refused(sim: Simulator) -> None:
    address = _non_loopback_address()
    assert not ipaddress.ip_address(address).is_loopback, "test host has no LAN address"
    runner, base = await _serve(sim, address)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{base}/calls", json={"from": "13800138000"}) as resp:
                assert resp.status == 403
                assert (await resp.json())["error_id"] == "forbidden"
            async with http.get(f"{base}/state") as resp:
                assert resp.status == 403
        assert not sim.calls
    finally:
        await runner.cleanup()
