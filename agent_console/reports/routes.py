"""Report API (`GET /api/reports/{daily|weekly|monthly|quarterly|annual}`, JSON or CSV)
and HTML pages.

Leads and managers only. A lead's per-agent report lists their own team's agents;
queue and team rows are the whole center's (a queue is shared by several teams).
CSV exports are audited: they carry agents' names and performance.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from aiohttp import web
from pydantic import Field

from agent_console.web.auth import SUPERVISORS, require
from agent_console.web.declared import Given, add_routes, operation, read_query
from agent_console.web.deps import DEPS_KEY
from agent_console.web.error_catalogue import Problem, ProblemError
from agent_console.web.models import Day, NoBody, Query, Reply, Text
from agent_console.web.pages import render
from agent_console.web.requests import audit, deps
from crm_core.domain.models import Role, User
from crm_core.services.reports import (
    COLUMNS,
    DayFigures,
    Grouping,
    Period,
    Report,
    ReportConfig,
    ReportRow,
    ReportService,
    render_csv,
)

REPORTS_KEY = web.AppKey("report_service", ReportService)


class ReportQuery(Query):
    date: Day | None = Field(default=None, description="a day of the period; default today")
    group: Grouping = Grouping.QUEUE
    format: Annotated[Text, Field(max_length=20, description="csv: a CSV file")] = ""


class ReportPageQuery(ReportQuery):
    period: Annotated[Text, Field(max_length=20)] = "daily"


class ReportReply(Reply):
    """`crm_core.services.reports.ReportDocument`, as the OpenAPI document shows it."""

    period: Period
    group: Grouping
    start: date
    end: date
    columns: list[str]
    rows: list[ReportRow]
    total: ReportRow
    days: list[DayFigures]


def setup_routes(app: web.Application, config: ReportConfig) -> None:
    """Part of the lead's routes (`agent_console.api.setup_lead_routes`)."""
    add_routes(app, report_api)
    app.router.add_get("/lead/reports", report_page)
    services = app[DEPS_KEY]
    if services.engine is not None:  # the CRM database the reports read
        app[REPORTS_KEY] = ReportService(services.engine, config, now=services.clock.now)


def _period(text: str) -> Period:
    try:
        return Period(text)
    except ValueError as exc:
        raise ProblemError("no-such-report", Problem("report.periods")) from exc


def _service(request: web.Request) -> ReportService:
    service = request.app.get(REPORTS_KEY)
    if service is None:
        raise ProblemError("reports-unavailable", detail="reports need the CRM database")
    return service


async def _build(request: web.Request, user: User, period: Period, query: ReportQuery) -> Report:
    service = _service(request)
    day = query.date or service.local_day(deps(request).clock.now())
    report = await service.report(period, day, query.group)
    if user.role is Role.LEAD and query.group is Grouping.AGENT:
        members = await deps(request).db.users.list(team_id=user.team_id) if user.team_id else []
        names = {m.member_name for m in members if m.member_name}
        report.rows = [row for row in report.rows if row["group"] in names]
    return report


@operation(
    "GET",
    "/api/reports/{period}",
    summary=(
        "daily|weekly|monthly|quarterly|annual statistics "
        "(JSON, or CSV with format=csv or Accept: text/csv)"
    ),
    roles=SUPERVISORS,
    query=ReportQuery,
    response=ReportReply,
    errors=("no-such-report", "reports-unavailable"),
    tag="lead",
)
async def report_api(
    request: web.Request, given: Given[NoBody, ReportQuery]
) -> Reply | web.StreamResponse:
    period = _period(request.match_info["period"])
    report = await _build(request, given.user, period, given.query)
    wants_csv = given.query.format == "csv" or "text/csv" in request.headers.get("Accept", "")
    if not wants_csv:
        return ReportReply.model_validate(report.to_json())
    await audit(
        request,
        "reports.export",
        f"report:{report.period.value}:{report.start.isoformat()}",
        f"group={report.grouping.value}",
    )
    name = f"{report.period.value}-{report.grouping.value}-{report.start.isoformat()}.csv"
    return web.Response(
        body=render_csv(report),  # formulas neutralised (crm_core.spreadsheet)
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def report_page(request: web.Request) -> web.Response:
    user = require(request, *SUPERVISORS)
    query = read_query(request, ReportPageQuery)
    report = await _build(request, user, _period(query.period), query)
    data = report.to_json()
    kept = {k: v for k, v in request.query.items() if k != "format"}
    csv_query = urlencode({**kept, "format": "csv"})
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


def _display(row: Mapping[str, object]) -> list[str]:
    """Cells as people read them: shares in per cent, missing figures as a dash."""
    cells = []
    for column in COLUMNS:
        value = row[column]
        if value is None:
            cells.append("–")
        elif isinstance(value, float) and (
            column.endswith(("_rate", "_share")) or column == "service_level"
        ):
            cells.append(f"{value * 100:.1f}%")
        else:
            cells.append(str(value))
    return cells


__all__ = ["REPORTS_KEY", "setup_routes"]
