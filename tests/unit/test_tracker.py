"""Call tracker edge cases on small synthetic streams (shapes as in the recordings)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crm_core.domain.events import (
    AgentMissedCall,
    AgentRingStarted,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallerIdentified,
    CallLeftQueue,
    CallOffered,
    DomainEvent,
)
from crm_core.domain.models import CallRecord
from telephony.ami.framing import AmiMessage, parse_frame
from telephony.tracker import CallTracker
from tests.unit.ami_frames import CALLER, LID, channel_fields

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CALLER2 = "Local/15550001@caller-sim-00000001;2"
AGENT1 = "Local/1001@agents-00000002;1"
AGENT2 = "Local/1001@agents-00000002;2"


def msg(event: str, **headers: str) -> AmiMessage:
    lines = [f"Event: {event}"] + [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    parsed = parse_frame("\r\n".join(lines))
    assert parsed is not None
    return parsed


def channel(event: str, chan: str, uid: str, **extra: str) -> AmiMessage:
    return msg(event, **channel_fields(chan, uid, **extra))


class Feed:
    def __init__(self, tracker: CallTracker) -> None:
        self.tracker = tracker
        self.events: list[DomainEvent] = []

    def at(self, seconds: float, message: AmiMessage) -> list[DomainEvent]:
        out = self.tracker.handle(message, T0 + timedelta(seconds=seconds))
        self.events.extend(out)
        return out

    def records(self) -> list[CallRecord]:
        return [e.record for e in self.events if isinstance(e, CallEnded)]


def queued_call(feed: Feed) -> None:
    feed.at(0, channel("Newchannel", CALLER, LID))
    feed.at(0, channel("Newchannel", CALLER2, "1700000000.2"))
    feed.at(1, channel("QueueCallerJoin", CALLER, LID, Queue="support", Position="1"))


# the queue's offer to Alice Agent, ringing on her Local channel AGENT1
ALICE_RUNG = {
    "Queue": "support",
    "MemberName": "Alice Agent",
    "Interface": "Local/1001@agents",
    "DestChannel": AGENT1,
}


def offer(feed: Feed, seconds: float) -> list[DomainEvent]:
    feed.at(seconds, channel("Newchannel", AGENT1, "1700000000.3", Context="agents"))
    feed.at(seconds, channel("Newchannel", AGENT2, "1700000000.4", Context="agents"))
    return feed.at(
        seconds,
        channel("AgentCalled", CALLER, LID, **ALICE_RUNG),
    )


def connect(feed: Feed, seconds: float, ring: str) -> list[DomainEvent]:
    return feed.at(
        seconds,
        channel("AgentConnect", CALLER, LID, **ALICE_RUNG, HoldTime="3", RingTime=ring),
    )


def hang_up_all(feed: Feed, seconds: float, *, agent: bool = True) -> None:
    feed.at(seconds, channel("Hangup", CALLER2, "1700000000.2", Cause="16"))
    if agent:
        feed.at(seconds, channel("Hangup", AGENT1, "1700000000.3", Cause="16"))
        feed.at(seconds, channel("Hangup", AGENT2, "1700000000.4", Cause="16"))
    feed.at(seconds, channel("Hangup", CALLER, LID, Cause="16"))


def test_answered_within_limit_one_record_one_offer_despite_local_pairs() -> None:
    feed = Feed(CallTracker(15.0))
    queued_call(feed)
    popped = offer(feed, 2)
    assert any(isinstance(e, CallOffered) for e in feed.events)  # on queue entry
    ring = [e for e in popped if isinstance(e, AgentRingStarted)]
    assert len(ring) == 1
    assert ring[0].agent == "Alice Agent"
    answered = connect(feed, 6, "4")
    assert any(isinstance(e, CallAnswered) for e in answered)
    hang_up_all(feed, 36)
    [record] = feed.records()
    assert record.call_id == LID
    assert record.caller_name == "张三"
    assert record.outcome.value == "answered"
    assert record.agent == "Alice Agent"
    assert [(o.agent, o.ring_seconds, o.result.value) for o in record.offers] == [
        ("Alice Agent", 4.0, "answered")
    ]
    assert abs(record.wait_seconds - 5) < 0.01
    assert abs(record.talk_seconds - 30) < 0.01
    assert record.rule_violations == ()
    assert record.callback_due_at is None
    assert feed.tracker.calls == {}
    # AgentComplete after both hang-ups, without caller fields: no second record, no ghost call
    late = msg(
        "AgentComplete",
        Queue="support",
        MemberName="Alice Agent",
        Interface="Local/1001@agents",
        DestLinkedid=LID,
        TalkTime="30",
        Reason="caller",
    )
    assert feed.at(37, late) == []
    assert feed.tracker.calls == {}


def test_ring_past_limit_is_a_violation_and_limit_is_a_setting() -> None:
    for limit, expected in ((15.0, ("ring_limit",)), (18.0, ())):
        feed = Feed(CallTracker(limit))
        queued_call(feed)
        offer(feed, 2)
        connect(feed, 18.5, "16")
        hang_up_all(feed, 30)
        [record] = feed.records()
        assert record.rule_violations == expected, limit


def test_ring_no_answer_ringtime_is_milliseconds_and_missed_call_emitted() -> None:
    feed = Feed(CallTracker(15.0))
    queued_call(feed)
    offer(feed, 2)
    out = feed.at(
        17,
        channel(
            "AgentRingNoAnswer",
            CALLER,
            LID,
            Queue="support",
            MemberName="Alice Agent",
            Interface="Local/1001@agents",
            DestChannel=AGENT1,
            RingTime="15000",
        ),
    )
    missed = [e for e in out if isinstance(e, AgentMissedCall)]
    assert len(missed) == 1
    assert missed[0].agent == "Alice Agent"
    feed.at(17, channel("Hangup", AGENT1, "1700000000.3", Cause="0"))
    feed.at(17, channel("Hangup", AGENT2, "1700000000.4", Cause="0"))
    feed.at(20, channel("QueueCallerAbandon", CALLER, LID, Queue="support", HoldTime="19"))
    hang_up_all(feed, 20, agent=False)
    [record] = feed.records()
    assert [(o.ring_seconds, o.result.value) for o in record.offers] == [(15.0, "no_answer")]
    # an offer that rang the whole limit unanswered broke the rule; a shorter one did not
    assert record.rule_violations == ("ring_limit",)
    assert record.outcome.value == "abandoned"


def test_abandon_after_threshold_owes_callback_short_one_does_not() -> None:
    for hang_at, owed in ((12.0, True), (4.0, False)):
        feed = Feed(CallTracker(15.0, abandon_threshold_seconds=5.0))
        queued_call(feed)
        out = feed.at(
            hang_at, channel("QueueCallerAbandon", CALLER, LID, Queue="support", HoldTime="1")
        )
        assert any(isinstance(e, CallAbandoned) for e in out)
        hang_up_all(feed, hang_at, agent=False)
        [record] = feed.records()
        assert record.outcome.value == "abandoned"
        end = T0 + timedelta(seconds=hang_at)
        if owed:
            assert record.callback_due_at == end + timedelta(minutes=30)
        else:
            assert record.callback_due_at is None


def test_caller_hangs_up_while_agent_rings() -> None:
    feed = Feed(CallTracker(15.0))
    queued_call(feed)
    offer(feed, 2)
    feed.at(9, channel("QueueCallerAbandon", CALLER, LID, Queue="support", HoldTime="8"))
    hang_up_all(feed, 9)
    [record] = feed.records()
    assert [(o.ring_seconds, o.result.value) for o in record.offers] == [(7.0, "caller_hung_up")]
    assert abs(record.wait_seconds - 8) < 0.01


def test_ivr_variables_identify_caller() -> None:
    feed = Feed(CallTracker(15.0))
    queued_call(feed)
    out = feed.at(1, channel("VarSet", CALLER, LID, Variable="CC_CUSTOMER_ID", Value="42"))
    assert any(isinstance(e, CallerIdentified) for e in out)
    hang_up_all(feed, 3, agent=False)
    [record] = feed.records()
    assert record.customer_id == 42


def test_unknown_event_and_events_without_call_are_ignored() -> None:
    tracker = CallTracker(15.0)
    assert tracker.handle(msg("SomethingNew", Foo="bar"), T0) == []
    assert (
        tracker.handle(msg("Hangup", Channel="PJSIP/x", Uniqueid="9.9", Linkedid="9.9"), T0) == []
    )
    assert (
        tracker.handle(
            parse_frame("Response: Success\r\nActionID: nobody"),  # type: ignore[arg-type]
            T0,
        )
        == []
    )
    assert tracker.calls == {}


def test_resync_ends_calls_gone_during_disconnect() -> None:
    feed = Feed(CallTracker(15.0))
    queued_call(feed)
    offer(feed, 2)
    connect(feed, 4, "2")
    # socket dropped; after reconnect CoreShowChannels lists nothing of this call
    assert feed.tracker.resync([], T0 + timedelta(seconds=60)) == []
    ended = feed.tracker.finish_gap({}, T0 + timedelta(seconds=60))
    [record] = [e.record for e in ended if isinstance(e, CallEnded)]
    assert record.call_id == LID
    assert record.outcome.value == "answered"
    assert record.agent == "Alice Agent"
    assert feed.tracker.calls == {}


def test_resync_keeps_live_call_and_it_ends_as_one_record() -> None:
    feed = Feed(CallTracker(15.0))
    queued_call(feed)
    offer(feed, 2)
    connect(feed, 4, "2")
    still = [
        msg("CoreShowChannel", Channel=CALLER, Uniqueid=LID, Linkedid=LID, Duration="00:00:50"),
        msg("CoreShowChannel", Channel=AGENT1, Uniqueid="1700000000.3", Linkedid=LID),
    ]
    assert feed.tracker.resync(still, T0 + timedelta(seconds=50)) == []
    feed.at(70, channel("Hangup", AGENT1, "1700000000.3", Cause="16"))
    feed.at(70, channel("Hangup", CALLER, LID, Cause="16"))
    [record] = feed.records()
    assert record.outcome.value == "answered"
    assert abs(record.talk_seconds - 66) < 0.01
    assert feed.tracker.calls == {}


def test_resync_adopts_unknown_call_then_hangup_finishes_it() -> None:
    tracker = CallTracker(15.0)
    trunk = {"Channel": "PJSIP/trunk-00000009", "Uniqueid": "1700000099.1"}
    trunk["Linkedid"] = trunk["Uniqueid"]
    item = msg(
        "CoreShowChannel",
        **trunk,
        CallerIDNum="13800000000",
        CallerIDName="李四",
        Application="Queue",
        ApplicationData="sales,,,,300",
        Duration="00:01:05",
    )
    at = T0 + timedelta(minutes=5)
    assert tracker.resync([item], at) == []
    live = tracker.live_calls()
    assert len(live) == 1
    assert live[0]["caller_name"] == "李四"
    assert live[0]["queue"] == "sales"
    assert live[0]["started_at"] == (at - timedelta(seconds=65)).isoformat()
    abandon = msg(
        "QueueCallerAbandon",
        **trunk,
        Queue="sales",
        HoldTime="70",
    )
    assert any(isinstance(e, CallAbandoned) for e in tracker.handle(abandon, at))
    out = tracker.handle(
        msg(
            "Hangup",
            **trunk,
            Cause="16",
        ),
        at + timedelta(seconds=5),
    )
    [record] = [e.record for e in out if isinstance(e, CallEnded)]
    assert record.call_id == "1700000099.1"
    assert record.queue == "sales"
    assert record.outcome.value == "abandoned"
    assert abs(record.wait_seconds - 65) < 0.01  # joined the queue when the channel began
    assert record.callback_due_at is not None


def test_queue_member_events_feed_agent_snapshot() -> None:
    tracker = CallTracker(15.0)
    out = tracker.handle(
        msg(
            "QueueMemberPause",
            Queue="support",
            MemberName="Alice Agent",
            Interface="Local/1001@agents",
            StateInterface="Local/1001@agents",
            Status="1",
            Paused="1",
            PausedReason="lunch",
            InCall="0",
        ),
        T0,
    )
    [state] = out
    assert isinstance(state, AgentStateChanged)
    assert state.status.value == "paused"
    assert state.paused
    [agent] = tracker.agents.values()
    assert agent.agent == "Alice Agent"
    assert agent.status.value == "paused"


def test_asterisks_stand_in_for_a_failed_originate_is_not_a_call() -> None:
    """A failed Originate with a context leaves an `OutgoingSpoolFailed` channel with the
    originate's variables (ADR 0056): no second record of the attempt."""
    feed = Feed(CallTracker(15.0))
    spool = {"Linkedid": "1700000009.9", "Context": "campaign-dial", "Exten": "failed"}
    feed.at(0, channel("Newchannel", "OutgoingSpoolFailed", "1700000009.9", **spool))
    feed.at(
        0,
        channel(
            "VarSet",
            "OutgoingSpoolFailed",
            "1700000009.9",
            Variable="CC_CAMPAIGN_ID",
            Value="1",
            **spool,
        ),
    )
    feed.at(0, channel("Hangup", "OutgoingSpoolFailed", "1700000009.9", Cause="16", **spool))
    assert not [e for e in feed.events if isinstance(e, CallEnded)]


