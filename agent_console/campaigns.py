"""Campaign REST API: operators (lead, manager, admin) create, configure, load, run and
watch campaigns; agents of a preview campaign take the next contact, dial or skip it.

Wire with `services.extra_setup.append(campaign_routes(campaigns=..., customers=..., dnc=...))`.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import zoneinfo
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from agent_console.api import audit, json_body, parse_time
from agent_console.auth import CLAIMS_KEY, SIGNER_KEY, require
from agent_console.errors import ApiError
from agent_console.keys import SERVICES_KEY
from agent_console.pages import render
from crm_core.domain.models import (
    Campaign,
    CampaignContact,
    CampaignKind,
    CampaignStatus,
    ContactStatus,
    DialMode,
    Role,
)
from crm_core.ports.repositories import (
    CampaignRepository,
    CaseRepository,
    CustomerRepository,
)
from crm_core.services.campaigns import (
    DncNumbers,
    create_followup_campaign,
    load_contacts,
)
from crm_core.services.contact_import import ContactFileError
from crm_core.services.dial_rules import attempts_left, waiting_for_hours
from crm_core.spreadsheet import safe_cell

OPERATORS = (Role.LEAD, Role.MANAGER, Role.ADMIN)
MAX_UPLOAD_BYTES = 32 * 1024 * 1024  # CONTRACTS.md: contact lists up to 32 MB
UPLOAD_CHUNK = 256 * 1024
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_INTS = {
    "max_attempts": (1, 20),
    "retry_busy_minutes": (1, 7 * 24 * 60),
    "retry_no_answer_minutes": (1, 7 * 24 * 60),
    "retry_failed_minutes": (1, 7 * 24 * 60),
}
# live dialer figures of a campaign (occupancy, abandon rate), when the dialer runs here
DialerStats = Callable[[int], dict[str, Any] | None]


async def read_upload(request: web.Request, limit: int) -> bytes:
    """The whole request body, streamed; 413 `too-large` beyond `limit` bytes, whether the
    Content-Length announces it or a chunked (or lying) body only turns out longer.

    `request.content.read(n)` is not this: it returns what has arrived so far, which cut
    large uploads short. The app's `client_max_size` does not apply to a streamed read.
    """
    too_large = ApiError(413, "too-large", f"uploads are limited to {limit // 2**20} MB")
    declared = request.content_length
    if declared is not None and declared > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.content.iter_chunked(UPLOAD_CHUNK):
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def campaign_settings(body: dict[str, Any], *, partial: bool) -> dict[str, object]:
    """Validated campaign fields from a request body; the error names the field."""
    out: dict[str, object] = {}

    def bad(field: str, expected: str) -> ApiError:
        return ApiError(400, "bad-campaign", f"{field}: expected {expected}")

    if "name" in body or not partial:
        name = str(body.get("name") or "").strip()
        if not 1 <= len(name) <= 200:
            raise bad("name", "a name of 1–200 characters")
        out["name"] = name
    for field, limit in (("script", 10_000), ("caller_id", 80)):
        if field in body:
            value = body[field]
            if not isinstance(value, str) or len(value) > limit:
                raise bad(field, f"text of at most {limit} characters")
            out[field] = value
    if "queue" in body:
        queue = body["queue"]
        if queue is not None and (not isinstance(queue, str) or not 0 < len(queue) <= 80):
            raise bad("queue", "a queue name")
        out["queue"] = queue or None
    for field, enum_type in (("mode", DialMode), ("kind", CampaignKind)):
        if field in body:
            try:
                out[field] = enum_type(body[field])
            except ValueError as exc:
                raise bad(field, " or ".join(m.value for m in enum_type)) from exc
    for field in ("calling_hours_start", "calling_hours_end"):
        if field in body:
            if not isinstance(body[field], str) or not _HHMM.match(body[field]):
                raise bad(field, "a time HH:MM")
            out[field] = body[field]
    start = out.get("calling_hours_start")
    end = out.get("calling_hours_end")
    if isinstance(start, str) and isinstance(end, str) and start >= end:
        raise bad("calling_hours_end", "a time after calling_hours_start")
    if "timezone" in body:
        try:
            zoneinfo.ZoneInfo(str(body["timezone"]))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise bad("timezone", "an IANA time zone such as Asia/Shanghai") from exc
        out["timezone"] = str(body["timezone"])
    for field, (low, high) in _INTS.items():
        if field in body:
            value = body[field]
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise bad(field, f"a whole number from {low} to {high}")
            out[field] = value
    if "dispositions" in body:
        codes = body["dispositions"]
        if (
            not isinstance(codes, list)
            or not 1 <= len(codes) <= 30
            or not all(isinstance(c, str) and _CODE.match(c) for c in codes)
        ):
            raise bad("dispositions", "1–30 codes of lower-case letters, digits and _")
        out["dispositions"] = tuple(dict.fromkeys(codes))
    if "amd_enabled" in body:
        if not isinstance(body["amd_enabled"], bool):
            raise bad("amd_enabled", "true or false")
        out["amd_enabled"] = body["amd_enabled"]
    if "team_id" in body:
        team = body["team_id"]
        if team is not None and (not isinstance(team, int) or isinstance(team, bool)):
            raise bad("team_id", "a team id")
        out["team_id"] = team
    return out


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


def campaign_routes(
    *,
    campaigns: CampaignRepository,
    customers: CustomerRepository,
    dnc: DncNumbers,
    cases: CaseRepository | None = None,
    dialer_stats: DialerStats | None = None,
    phone_region: str = "CN",
) -> Callable[[web.Application], None]:
    """`phone_region` (the setting): the region contact lists are read and checked in."""

    async def create(request: web.Request) -> web.Response:
        require(request, *OPERATORS)
        fields = campaign_settings(await json_body(request), partial=False)
        draft = Campaign(
            id=0,
            name=str(fields.pop("name")),
            kind=CampaignKind.SALES,
            mode=DialMode.PROGRESSIVE,
            status=CampaignStatus.DRAFT,
        )
        campaign = await campaigns.create(draft)
        if fields:
            campaign = await campaigns.update(campaign.id, **fields)
        await audit_campaign(request, "campaign.create", campaign.id, campaign.name)
        return web.json_response(campaign_json(campaign, _now(request)), status=201)

    async def list_all(request: web.Request) -> web.Response:
        require(request, *OPERATORS)
        now = _now(request)
        return web.json_response(
            {"campaigns": [campaign_json(c, now) for c in await campaigns.list()]}
        )

    async def _campaign(request: web.Request) -> Campaign:
        raw = request.match_info["id"]
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
            raise ApiError(404, "no-such-campaign", "no such campaign")
        try:
            return await campaigns.get(int(raw))
        except LookupError as exc:
            raise ApiError(404, "no-such-campaign", "no such campaign") from exc

    async def get_one(request: web.Request) -> web.Response:
        require(request, *OPERATORS)
        return web.json_response(campaign_json(await _campaign(request), _now(request)))

    async def change(request: web.Request) -> web.Response:
        require(request, *OPERATORS)
        campaign = await _campaign(request)
        fields = campaign_settings(await json_body(request), partial=True)
        merged = {**campaign_json(campaign), **fields}
        if str(merged["calling_hours_start"]) >= str(merged["calling_hours_end"]):
            raise ApiError(400, "bad-campaign", "calling_hours_end: expected a time after start")
        if fields:
            campaign = await campaigns.update(campaign.id, **fields)
            await audit_campaign(request, "campaign.update", campaign.id, ",".join(sorted(fields)))
        return web.json_response(campaign_json(campaign, _now(request)))

    async def upload(request: web.Request) -> web.Response:
        require(request, *OPERATORS)
        campaign = await _campaign(request)
        data = await read_upload(request, MAX_UPLOAD_BYTES)
        try:
            report = await load_contacts(
                campaign.id,
                data,
                campaigns=campaigns,
                customers=customers,
                dnc=dnc,
                region=phone_region,
            )
        except ContactFileError as exc:
            raise ApiError(400, exc.error_id, str(exc)) from exc
        await audit_campaign(
            request, "campaign.contacts", campaign.id, f"{len(report.accepted)} rows"
        )
        # a report of 100,000 rejected rows is megabytes of JSON: encode it off the loop
        text = await asyncio.to_thread(json.dumps, report.as_dict())
        return web.json_response(text=text)

    _MOVES = {
        CampaignStatus.RUNNING: (CampaignStatus.DRAFT, CampaignStatus.PAUSED),
        CampaignStatus.PAUSED: (CampaignStatus.RUNNING,),
        CampaignStatus.STOPPED: (
            CampaignStatus.DRAFT,
            CampaignStatus.RUNNING,
            CampaignStatus.PAUSED,
        ),
    }

    def _set_status(status: CampaignStatus) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            require(request, *OPERATORS)
            campaign = await _campaign(request)
            if campaign.status is not status:
                if campaign.status not in _MOVES[status]:
                    raise ApiError(
                        409,
                        "bad-campaign-state",
                        f"a {campaign.status.value} campaign cannot be set {status.value}",
                    )
                if status is CampaignStatus.RUNNING and not campaign.queue:
                    raise ApiError(409, "no-queue", "give the campaign a queue of agents first")
                campaign = await campaigns.update(campaign.id, status=status)
                await audit_campaign(
                    request, f"campaign.{status.value}", campaign.id, campaign.name
                )
            return web.json_response(campaign_json(campaign, _now(request)))

        return handler

    async def results(request: web.Request) -> web.Response:
        require(request, *OPERATORS)
        campaign = await _campaign(request)
        contacts = await campaigns.contacts(campaign.id, limit=1_000_000)
        if request.query.get("format") == "csv":
            await audit_campaign(
                request, "campaign.export", campaign.id, f"{len(contacts)} contacts"
            )
            return _csv(campaign, contacts)
        live = dialer_stats(campaign.id) if dialer_stats is not None else None
        return web.json_response(campaign_results(campaign, contacts, live, _now(request)))

    async def followups(request: web.Request) -> web.Response:
        """Generate a follow-up (回访) campaign of the customers due a visit in a window."""
        require(request, *OPERATORS)
        if cases is None:
            raise ApiError(501, "no-cases", "this deployment has no case records")
        body = await json_body(request)
        queue = body.get("queue")
        if not isinstance(queue, str) or not queue:
            raise ApiError(400, "bad-campaign", "queue: expected the queue of the visiting agents")
        now = request.app[SERVICES_KEY].clock.now()
        start = parse_time(body.get("start"), "start") or now
        end = parse_time(body.get("end"), "end") or start + timedelta(days=30)
        if end <= start or end - start > timedelta(days=366):
            raise ApiError(400, "bad-window", "end: expected after start, within a year")
        campaign, added = await create_followup_campaign(
            name=str(body.get("name") or f"回访 {start.date().isoformat()}")[:200],
            queue=queue,
            start=start,
            end=end,
            campaigns=campaigns,
            cases=cases,
            customers=customers,
            script=str(body.get("script") or "")[:10_000],
        )
        await audit_campaign(request, "campaign.followups", campaign.id, f"{added} customers due")
        return web.json_response({**campaign_json(campaign), "contacts": added}, status=201)

    async def page(request: web.Request) -> web.Response:
        """The operator's campaign page (its data comes from the API above)."""
        require(request, *OPERATORS)
        users = await request.app[SERVICES_KEY].db.users.list()
        queues = sorted(
            {q for u in users for q in u.queues}
            | {c.queue for c in await campaigns.list() if c.queue}
        )
        return render(
            request,
            "lead/campaigns.html",
            csrf_token=request.app[SIGNER_KEY].csrf_token(request[CLAIMS_KEY].session_id),
            queues=queues,
            timezone="Asia/Shanghai",
        )

    def setup(app: web.Application) -> None:
        app.router.add_get("/lead/campaigns", page)
        app.router.add_post("/api/campaigns/followups", followups)
        app.router.add_get("/api/campaigns", list_all)
        app.router.add_post("/api/campaigns", create)
        app.router.add_get("/api/campaigns/{id}", get_one)
        app.router.add_patch("/api/campaigns/{id}", change)
        app.router.add_post("/api/campaigns/{id}/contacts", upload)
        app.router.add_post("/api/campaigns/{id}/start", _set_status(CampaignStatus.RUNNING))
        app.router.add_post("/api/campaigns/{id}/pause", _set_status(CampaignStatus.PAUSED))
        app.router.add_post("/api/campaigns/{id}/stop", _set_status(CampaignStatus.STOPPED))
        app.router.add_get("/api/campaigns/{id}/results", results)

    return setup


