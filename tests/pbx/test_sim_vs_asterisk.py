"""The simulator against the real Asterisk: the same scripted calls, the same records.

Each scenario runs twice — on the real Asterisk 22 of the `pbx` suite and on the
in-process simulator driven through its control API — and each PBX's AMI is read by
the service's own `callcenter watch` path (`AmiClient` + `CallTracker`, with the
suite's ring settings). The call records must agree field by field; where they do not,
the real PBX is right and the simulator is fixed (ADR 0009, "Learned from Asterisk").

People behave the same on both: a phone answers after N s and its agent hangs up after
talking N s (`AmiControl.phone` / `PUT /sim/agents/{member}`); a caller who gives up
does so N s after joining the queue (the PBX's own `AbsoluteTimeout` on the real one,
`abandon_after` on the simulator).
"""

from __future__ import annotations

import asyncio
import difflib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from crm_core.clock import SystemClock
from crm_core.domain.events import CallEnded, DomainEvent
from telephony.ami.client import Endpoint
from telephony.pbx_reader import pbx_reader
from telephony.sim import Simulator, create_control_app, demo_simulator
from telephony.sim.agi_caller import installed_prompts
from telephony.tracker import CallTracker
from tests.pbx.harness import (
    AGENTS,
    AGI_SECRET,
    AMI_SECRET,
    AMI_USER,
    RING_LIMIT,
    AmiControl,
    Api,
    PbxStack,
)

ABANDON_THRESHOLD = 5.0  # settings' default, as the suite's serve runs with it
NUMBER, NAME = "13800138000", "张三"
EXT = {member: ext for _user, (ext, member) in AGENTS.items()}
USER = {member: user for user, (_ext, member) in AGENTS.items()}


# --- reading a PBX the way `callcenter watch` does ----------------------------------------


