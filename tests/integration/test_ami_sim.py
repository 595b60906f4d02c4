"""The AMI client against the PBX simulator over real TCP: records, hazards, resync."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Unpack

import pytest

from crm_core.domain.events import (
    AgentMissedCall,
    AgentRingStarted,
    AgentStateChanged,
    AmiConnected,
    AmiDisconnected,
    CallAnswered,
    CallEnded,
    DomainEvent,
)
from crm_core.domain.models import AgentStatus, CallRecord
from crm_core.ports.telephony import OriginateRequest, SpyMode, TelephonyError
from crm_core.services.rules import QueueTimeoutCheck
from telephony.ami.client import AmiClient
from telephony.commands import AmiCommands
from telephony.pbx_reader import TransportOptions
from telephony.sim import Simulator, demo_simulator
from telephony.tracker import CallTracker
from tests.integration.local_reader import local_reader
from tests.polling import eventually

SECRET = "s3cret"


@dataclass
class Harness:
    sim: Simulator
    client: AmiClient
    commands: AmiCommands
    events: list[DomainEvent] = field(default_factory=list)

    def records(self) -> list[CallRecord]:
        return [e.record for e in self.events if isinstance(e, CallEnded)]

    async def until(self, pred: Callable[[], object], timeout: float = 10.0) -> None:
        await eventually(pred, timeout=timeout, what="the AMI scenario's condition", every=0.02)


async def _harness(sim: Simulator, **client_kw: Unpack[TransportOptions]) -> Harness:
    await sim.start()
    events: list[DomainEvent] = []

    async def sink(batch: list[DomainEvent]) -> None:
        events.extend(batch)

    tracker = CallTracker(15.0)
    client = local_reader(sim.port, SECRET, tracker, sink, **client_kw)
    client.start()
    await client.wait_connected(5)
    h = Harness(sim, client, AmiCommands(client, tracker), events)
    return h


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    sim = demo_simulator(ami_secret=SECRET, preload_members=True, answer_after=0.2)
    for q in sim.queues.values():
        q.member_timeout, q.retry = 1.0, 0.2
    harness = await _harness(sim, ping_interval=0.5, watchdog=2.0, backoff_min=0.05)
    yield harness
    await asyncio.wait_for(harness.client.stop(), 10)
    await asyncio.wait_for(sim.stop(), 10)


async def test_inbound_call_becomes_one_complete_record(h: Harness) -> None:
    h.sim.place_call("13800138000", "张三", "support", talk_seconds=0.3)
    await h.until(lambda: h.records())
    (record,) = h.records()
    assert record.caller_name == "张三"
    assert record.outcome.value == "answered"
    assert record.agent == "Agent 1001"
    assert [o.result.value for o in record.offers] == ["answered"]
    assert 0.1 < record.offers[0].ring_seconds < 1.0
    pops = [e for e in h.events if isinstance(e, AgentRingStarted)]
    assert pops[0].caller_number == "13800138000"
    assert any(isinstance(e, AmiConnected) for e in h.events)


async def test_agent_never_answers_moves_to_next_agent(h: Harness) -> None:
    h.sim.set_agent("Agent 1001", None)
    h.sim.place_call("13800138001", "李四", "support", talk_seconds=0.2)
    await h.until(lambda: h.records(), timeout=15)
    (record,) = h.records()
    assert [(o.agent, o.result.value) for o in record.offers][:2] == [
        ("Agent 1001", "no_answer"),
        ("Agent 1002", "answered"),
    ]
    assert any(isinstance(e, AgentMissedCall) and e.agent == "Agent 1001" for e in h.events)


async def test_abandon_while_waiting(h: Harness) -> None:
    for n in range(1, 7):
        await h.commands.queue_pause(f"Local/{1000 + n}@agents/n", True, "lunch")
    h.sim.place_call("13800138002", "王五", "support", abandon_after=0.5)
    await h.until(lambda: h.records())
    (record,) = h.records()
    assert record.outcome.value == "abandoned"
    assert 0.3 < record.wait_seconds < 1.5
    paused = [e for e in h.events if isinstance(e, AgentStateChanged) and e.paused]
    assert paused
    assert paused[0].pause_reason == "lunch"
    assert paused[0].status == AgentStatus.PAUSED


async def test_reconnect_mid_call_still_one_complete_record(h: Harness) -> None:
    h.sim.place_call("13800138003", "赵六", "support", talk_seconds=1.5)
    await h.until(lambda: any(isinstance(e, AgentRingStarted) for e in h.events))
    await h.until(lambda: any(isinstance(e, CallAnswered) for e in h.events))  # talking now
    h.sim.drop_clients()
    await h.until(lambda: any(isinstance(e, AmiDisconnected) for e in h.events))
    await h.until(lambda: h.client.connected and h.client._up, timeout=5)
    await h.until(lambda: h.records(), timeout=10)
    (record,) = h.records()
    assert record.outcome.value == "answered"
    assert record.agent == "Agent 1001"
    assert record.caller_name == "赵六"


async def test_action_while_disconnected_fails_fast_not_forever(h: Harness) -> None:
    await h.client.stop()
    with pytest.raises(TelephonyError) as err:
        await asyncio.wait_for(h.commands.queue_pause("Local/1001@agents/n", True), 1.0)
    assert err.value.error_id == "ami-unavailable"


async def test_half_open_socket_is_detected_and_reconnected(h: Harness) -> None:
    connects = h.client.connects
    h.sim.freeze_clients()  # the PBX stops answering but keeps the socket open
    await h.until(lambda: h.client.connects > connects, timeout=10)
    assert any(isinstance(e, AmiDisconnected) for e in h.events)


async def test_originate_is_async_and_never_placed_twice(h: Harness) -> None:
    request = OriginateRequest(
        channel="Local/1002@agents/n",
        context="campaign-dial",
        exten="13900000000",
        caller_id='"Callback" <4008001234>',
        request_id="cb-42",
        timeout_seconds=5,
    )
    first, second = await asyncio.gather(
        h.commands.originate(request), h.commands.originate(request)
    )
    assert first == second
    assert first.success
    originates = [a for a in h.sim.actions if a.get("Action") == "Originate"]
    assert len(originates) == 1
    assert originates[0].get("Async") == "true"


async def test_originate_busy_raises_with_reason(h: Harness) -> None:
    from telephony.sim import CustomerPhone

    h.sim.customers["13900000001"] = CustomerPhone(mode="busy")
    with pytest.raises(TelephonyError) as err:
        await h.commands.originate(
            OriginateRequest(
                channel="Local/13900000001@customer-sim/n",
                context="campaign-dial",
                exten="s",
                timeout_seconds=5,
            )
        )
    assert err.value.error_id == "originate-failed"
    assert err.value.reason == 5


async def test_spy_originates_chanspy_to_leads_phone(h: Harness) -> None:
    h.sim.place_call("13800138004", "Spy Target", "support", talk_seconds=2.0)
    await h.until(lambda: any(c["state"] == "talking" for c in h.sim.state()["calls"]))
    result = await h.commands.spy(
        "Local/9001@supervisor-sim/n", "Local/1001@agents/n", SpyMode.WHISPER
    )
    assert result.success
    spy = [a for a in h.sim.actions if a.get("Application") == "ChanSpy"]
    assert spy[0].get("Data") == "Local/1001@agents,qwE"
    assert spy[0].get("Channel") == "Local/9001@supervisor-sim/n"


async def test_a_listen_in_ends_by_the_id_it_was_given(h: Harness) -> None:
    h.sim.place_call("13800138006", "Spy Target", "support", talk_seconds=30.0)
    await h.until(lambda: any(c["state"] == "talking" for c in h.sim.state()["calls"]))
    result = await h.commands.spy(
        "Local/9001@supervisor-sim/n", "Local/1001@agents/n", SpyMode.LISTEN, channel_id="spy-1"
    )
    assert result.success
    assert result.channel
    assert await h.commands.end_spy("spy-1")  # by the name Asterisk gave the lead's leg
    hangups = [a for a in h.sim.actions if a.get("Action") == "Hangup"]
    assert [a.get("Channel") for a in hangups] == [result.channel]
    assert not await h.commands.end_spy("spy-1")  # gone: nothing to end, no error


async def test_handler_exception_does_not_drop_the_connection() -> None:
    sim = demo_simulator(ami_secret=SECRET, preload_members=True, answer_after=0.1)
    await sim.start()
    calls = 0

    async def failing(batch: list[DomainEvent]) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("handler bug")

    client = local_reader(sim.port, SECRET, CallTracker(15.0), failing)
    client.start()
    try:
        await client.wait_connected(5)
        sim.place_call("13800138005", "x", "support", talk_seconds=0.1)
        # the handler failed on batch after batch, and the client read on regardless
        await eventually(lambda: calls > 3, timeout=10, what="four failed handler calls")
        assert client.connects == 1
        assert client.connected
    finally:
        await client.stop()
        await sim.stop()


async def test_wrong_secret_is_refused_clearly() -> None:
    sim = demo_simulator(ami_secret=SECRET)
    await sim.start()
    client = local_reader(
        sim.port, "wrong", CallTracker(15.0), lambda b: asyncio.sleep(0), backoff_min=0.05
    )
    client.start()
    try:
        # the client tried again and again (back-off 0.05 s), refused every time
        await eventually(
            lambda: (
                sum(1 for a in sim.actions if a.get("Action", "").lower() == "login") >= 3
                and client.refused
            ),
            timeout=10,
            what="three refused logins",
        )
        assert not client._up
        assert "refused" in client.last_error
    finally:
        await client.stop()
        await sim.stop()


async def test_hostile_bytes_on_the_wire_are_survived(h: Harness) -> None:
    h.sim.inject_raw(b"\x00\xff\xfe garbage without structure\r\n\r\n")
    h.sim.inject_raw(b"Response: Success\r\nActionID: nobody-asked\r\n\r\n")
    h.sim.inject_raw(b"Event: SomethingNew\r\nFoo: bar\r\n\r\n")
    h.sim.place_call("13800138006", "after noise", "support", talk_seconds=0.1)
    await h.until(lambda: h.records())
    assert h.client.bad_frames >= 1
    assert h.client.connects == 1


async def test_queue_ringing_longer_than_three_rings_is_warned() -> None:
    sim = demo_simulator(ami_secret=SECRET, preload_members=True)
    sim.queues["sales"].member_timeout = 20.0
    harness = await _harness(sim)
    check = QueueTimeoutCheck(15.0)  # the rule `serve` subscribes to the bus
    try:
        await harness.until(
            lambda: [check.handle(e) for e in harness.events] and check.warnings.get("default"),
            timeout=5,
        )
        (warning,) = check.warnings["default"]
        assert "'sales'" in warning
        assert "20 s" in warning
    finally:
        await harness.client.stop()
        await sim.stop()


async def test_becoming_the_reader_while_the_login_is_unanswered_still_reads_events() -> None:
    """With several instances every AMI client logs in with events off until it holds the
    lease. When the lease arrives while the login is still unanswered (start-up, or a
    reconnect during a failover), the login has already asked for no events: the client
    must ask again once it is up, or the one reader of the PBX reads nothing."""
    sim = demo_simulator(ami_secret=SECRET, preload_members=True, answer_after=0.1)
    await sim.start()
    release = asyncio.Event()

    async def held_proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", sim.port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, hold: bool) -> None:
            if hold:
                await release.wait()  # the PBX's answers wait here
            while data := await src.read(65536):
                dst.write(data)
            dst.close()

        await asyncio.gather(
            pipe(reader, up_writer, False), pipe(up_reader, writer, True), return_exceptions=True
        )

    proxy = await asyncio.start_server(held_proxy, "127.0.0.1", 0)
    events: list[DomainEvent] = []

    async def sink(batch: list[DomainEvent]) -> None:
        events.extend(batch)

    tracker = CallTracker(15.0)
    proxy_port = proxy.sockets[0].getsockname()[1]
    client = local_reader(proxy_port, SECRET, tracker, sink, events=False)  # a standby
    client.start()
    h = Harness(sim, client, AmiCommands(client, tracker), events)
    try:
        await h.until(lambda: any(a.get("Action") == "Login" for a in sim.actions))
        await client.set_events(True)  # the lease: the login is on the wire, unanswered
        release.set()
        await client.wait_connected(5)
        sim.place_call("13800138007", "lease race", "support", talk_seconds=0.1)
        await h.until(lambda: h.records(), timeout=5)
        assert h.records()[0].caller_number == "13800138007"
    finally:
        await client.stop()
        await sim.stop()  # ends the proxy's pipes
        proxy.close()