def test_an_originate_that_timed_out_is_no_answer_before_its_response() -> None:
    """The originate timed out: Asterisk hangs the channels up (the originated one with
    cause 19) and may send the OriginateResponse (reason 3) only after the last Hangup."""
    feed = Feed(CallTracker(15.0))
    one = "Local/8613900139022@outbound-00000002;1"
    two = "Local/8613900139022@outbound-00000002;2"
    cust = "Local/8613900139022@customer-sim-00000003;1"
    ctx = {"Context": "outbound", "Exten": "8613900139022"}
    feed.at(0, channel("Newchannel", one, "1.1", **ctx))
    feed.at(0, channel("Newchannel", two, "1.2", **ctx))
    feed.at(0, channel("Newchannel", cust, "1.3", Context="customer-sim", Exten="8613900139022"))
    feed.at(0, channel("VarSet", one, "1.1", Variable="CC_CAMPAIGN_ID", Value="1", **ctx))
    dest = {"DestChannel": one, "DestUniqueid": "1.1", "DestLinkedid": LID}
    feed.at(0, msg("DialBegin", DestExten="8613900139022", **dest))
    feed.at(
        0,
        msg(
            "DialBegin",
            Channel=two,
            Uniqueid="1.2",
            Linkedid=LID,
            DestChannel=cust,
            DestUniqueid="1.3",
            DestLinkedid=LID,
        ),
    )
    feed.at(
        15,
        msg(
            "DialEnd",
            Channel=two,
            Uniqueid="1.2",
            Linkedid=LID,
            DestChannel=cust,
            DestUniqueid="1.3",
            DestLinkedid=LID,
            DialStatus="CANCEL",
        ),
    )
    for chan, uid in ((cust, "1.3"), (two, "1.2"), (one, "1.1")):
        feed.at(15, channel("Hangup", chan, uid, Cause="19", **ctx))
    (ended,) = [e for e in feed.events if isinstance(e, CallEnded)]
    assert ended.record.outcome.value == "no_answer"
    assert ended.record.dialed_number == "8613900139022"


