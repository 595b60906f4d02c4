"""Calls across an AMI gap on a real Asterisk (issue 12 #2).

A bare isolated Asterisk with one ringall queue and simulated phones
(../shared/asterisk/examples/people-sim.conf). The gap is made the way a real one
happens: the service's AMI session is kicked and its logins are refused (the secret
is changed and `manager reload`ed) until the test restores it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crm_core.clock import SystemClock
from crm_core.domain.events import AgentRingStarted, AmiConnected, CallEnded, DomainEvent
from crm_core.domain.models import CallOutcome, CallRecord, OfferResult
from telephony.ami.client import AmiClient, Endpoint
from telephony.pbx_config import PEOPLE_SIM
from telephony.pbx_reader import pbx_reader
from telephony.tracker import CallTracker
from tests.pbx.asterisk_bare import BareAsterisk, needs_asterisk

pytestmark = [pytest.mark.pbx, needs_asterisk]

# the simulated people of our own render (`pbx-config --phones local`)
PEOPLE = PEOPLE_SIM
EXTENSIONS = """[general]
[globals]
AGENT_DEFAULT_DELAY=3
AGENT_DEFAULT_TALK=0
[inbound]
exten => 4000,1,Answer()
 same => n,Queue(support,,,,300)
 same => n,Hangup()
[agents]
exten => _XXXX,1,Goto(phone-sim,${EXTEN},1)
#include people-sim.conf
"""
QUEUES = """[general]
[support]
strategy = ringall
timeout = 15
retry = 1
setinterfacevar = yes
member => Local/1001@agents/n,0,Agent 1001
"""


@dataclass
class Gap:
    pbx: BareAsterisk
    client: AmiClient
    tracker: CallTracker
    events: list[DomainEvent] = field(default_factory=list)

    def records(self) -> list[CallRecord]:
        return [e.record for e in self.events if isinstance(e, CallEnded)]

    async def until(self, pred: Callable[[], object], timeout: float = 20.0) -> None:
        async def wait() -> None:
            while not pred():
                await asyncio.sleep(0.05)

        await asyncio.wait_for(wait(), timeout)

    async def open_gap(self) -> None:
        """Refuse the service's logins from now on, then kick its session."""
        manager = self.pbx.etc / "manager.conf"
        manager.write_text(manager.read_text().replace(f"secret = {self.pbx.secret}", "secret = x"))
        await self.pbx.cli("manager reload")
        for session in await self.pbx.sessions(self.pbx.username):
            await self.pbx.cli(f"manager kick session {session}")
        await self.until(lambda: not self.client.connected or self.client.refused)

    async def close_gap(self) -> None:
        manager = self.pbx.etc / "manager.conf"
        manager.write_text(manager.read_text().replace("secret = x", f"secret = {self.pbx.secret}"))
        connects = self.client.connects
        await self.pbx.cli("manager reload")
        await self.until(lambda: self.client.connects > connects)

    async def call(self, hold: int) -> None:
        await self.client.send_action(
            {
                "Action": "Originate",
                "Channel": "Local/13800138000@caller-sim/n",
                "Context": "inbound",
                "Exten": "4000",
                "Priority": "1",
                "CallerID": '"Zhang San" <13800138000>',
                "Variable": f"CALLER_HOLD={hold}",
            }
        )

    async def agent_bridged(self) -> datetime:
        """Poll Asterisk until the agent's leg is in a bridge; when we saw it."""
        while True:
            text = await self.pbx.cli("core show channels concise")
            for line in text.splitlines():
                fields = line.split("!")
                if fields[0].startswith("Local/1001@agents") and len(fields) > 12 and fields[12]:
                    return datetime.now(UTC)
            await asyncio.sleep(0.05)


@pytest.fixture
async def gap(tmp_path: Path) -> AsyncIterator[Gap]:
    pbx = BareAsterisk(
        tmp_path / "ast",
        extra={
            "extensions.conf": EXTENSIONS,
            "people-sim.conf": PEOPLE,
            "queues.conf": QUEUES,
        },
    )
    await pbx.start()
    events: list[DomainEvent] = []
    connected = asyncio.Event()

    async def sink(batch: list[DomainEvent]) -> None:
        events.extend(batch)
        if any(isinstance(e, AmiConnected) for e in batch):
            connected.set()

    tracker = CallTracker(15.0)
    client = pbx_reader(
        Endpoint("127.0.0.1", pbx.port, pbx.username, pbx.secret),
        tracker=tracker,
        on_events=sink,
        clock=SystemClock(),
        ping_interval=1.0,
        watchdog=5.0,
        backoff_max=0.5,  # the test closes the gap; the client must notice it soon
    )
    client.start()
    try:
        await asyncio.wait_for(connected.wait(), 10)
        yield Gap(pbx, client, tracker, events)
    finally:
        await client.stop()
        await pbx.stop()


async def test_call_answered_during_gap_stays_answered_with_true_time(gap: Gap) -> None:
    await gap.call(hold=10)
    await gap.until(lambda: any(isinstance(e, AgentRingStarted) for e in gap.events))
    await gap.open_gap()  # Alice's phone rings on; she answers while we are away
    answered = await gap.agent_bridged()
    await gap.close_gap()
    await gap.until(lambda: gap.tracker.live_calls())
    [live] = gap.tracker.live_calls()
    assert live["state"] == "talking"
    await gap.until(gap.records)
    [record] = gap.records()
    assert record.outcome == CallOutcome.ANSWERED
    assert record.agent == "Agent 1001"
    assert record.answered_at is not None
    assert abs((record.answered_at - answered).total_seconds()) < 1.0
    assert record.callback_due_at is None
    assert [o.result for o in record.offers] == [OfferResult.ANSWERED]
    assert record.talk_seconds > 5


async def test_call_ended_during_gap_owes_no_callback(gap: Gap) -> None:
    await gap.call(hold=6)
    await gap.until(lambda: any(isinstance(e, AgentRingStarted) for e in gap.events))
    await gap.open_gap()
    await gap.agent_bridged()
    # the call ends while we are away (the caller hangs up 6 s after answering)
    while "Local/1001@agents" in await gap.pbx.cli("core show channels concise"):
        await asyncio.sleep(0.1)
    await gap.close_gap()
    await gap.until(gap.records)
    [record] = gap.records()
    assert record.callback_due_at is None
    assert record.outcome != CallOutcome.ABANDONED
    assert all(o.result != OfferResult.CALLER_HUNG_UP for o in record.offers)
