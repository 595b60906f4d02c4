"""The wallboard's documents: a queue's and an agent's figures of today and the whole
snapshot the lead's wall shows (`wallboard_snapshot`/`wallboard_update`, `GET
/api/queues`, `GET /api/agents`). TypedDicts (ADR 0092): the JSON as sent, checked by
mypy where it is built and by the console's declared reply models where it is served.
Formulas and denominators: docs/metrics.md."""

from __future__ import annotations

from datetime import datetime

# pydantic validates TypedDicts from typing_extensions only before Python 3.12
from typing_extensions import TypedDict

from crm_core.domain.rounding import average, ratio
from crm_core.services.live.state import AgentLive, AlertDocument, QueueLive


class QueueFigures(TypedDict):
    """A queue today; a share or an average is null without a denominator."""

    name: str
    waiting: int
    longest_wait_seconds: float
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    abandon_rate: float | None
    within_3_rings: float | None
    asa_seconds: float | None
    aht_seconds: float | None
    service_level: float | None
    callbacks_due: int
    callbacks_overdue: int
    hourly: list[list[int]]  # per local hour 0–23: [offered, answered, abandoned]


class CallInProgress(TypedDict):
    call_id: str
    customer: str
    seconds: float | None


class AgentFigures(TypedDict):
    """An agent now (state, call) and today (calls, missed rings)."""

    name: str
    display_name: str
    interface: str
    team_id: int | None
    status: str  # an AgentStatus value
    seconds_in_state: float | None
    paused: bool
    pause_reason: str
    queues: list[str]
    call: CallInProgress | None
    calls_today: int
    missed_today: int


class Outage(TypedDict):
    component: str  # database | redis | ami
    since: str
    detail: str


class LiveSnapshot(TypedDict):
    """The whole wall, as one viewer may see it."""

    at: str
    day: str | None  # the local day the counters are of
    service_level_seconds: float
    ring_limit_seconds: float
    queues: list[QueueFigures]
    agents: list[AgentFigures]
    alerts: list[AlertDocument]  # the latest 50
    outages: list[Outage]


def queue_figures(q: QueueLive, now: datetime) -> QueueFigures:
    longest = max(((now - t).total_seconds() for t in q.waiting.values()), default=0.0)
    sl_base = q.offered - q.short_abandoned - len(q.waiting)
    return {
        "name": q.name,
        "waiting": len(q.waiting),
        "longest_wait_seconds": round(max(longest, 0.0), 1),
        "offered": q.offered,
        "answered": q.answered,
        "abandoned": q.abandoned,
        "short_abandoned": q.short_abandoned,
        "abandon_rate": ratio(q.abandoned - q.short_abandoned, q.offered - q.short_abandoned),
        "within_3_rings": ratio(q.answered_within_rings, q.answered),
        "asa_seconds": average(q.wait_answered_sum, q.answered),
        "aht_seconds": average(q.handle_sum, q.handled),
        "service_level": ratio(q.answered_within_sl, sl_base),
        "callbacks_due": len(q.callbacks_open),
        "callbacks_overdue": len(q.callbacks_overdue),
        "hourly": [list(h) for h in q.hourly],
    }


def agent_figures(a: AgentLive, now: datetime) -> AgentFigures:
    return {
        "name": a.name,
        "display_name": a.display_name or a.name,
        "interface": a.interface,
        "team_id": a.team_id,
        "status": a.status.value,
        "seconds_in_state": round((now - a.since).total_seconds(), 1) if a.since else None,
        "paused": a.paused,
        "pause_reason": a.pause_reason,
        "queues": sorted(a.queues),
        "call": None
        if a.call_id is None
        else {
            "call_id": a.call_id,
            "customer": a.customer,
            "seconds": round((now - a.call_since).total_seconds(), 1) if a.call_since else None,
        },
        "calls_today": a.calls_today,
        "missed_today": a.missed_today,
    }
