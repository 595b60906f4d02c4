"""Report API (`GET /api/reports/{daily|weekly|quarterly}`, JSON or CSV) and HTML pages.

Leads and managers only. A lead's per-agent report lists their own team's agents;
queue and team rows are the whole center's (a queue is shared by several teams).
CSV exports are audited: they carry agents' names and performance.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from agent_console.web.auth import SUPERVISORS, require
from agent_console.web.deps import DEPS_KEY
from agent_console.web.edge import parse_day
from agent_console.web.errors import ApiError
from agent_console.web.openapi import register_operation
from agent_console.web.pages import render
from agent_console.web.requests import audit, deps
from crm_core.domain.models import Role, User
from crm_core.services.reports import (
    COLUMNS,
    Grouping,
    Period,
    Report,
    ReportConfig,
    ReportService,
    render_csv,
)

REPORTS_KEY = web.AppKey("report_service", ReportService)


def setup_routes(app: web.Application, config: ReportConfig) -> None:
    """Part of the lead's routes (`agent_console.api.setup_lead_routes`)."""
    app.router.add_get("/api/reports/{period}", report_api)
    app.router.add_get("/lead/reports", report_page)
    register_operation(
        app,
        "GET",
        "/api/reports/{period}",
        "daily|weekly|quarterly statistics (JSON or CSV)",
        roles=tuple(role.value for role in SUPERVISORS),
        tag="lead",
        parameters=("date", "group", "format"),
    )

    services = app[DEPS_KEY]
    # the SQL engine behind the repositories (absent with in-memory test doubles)
    engine = getattr(services.db, "engine", None)
    if isinstance(engine, AsyncEngine):
        app[REPORTS_KEY] = ReportService(engine, config, now=services.clock.now)


def _params(request: web.Request, period_text: str) -> tuple[Period, date, Grouping]:
    try:
        period = Period(period_text)
    except ValueError as exc:
        raise ApiError(404, "no-such-report", "reports are daily, weekly or quarterly") from exc
    raw_day = request.query.get("date")
    day = parse_day(raw_day, "date") if raw_day else None
    if day is None:
        service = _service(request)
        day = service.local_day(deps(request).clock.now())
    try:
        grouping = Grouping(request.query.get("group", "queue"))
    except ValueError as exc:
        raise ApiError(400, "bad-parameter", "group: queue, team or agent") from exc
    return period, day, grouping


def _service(request: web.Request) -> ReportService:
    service = request.app.get(REPORTS_KEY)
    if service is None:
        raise ApiError(503, "reports-unavailable", "reports need the CRM database")
    return service


async def _build(request: web.Request, user: User, period_text: str) -> Report:
    period, day, grouping = _params(request, period_text)
    report = await _service(request).report(period, day, grouping)
    if user.role is Role.LEAD and grouping is Grouping.AGENT:
        members = await deps(request).db.users.list(team_id=user.team_id) if user.team_id else []
        names = {m.member_name for m in members if m.member_name}
        report.rows = [row for row in report.rows if row["group"] in names]
    return report


async def report_api(request: web.Request) -> web.StreamResponse:
    user = require(request, *SUPERVISORS)
    report = await _build(request, user, request.match_info["period"])
    wants_csv = request.query.get("format") == "csv" or "text/csv" in request.headers.get(
        "Accept", ""
    )
    if not wants_csv:
        return web.json_response(report.to_json())
    await audit(
        request,
        "reports.export",
        f"report:{report.period.value}:{report.start.isoformat()}",
        f"group={report.grouping.value}",
    )
    name = f"{report.period.value}-{report.grouping.value}-{report.start.isoformat()}.csv"
    return web.Response(
        body=render_csv(report),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def report_page(request: web.Request) -> web.Response:
    user = require(request, *SUPERVISORS)
    period_text = request.query.get("period", "daily")
    report = await _build(request, user, period_text)
    data = report.to_json()
    query = {k: v for k, v in request.query.items() if k != "format"}
    csv_query = urlencode({**query, "format": "csv"})
    shown = [_display(row) for row in [*report.rows, report.total]]
    return render(
        request,
        "lead/reports.html",
        report=data,
        shown_rows=shown[:-1],
        shown_total=shown[-1],
        columns=COLUMNS,
        periods=[p.value for p in Period],
        groups=[g.value for g in Grouping],
        csv_url=f"/api/reports/{report.period.value}?{csv_query}",
        chosen_date=request.query.get("date", report.start.isoformat()),
    )


def _display(row: dict[str, Any]) -> list[str]:
    """Cells as people read them: shares in per cent, missing figures as a dash."""
    cells = []
    for column in COLUMNS:
        value = row[column]
        if value is None:
            cells.append("–")
        elif column.endswith(("_rate", "_share")) or column == "service_level":
            cells.append(f"{value * 100:.1f}%")
        else:
            cells.append(str(value))
    return cells


__all__ = ["REPORTS_KEY", "setup_routes"]
