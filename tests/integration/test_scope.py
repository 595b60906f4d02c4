"""What each role may read (issue 13 item 12): a lead reads only the team's violations,
an agent only their own wrap-up notes; report CSVs run no formulas in a spreadsheet."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import aiohttp

from crm_core.clock import SystemClock
from crm_core.domain.models import CallOutcome, CallRecord, Direction, Violation, ViolationKind
from crm_core.services.reports import COLUMNS, Grouping, Period, Report, render_csv
from tests.integration.test_lead_api import call, lead_stack


async def test_a_lead_reads_only_the_own_teams_violations_whatever_the_query(
    database_url: str,
) -> None:
    now = SystemClock().now()

    async def seed(db: Any) -> None:
        for agent in ("Agent 1001", "Agent 1003"):  # team A, team B
            await db.violations.add(
                Violation(id=None, kind=ViolationKind.MISSED_CALL, at=now, agent=agent)
            )

    async with lead_stack(database_url, before=seed) as stack, aiohttp.ClientSession() as s:
        lead = await stack.token(s, "lead1")
        status, body = await call(s, stack, lead, "GET", "/api/violations?agent=Agent%201003")
        assert status == 200
        assert body["violations"] == []
        status, body = await call(s, stack, lead, "GET", "/api/violations?agent=Agent%201001")
        assert [v["agent"] for v in body["violations"]] == ["Agent 1001"]
        status, body = await call(s, stack, lead, "GET", "/api/violations")
        assert [v["agent"] for v in body["violations"]] == ["Agent 1001"]
        manager = await stack.token(s, "manager1")
        status, body = await call(s, stack, manager, "GET", "/api/violations?agent=Agent%201003")
        assert [v["agent"] for v in body["violations"]] == ["Agent 1003"]


async def test_an_agent_reads_only_their_own_wrapup_notes_on_a_customer_card(
    database_url: str,
) -> None:
    now = SystemClock().now()
    ids: dict[str, int] = {}

    async def seed(db: Any) -> None:
        customer = await db.customers.create(name="张三", phones=["13800138000"])
        ids["customer"] = customer.id
        for n, agent in enumerate(("Agent 1001", "Agent 1002")):
            start = now - timedelta(minutes=10 - n)
            await db.calls.save_many(
                [
                    CallRecord(
                        call_id=f"notes.{n}",
                        direction=Direction.INBOUND,
                        caller_number="13800138000",
                        caller_name="张三",
                        customer_id=customer.id,
                        queue="support",
                        agent=agent,
                        started_at=start,
                        answered_at=start + timedelta(seconds=5),
                        ended_at=start + timedelta(seconds=60),
                        outcome=CallOutcome.ANSWERED,
                        wrapup_notes=f"private note of {agent}",
                    )
                ]
            )

    async with lead_stack(database_url, before=seed) as stack, aiohttp.ClientSession() as s:
        path = f"/api/customers/{ids['customer']}/card"
        agent = await stack.token(s, "agent1")
        status, card = await call(s, stack, agent, "GET", path)
        assert status == 200
        notes = {c["agent"]: c["notes"] for c in card["recent_calls"]}
        assert notes == {"Agent 1001": "private note of Agent 1001", "Agent 1002": None}
        lead = await stack.token(s, "lead1")
        status, card = await call(s, stack, lead, "GET", path)
        notes = {c["agent"]: c["notes"] for c in card["recent_calls"]}
        assert notes["Agent 1002"] == "private note of Agent 1002"


def test_report_csv_cells_cannot_run_as_formulas() -> None:
    row: dict[str, Any] = dict.fromkeys(COLUMNS, 0)
    row["group"] = '=HYPERLINK("http://evil.example","x")'
    total: dict[str, Any] = dict.fromkeys(COLUMNS, 0)
    total["group"] = "total"
    total["calls_in"] = -1  # a number stays a number
    day = date(2026, 12, 1)
    report = Report(
        period=Period.DAILY, grouping=Grouping.AGENT, start=day, end=day, rows=[row], total=total
    )
    text = render_csv(report).decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[1].startswith("\"'=HYPERLINK(")
    assert lines[2].startswith("total,-1,")
