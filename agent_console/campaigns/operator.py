"""Campaign REST API for operators (lead, manager, admin): create, configure, load, run
and watch campaigns. Declared operations (agent_console.web.declared)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

from aiohttp import web
from pydantic import Field

from agent_console.campaigns.common import (
    MAX_UPLOAD_BYTES,
    OPERATORS,
    DialerStats,
    audit_campaign,
    known_team,
    read_upload,
    request_now,
)
from agent_console.campaigns.serializers import (
    CampaignList,
    CampaignProgress,
    CampaignReply,
    FollowupCampaign,
    ImportReply,
    campaign_json,
    campaign_results,
    rejections_csv,
    results_csv,
)
from agent_console.campaigns.settings import CampaignChange, FollowupsBody, NewCampaign, moment
from agent_console.web.auth import CLAIMS_KEY, SIGNER_KEY, require
from agent_console.web.declared import Given, Handler, add_routes, language_of, operation
from agent_console.web.deps import DEPS_KEY
from agent_console.web.edge import is_id
from agent_console.web.error_catalogue import Problem, ProblemError
from agent_console.web.models import JsonSchema, NoBody, NoQuery, Query, Reply
from agent_console.web.pages import render
from crm_core.domain.models import Campaign, CampaignKind, CampaignStatus, DialMode
from crm_core.ports.repositories import CampaignRepository, CaseRepository, CustomerRepository
from crm_core.services.campaigns import DncNumbers, create_followup_campaign, load_contacts
from crm_core.services.contact_import import ContactFileError

TAG = "campaigns"

_MOVES = {
    CampaignStatus.RUNNING: (CampaignStatus.DRAFT, CampaignStatus.PAUSED),
    CampaignStatus.PAUSED: (CampaignStatus.RUNNING,),
    CampaignStatus.STOPPED: (CampaignStatus.DRAFT, CampaignStatus.RUNNING, CampaignStatus.PAUSED),
}

# a contact list is read from the stream by the handler (32 MB, 413 beyond)
CSV_BODY: dict[str, JsonSchema] = {
    "text/csv": {"type": "string", "description": "UTF-8 or GBK, a header row"}
}


class ResultsQuery(Query):
    format: Annotated[
        str, Field(max_length=100_000, description="`csv` for the results file, else JSON")
    ] = "json"


class UploadQuery(Query):
    format: Annotated[
        str,
        Field(
            max_length=100_000,
            description="`csv`: the rejected rows as CSV, reasons in the user's language",
        ),
    ] = "json"


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

    async def _campaign(request: web.Request) -> Campaign:
        raw = request.match_info["id"]
        if not is_id(raw):
            raise ProblemError("no-such-campaign", detail="no such id")
        try:
            return await campaigns.get(int(raw))
        except LookupError as exc:
            raise ProblemError("no-such-campaign") from exc

    @operation(
        "POST", "/api/campaigns", summary="Create a campaign (a draft)", tag=TAG,
        roles=OPERATORS, body=NewCampaign, response=CampaignReply, status=201,
        errors=("bad-campaign",),
    )  # fmt: skip
    async def create_campaign(request: web.Request, given: Given[NewCampaign, NoQuery]) -> Reply:
        fields = given.body.fields()
        if {"calling_hours_start", "calling_hours_end"} <= fields.keys():
            given.body.hours_in_order(given.body.calling_hours_start, given.body.calling_hours_end)
        await known_team(request, given.body.team_id)
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
        return CampaignReply.of(campaign, request_now(request))

    @operation("GET", "/api/campaigns", summary="Campaigns", tag=TAG, roles=OPERATORS,
               response=CampaignList)  # fmt: skip
    async def list_campaigns(request: web.Request, given: Given[NoBody, NoQuery]) -> Reply:
        now = request_now(request)
        return CampaignList(campaigns=[CampaignReply.of(c, now) for c in await campaigns.list()])

    @operation("GET", "/api/campaigns/{id}", summary="One campaign", tag=TAG, roles=OPERATORS,
               response=CampaignReply, errors=("no-such-campaign",))  # fmt: skip
    async def get_campaign(request: web.Request, given: Given[NoBody, NoQuery]) -> Reply:
        return CampaignReply.of(await _campaign(request), request_now(request))

    @operation(
        "PATCH", "/api/campaigns/{id}", summary="Change a campaign's settings", tag=TAG,
        roles=OPERATORS, body=CampaignChange, response=CampaignReply,
        errors=("no-such-campaign", "bad-campaign"),
    )  # fmt: skip
    async def change_campaign(request: web.Request, given: Given[CampaignChange, NoQuery]) -> Reply:
        campaign = await _campaign(request)
        fields = given.body.fields()
        await known_team(request, given.body.team_id if "team_id" in fields else None)
        merged = {**campaign_json(campaign), **fields}
        given.body.hours_in_order(
            str(merged["calling_hours_start"]), str(merged["calling_hours_end"])
        )
        if fields:
            campaign = await campaigns.update(campaign.id, **fields)
            await audit_campaign(request, "campaign.update", campaign.id, ",".join(sorted(fields)))
        return CampaignReply.of(campaign, request_now(request))

    @operation(
        "POST", "/api/campaigns/{id}/contacts", summary="Load a contact list (CSV, up to 32 MB)",
        tag=TAG, roles=OPERATORS, raw_body=CSV_BODY, query=UploadQuery, response=ImportReply,
        errors=("no-such-campaign", "too-large", "bad-contact-file"),
    )  # fmt: skip
    async def load_contact_list(
        request: web.Request, given: Given[NoBody, UploadQuery]
    ) -> web.StreamResponse:
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
            raise ProblemError(
                "bad-contact-file", Problem(exc.code, exc.params), detail=str(exc)
            ) from exc
        await audit_campaign(
            request, "campaign.contacts", campaign.id, f"{len(report.accepted)} rows"
        )
        if given.query.format == "csv":
            language = language_of(request)
            return await asyncio.to_thread(rejections_csv, campaign.id, report, language)
        # a report of 100,000 rejected rows is megabytes of JSON: build and encode it off
        # the loop
        text = await asyncio.to_thread(lambda: json.dumps(report.as_dict()))
        return web.json_response(text=text)

    def _set_status(status: CampaignStatus, summary: str) -> Handler:
        async def handler(request: web.Request, given: Given[NoBody, NoQuery]) -> Reply:
            campaign = await _campaign(request)
            if campaign.status is not status:
                if campaign.status not in _MOVES[status]:
                    raise ProblemError(
                        "bad-campaign-state",
                        detail=f"a {campaign.status.value} campaign cannot be set {status.value}",
                    )
                if status is CampaignStatus.RUNNING and not campaign.queue:
                    raise ProblemError("no-queue", detail="give the campaign a queue first")
                campaign = await campaigns.update(campaign.id, status=status)
                await audit_campaign(
                    request, f"campaign.{status.value}", campaign.id, campaign.name
                )
            return CampaignReply.of(campaign, request_now(request))

        verb = {"running": "start", "paused": "pause", "stopped": "stop"}[status.value]
        handler.__name__ = handler.__qualname__ = f"{verb}_campaign"
        return operation(
            "POST", f"/api/campaigns/{{id}}/{verb}", summary=summary, tag=TAG, roles=OPERATORS,
            response=CampaignReply,
            errors=("no-such-campaign", "bad-campaign-state", "no-queue"),
        )(handler)  # fmt: skip

    @operation(
        "GET", "/api/campaigns/{id}/results", summary="Progress (JSON) or results (CSV)",
        tag=TAG, roles=OPERATORS, query=ResultsQuery, response=CampaignProgress,
        errors=("no-such-campaign",),
    )  # fmt: skip
    async def campaign_progress(
        request: web.Request, given: Given[NoBody, ResultsQuery]
    ) -> Reply | web.StreamResponse:
        campaign = await _campaign(request)
        contacts = await campaigns.contacts(campaign.id, limit=1_000_000)
        if given.query.format == "csv":
            await audit_campaign(
                request, "campaign.export", campaign.id, f"{len(contacts)} contacts"
            )
            return results_csv(campaign, contacts)
        live = dialer_stats(campaign.id) if dialer_stats is not None else None
        return CampaignProgress.model_validate(
            campaign_results(campaign, contacts, live, request_now(request))
        )

    @operation(
        "POST", "/api/campaigns/followups", summary="Generate a follow-up campaign", tag=TAG,
        roles=OPERATORS, body=FollowupsBody, response=FollowupCampaign, status=201,
        errors=("no-cases", "bad-campaign", "bad-parameter", "bad-window"),
    )  # fmt: skip
    async def followups(request: web.Request, given: Given[FollowupsBody, NoQuery]) -> Reply:
        """Generate a follow-up (回访) campaign of the customers due a visit in a window."""
        if cases is None:
            raise ProblemError("no-cases", detail="this deployment has no case records")
        body = given.body
        start = moment(body.start) or request_now(request)
        end = moment(body.end) or start + timedelta(days=30)
        if end <= start or end - start > timedelta(days=366):
            raise ProblemError("bad-window", detail="end: expected after start, within a year")
        campaign, added = await create_followup_campaign(
            name=(body.name or f"回访 {start.date().isoformat()}")[:200],
            queue=body.queue,
            start=start,
            end=end,
            campaigns=campaigns,
            cases=cases,
            customers=customers,
            script=body.script[:10_000],
        )
        await audit_campaign(request, "campaign.followups", campaign.id, f"{added} customers due")
        return FollowupCampaign.model_validate({**campaign_json(campaign), "contacts": added})

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
        add_routes(
            app,
            followups,  # before /api/campaigns/{id}… (a literal segment, not an id)
            list_campaigns,
            create_campaign,
            get_campaign,
            change_campaign,
            load_contact_list,
            _set_status(CampaignStatus.RUNNING, "Start or resume dialling"),
            _set_status(CampaignStatus.PAUSED, "Pause dialling"),
            _set_status(CampaignStatus.STOPPED, "Stop for good"),
            campaign_progress,
        )

    return setup
