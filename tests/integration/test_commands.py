"""Every TelephonyCommands method against the PBX simulator over real AMI.

Each test asserts what the PBX received (sim.actions) and what followed (its state,
the domain events our client produced, or a typed TelephonyError).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from crm_core.domain.events import CallEnded
from crm_core.ports.telephony import OriginateRequest, SpyMode, TelephonyError
from telephony.ami.framing import AmiMessage
from telephony.sim import demo_simulator
from tests.integration.test_ami_sim import SECRET, Harness, _harness


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    sim = demo_simulator(ami_secret=SECRET, preload_members=False, answer_after=0.1)
    for q in sim.queues.values():
        q.member_timeout, q.retry = 1.0, 0.1
    harness = await _harness(sim, ping_interval=0.5, watchdog=2.0, backoff_min=0.05)
    yield harness
    await harness.client.stop()
    await sim.stop()


def _sent(h: Harness, action: str) -> list[AmiMessage]:
    return [a for a in h.sim.actions if a.get("Action").lower() == action.lower()]


async def _talking_call(h: Harness) -> tuple[str, str]:
    """Sign Agent 1001 in, place a call, wait until it talks; (call id, caller channel)."""
    await h.commands.queue_add("support", "Local/1001@agents/n", "Agent 1001")
    call_id = h.sim.place_call("13800138010", "测试客户", "support", talk_seconds=30)
    await h.until(lambda: h.sim.calls[call_id].state == "talking")
    return call_id, h.sim.calls[call_id].caller.name


async def test_queue_add_remove_pause_with_reason(h: Harness) -> None:
    iface = "Local/1002@agents/n"
    await h.commands.queue_add("support", iface, "Agent 1002", state_interface="Local/1002@agents")
    await h.commands.queue_add("support", iface, "Agent 1002")  # twice is not an error
    (add, _) = _sent(h, "QueueAdd")
    assert (add.get("Queue"), add.get("MemberName"), add.get("Paused")) == (
        "support",
        "Agent 1002",
        "false",
    )
    await h.commands.queue_pause(iface, True, "lunch")
    assert _sent(h, "QueuePause")[0].get("Reason") == "lunch"
    agent = next(a for a in h.sim.state()["agents"] if a["member_name"] == "Agent 1002")
    assert agent["paused"]
    assert agent["queues"] == ["support"]
    await h.commands.queue_pause(iface, False)
    assert not h.sim.queues["support"].members[0].paused
    await h.commands.queue_remove("support", iface)
    await h.commands.queue_remove("support", iface)  # already out is not an error
    assert h.sim.queues["support"].members == []


async def test_hangup_ends_the_call_and_unknown_channel_is_typed(h: Harness) -> None:
    _, caller = await _talking_call(h)
    await h.commands.hangup(caller)
    assert _sent(h, "Hangup")[0].get("Channel") == caller
    await h.until(lambda: h.records())
    assert h.records()[0].outcome.value == "answered"
    with pytest.raises(TelephonyError) as err:
        await h.commands.hangup("Local/nobody@nowhere-00000000;1")
    assert err.value.error_id == "no-such-channel"


async def test_blind_transfer_and_redirect_move_the_call(h: Harness) -> None:
    await h.commands.queue_add("support", "Local/1002@agents/n", "Agent 1002")
    _, caller = await _talking_call(h)
    await h.commands.blind_transfer(caller, "agents", "1002")
    sent = _sent(h, "BlindTransfer")[0]
    assert (sent.get("Channel"), sent.get("Context"), sent.get("Exten")) == (
        caller,
        "agents",
        "1002",
    )
    with pytest.raises(TelephonyError) as err:
        await h.commands.redirect("Local/gone@x-1;1", "agents", "1003")
    assert err.value.error_id == "no-such-channel"
    assert _sent(h, "Redirect")[0].get("Exten") == "1003"


async def test_attended_transfer_sends_atxfer(h: Harness) -> None:
    _, caller = await _talking_call(h)
    await h.commands.attended_transfer(caller, "1003")
    (sent,) = _sent(h, "Atxfer")
    assert (sent.get("Channel"), sent.get("Exten")) == (caller, "1003")


async def test_recording_start_stop(h: Harness) -> None:
    _, caller = await _talking_call(h)
    await h.commands.start_recording(caller, "/tmp/rec-1.wav")
    await h.commands.stop_recording(caller)
    assert _sent(h, "MixMonitor")[0].get("File") == "/tmp/rec-1.wav"
    assert _sent(h, "StopMixMonitor")[0].get("Channel") == caller
    with pytest.raises(TelephonyError) as err:
        await h.commands.start_recording("Local/none@x-2;1", "/tmp/x.wav")
    assert err.value.error_id == "no-such-channel"


async def test_hold_and_unhold_reach_the_record(h: Harness) -> None:
    """Hold as on Asterisk (ADR 0051): Redirect of customer and agent leg, then Bridge."""
    call_id, caller = await _talking_call(h)
    await h.until(lambda: h.commands.tracker.hold_channels(call_id) is not None)
    await h.commands.hold(call_id, True)
    (redirect,) = _sent(h, "Redirect")
    assert (redirect.get("Channel"), redirect.get("Context"), redirect.get("Exten")) == (
        caller,
        "hold",
        "moh",
    )
    assert redirect.get("ExtraExten") == "wait"
    agent_leg = redirect.get("ExtraChannel")
    assert agent_leg.startswith("Local/1001@agents")
    await h.until(lambda: h.commands.tracker.held(call_id))
    await h.commands.hold(call_id, False)
    (bridge,) = _sent(h, "Bridge")
    assert (bridge.get("Channel1"), bridge.get("Channel2")) == (caller, agent_leg)
    await h.until(lambda: not h.commands.tracker.held(call_id))
    await h.commands.hangup(caller)
    await h.until(lambda: h.records())
    assert any(isinstance(e, CallEnded) for e in h.events)
    with pytest.raises(TelephonyError) as err:
        await h.commands.hold(call_id, True)
    assert err.value.error_id == "no-such-channel"


async def test_originate_to_agent_and_customer_failure_reason(h: Harness) -> None:
    result = await h.commands.originate(
        OriginateRequest(
            channel="Local/1004@agents/n",
            context="campaign-dial",
            exten="13900000002",
            caller_id='"Callback" <4008001234>',
            request_id="cb-77",
            timeout_seconds=5,
        )
    )
    assert result.success
    (sent,) = _sent(h, "Originate")
    assert sent.get("Async") == "true"
    assert any(v == "CC_REQUEST_ID=cb-77" for v in sent.getall("Variable"))
    with pytest.raises(TelephonyError) as err:
        await h.commands.originate(
            OriginateRequest(
                channel="Local/13900000003@customer-sim/n",
                context="no-such-context",
                exten="s",
                timeout_seconds=5,
            )
        )
    assert err.value.error_id == "originate-failed"


async def test_blind_transfer_names_the_transferer_as_asterisk_does(h: Harness) -> None:
    """Channel = the agent's leg: the customer goes on to the colleague (ADR 0009)."""
    h.sim.set_agent("Agent 1002", 0.1)
    h.commands.tracker.know_agents({"Local/1002@agents/n": "Agent 1002"})  # the CRM's roster
    call_id, caller = await _talking_call(h)
    agent_leg = h.sim.calls[call_id].legs[2].name
    await h.commands.blind_transfer(agent_leg, "transfer", "1002")
    await h.until(
        lambda: any("1002@agents" in leg.name and leg.bridge for leg in h.sim.calls[call_id].legs)
    )
    assert h.sim.calls[call_id].caller.name == caller  # the customer is still up
    await h.commands.hangup(caller)
    await h.until(lambda: bool(h.records()))
    (record,) = h.records()
    assert record.agent == "Agent 1002"
    assert [(o.agent, o.result.value) for o in record.offers] == [
        ("Agent 1001", "answered"),
        ("Agent 1002", "answered"),
    ]
    assert record.transferred_to == "1002"


