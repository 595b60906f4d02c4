"""Several PBXs served by one deployment: the runtime reads both over AMI, records every
call with its PBX, and sends each command to the PBX that owns the agent or channel."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest

from callcenter.settings import SettingsError, load_settings
from callcenter.wiring import Runtime
from crm_core.domain.models import OfferResult
from crm_core.ports.repositories import CallFilter
from crm_core.ports.telephony import OriginateRequest, SpyMode
from telephony.sim import Simulator

SECRET = "multi-pbx"


def _pbx(first_agent: int) -> Simulator:
    sim = Simulator(ami_secret=SECRET)
    sim.add_queue("support")
    for n in range(first_agent, first_agent + 2):
        member, iface = f"Agent {n}", f"Local/{n}@agents/n"
        sim.add_agent_phone(member, iface, 0.2)
        sim.add_member("support", member, iface)
    return sim


def test_endpoint_list_parses_names_and_agent_prefixes() -> None:
    s = load_settings(
        environ={
            "CALLCENTER_AMI_ENDPOINTS": "bj=cc:s1@10.0.0.1:5038;agents=PJSIP/1|Local/1,"
            "sh=cc:s2@10.0.0.2:5038"
        }
    )
    east, west = s.ami_endpoint_list()
    assert (east.name, east.host, east.agents) == ("bj", "10.0.0.1", ("PJSIP/1", "Local/1"))
    assert (west.name, west.port, west.agents) == ("sh", 5038, ())
    with pytest.raises(SettingsError, match="AMI_ENDPOINTS"):
        load_settings(environ={"CALLCENTER_AMI_ENDPOINTS": "bj=cc:s1@h:5038;agent=PJSIP/1"})
    with pytest.raises(SettingsError, match=r"ami_endpoints|AMI_ENDPOINTS"):
        load_settings(environ={"CALLCENTER_AMI_ENDPOINTS": "bj=cc:s@h:1,bj=cc:s@h:2"})


async def test_one_runtime_records_and_commands_two_pbxs(tmp_path: Path) -> None:
    east, west = _pbx(1001), _pbx(2001)
    east_port, west_port = await east.start(), await west.start()
    settings = load_settings(
        environ={
            "CALLCENTER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}",
            "CALLCENTER_OUTBOX_PATH": str(tmp_path / "outbox.db"),
            "CALLCENTER_SECRET_KEY": secrets.token_hex(16),
            "CALLCENTER_AGI_PORT": "0",
            "CALLCENTER_AMI_ENDPOINTS": (
                f"east=callcenter:{SECRET}@127.0.0.1:{east_port};agents=Local/1,"
                f"west=callcenter:{SECRET}@127.0.0.1:{west_port};agents=Local/2"
            ),
        }
    )
    runtime = Runtime(settings=settings, host="127.0.0.1", port=0)
    from crm_core.db.migrate import upgrade_async

    await upgrade_async(settings.database_url)
    await runtime.start()
    try:
        clients = runtime.components.telephony.clients
        assert [c.endpoint.name for c in clients] == ["east", "west"]
        for client in clients:
            await client.wait_connected(timeout=10.0)
        east.place_call("13800138001", "东", "support", talk_seconds=0.3)
        west.place_call("13800138002", "西", "support", talk_seconds=0.3)
        db = runtime.components.db

        async def records() -> list[tuple[str, str, str | None]]:
            found = await db.calls.list(CallFilter(limit=10))
            return sorted((r.pbx, r.caller_number, r.agent) for r in found)

        async with asyncio.timeout(20):
            while len(await records()) < 2:
                await asyncio.sleep(0.1)
        got = await records()
        assert got == [("east", "13800138001", "Agent 1001"), ("west", "13800138002", "Agent 2001")]
        found = await db.calls.list(CallFilter(limit=10))
        assert all(r.offers[0].result is OfferResult.ANSWERED for r in found)

        commands = runtime.components.telephony.commands
        # an agent of the west PBX signs in and dials: both actions reach the west PBX only
        await commands.queue_pause("Local/2002@agents/n", True, "break", "support")
        await commands.originate(
            OriginateRequest(channel="Local/2002@agents/n", context="outbound", exten="13900000000")
        )
        assert [a.get("Action") for a in west.actions if a.get("Action") != "Ping"][-2:] == [
            "QueuePause",
            "Originate",
        ]
        assert not [a for a in east.actions if a.get("Action") in ("QueuePause", "Originate")]

        # a lead listens in on a west agent: the listen-in runs on west, and ends there
        west.place_call("13800138003", "西二", "support", talk_seconds=30)
        async with asyncio.timeout(10):
            while not any(c["state"] == "talking" for c in west.state()["calls"]):
                await asyncio.sleep(0.05)
        talking = next(c for c in west.state()["calls"] if c["state"] == "talking")
        agent = f"Local/{talking['agent'].split()[-1]}@agents/n"  # "Agent 2002"
        result = await commands.spy(
            "Local/9001@supervisor-sim/n", agent, SpyMode.LISTEN, channel_id="spy-west"
        )
        assert result.success
        assert await commands.end_spy("spy-west")
        hangups = [a.get("Channel") for a in west.actions if a.get("Action") == "Hangup"]
        assert hangups == [result.channel]
        assert not [a for a in east.actions if a.get("Action") in ("Originate", "Hangup")]
        assert not await commands.end_spy("spy-west")  # ended: nothing left to end
    finally:
        await runtime.stop()
        await east.stop()
        await west.stop()