class Watch:
    """`callcenter watch` in-process: finished call records by call id."""

    def __init__(self, port: int) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self._changed = asyncio.Event()
        self.client = pbx_reader(
            Endpoint("127.0.0.1", port, AMI_USER, AMI_SECRET),
            tracker=CallTracker(RING_LIMIT, abandon_threshold_seconds=ABANDON_THRESHOLD),
            on_events=self._sink,
            clock=SystemClock(),
            ping_interval=1.0,
            watchdog=5.0,
        )

    async def _sink(self, events: list[DomainEvent]) -> None:
        for event in events:
            if isinstance(event, CallEnded):
                self.records[event.record.call_id] = event.record.to_contract()
                self._changed.set()

    async def record(self, call_id: str, timeout: float = 40.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while call_id not in self.records:
                self._changed.clear()
                await self._changed.wait()
        return self.records[call_id]


# --- the two PBXs behind one interface ------------------------------------------------------


@dataclass
class Pbx:
    """What a scenario does to a PBX: people and their phones."""

    control: AmiControl
    watch: Watch
    sign_in: Callable[[str], Awaitable[None]]
    phone: Callable[[str, float | None, float], Awaitable[None]]
    call_in: Callable[[float | None], Awaitable[str]]
    label: str
    events_of: dict[str, list[dict[str, str]]] = field(default_factory=dict)


async def real_pbx(stack: PbxStack, ami: AmiControl, http: aiohttp.ClientSession) -> Pbx:
    async def sign_in(member: str) -> None:
        api = await Api(stack, http, USER[member]).login()
        since = len(ami.events)
        await api.post("/api/agent/state", {"action": "sign_in"})
        await ami.wait_event("QueueMemberAdded", since=since, MemberName=member)

    async def phone(member: str, answer_after: float | None, talk: float) -> None:
        await ami.phone(
            EXT[member], answer_after="never" if answer_after is None else answer_after, talk=talk
        )

    async def call_in(abandon_after: float | None) -> str:
        since = len(ami.events)
        call_id = await ami.call_in(NUMBER, NAME)
        if abandon_after is not None:
            join = await ami.wait_event("QueueCallerJoin", since=since, Linkedid=call_id)
            # the caller gives up N s after joining: the PBX's own timer hangs the channel up
            reply = await ami.action(
                "AbsoluteTimeout", Channel=join["Channel"], Timeout=f"{abandon_after:g}"
            )
            assert reply[0].get("Response") == "Success", reply
        return call_id

    watch = Watch(stack.ami_port)
    return Pbx(ami, watch, sign_in, phone, call_in, "asterisk")


@dataclass
class SimSide:
    sim: Simulator
    control_url: str
    runner: web.AppRunner


@pytest.fixture
async def sim_side(stack: PbxStack) -> AsyncIterator[SimSide]:
    sim = demo_simulator(
        ami_secret=AMI_SECRET, agents=len(AGENTS), answer_after=2.0, ring_limit_seconds=RING_LIMIT
    )
    # the same IVR as the real PBX: the suite's service over FastAGI, with the prompts
    # `pbx-config` installed (a missing one ends the AGI session, as on Asterisk)
    sim.agi_address = ("127.0.0.1", stack.agi_port)
    sim.agi_secret = AGI_SECRET  # as the rendered dialplan passes it
    sim.prompts = installed_prompts(stack.pbx_dir / "sounds")
    await sim.start("127.0.0.1", 0)
    root = web.Application()
    root.add_subapp("/sim/", create_control_app(sim))
    runner = web.AppRunner(root)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield SimSide(sim, f"http://127.0.0.1:{port}/sim", runner)
    finally:
        await runner.cleanup()
        await sim.stop()


async def sim_pbx(side: SimSide, http: aiohttp.ClientSession) -> Pbx:
    control = AmiControl(side.sim.port, username=AMI_USER, secret=AMI_SECRET)
    await control.start()

    async def sign_in(member: str) -> None:
        # what the service's sign-in sends (QueueAdd per skill queue)
        for queue in ("sales", "support"):
            reply = await control.action(
                "QueueAdd",
                Queue=queue,
                Interface=f"Local/{EXT[member]}@agents/n",
                MemberName=member,
                StateInterface=f"Local/{EXT[member]}@agents",
            )
            assert reply[0].get("Response") == "Success", reply

    async def phone(member: str, answer_after: float | None, talk: float) -> None:
        body = {"answer_after": answer_after, "talk_seconds": talk or None}
        async with http.put(f"{side.control_url}/agents/{member}", json=body) as res:
            assert res.status == 200, await res.text()

    async def call_in(abandon_after: float | None) -> str:
        body = {
            "from": NUMBER,
            "name": NAME,
            "queue": "support",
            "ivr": "welcome",
            "talk_seconds": 3600,
            # as the real side's caller: 0 at the menu, hangs up when the survey asks
            "dtmf": ",0",  # per AGI session: nothing in welcome, 0 in the menu
            "survey": "hangup",
        }
        if abandon_after is not None:
            body["abandon_after"] = abandon_after
        async with http.post(f"{side.control_url}/calls", json=body) as res:
            assert res.status == 201, await res.text()
            return str((await res.json())["call_id"])

    watch = Watch(side.sim.port)
    return Pbx(control, watch, sign_in, phone, call_in, "simulator")


# --- scenarios -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    script: Callable[[Pbx], Awaitable[str]]  # returns the call id


async def answered_by_first_agent(pbx: Pbx) -> str:
    await pbx.phone("Agent 1001", 2, 3)
    await pbx.sign_in("Agent 1001")
    return await pbx.call_in(None)


async def ring_limit_then_second_agent(pbx: Pbx) -> str:
    await pbx.phone("Agent 1001", None, 0)
    await pbx.phone("Agent 1002", 2, 3)
    await pbx.sign_in("Agent 1001")
    since = len(pbx.control.events)
    call_id = await pbx.call_in(None)
    # agent 2 signs in while agent 1's phone rings: the queue turns to them after the limit
    await pbx.control.wait_event("AgentCalled", since=since, MemberName="Agent 1001")
    await pbx.sign_in("Agent 1002")
    return call_id


async def abandoned_while_waiting(pbx: Pbx) -> str:
    # nobody signed in: the caller waits (joinempty) and gives up after 7 s
    return await pbx.call_in(7)


async def hung_up_while_ringing(pbx: Pbx) -> str:
    await pbx.phone("Agent 1001", None, 0)
    await pbx.sign_in("Agent 1001")
    return await pbx.call_in(3)


SCENARIOS = [
    Scenario("answered_by_first_agent", answered_by_first_agent),
    Scenario("ring_limit_then_second_agent", ring_limit_then_second_agent),
    Scenario("abandoned_while_waiting", abandoned_while_waiting),
    Scenario("hung_up_while_ringing", hung_up_while_ringing),
]


# --- comparing ----------------------------------------------------------------------------

EXACT = (
    "direction",
    "caller_number",
    "caller_name",
    "dialed_number",
    "queue",
    "agent",
    "outcome",
    "rule_violations",
)
WITHIN_1S = ("wait_seconds", "talk_seconds")


def differences(real: dict[str, Any], sim: dict[str, Any]) -> list[str]:
    """Every field where the simulator's record differs from the real PBX's."""
    out = [
        f"{key}: asterisk {real[key]!r} != simulator {sim[key]!r}"
        for key in EXACT
        if real[key] != sim[key]
    ]
    out += [
        f"{key}: asterisk {real[key]} vs simulator {sim[key]} (> 1 s apart)"
        for key in WITHIN_1S
        if abs(float(real[key]) - float(sim[key])) > 1.0
    ]
    if (real["callback_due_at"] is None) != (sim["callback_due_at"] is None):
        out.append(
            f"callback_due_at: asterisk {real['callback_due_at']!r} "
            f"vs simulator {sim['callback_due_at']!r}"
        )
    if (real["answered_at"] is None) != (sim["answered_at"] is None):
        out.append(f"answered_at: asterisk {real['answered_at']!r} vs {sim['answered_at']!r}")
    real_offers, sim_offers = real["offers"], sim["offers"]
    if len(real_offers) != len(sim_offers):
        out.append(f"offers: asterisk {real_offers} != simulator {sim_offers}")
        return out
    for n, (r, s) in enumerate(zip(real_offers, sim_offers, strict=True)):
        for key in ("agent", "interface", "result"):
            if r[key] != s[key]:
                out.append(f"offers[{n}].{key}: asterisk {r[key]!r} != simulator {s[key]!r}")
        if abs(r["ring_seconds"] - s["ring_seconds"]) > 1.0:
            out.append(
                f"offers[{n}].ring_seconds: asterisk {r['ring_seconds']} "
                f"vs simulator {s['ring_seconds']} (> 1 s apart)"
            )
    return out


async def run_on(pbx: Pbx, scenario: Scenario) -> dict[str, Any]:
    pbx.watch.client.start()
    try:
        await pbx.watch.client.wait_connected(10)
        since = len(pbx.control.events)
        call_id = await scenario.script(pbx)
        record = await pbx.watch.record(call_id)
        # the caller's first channel (its uniqueid is the call id) is the last to go
        await pbx.control.wait_event("Hangup", since=since, Uniqueid=call_id)
        pbx.events_of[scenario.name] = pbx.control.events[since:]
        return record
    finally:
        await pbx.watch.client.stop()


async def run_on_both(
    scenario: Scenario,
    stack: PbxStack,
    ami: AmiControl,
    http: aiohttp.ClientSession,
    sim_side: SimSide,
) -> tuple[Pbx, dict[str, Any], Pbx, dict[str, Any]]:
    """`scenario` on the real Asterisk, then on the simulator: (pbx, record) of each."""
    real = await real_pbx(stack, ami, http)
    real_record = await run_on(real, scenario)
    sim = await sim_pbx(sim_side, http)
    try:
        sim_record = await run_on(sim, scenario)
    finally:
        await sim.control.stop()
    return real, real_record, sim, sim_record


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
async def test_simulator_records_equal_asterisk_records(
    scenario: Scenario,
    stack: PbxStack,
    ami: AmiControl,
    http: aiohttp.ClientSession,
    sim_side: SimSide,
) -> None:
    _, real_record, _, sim_record = await run_on_both(scenario, stack, ami, http, sim_side)
    diff = differences(real_record, sim_record)
    assert not diff, (
        f"{scenario.name}: the simulator differs from Asterisk:\n  "
        + "\n  ".join(diff)
        + f"\nasterisk: {real_record}\nsimulator: {sim_record}"
    )


# --- the AMI events themselves --------------------------------------------------------------

# what the tracker reads (telephony/tracker.py's dispatch), as (event, channel role, keys)
TRACKED = {
    "Newchannel",
    "Newstate",
    "Hangup",
    "QueueCallerJoin",
    "QueueCallerLeave",
    "QueueCallerAbandon",
    "AgentCalled",
    "AgentConnect",
    "AgentComplete",
    "AgentRingNoAnswer",
    "DialBegin",
    "DialEnd",
    "BridgeEnter",
    "BridgeLeave",
    "VarSet",
    "QueueMemberStatus",
}
_LOCAL = re.compile(r"^Local/[^@]+@([\w-]+)-[0-9a-f]+;([12])$")


def _role(channel: str) -> str:
    match = _LOCAL.match(channel)
    return f"{match.group(1)};{match.group(2)}" if match else channel


def tracked_sequence(events: list[dict[str, str]], call_id: str) -> dict[str, list[str]]:
    """The call's events the tracker reads, channel by channel (named by their role).

    Asterisk runs each channel in its own thread, so only the order within one channel
    is fixed (the caller's channel carries the queue's and the dial's events); across
    channels it races (an agent leg's Hangup before or after AgentComplete). Agents'
    `QueueMemberStatus` are a sequence of their own.

    Left out on purpose: the harness's phones (`phone-sim` channels and their bridges: in
    production the agent's leg dials a SIP phone, which the simulator does not model) and
    the `Originate` that plays the carrier on the real PBX (its own DialBegin/DialEnd).
    """
    phone_bridges = {
        e.get("BridgeUniqueid") for e in events if "@phone-sim-" in e.get("Channel", "")
    }
    out: dict[str, list[str]] = {}
    for e in events:
        name = e.get("Event", "")
        if name not in TRACKED:
            continue
        if name == "QueueMemberStatus":
            member = f"member {e['MemberName']}"
            out.setdefault(member, []).append(f"{name} {e['Queue']} {e['Status']}/{e['InCall']}")
            continue
        if e.get("Linkedid") != call_id and e.get("DestLinkedid") != call_id:
            continue
        channel = e.get("Channel", "")
        if "@phone-sim-" in channel or "@phone-sim-" in e.get("DestChannel", ""):
            continue
        if name.startswith("Bridge") and e.get("BridgeUniqueid") in phone_bridges:
            continue
        if name.startswith("Dial") and not channel:
            continue
        if name == "VarSet" and not e.get("Variable", "").startswith("CC_"):
            continue
        role = _role(channel)
        keys: list[str] = []
        if name == "VarSet":
            keys.append(f"{e['Variable']}={e.get('Value', '')}")
        if name == "Newstate":
            keys.append(e.get("ChannelStateDesc", ""))
        if name.startswith(("Queue", "Agent")):
            keys += [e.get("Queue", ""), e.get("MemberName", ""), e.get("Reason", "")]
            keys.append(f"{e.get('Context')}/{e.get('Exten')}")
        if name.startswith("Dial"):
            keys += [_role(e.get("DestChannel", "")), e.get("DialStatus", "")]
        out.setdefault(role, []).append(" ".join([name, *[k for k in keys if k]]))
    for seq in out.values():
        # the queue's thread raises AgentComplete as the caller's channel leaves the bridge:
        # seen on both sides of that BridgeLeave on the same Asterisk, so one order here
        for i in range(len(seq) - 1):
            if seq[i].startswith("AgentComplete") and seq[i + 1] == "BridgeLeave":
                seq[i], seq[i + 1] = seq[i + 1], seq[i]
    return out


async def test_inbound_answered_ami_events_equal_asterisk(
    stack: PbxStack, ami: AmiControl, http: aiohttp.ClientSession, sim_side: SimSide
) -> None:
    scenario = SCENARIOS[0]
    real, real_record, sim, sim_record = await run_on_both(scenario, stack, ami, http, sim_side)
    want = tracked_sequence(real.events_of[scenario.name], real_record["call_id"])
    got = tracked_sequence(sim.events_of[scenario.name], sim_record["call_id"])
    assert sorted(want) == sorted(got), (want, got)
    diff = [
        line
        for role in want
        for line in difflib.unified_diff(
            want[role], got[role], f"asterisk {role}", f"simulator {role}", lineterm="", n=1
        )
    ]
    assert want == got, "the simulator's AMI events differ from Asterisk's:\n" + "\n".join(diff)
