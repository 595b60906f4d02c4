"""Resync after an AMI gap (issue 12 #2): calls answered or ended while we were away.

Message shapes as a real Asterisk 22 sends them: CoreShowChannel items carry Linkedid,
BridgeId, Application/ApplicationData and Duration; the answer time of a bridged leg is
its `CDR(answer,u)`; calls gone in the gap are finished from the PBX's CDRs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from crm_core.domain.events import AgentRingEnded, AgentStateChanged, CallAnswered, CallEnded
from crm_core.domain.models import AgentStatus, CallOutcome, OfferResult, PbxLeg
from telephony.tracker import CallTracker
from tests.unit.test_tracker import (
    AGENT1,
    AGENT2,
    CALLER,
    CALLER2,
    LID,
    T0,
    Feed,
    connect,
    hang_up_all,
    msg,
    offer,
    queued_call,
)

BRIDGE = "a83446cb-90b3-482d-a7a3-823ec64011b3"


def ringing_then_gap() -> Feed:
    """A queue call ringing Alice when the AMI session drops (before AgentConnect)."""
    feed = Feed(CallTracker(15.0))
    queued_call(feed)
    offer(feed, 2)
    return feed


def talking_items() -> list[object]:
    return [
        msg(
            "CoreShowChannel",
            Channel=CALLER,
            ChannelState="6",
            Uniqueid=LID,
            Linkedid=LID,
            Application="Queue",
            ApplicationData="support,,,,300",
            Duration="00:00:40",
            BridgeId=BRIDGE,
        ),
        msg("CoreShowChannel", Channel=CALLER2, Uniqueid="1700000000.2", Linkedid=LID, BridgeId=""),
        msg(
            "CoreShowChannel",
            Channel=AGENT1,
            ChannelState="6",
            Uniqueid="1700000000.3",
            Linkedid=LID,
            Application="AppQueue",
            ApplicationData="(Outgoing Line)",
            Duration="00:00:38",
            BridgeId=BRIDGE,
        ),
        msg("CoreShowChannel", Channel=AGENT2, Uniqueid="1700000000.4", Linkedid=LID, BridgeId=""),
    ]


def test_call_answered_in_gap_stays_answered_with_true_time_and_agent() -> None:
    feed = ringing_then_gap()
    answered = T0 + timedelta(seconds=5.25)
    out = feed.tracker.resync(
        talking_items(),  # type: ignore[arg-type]
        T0 + timedelta(seconds=40),
        {"1700000000.3": answered},
    )
    [pop] = [e for e in out if isinstance(e, CallAnswered)]
    assert pop.at == answered
    assert pop.agent == "Alice Agent"
    [rang] = [e for e in out if isinstance(e, AgentRingEnded)]
    assert rang.result == OfferResult.ANSWERED
    [live] = feed.tracker.live_calls()
    assert live["state"] == "talking"  # not "ringing" while they talk
    assert live["ringing"] == []
    feed.events.extend(out)
    hang_up_all(feed, 70)
    [record] = feed.records()
    assert record.outcome == CallOutcome.ANSWERED
    assert record.answered_at == answered
    assert record.agent == "Alice Agent"
    assert record.callback_due_at is None
    assert abs(record.talk_seconds - 64.75) < 0.01
    assert [o.result for o in record.offers] == [OfferResult.ANSWERED]


def test_offer_whose_channel_vanished_in_gap_stopped_ringing() -> None:
    feed = ringing_then_gap()
    items = [talking_items()[0], talking_items()[1]]  # caller still queued, agent leg gone
    items[0] = msg(
        "CoreShowChannel",
        Channel=CALLER,
        Uniqueid=LID,
        Linkedid=LID,
        Application="Queue",
        ApplicationData="support,,,,300",
        BridgeId="",
    )
    out = feed.tracker.resync(items, T0 + timedelta(seconds=20))  # type: ignore[arg-type]
    [rang] = [e for e in out if isinstance(e, AgentRingEnded)]
    assert rang.result == OfferResult.NO_ANSWER
    [live] = feed.tracker.live_calls()
    assert live["state"] == "waiting"


def test_call_ended_in_gap_is_recovered_from_pbx_cdrs_without_callback() -> None:
    feed = ringing_then_gap()
    at = T0 + timedelta(seconds=90)
    assert feed.tracker.resync([], at) == []
    assert LID in feed.tracker.gap_ended
    legs = {
        LID: [
            PbxLeg(
                linkedid=LID,
                channel=CALLER,
                dstchannel="",
                started_at=T0,
                answered_at=T0,
                ended_at=T0 + timedelta(seconds=1),
                disposition="ANSWERED",
                lastapp="Answer",
            ),
            PbxLeg(
                linkedid=LID,
                channel=CALLER,
                dstchannel=AGENT1,
                started_at=T0 + timedelta(seconds=2),
                answered_at=T0 + timedelta(seconds=6),
                ended_at=T0 + timedelta(seconds=36),
                disposition="ANSWERED",
                lastapp="Queue",
            ),
        ]
    }
    out = feed.tracker.finish_gap(legs, at)
    [record] = [e.record for e in out if isinstance(e, CallEnded)]
    assert record.outcome == CallOutcome.ANSWERED
    assert record.agent == "Alice Agent"
    assert record.answered_at == T0 + timedelta(seconds=6)
    assert record.ended_at == T0 + timedelta(seconds=36)
    assert record.talk_seconds == 30
    assert record.callback_due_at is None
    assert [o.result for o in record.offers] == [OfferResult.ANSWERED]
    assert feed.tracker.gap_ended == {}


def test_call_ended_in_gap_without_pbx_records_owes_no_callback() -> None:
    feed = ringing_then_gap()
    at = T0 + timedelta(seconds=90)
    feed.tracker.resync([], at)
    out = feed.tracker.finish_gap({}, at)
    [record] = [e.record for e in out if isinstance(e, CallEnded)]
    assert record.outcome != CallOutcome.ABANDONED
    assert record.callback_due_at is None
    assert all(o.result != OfferResult.CALLER_HUNG_UP for o in record.offers)
    assert record.wrapup_notes is not None
    assert "AMI link was down" in record.wrapup_notes


def test_real_abandon_in_gap_still_owes_its_callback() -> None:
    feed = ringing_then_gap()
    at = T0 + timedelta(seconds=90)
    feed.tracker.resync([], at)
    legs = {
        LID: [
            PbxLeg(
                linkedid=LID,
                channel=CALLER,
                dstchannel=AGENT1,
                started_at=T0 + timedelta(seconds=2),
                answered_at=None,
                ended_at=T0 + timedelta(seconds=30),
                disposition="NO ANSWER",
                lastapp="Queue",
            )
        ]
    }
    [record] = [e.record for e in feed.tracker.finish_gap(legs, at) if isinstance(e, CallEnded)]
    assert record.outcome == CallOutcome.ABANDONED
    assert record.ended_at == T0 + timedelta(seconds=30)
    assert record.callback_due_at is not None


def test_adopted_bridged_call_takes_the_legs_answer_time() -> None:
    tracker = _members(StateInterface="Local/1001@agents/n", InCall="1", Status="2", Paused="0")
    answered = T0 + timedelta(seconds=3)
    tracker.resync(talking_items(), T0 + timedelta(seconds=40), {"1700000000.3": answered})  # type: ignore[arg-type]
    [live] = tracker.live_calls()
    assert live["answered_at"] == answered.isoformat()
    assert live["agent"] == "Alice Agent"


def _cdr(
    channel: str, dst: str, start: float, answer: float | None, end: float, **kw: Any
) -> PbxLeg:
    return PbxLeg(
        linkedid="1700000100.1",
        channel=channel,
        dstchannel=dst,
        started_at=T0 + timedelta(seconds=start),
        answered_at=T0 + timedelta(seconds=answer) if answer is not None else None,
        ended_at=T0 + timedelta(seconds=end),
        disposition="ANSWERED" if answer is not None else "NO ANSWER",
        **kw,
    )


def _members(**state: str) -> CallTracker:
    """A tracker that knows Alice Agent, a support member (free unless `state` says)."""
    tracker = CallTracker(15.0)
    headers = {"Status": "1", "InCall": "0"} | state
    where = {"Queue": "support", "Name": "Alice Agent", "Location": "Local/1001@agents/n"}
    tracker.handle(msg("QueueMember", **where, **headers), T0)
    return tracker


def test_a_call_never_seen_is_rebuilt_with_the_agent_legs_answer_time() -> None:
    """The caller's CDR answer is the IVR's; the agent's own leg says when she answered."""
    tracker = _members()
    caller = "Local/15550009@caller-sim-00000009;1"
    legs = {
        "1700000100.1": [
            _cdr(
                caller,
                "Local/1001@agents-00000010;1",
                0.0,
                0.01,
                20.0,
                uniqueid="1700000100.1",
                clid='"Zhang" <15550009>',
                src="15550009",
                lastapp="Queue",
                lastdata="support,tc,,,300",
                dcontext="queue-call",
                queued_at=T0 + timedelta(seconds=0.5),
            ),
            _cdr("Local/1001@agents-00000010;2", "Local/1001@phone-sim-1;1", 0.6, 2.6, 20.0),
        ]
    }
    out = tracker.recover_unseen(legs, before=T0 + timedelta(seconds=60))
    [record] = [e.record for e in out if isinstance(e, CallEnded)]
    assert record.outcome == CallOutcome.ANSWERED
    assert record.agent == "Alice Agent"
    assert record.caller_number == "15550009"
    assert record.answered_at == T0 + timedelta(seconds=2.6)
    assert record.wait_seconds == 2.1
    assert record.talk_seconds == 17.4
    assert [(o.result, o.ring_seconds) for o in record.offers] == [(OfferResult.ANSWERED, 2.0)]
    assert record.callback_due_at is None
    assert tracker.recover_unseen(legs) == []  # finished once: never twice


