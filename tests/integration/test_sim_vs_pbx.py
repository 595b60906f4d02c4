"""The simulator's click-to-dial against the same call on a real Asterisk 22.

`tests/fixtures/pbx-captures/click_to_dial_answered.json` holds the AMI events a real
Asterisk sent for `POST /api/dial` with the `callcenter pbx-config --phones local`
dialplan (recorded by tests/pbx/test_dial.py): the agent's Local channel Dial()s the
agent's phone inside `[agents]`, then `[outbound]` dials the customer. The simulator with
`agents_dial_phones=True` sends the same sequence, and both give the same record.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from crm_core.domain.events import CallEnded
from crm_core.domain.models import CallRecord
from telephony.ami.framing import AmiMessage
from telephony.sim import CustomerPhone, Simulator
from telephony.tracker import CallTracker
from tests.integration.test_ami_sim import SECRET, _harness

CAPTURE = Path(__file__).resolve().parents[1] / "fixtures" / "pbx-captures"
ORDERED = {"Newchannel", "LocalBridge", "DialBegin", "DialEnd"}


def _role(event: dict[str, Any]) -> str:
    """An event by what it is about: 'DialBegin agents;2>phone-sim'."""

    def who(channel: str) -> str:
        if not channel:
            return "-"
        context = channel.split("@", 1)[1].rsplit("-", 1)[0] if "@" in channel else channel
        return context + (";" + channel.rsplit(";", 1)[1] if ";" in channel else "")

    return f"{event['Event']} {who(event.get('Channel', ''))}>{who(event.get('DestChannel', ''))}"


def _sequence(events: list[dict[str, Any]]) -> list[str]:
    return [_role(e) for e in events if e["Event"] in ORDERED]


def _record(events: list[dict[str, Any]]) -> CallRecord:
    tracker = CallTracker(15.0)
    tracker.know_agents({"Local/1001@agents/n": "Agent 1001"})
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ended: list[CallRecord] = []
    for n, event in enumerate(events):
        at = start + timedelta(seconds=n * 0.01)
        for out in tracker.handle(AmiMessage(dict(event)), at):
            if isinstance(out, CallEnded):
                ended.append(out.record)
    (record,) = ended
    return record


async def test_click_to_dial_events_and_record_match_the_real_pbx() -> None:
    real = json.loads((CAPTURE / "click_to_dial_answered.json").read_text("utf-8"))
    sim = Simulator(ami_secret=SECRET, agents_dial_phones=True)
    sim.add_agent_phone("Agent 1001", "Local/1001@agents/n", answer_after=0.1)
    sim.customers["13900139001"] = CustomerPhone(mode="answer", answer_after=0.1, talk_seconds=0.3)
    h = await _harness(sim, ping_interval=0.5, watchdog=2.0, backoff_min=0.05)
    seen: list[dict[str, Any]] = []
    original = sim.emit

    def spy(event: str, fields: list[tuple[str, str]], privilege: str = "call,all") -> None:
        seen.append({"Event": event, **dict(fields)})
        original(event, fields, privilege)

    sim.emit = spy  # type: ignore[method-assign]
    try:
        h.commands.tracker.know_agents({"Local/1001@agents/n": "Agent 1001"})
        reply = await h.client.send_action(
            {
                "Action": "Originate",
                "Channel": "Local/1001@agents/n",
                "Context": "outbound",
                "Exten": "13900139001",
                "Priority": "1",
                "CallerID": "Agent 1001",
                "Timeout": "30000",
                "Async": "true",
            }
        )
        assert reply.get("Response") == "Success", reply.headers
        await h.until(lambda: bool(h.records()))
    finally:
        await h.client.stop()
        await sim.stop()
    # the same dials between the same channels, in the same order, up to the customer's answer
    real_seq = _sequence(real)
    sim_seq = _sequence(seen)
    upto = real_seq.index("DialEnd agents;1>customer-sim;1") + 1
    assert sim_seq[:upto] == real_seq[:upto]
    # and the same record, field by field (times aside)
    (sim_record,) = h.records()
    real_record = _record(real)
    for name in ("direction", "dialed_number", "agent", "outcome", "queue", "offers"):
        assert getattr(sim_record, name) == getattr(real_record, name), name
    assert real_record.direction.value == "outbound"
    assert real_record.agent == "Agent 1001"
    assert real_record.dialed_number == "13900139001"  # the exten: no CC_DIALED was set
    assert real_record.outcome.value == "answered"
