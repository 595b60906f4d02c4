"""The documents the services build (a report, the wallboard) pass through the console's
declared reply models unchanged: no key dropped, no value coerced (ADR 0092)."""

from __future__ import annotations

import json
from datetime import date, timedelta

from pydantic import TypeAdapter

from agent_console.agents.roster import AgentsReply
from agent_console.reports.routes import ReportReply
from agent_console.wallboard.live_api import QueuesReply
from crm_core.domain.events import CallAnswered, CallOffered, ServiceHealthChanged
from crm_core.services.live import LiveBoard, LiveSnapshot
from crm_core.services.reports import COLUMNS, Grouping, Period, Report, ReportRow, Sums
from tests.unit.test_live_board import CFG, T0, all_events


def wire(value: object) -> object:
    return json.loads(json.dumps(value))


def busy_board() -> LiveBoard:
    """A day of calls, a caller on the line with an agent, and a component down."""
    board = LiveBoard(CFG)
    for event in all_events():
        board.apply(event)
    at = T0 + timedelta(hours=5)
    board.apply(
        CallOffered(
            at=at, call_id="open", queue="support", position=1, caller_number="1", caller_name=""
        )
    )
    board.apply(
        CallAnswered(
            at=at + timedelta(seconds=3),
            call_id="open",
            queue="support",
            agent="Agent 1001",
            interface="PJSIP/1001",
            wait_seconds=3.0,
            ring_seconds=3.0,
        )
    )
    board.apply(ServiceHealthChanged(at=at, component="redis", healthy=False, detail="refused"))
    return board


def test_snapshot_is_what_its_type_says() -> None:
    snap = busy_board().snapshot(T0 + timedelta(hours=5, seconds=30))
    assert any(a["call"] is not None for a in snap["agents"])
    assert snap["alerts"]
    assert snap["outages"]
    adapter = TypeAdapter(LiveSnapshot)
    checked = adapter.validate_json(json.dumps(snap), strict=True)
    assert wire(adapter.dump_python(checked, mode="json")) == wire(snap)


def test_live_replies_serve_the_board_figures_unchanged() -> None:
    snap = busy_board().snapshot(T0 + timedelta(hours=5, seconds=30))
    queues = QueuesReply(queues=snap["queues"]).model_dump(mode="json")
    assert queues == {"queues": wire(snap["queues"])}
    agents = AgentsReply(agents=snap["agents"]).model_dump(mode="json")
    assert agents == {"agents": wire(snap["agents"])}


def test_report_reply_is_the_report_document() -> None:
    busy = Sums(calls_in=5, calls_out=1, offered=4, answered=3, answered_out=1, abandoned=2)
    busy.short_abandoned, busy.within_sl, busy.wait_answered_sum = 1, 2, 31.5
    busy.talk_sum, busy.survey_sum, busy.survey_count = 400.0, 9, 2
    rows: list[ReportRow] = [busy.figures("support"), Sums().figures("(none)")]
    day = date(2026, 11, 23)
    report = Report(
        period=Period.WEEKLY,
        grouping=Grouping.QUEUE,
        start=day,
        end=day + timedelta(days=6),
        rows=rows,
        total=busy.figures("total"),
        days=[{"day": day.isoformat(), "calls_in": 5, "answered": 3, "abandoned": 2}],
    )
    doc = report.to_json()
    assert tuple(doc["total"]) == COLUMNS  # the CSV's and the table's column order
    reply = ReportReply.model_validate_json(json.dumps(doc), strict=True)
    assert reply.model_dump(mode="json") == wire(doc)
