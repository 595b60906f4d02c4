"""LiveBoard against a simulated day of traffic whose figures are known in advance."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from crm_core.domain.events import (
    AgentMissedCall,
    AgentRingStarted,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallbackClosed,
    CallbackDue,
    CallbackScheduled,
    CallEnded,
    CallOffered,
    DomainEvent,
)
from crm_core.domain.models import (
    AgentStatus,
    Callback,
    CallbackReason,
    CallbackStatus,
    CallOutcome,
    CallRecord,
    Direction,
    Offer,
    OfferResult,
    Role,
    User,
)
from crm_core.ports.repositories import CallFilter
from crm_core.services.live import LiveBoard, LiveBoardConfig

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
CFG = LiveBoardConfig(
    service_level_seconds=20,
    ring_limit_seconds=15,
    short_abandon_seconds=5,
    long_wait_alert_seconds=60,
    after_call_work_alert_seconds=120,
)


@dataclass(frozen=True)
class Planned:
    call_id: str
    start: datetime
    wait: float
    outcome: str  # answered | abandoned
    ring: float = 4.0
    talk: float = 60.0
    agent: str = "Agent 1001"
    missed_before: bool = False


def day_plan() -> list[Planned]:
    """20 calls: 14 answered (wait 5..70 s, two after > 15 s of ringing), 6 abandoned
    (2 of them within 5 s: short abandons)."""
    plan: list[Planned] = []
    waits = [5, 8, 10, 12, 15, 18, 20, 25, 30, 40, 50, 60, 65, 70]
    for i, wait in enumerate(waits):
        plan.append(
            Planned(
                call_id=f"c{i}",
                start=T0 + timedelta(minutes=10 * i),
                wait=float(wait),
                outcome="answered",
                ring=18.0 if i in (3, 9) else 4.0,
                talk=30.0 + 10 * i,
                agent="Agent 1001" if i % 2 == 0 else "Agent 1002",
                missed_before=i == 5,
            )
        )
    for j, wait in enumerate([2, 4, 30, 45, 90, 120]):
        plan.append(
            Planned(
                call_id=f"a{j}",
                start=T0 + timedelta(minutes=10 * j + 5),
                wait=float(wait),
                outcome="abandoned",
            )
        )
    return sorted(plan, key=lambda p: p.start)


def record_of(p: Planned) -> CallRecord:
    offers: list[Offer] = []
    if p.missed_before:
        offers.append(Offer(agent="Agent 1002", interface="Local/1002@agents/n", ring_seconds=15.0))
    answered_at = p.start + timedelta(seconds=p.wait) if p.outcome == "answered" else None
    if p.outcome == "answered":
        offers.append(
            Offer(
                agent=p.agent,
                interface="Local/1@agents/n",
                ring_seconds=p.ring,
                result=OfferResult.ANSWERED,
            )
        )
    end = (
        (answered_at + timedelta(seconds=p.talk))
        if answered_at
        else p.start + timedelta(seconds=p.wait)
    )
    return CallRecord(
        call_id=p.call_id,
        direction=Direction.INBOUND,
        caller_number="13800138000",
        caller_name="张三",
        queue="support",
        agent=p.agent if p.outcome == "answered" else None,
        started_at=p.start,
        answered_at=answered_at,
        ended_at=end,
        wait_seconds=p.wait,
        talk_seconds=p.talk if p.outcome == "answered" else 0.0,
        offers=tuple(offers),
        outcome=CallOutcome.ANSWERED if p.outcome == "answered" else CallOutcome.ABANDONED,
    )


def events_of(p: Planned) -> list[DomainEvent]:
    evs: list[DomainEvent] = [
        CallOffered(
            at=p.start,
            call_id=p.call_id,
            queue="support",
            position=1,
            caller_number="13800138000",
            caller_name="张三",
        )
    ]
    if p.missed_before:
        evs.append(
            AgentMissedCall(
                at=p.start + timedelta(seconds=2),
                call_id=p.call_id,
                queue="support",
                agent="Agent 1002",
                interface="Local/1002@agents/n",
                ring_seconds=15.0,
            )
        )
    if p.outcome == "answered":
        evs.append(
            AgentRingStarted(
                at=p.start + timedelta(seconds=p.wait - p.ring),
                call_id=p.call_id,
                queue="support",
                agent=p.agent,
                interface="Local/1@agents/n",
                caller_number="13800138000",
                caller_name="张三",
            )
        )
        evs.append(
            CallAnswered(
                at=p.start + timedelta(seconds=p.wait),
                call_id=p.call_id,
                queue="support",
                agent=p.agent,
                interface="Local/1@agents/n",
                wait_seconds=p.wait,
                ring_seconds=p.ring,
            )
        )
    else:
        evs.append(
            CallAbandoned(
                at=p.start + timedelta(seconds=p.wait),
                call_id=p.call_id,
                queue="support",
                caller_number="13800138000",
                wait_seconds=p.wait,
            )
        )
    rec = record_of(p)
    assert rec.ended_at is not None
    evs.append(CallEnded(at=rec.ended_at, record=rec))
    return evs


def all_events() -> list[DomainEvent]:
    evs = [e for p in day_plan() for e in events_of(p)]
    return sorted(evs, key=lambda e: e.at)


EXPECTED = {
    "offered": 20,
    "answered": 14,
    "abandoned": 6,
    "short_abandoned": 2,
    # answered within 20 s: waits 5,8,10,12,15,18,20 = 7; denominator 20 - 2 short = 18
    "service_level": round(7 / 18, 4),
    "abandon_rate": round(4 / 18, 4),
    "within_3_rings": round(12 / 14, 4),
    "asa_seconds": round(sum([5, 8, 10, 12, 15, 18, 20, 25, 30, 40, 50, 60, 65, 70]) / 14, 1),
    "aht_seconds": round(sum(30.0 + 10 * i for i in range(14)) / 14, 1),
    "waiting": 0,
}


def support(board: LiveBoard, now: datetime) -> dict[str, Any]:
    snap = board.snapshot(now)
    (q,) = [q for q in snap["queues"] if q["name"] == "support"]
    assert isinstance(q, dict)
    return q


def test_live_day_matches_known_figures() -> None:
    board = LiveBoard(CFG)
    alerts = []
    for event in all_events():
        alerts += board.apply(event)
    end = T0 + timedelta(hours=5)
    q = support(board, end)
    for key, value in EXPECTED.items():
        assert q[key] == value, key
    kinds = sorted(a.kind for a in alerts)
    assert kinds == ["late_answer", "late_answer", "missed_ring"]
    snap = board.snapshot(end)
    agents = {a["name"]: a for a in snap["agents"]}
    assert agents["Agent 1001"]["calls_today"] == 7
    assert agents["Agent 1002"]["calls_today"] == 7
    assert agents["Agent 1002"]["missed_today"] == 1
    # hourly chart: offered per local hour sums to the day's offered
    assert sum(h[0] for h in q["hourly"]) == 20
    assert q["hourly"][9][0] > 0  # 01:00 UTC is 09:00 in Shanghai


async def test_rebuilt_board_matches_live_board() -> None:
    """After a restart the board rebuilt from call records equals the live one."""
    plan = day_plan()
    records = [record_of(p) for p in plan]

    class Calls:
        async def list(self, flt: CallFilter) -> list[CallRecord]:
            assert flt.since is not None
            rows = [r for r in records if r.started_at and r.started_at >= flt.since]
            return rows[flt.offset : flt.offset + flt.limit]

    class Callbacks:
        async def list(self, **_: Any) -> list[Callback]:
            return [
                Callback(
                    id=7,
                    phone_e164="+8613800138000",
                    reason=CallbackReason.ABANDONED,
                    status=CallbackStatus.OPEN,
                    created_at=T0,
                    due_at=T0 + timedelta(minutes=30),
                    queue="support",
                )
            ]

    @dataclass
    class Db:
        calls: Any = field(default_factory=Calls)
        callbacks: Any = field(default_factory=Callbacks)

    end = T0 + timedelta(hours=5)
    board = LiveBoard(CFG)
    assert await board.load_today(Db(), end) == 20
    q = support(board, end)
    for key, value in EXPECTED.items():
        assert q[key] == value, key
    assert q["callbacks_due"] == 1
    assert q["callbacks_overdue"] == 1
    # the same CallEnded arriving again (bus redelivery) changes nothing
    for event in all_events():
        board.apply(event)
    assert support(board, end)["offered"] == 20


def test_call_in_progress_across_restart_counted_once() -> None:
    p = day_plan()[0]
    evs = events_of(p)
    board = LiveBoard(CFG)
    # the service restarted after the offer: only the answer and the end are seen
    for event in evs[2:]:
        board.apply(event)
    q = support(board, T0 + timedelta(hours=1))
    assert (q["offered"], q["answered"]) == (1, 1)


def test_long_wait_and_waiting_figures() -> None:
    board = LiveBoard(CFG)
    board.apply(
        CallOffered(
            at=T0, call_id="w1", queue="sales", position=1, caller_number="1", caller_name=""
        )
    )
    assert board.tick(T0 + timedelta(seconds=30)) == []
    q = board.snapshot(T0 + timedelta(seconds=30))["queues"][0]
    assert (q["waiting"], q["longest_wait_seconds"]) == (1, 30.0)
    (alert,) = board.tick(T0 + timedelta(seconds=61))
    assert alert.kind == "long_wait"
    assert alert.call_id == "w1"
    assert board.tick(T0 + timedelta(seconds=90)) == []  # once per call


def test_after_call_work_alert_and_agent_state() -> None:
    board = LiveBoard(CFG)
    board.set_roster(
        [
            User(
                id=1,
                username="agent1",
                display_name="王芳",
                role=Role.AGENT,
                team_id=3,
                member_name="Agent 1001",
                interface="Local/1001@agents/n",
            )
        ]
    )
    board.apply(
        AgentStateChanged(
            at=T0,
            agent="Agent 1001",
            interface="Local/1001@agents/n",
            queue="support",
            status=AgentStatus.PAUSED,
            paused=True,
            pause_reason="after_call_work",
        )
    )
    assert board.tick(T0 + timedelta(seconds=100)) == []
    (alert,) = board.tick(T0 + timedelta(seconds=121))
    assert alert.kind == "acw_too_long"
    assert "王芳" in alert.message
    snap = board.snapshot(T0 + timedelta(seconds=130), team_id=3)
    (agent,) = snap["agents"]
    assert agent["status"] == "wrap_up"
    assert agent["seconds_in_state"] == 130.0
    assert agent["pause_reason"] == "after_call_work"
    assert board.snapshot(T0, team_id=4)["agents"] == []


def test_callbacks_due_overdue_closed() -> None:
    board = LiveBoard(CFG)
    due = T0 + timedelta(minutes=30)
    board.apply(
        CallbackScheduled(
            at=T0,
            callback_id=1,
            phone="+86138",
            reason=CallbackReason.ABANDONED,
            due_at=due,
            queue="support",
        )
    )
    (alert,) = board.apply(CallbackDue(at=due, callback_id=1, due_at=due, queue="support"))
    assert alert.kind == "callback_overdue"
    q = support(board, due)
    assert (q["callbacks_due"], q["callbacks_overdue"]) == (1, 1)
    board.apply(CallbackClosed(at=due, callback_id=1, status="done", in_time=False))
    q = support(board, due)
    assert (q["callbacks_due"], q["callbacks_overdue"]) == (0, 0)


def test_new_day_resets_counters() -> None:
    board = LiveBoard(CFG)
    for event in all_events():
        board.apply(event)
    tomorrow = T0 + timedelta(days=1)
    board.tick(tomorrow)
    q = support(board, tomorrow)
    assert (q["offered"], q["answered"], q["service_level"]) == (0, 0, None)


def test_outages_show_until_the_component_is_back_and_alert_once() -> None:
    from crm_core.domain.events import AmiConnected, AmiDisconnected, ServiceHealthChanged

    board = LiveBoard(LiveBoardConfig())
    t0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    down = ServiceHealthChanged(at=t0, component="database", healthy=False, detail="refused")
    alerts = board.apply(down)
    assert [a.kind for a in alerts] == ["service_down"]
    assert board.apply(down) == []  # the writer repeats itself while it retries: one alert
    board.apply(AmiDisconnected(at=t0, host="pbx1", port=5038, reason="reset"))
    snap = board.snapshot(t0)
    assert [(o["component"], o["detail"]) for o in snap["outages"]] == [
        ("ami", "pbx1:5038 reset"),
        ("database", "refused"),
    ]
    back = board.apply(ServiceHealthChanged(at=t0, component="database", healthy=True))
    assert [a.kind for a in back] == ["service_back"]
    board.apply(AmiConnected(at=t0, host="pbx1", port=5038))
    assert board.snapshot(t0)["outages"] == []