def _a_member_and_a_waiting_caller() -> CallTracker:
    """Agent 1001 in support, and a caller waiting there since T0+1s."""
    tracker = CallTracker(15.0)
    feed = Feed(tracker)
    member = {"Queue": "support", "MemberName": "Agent 1001", "Interface": "Local/1001@agents/n"}
    feed.at(0, msg("QueueMemberAdded", Status="1", Paused="0", **member))
    feed.at(1, channel("Newchannel", CALLER2, "1700000000.2"))
    feed.at(1, msg("QueueCallerJoin", Channel=CALLER2, Queue="support", Position="1", Linkedid=LID))
    return tracker


def test_queue_resync_ends_what_left_the_pbx_during_a_gap() -> None:
    """A member removed and a caller who left their queue while the AMI link was down:
    the QueueStatus at the resync says so (issue 12 item 7: the board drifted)."""
    tracker = _a_member_and_a_waiting_caller()
    status = [
        msg("QueueParams", Queue="support"),
        msg("QueueEntry", Queue="support", Channel="Local/9@caller-sim-00000009;2"),
    ]
    out = tracker.resync_queues(status, T0 + timedelta(seconds=5))
    left = [e for e in out if isinstance(e, CallLeftQueue)]
    assert [(e.call_id, e.queue) for e in left] == [(LID, "support")]
    gone = [e for e in out if isinstance(e, AgentStateChanged)]
    assert [(e.agent, e.queue, e.status.value) for e in gone] == [
        ("Agent 1001", "support", "logged_out")
    ]
    assert tracker.resync_queues(status, T0 + timedelta(seconds=6)) == []  # said once


