"""`callcenter demo` wiring: starts in seconds, serves the console and `/sim/`, stops cleanly;
`callcenter serve` refuses to start without its secrets."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest

from callcenter.commands.serve import check_production_settings
from callcenter.settings import SettingsError, load_settings
from tests.integration.demo_server import demo_runtime


async def test_demo_starts_quickly_serves_and_stops(tmp_path: Path) -> None:
    runtime = demo_runtime(tmp_path)
    started = time.monotonic()
    await runtime.start()
    try:
        assert time.monotonic() - started < 10
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{runtime.url}login") as res:
                assert res.status == 200
            async with s.post(
                f"{runtime.url}api/login", json={"username": "agent1", "password": "demo"}
            ) as res:
                assert res.status == 200
            async with s.post(
                f"{runtime.url}sim/calls", json={"from": "13800138000", "queue": "support"}
            ) as res:
                assert res.status in (200, 201)
                assert "call_id" in await res.json()
    finally:
        await runtime.stop()
    assert runtime.parts == []


def test_serve_needs_its_secrets() -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        check_production_settings(load_settings(environ={}))
    with pytest.raises(SettingsError, match="AMI_SECRET"):
        check_production_settings(load_settings(environ={"CALLCENTER_SECRET_KEY": "x" * 32}))
    check_production_settings(
        load_settings(environ={"CALLCENTER_SECRET_KEY": "x" * 32, "CALLCENTER_AMI_SECRET": "s"})
    )
