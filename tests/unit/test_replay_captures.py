"""Replaying every recorded AMI session gives the call records read off the capture by hand.

Expected values were derived from each capture's events (AgentCalled → AgentConnect /
AgentRingNoAnswer times, QueueCallerJoin → connect/abandon, DialEnd statuses,
OriginateResponse reasons). Durations to within 1 s of the recording (CONTRACTS.md).
"""

from __future__ import annotations

import bisect
import itertools
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from crm_core.domain.events import CallEnded
from crm_core.domain.models import CallRecord
from telephony.ingest import Ingest
from telephony.replay import EPOCH, capture_chunks, replay_records
from telephony.tracker import CallTracker

CAPTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ami-captures"

# call_id: (direction, caller, queue, agent, outcome, wait, talk, offers[(agent, ring, result)],
#           violations, callback owed)
EXPECTED: dict[str, dict[str, tuple]] = {  # type: ignore[type-arg]
    "inbound_answered_fast.jsonl": {
        "1795394312.0": (
            "inbound",
            "15551230001",
            "support",
            "Alice Agent",
            "answered",
            2,
            8,
            [("Alice Agent", 2, "answered")],
            [],
            False,
        ),
    },
    "inbound_ring_no_answer_then_next.jsonl": {
        "1795394325.4": (
            "inbound",
            "15551230002",
            "support",
            "Bob Agent",
            "answered",
            20,
            6.5,
            [("Alice Agent", 15, "no_answer"), ("Bob Agent", 3, "answered")],
            ["ring_limit"],
            False,
        ),
    },
    "inbound_abandoned.jsonl": {
        "1795394356.10": (
            "inbound",
            "15551230003",
            "support",
            None,
            "abandoned",
            8,
            0,
            [],
            [],
            True,
        ),
        "1795394365.12": (
            "inbound",
            "15551230013",
            "support",
            None,
            "abandoned",
            6,
            0,
            [("Alice Agent", 6, "caller_hung_up")],
            [],
            True,
        ),
    },
    "inbound_with_ivr_agi.jsonl": {
        "1795394377.16": (
            "inbound",
            "15551230004",
            "support",
            "Alice Agent",
            "answered",
            2,
            5,
            [("Alice Agent", 2, "answered")],
            [],
            False,
        ),
    },
    "inbound_ivr_agi_unreachable.jsonl": {
        "1795394390.20": (
            "inbound",
            "15551230005",
            "support",
            "Alice Agent",
            "answered",
            2,
            4,
            [("Alice Agent", 2, "answered")],
            [],
            False,
        ),
    },
    "outbound_success.jsonl": {
        "1795394400.24": (
            "outbound",
            "18005550100",
            None,
            "Carol Agent",
            "answered",
            0,
            6,
            [],
            [],
            False,
        ),
        "1795394411.28": (
            "outbound",
            "18005550100",
            None,
            "Carol Agent",
            "answered",
            0,
            6,
            [],
            [],
            False,
        ),
    },
    "outbound_busy.jsonl": {
        "1795394427.32": ("outbound", "18005550100", None, None, "busy", 0, 0, [], [], False),
        "1795394429.34": (
            "outbound",
            "18005550100",
            None,
            "Carol Agent",
            "busy",
            0,
            0,
            [],
            [],
            False,
        ),
    },
    "outbound_no_answer.jsonl": {
        "1795394436.38": ("outbound", "18005550100", None, None, "no_answer", 0, 0, [], [], False),
        "1795394453.40": (
            "outbound",
            "18005550100",
            None,
            "Carol Agent",
            "no_answer",
            0,
            0,
            [],
            [],
            False,
        ),
    },
    "outbound_congestion_and_invalid.jsonl": {
        "1795394471.44": ("outbound", "18005550100", None, None, "failed", 0, 0, [], [], False),
        "1795394473.46": (
            "outbound",
            "18005550100",
            None,
            "Carol Agent",
            "failed",
            0,
            0,
            [],
            [],
            False,
        ),
        "1795394476.50": ("outbound", "", None, None, "failed", 0, 0, [], [], False),
        "1795394477.52": ("outbound", "", None, None, "failed", 0, 0, [], [], False),
    },
    "supervisor_spy.jsonl": {  # the supervisor's three ChanSpy calls are not customer calls
        "1795394481.54": (
            "inbound",
            "15551230006",
            "support",
            "Alice Agent",
            "answered",
            1,
            18,
            [("Alice Agent", 1, "answered")],
            [],
            False,
        ),
    },
    "transfer_redirect.jsonl": {
        "1795394504.64": (
            "inbound",
            "15551230007",
            "support",
            "Frank Sales",  # after a transfer: the agent the customer ended with (ADR 0046)
            "answered",
            1,
            6,
            [("Alice Agent", 1, "answered"), ("Frank Sales", 2, "answered")],
            [],
            False,
        ),
        "1795394515.70": (
            "inbound",
            "15551230017",
            "support",
            "Frank Sales",  # blind-transferred to his extension 1006: an offer he answered
            "answered",
            1,
            8,
            [("Alice Agent", 1, "answered"), ("Frank Sales", 2, "answered")],
            [],
            False,
        ),
        "1795394529.76": (
            "inbound",
            "15551230027",
            "support",
            "Alice Agent",
            "answered",
            1,
            2,
            [("Alice Agent", 1, "answered")],
            [],
            False,
        ),
    },
    "mixmonitor_record.jsonl": {
        "1795394541.80": (
            "inbound",
            "15551230008",
            "support",
            "Alice Agent",
            "answered",
            1,
            9,
            [("Alice Agent", 1, "answered")],
            [],
            False,
        ),
    },
    "queue_status_snapshot.jsonl": {
        "1795394555.84": (
            "inbound",
            "15551230009",
            "support",
            "Alice Agent",
            "answered",
            1,
            4.5,
            [("Alice Agent", 1, "answered")],
            [],
            False,
        ),
        "1795394556.88": (
            "inbound",
            "15551230019",
            "support",
            "Bob Agent",
            "answered",
            1,
            3.5,
            [("Bob Agent", 1, "answered")],
            [],
            False,
        ),
        "1795394557.92": (
            "inbound",
            "15551230029",
            "support",
            None,
            "abandoned",
            3.5,
            0,
            [("Carol Agent", 3, "no_answer")],
            [],
            False,
        ),
        "1795394557.96": (
            "inbound",
            "15551230039",
            "support",
            None,
            "abandoned",
            3.5,
            0,
            [],
            [],
            False,
        ),
    },
    "queue_member_management.jsonl": {},
}