def _now(request: web.Request) -> datetime:
    return request.app[SERVICES_KEY].clock.now()


async def audit_campaign(request: web.Request, action: str, campaign_id: int, detail: str) -> None:
    await audit(request, action, f"campaign:{campaign_id}", detail=detail)


def _csv(campaign: Campaign, contacts: list[CampaignContact]) -> web.Response:
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
    filename = f"campaign-{campaign.id}-results.csv"
    return web.Response(
        body=out.getvalue().encode("utf-8-sig"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def setup_campaign_routes(
    app: web.Application,
    *,
    dialer_stats: DialerStats | None = None,
    phone_region: str = "CN",
) -> None:
    """`extra_setup` hook when the console's database is the full CRM `Database`."""
    db = app[SERVICES_KEY].db
    try:
        repos = (db.campaigns, db.customers, db.dnc, db.surveys, db.cases)  # type: ignore[attr-defined]
    except AttributeError as exc:
        raise RuntimeError("campaign routes need a database with campaigns and dnc") from exc
    campaign_routes(
        campaigns=repos[0],
        customers=repos[1],
        dnc=repos[2],
        cases=repos[4],
        dialer_stats=dialer_stats,
        phone_region=phone_region,
    )(app)
    from agent_console.campaign_calls import campaign_seat_hooks  # it builds on this module

    campaign_seat_hooks(app, campaigns=repos[0], dnc=repos[2], surveys=repos[3])