def test_queue_resync_keeps_members_and_callers_still_there() -> None:
    tracker = _a_member_and_a_waiting_caller()
    status = [
        msg("QueueMember", Queue="support", Name="Agent 1001", Location="Local/1001@agents/n"),
        msg("QueueEntry", Queue="support", Channel=CALLER2),
    ]
    assert tracker.resync_queues(status, T0 + timedelta(seconds=5)) == []


def test_agent_hangs_up_caller_stays_for_the_survey_talk_ends_at_agent_complete() -> None:
    feed = Feed(CallTracker(15.0))
    queued_call(feed)
    offer(feed, 2)
    connect(feed, 4, "2")
    feed.at(14, channel("Hangup", AGENT1, "1700000000.3", Cause="16"))
    feed.at(14, channel("Hangup", AGENT2, "1700000000.4", Cause="16"))
    feed.at(
        14,
        channel(
            "AgentComplete",
            CALLER,
            LID,
            Queue="support",
            MemberName="Alice Agent",
            Interface="Local/1001@agents",
            TalkTime="10",
            Reason="agent",
        ),
    )
    assert feed.records() == []  # the caller is still there, in the survey
    feed.at(20, channel("VarSet", CALLER, LID, Variable="CC_IVR_STEP", Value="survey:start"))
    hang_up_all(feed, 30, agent=False)
    [record] = feed.records()
    assert record.outcome.value == "answered"
    assert abs(record.talk_seconds - 10) < 0.01  # not 26: the survey is not talk
    assert record.ended_at == T0 + timedelta(seconds=30)
    assert record.callback_due_at is None
    assert [(s.flow, s.step) for s in record.ivr_path] == [("survey", "start")]
