"""Campaigns as JSON, their progress figures, and the results as CSV."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import datetime
from typing import Any

from aiohttp import web

from agent_console.web.error_catalogue import Problem, render
from agent_console.web.models import Reply
from crm_core.domain.models import Campaign, CampaignContact, CampaignStatus, ContactStatus
from crm_core.services.contact_import import ImportReport
from crm_core.services.dial_rules import attempts_left, waiting_for_hours
from crm_core.spreadsheet import safe_cell


class Waiting(Reply):
    """Why a running campaign dials no one now, and until when."""

    reason: str
    until: str
    until_local: str
    timezone: str


class CampaignReply(Reply):
    id: int
    name: str
    kind: str
    mode: str
    status: str
    queue: str | None
    team_id: int | None
    script: str
    caller_id: str
    calling_hours_start: str
    calling_hours_end: str
    timezone: str
    max_attempts: int
    retry_busy_minutes: int
    retry_no_answer_minutes: int
    retry_failed_minutes: int
    dispositions: list[str]
    amd_enabled: bool
    created_at: str | None
    wait: Waiting | None

    @classmethod
    def of(cls, campaign: Campaign, now: datetime | None = None) -> CampaignReply:
        return cls.model_validate(campaign_json(campaign, now))


class CampaignList(Reply):
    campaigns: list[CampaignReply]


class FollowupCampaign(CampaignReply):
    contacts: int  # customers due a visit, loaded as contacts


class CampaignProgress(Reply):
    """`campaign_results`: progress figures of one campaign."""

    id: int
    name: str
    mode: str
    status: str
    contacts: int
    dialled: int
    attempts: int
    reached: int
    abandoned: int
    abandon_rate: float | None
    results: dict[str, int]
    statuses: dict[str, int]
    dispositions: dict[str, int]
    waiting: int
    attempts_left: int
    occupancy: float | None
    live: dict[str, Any] | None
    wait: Waiting | None


class RejectedRowReply(Reply):
    row: int
    reason: str  # invalid-phone, duplicate, do-not-call, bad-timezone, empty-row, …
    code: str  # import.rejected.<reason>, rendered with `params` in the user's language
    params: dict[str, str | int]
    detail: str  # English, technical


class ImportReply(Reply):
    encoding: str
    accepted: int
    merged: int
    rejected: list[RejectedRowReply]


def campaign_json(c: Campaign, now: datetime | None = None) -> dict[str, Any]:
    """The campaign object; with `now`, `wait` says why a running campaign dials no one
    ({"reason": "outside-calling-hours", "until", "until_local", "timezone"}) or is null."""
    wait = (
        waiting_for_hours(c, now)
        if now is not None and c.status is CampaignStatus.RUNNING
        else None
    )
    return {
        "id": c.id,
        "name": c.name,
        "kind": c.kind.value,
        "mode": c.mode.value,
        "status": c.status.value,
        "queue": c.queue,
        "team_id": c.team_id,
        "script": c.script,
        "caller_id": c.caller_id,
        "calling_hours_start": c.calling_hours_start,
        "calling_hours_end": c.calling_hours_end,
        "timezone": c.timezone,
        "max_attempts": c.max_attempts,
        "retry_busy_minutes": c.retry_busy_minutes,
        "retry_no_answer_minutes": c.retry_no_answer_minutes,
        "retry_failed_minutes": c.retry_failed_minutes,
        "dispositions": list(c.dispositions),
        "amd_enabled": c.amd_enabled,
        "created_at": c.created_at.isoformat() if c.created_at else None,
        "wait": wait,
    }


def campaign_results(
    campaign: Campaign,
    contacts: list[CampaignContact],
    live: dict[str, Any] | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Progress figures, recomputed from the contact rows (and the dialer's live view).

    abandon rate = contacts whose answered call found no agent / answered contacts;
    occupancy = agent-seconds on campaign calls / agent-seconds logged in (live dialer).
    """
    reached = sum(1 for c in contacts if c.last_result == "answered")
    abandoned = sum(1 for c in contacts if c.last_result == "abandoned")
    answered = reached + abandoned
    waiting = (ContactStatus.PENDING, ContactStatus.RETRY, ContactStatus.DIALING)
    return {
        "id": campaign.id,
        "name": campaign.name,
        "mode": campaign.mode.value,
        "status": campaign.status.value,
        "contacts": len(contacts),
        "dialled": sum(1 for c in contacts if c.attempts > 0),
        "attempts": sum(c.attempts for c in contacts),
        "reached": reached,
        "abandoned": abandoned,
        "abandon_rate": round(abandoned / answered, 4) if answered else None,
        "results": dict(Counter(c.last_result for c in contacts if c.last_result)),
        "statuses": dict(Counter(c.status.value for c in contacts)),
        "dispositions": dict(Counter(c.disposition for c in contacts if c.disposition)),
        "waiting": sum(1 for c in contacts if c.status in waiting),
        "attempts_left": sum(attempts_left(campaign, c) for c in contacts),
        "occupancy": (live or {}).get("occupancy"),
        "live": live,
        "wait": campaign_json(campaign, now)["wait"],
    }


def _csv_response(text: str, filename: str) -> web.Response:
    return web.Response(
        body=text.encode("utf-8-sig"),  # the BOM: Excel reads UTF-8
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def rejections_csv(campaign_id: int, report: ImportReport, language: str) -> web.Response:
    """The rejected rows of an import, one a line: the row, the reason's id, the reason
    in `language` (the requesting user's) and the English detail."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", "reason", "message", "detail"])
    for r in report.rejected:
        text = render(Problem(r.code, r.message_params()), language)
        writer.writerow([r.row, r.reason, safe_cell(text), safe_cell(r.detail)])
    return _csv_response(out.getvalue(), f"campaign-{campaign_id}-rejected.csv")


def results_csv(campaign: Campaign, contacts: list[CampaignContact]) -> web.Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "phone",
            "name",
            "customer_id",
            "status",
            "attempts",
            "attempts_left",
            "next_attempt_at",
            "last_result",
            "disposition",
            "disposition_reason",
        ]
    )
    for c in contacts:
        writer.writerow(
            [
                c.phone_e164,
                safe_cell(c.name),
                c.customer_id or "",
                c.status.value,
                c.attempts,
                attempts_left(campaign, c),
                c.next_attempt_at.isoformat() if c.next_attempt_at else "",
                c.last_result or "",
                c.disposition or "",
                safe_cell(c.disposition_reason or ""),
            ]
        )
    return _csv_response(out.getvalue(), f"campaign-{campaign.id}-results.csv")