def test_a_call_never_seen_that_gave_up_in_the_queue_owes_a_callback() -> None:
    tracker = _members()
    caller = "Local/15550009@caller-sim-00000009;1"
    legs = {
        "1700000100.1": [
            _cdr(
                caller,
                "",
                0.0,
                0.01,
                9.0,
                uniqueid="1700000100.1",
                src="15550009",
                lastapp="Queue",
                lastdata="support,tc,,,300",
                queued_at=T0 + timedelta(seconds=0.5),
            )
        ]
    }
    assert tracker.recover_unseen(legs, before=T0) == []  # begun after the resync asked
    [record] = [e.record for e in tracker.recover_unseen(legs) if isinstance(e, CallEnded)]
    assert record.outcome == CallOutcome.ABANDONED
    assert record.wait_seconds == 8.5
    assert record.callback_due_at is not None


def test_an_agent_talking_on_another_queues_call_is_not_ringing_in_this_one() -> None:
    feed = Feed(CallTracker(15.0))
    queued_call(feed)
    offer(feed, 2)
    answered = connect(feed, 4, "2")
    assert any(isinstance(e, CallAnswered) for e in answered)
    [state] = feed.at(
        5,
        msg(
            "QueueMemberStatus",
            Queue="sales",
            MemberName="Alice Agent",
            Interface="Local/1001@agents/n",
            Status="2",
            InCall="0",
            Paused="0",
        ),
    )
    assert isinstance(state, AgentStateChanged)
    assert state.status == AgentStatus.ON_CALL