def _check(record: CallRecord, exp: tuple) -> None:  # type: ignore[type-arg]
    direction, caller, queue, agent, outcome, wait, talk, offers, violations, owed = exp
    assert record.direction.value == direction
    assert record.caller_number == caller
    assert record.queue == queue
    assert record.agent == agent
    assert record.outcome.value == outcome
    assert abs(record.wait_seconds - wait) <= 1.0
    assert abs(record.talk_seconds - talk) <= 1.0
    got = [(o.agent, o.ring_seconds, o.result.value) for o in record.offers]
    assert [(a, r) for a, _, r in got] == [(a, r) for a, _, r in offers]
    for (_, ring, _), (_, want, _) in zip(got, offers, strict=True):
        assert abs(ring - want) <= 1.0
    assert list(record.rule_violations) == violations
    assert (record.callback_due_at is not None) == owed


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_capture_gives_expected_records(name: str) -> None:
    records = replay_records(CAPTURES / name)
    assert {r.call_id for r in records} == set(EXPECTED[name])
    for record in records:
        _check(record, EXPECTED[name][record.call_id])
        assert record.started_at is not None
        assert record.ended_at is not None
        assert record.ended_at >= record.started_at


def test_every_capture_is_covered() -> None:
    files = {p.name for p in CAPTURES.glob("*.jsonl") if "fastagi" not in p.name}
    assert files == set(EXPECTED)


def test_ivr_caller_name_is_kept_exactly() -> None:
    (record,) = replay_records(CAPTURES / "inbound_with_ivr_agi.jsonl")
    assert record.caller_name == "Elena Núñez"


def test_ring_limit_setting_changes_violations() -> None:
    (record,) = replay_records(CAPTURES / "inbound_answered_fast.jsonl", ring_limit_seconds=1.5)
    assert record.rule_violations == ("ring_limit",)