async def test_blind_transfer_of_the_customer_channel_hangs_the_customer_up(h: Harness) -> None:
    """What the service used to send: Asterisk takes the customer as the transferer."""
    call_id, caller = await _talking_call(h)
    await h.commands.blind_transfer(caller, "transfer", "sales")
    await h.until(lambda: call_id not in h.sim.calls)
    assert caller not in h.sim.channels


# --- by call id (ADR 0072): the adapter finds the channels in the tracker's live state ----


async def _tracked(h: Harness) -> tuple[str, str]:
    call_id, caller = await _talking_call(h)
    await h.until(lambda: h.commands.tracker.answered_legs(call_id) is not None)
    return call_id, caller


async def test_transfer_to_agent_by_call_id_sends_the_agents_leg(h: Harness) -> None:
    h.sim.set_agent("Agent 1002", 0.1)
    h.commands.tracker.know_agents({"Local/1002@agents/n": "Agent 1002"})
    call_id, caller = await _tracked(h)
    agent_leg = h.sim.calls[call_id].legs[2].name
    await h.commands.transfer_to_agent(call_id, "Local/1002@agents/n")
    (sent,) = _sent(h, "BlindTransfer")
    assert (sent.get("Channel"), sent.get("Context"), sent.get("Exten")) == (
        agent_leg,
        "transfer",
        "1002",
    )
    # the tracker follows: the colleague is now the call's agent, and the next command by
    # call id acts on their leg
    await h.until(
        lambda: (
            (legs := h.commands.tracker.answered_legs(call_id)) is not None
            and legs.agent_interface == "Local/1002@agents/n"
        )
    )
    await h.commands.hold(call_id, True)
    (redirect,) = _sent(h, "Redirect")
    assert redirect.get("Channel") == caller
    assert redirect.get("ExtraChannel", "").startswith("Local/1002@agents")
    await h.commands.hangup_call(call_id)
    await h.until(lambda: bool(h.records()))
    (record,) = h.records()
    assert record.agent == "Agent 1002"
    assert record.transferred_to == "1002"


