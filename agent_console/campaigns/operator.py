"""Campaign REST API for operators (lead, manager, admin): create, configure, load, run
and watch campaigns."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiohttp import web

from agent_console.campaigns.common import (
    MAX_UPLOAD_BYTES,
    OPERATORS,
    DialerStats,
    audit_campaign,
    known_team,
    read_upload,
    request_now,
)
from agent_console.campaigns.serializers import campaign_json, campaign_results, results_csv
from agent_console.campaigns.settings import CAMPAIGN_FIELDS, FOLLOWUPS_BODY, campaign_settings
from agent_console.web.auth import CLAIMS_KEY, SIGNER_KEY, require
from agent_console.web.deps import DEPS_KEY
from agent_console.web.edge import path_id
from agent_console.web.errors import ApiError
from agent_console.web.openapi import json_object, register_operation
from agent_console.web.pages import render
from agent_console.web.requests import json_body, parse_time
from crm_core.domain.models import Campaign, CampaignKind, CampaignStatus, DialMode
from crm_core.ports.repositories import CampaignRepository, CaseRepository, CustomerRepository
from crm_core.services.campaigns import DncNumbers, create_followup_campaign, load_contacts
from crm_core.services.contact_import import ContactFileError


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
        await known_team(request, fields)
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
        return web.json_response(campaign_json(campaign, request_now(request)), status=201)

    async def list_all(request: web.Request) -> web.Response:
        require(request, *OPERATORS)
        now = request_now(request)
        return web.json_response(
            {"campaigns": [campaign_json(c, now) for c in await campaigns.list()]}
        )

    async def _campaign(request: web.Request) -> Campaign:
        campaign_id = path_id(request, "id", "no-such-campaign")
        try:
            return await campaigns.get(campaign_id)
        except LookupError as exc:
            raise ApiError(404, "no-such-campaign", "no such campaign") from exc

    async def get_one(request: web.Request) -> web.Response:
        require(request, *OPERATORS)
        return web.json_response(campaign_json(await _campaign(request), request_now(request)))

    async def change(request: web.Request) -> web.Response:
        require(request, *OPERATORS)
        campaign = await _campaign(request)
        fields = campaign_settings(await json_body(request), partial=True)
        await known_team(request, fields)
        merged = {**campaign_json(campaign), **fields}
        if str(merged["calling_hours_start"]) >= str(merged["calling_hours_end"]):
            raise ApiError(400, "bad-campaign", "calling_hours_end: expected a time after start")
        if fields:
            campaign = await campaigns.update(campaign.id, **fields)
            await audit_campaign(request, "campaign.update", campaign.id, ",".join(sorted(fields)))
        return web.json_response(campaign_json(campaign, request_now(request)))

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
            return web.json_response(campaign_json(campaign, request_now(request)))

        return handler

    async def results(request: web.Request) -> web.Response:
        require(request, *OPERATORS)
        campaign = await _campaign(request)
        contacts = await campaigns.contacts(campaign.id, limit=1_000_000)
        if request.query.get("format") == "csv":
            await audit_campaign(
                request, "campaign.export", campaign.id, f"{len(contacts)} contacts"
            )
            return results_csv(campaign, contacts)
        live = dialer_stats(campaign.id) if dialer_stats is not None else None
        return web.json_response(campaign_results(campaign, contacts, live, request_now(request)))

    async def followups(request: web.Request) -> web.Response:
        """Generate a follow-up (回访) campaign of the customers due a visit in a window."""
        require(request, *OPERATORS)
        if cases is None:
            raise ApiError(501, "no-cases", "this deployment has no case records")
        body = await json_body(request)
        queue = body.get("queue")
        if not isinstance(queue, str) or not 0 < len(queue) <= 80:
            raise ApiError(400, "bad-campaign", "queue: expected the queue of the visiting agents")
        now = request.app[DEPS_KEY].clock.now()
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
        users = await request.app[DEPS_KEY].db.users.list()
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
        operations: list[tuple[str, str, Callable[..., Any], str, dict[str, Any] | None]] = [
            ("POST", "/api/campaigns/followups", followups, "Generate a follow-up campaign",
             FOLLOWUPS_BODY),
            ("GET", "/api/campaigns", list_all, "Campaigns", None),
            ("POST", "/api/campaigns", create, "Create a campaign (a draft)",
             json_object("name", **CAMPAIGN_FIELDS)),
            ("GET", "/api/campaigns/{id}", get_one, "One campaign", None),
            ("PATCH", "/api/campaigns/{id}", change, "Change a campaign's settings",
             json_object(**CAMPAIGN_FIELDS)),
            ("POST", "/api/campaigns/{id}/contacts", upload, "Load a contact list (CSV)",
             {"type": "string"}),
            ("POST", "/api/campaigns/{id}/start", _set_status(CampaignStatus.RUNNING),
             "Start or resume dialling", None),
            ("POST", "/api/campaigns/{id}/pause", _set_status(CampaignStatus.PAUSED),
             "Pause dialling", None),
            ("POST", "/api/campaigns/{id}/stop", _set_status(CampaignStatus.STOPPED),
             "Stop for good", None),
            ("GET", "/api/campaigns/{id}/results", results, "Progress (JSON) or results (CSV)",
             None),
        ]  # fmt: skip
        for method, path, handler, summary, body in operations:
            app.router.add_route(method, path, handler)
            register_operation(
                app,
                method,
                path,
                summary,
                roles=tuple(r.value for r in OPERATORS),
                request_body=body,
                parameters=("format",) if path.endswith("/results") else (),
                tag="campaigns",
                body_type="text/csv" if path.endswith("/contacts") else "application/json",
            )

    return setup