@pytest.mark.parametrize("name", ["inbound_ring_no_answer_then_next.jsonl", "outbound_busy.jsonl"])
def test_stream_split_at_every_byte_gives_identical_records(name: str) -> None:
    chunks = [c for c in capture_chunks(CAPTURES / name) if c[0] == 1]
    stream = b"".join(data for _, _, data in chunks)
    expected = [r.to_contract() for r in replay_records(CAPTURES / name)]
    assert expected
    # the recorded time of the byte at each offset: a frame is complete (and handled)
    # when its last byte arrives, so stamping each piece with the time of its last
    # byte reproduces the recording's times exactly, however the bytes are split
    ends: list[int] = []
    times: list[float] = []
    pos = 0
    for _, t, data in chunks:
        pos += len(data)
        ends.append(pos)
        times.append(t)

    def time_at(offset: int) -> float:
        return times[bisect.bisect_right(ends, offset)]

    def run(cuts: list[int]) -> list[dict[str, object]]:
        ingest = Ingest(CallTracker(15.0))
        out = []
        bounds = [0, *sorted(set(cuts)), len(stream)]
        for a, b in itertools.pairwise(bounds):
            if a < b:
                at = EPOCH + timedelta(seconds=time_at(b - 1))
                out += ingest.feed_bytes(stream[a:b], at)
        return [e.record.to_contract() for e in out if isinstance(e, CallEnded)]

    # one arbitrary cut anywhere, plus the recorded read boundaries (which carry time)
    step = max(1, len(stream) // 400)
    for cut in [*range(1, len(stream), step), len(stream) - 1]:
        assert run([*ends[:-1], cut]) == expected, cut
    # and one byte at a time
    assert run(list(range(1, len(stream)))) == expected


def test_replay_cli_prints_contract_json() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "callcenter.cli",
            "replay",
            str(CAPTURES / "inbound_ring_no_answer_then_next.jsonl"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (line,) = out.splitlines()
    record = json.loads(line)
    assert set(record) == {
        "call_id",
        "direction",
        "caller_number",
        "caller_name",
        "dialed_number",
        "queue",
        "agent",
        "started_at",
        "answered_at",
        "ended_at",
        "wait_seconds",
        "talk_seconds",
        "hold_seconds",
        "offers",
        "outcome",
        "rule_violations",
        "callback_due_at",
    }
    assert record["offers"][0] == {
        "agent": "Alice Agent",
        "interface": "Local/1001@agents/n",
        "ring_seconds": 15.0,
        "result": "no_answer",
    }
    # --rings/--ring-cycle move the limit: 4 rings of 5 s forgive the 15 s ring
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "callcenter.cli",
            "replay",
            "--rings",
            "4",
            str(CAPTURES / "inbound_ring_no_answer_then_next.jsonl"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out)["rule_violations"] == []


def test_an_answering_member_is_on_the_call_until_it_ends() -> None:
    """Asterisk sends no QueueMemberStatus when a Local member answers (the capture has
    2/InCall 0 at the ring and 1 at the end only): the tracker says so at AgentConnect, or
    the agent's console showed "ringing" through the whole call."""
    from crm_core.domain.events import AgentStateChanged, CallAnswered
    from crm_core.domain.models import AgentStatus
    from telephony.replay import replay_events

    events = list(replay_events(CAPTURES / "inbound_answered_fast.jsonl", CallTracker(15.0)))
    states = [
        (e.status, e.in_call)
        for e in events
        if isinstance(e, AgentStateChanged) and e.agent == "Alice Agent"
    ]
    assert states == [
        (AgentStatus.RINGING, False),  # the ring: 2/InCall 0
        (AgentStatus.ON_CALL, True),  # the answer: no event from Asterisk
        (AgentStatus.AVAILABLE, False),  # the end: 1/InCall 0
    ]
    answered = next(i for i, e in enumerate(events) if isinstance(e, CallAnswered))
    on_call = next(
        i
        for i, e in enumerate(events)
        if isinstance(e, AgentStateChanged) and e.status is AgentStatus.ON_CALL
    )
    assert abs(answered - on_call) == 1  # at the same moment as the answer