async def test_transfer_to_queue_by_call_id_queues_the_customer_again(h: Harness) -> None:
    await h.commands.queue_add("sales", "Local/1003@agents/n", "Agent 1003")
    call_id, caller = await _tracked(h)
    await h.commands.transfer_to_queue(call_id, "sales")
    (sent,) = _sent(h, "BlindTransfer")
    assert sent.get("Channel") != caller  # the agent's leg is the transferer
    assert (sent.get("Context"), sent.get("Exten")) == ("transfer", "sales")
    await h.until(
        lambda: (
            (legs := h.commands.tracker.answered_legs(call_id)) is not None
            and legs.agent_interface == "Local/1003@agents/n"
        )
    )
    await h.commands.hangup_call(call_id)
    await h.until(lambda: bool(h.records()))
    (record,) = h.records()
    assert record.agent == "Agent 1003"
    assert [o.agent for o in record.offers] == ["Agent 1001", "Agent 1003"]


async def test_hangup_call_by_id_ends_it_and_an_unknown_call_is_typed(h: Harness) -> None:
    call_id, caller = await _tracked(h)
    await h.commands.hangup_call(call_id)
    assert _sent(h, "Hangup")[0].get("Channel") == caller
    await h.until(lambda: bool(h.records()))
    for command in (
        h.commands.hangup_call(call_id),
        h.commands.transfer_to_queue(call_id, "sales"),
        h.commands.transfer_to_agent(call_id, "Local/1002@agents/n"),
        h.commands.spy_call(call_id, "Local/9001@supervisor-sim/n", SpyMode.LISTEN),
    ):
        with pytest.raises(TelephonyError) as err:
            await command
        assert err.value.error_id == "no-such-channel"


async def test_spy_call_by_id_listens_on_the_answering_agent(h: Harness) -> None:
    call_id, _ = await _tracked(h)
    result = await h.commands.spy_call(call_id, "Local/9001@supervisor-sim/n", SpyMode.BARGE)
    assert result.success
    (spy,) = [a for a in h.sim.actions if a.get("Application") == "ChanSpy"]
    assert spy.get("Data") == "Local/1001@agents,qBE"
    assert spy.get("Channel") == "Local/9001@supervisor-sim/n"
