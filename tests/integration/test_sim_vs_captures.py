"""The simulator's AMI events against the real Asterisk recordings, event by event.

We read the simulator's raw bytes off a real socket and compare (a) the order of the
significant events with the recorded scenario and (b) every event's header names, in
order, with the shapes Asterisk produced for that event. Shapes are taken from all
captures because some (AgentComplete with or without Dest* headers) depend on which
channel Asterisk had already torn down — a race, not a different event.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from telephony.sim import CustomerPhone, Simulator

CAPTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ami-captures"
SIGNIFICANT = {
    "Newchannel",
    "NewCallerid",
    "LocalBridge",
    "QueueCallerJoin",
    "AgentCalled",
    "DialBegin",
    "DialState",
    "DialEnd",
    "AgentConnect",
    "AgentRingNoAnswer",
    "AgentComplete",
    "QueueCallerLeave",
    "QueueCallerAbandon",
    "BridgeCreate",
    "BridgeEnter",
    "BridgeLeave",
    "BridgeDestroy",
    "Hangup",
    "OriginateResponse",
}
Shape = tuple[str, tuple[str, ...]]


def _shape(frame: str) -> Shape | None:
    lines = [line for line in frame.split("\r\n") if line]
    if not lines or not lines[0].startswith("Event: "):
        return None
    event = lines[0][len("Event: ") :]
    if event not in SIGNIFICANT:
        return None
    return event, tuple(line.split(":", 1)[0] for line in lines)


def _recorded(name: str) -> list[Shape]:
    shapes = []
    for line in (CAPTURES / f"{name}.jsonl").read_text("utf-8").splitlines():
        rec = json.loads(line)
        if rec["dir"] == "in" and (shape := _shape(rec["raw"])) is not None:
            shapes.append(shape)
    return shapes


def _all_recorded_shapes() -> dict[str, set[tuple[str, ...]]]:
    known: dict[str, set[tuple[str, ...]]] = {}
    for path in CAPTURES.glob("*.jsonl"):
        if ".fastagi." in path.name:
            continue
        for event, names in _recorded(path.stem):
            known.setdefault(event, set()).add(names)
    return known


def _names(shapes: list[Shape]) -> list[str]:
    return [event for event, _ in shapes]


def _inbound(names: list[str]) -> list[str]:
    """The recorded inbound calls were placed by the harness's AMI Originate; its
    OriginateResponse lands anywhere in the stream, so it is left out of the order."""
    return [n for n in names if n != "OriginateResponse"]


def _contains(seq: list[str], part: list[str]) -> bool:
    return any(seq[i : i + len(part)] == part for i in range(len(seq) - len(part) + 1))


async def _run(scenario: str) -> list[Shape]:
    """Drive one scenario on a fresh simulator; return the significant events it sent."""
    sim = Simulator(ami_secret="pw")
    sim.add_queue("support", member_timeout=0.6, retry=0.1)
    for n in range(1, 6):
        sim.add_member("support", f"Agent {1000 + n}", f"Local/{1000 + n}@agents/n")
        sim.set_agent(f"Agent {1000 + n}", 0.2)
    port = await sim.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"Action: Login\r\nActionID: l-1\r\nUsername: callcenter\r\nSecret: pw\r\n\r\n")
    received = b""
    while b"Authentication accepted" not in received:
        chunk = await asyncio.wait_for(reader.read(4096), 5)
        assert chunk, "simulator closed the socket during login"
        received += chunk
    if scenario == "inbound_answered_fast":
        sim.place_call("15551230001", "Alice Caller", "support", talk_seconds=0.3)
    elif scenario == "inbound_ring_no_answer_then_next":
        sim.set_agent("Agent 1001", None)
        sim.place_call("15551230002", "Bob Caller", "support", talk_seconds=0.3)
    elif scenario == "inbound_abandoned":
        for n in range(1, 6):
            sim.set_agent(f"Agent {1000 + n}", None)
        sim.place_call("15551230003", "Carol Caller", "support", abandon_after=0.3)
    else:
        mode = "busy" if scenario == "outbound_busy" else "answer"
        sim.customers["15557770002"] = CustomerPhone(mode=mode, answer_after=0.2, talk_seconds=0.3)
        writer.write(
            b"Action: Originate\r\nActionID: o-1\r\nChannel: Local/1003@agents/n\r\n"
            b"Context: campaign-dial\r\nExten: 15557770002\r\nPriority: 1\r\n"
            b'CallerID: "ACME Campaign" <18005550100>\r\nTimeout: 20000\r\nAsync: true\r\n\r\n'
        )
    stream = b""
    while not sim.calls:  # the originate is being processed
        stream += await asyncio.wait_for(reader.read(65536), 5)
    while sim.calls:  # until the simulated call has fully ended
        stream += await asyncio.wait_for(reader.read(65536), 5)
    # what was written up to the call's end: a Ping sent now is answered behind it
    writer.write(b"Action: Ping\r\nActionID: flush\r\n\r\n")
    while (at := stream.find(b"ActionID: flush")) < 0 or b"\r\n\r\n" not in stream[at:]:
        stream += await asyncio.wait_for(reader.read(65536), 5)
    writer.close()
    await sim.stop()
    frames = stream.decode("utf-8").split("\r\n\r\n")
    return [s for f in frames if (s := _shape(f + "\r\n")) is not None]


def _assert_shapes_recorded(sent: list[Shape]) -> None:
    known = _all_recorded_shapes()
    for event, names in sent:
        assert names in known[event], f"{event} headers {names} never recorded"


async def test_answered_fast_matches_recording() -> None:
    sent = await _run("inbound_answered_fast")
    _assert_shapes_recorded(sent)
    names = _names(sent)
    # Up to the call being bridged the order is exactly Asterisk's (the recorded call
    # was placed by an AMI Originate, whose own Dial*/OriginateResponse we skip).
    head = names[: names.index("BridgeEnter") + 2]
    assert head[:5] == ["Newchannel", "Newchannel", "NewCallerid", "NewCallerid", "LocalBridge"]
    assert _contains(_inbound(_names(_recorded("inbound_answered_fast"))), head[5:])
    assert names.count("AgentComplete") == 1
    assert names.count("Hangup") == 4


async def test_ring_no_answer_then_next_matches_recording() -> None:
    sent = await _run("inbound_ring_no_answer_then_next")
    _assert_shapes_recorded(sent)
    recorded = _inbound(_names(_recorded("inbound_ring_no_answer_then_next")))
    names = _names(sent)
    assert names[:5] == recorded[:5]
    assert _contains(recorded, names[5:])
    assert names.count("AgentRingNoAnswer") == 1
    assert names.count("DialEnd") == 3  # the missed offer has Asterisk's duplicate DialEnd


async def test_abandoned_matches_recording() -> None:
    sent = await _run("inbound_abandoned")
    _assert_shapes_recorded(sent)
    recorded = _inbound(_names(_recorded("inbound_abandoned")))
    names = _names(sent)
    assert _contains(recorded, names[5:])
    assert names.index("QueueCallerAbandon") < names.index("QueueCallerLeave")


async def test_outbound_busy_matches_recording() -> None:
    sent = await _run("outbound_busy")
    _assert_shapes_recorded(sent)
    assert _contains(_names(_recorded("outbound_busy")), _names(sent))


async def test_outbound_success_matches_recording() -> None:
    sent = await _run("outbound_success")
    _assert_shapes_recorded(sent)
    assert _contains(_names(_recorded("outbound_success")), _names(sent))
