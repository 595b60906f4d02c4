"""Campaign REST API for operators (roles lead, manager, admin; agents are refused).

Wire with `services.extra_setup.append(campaign_routes(campaigns=..., customers=..., dnc=...))`.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Awaitable, Callable

from aiohttp import web

from agent_console.api import json_body
from agent_console.auth import require
from agent_console.errors import ApiError
from agent_console.keys import SERVICES_KEY
from crm_core.domain.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    ContactStatus,
    DialMode,
    Role,
)
from crm_core.ports.repositories import CampaignRepository, CustomerRepository
from crm_core.services.campaigns import DncNumbers, load_contacts
from crm_core.services.contact_import import ContactFileError

OPERATORS = (Role.LEAD, Role.MANAGER, Role.ADMIN)
MAX_UPLOAD_BYTES = 32 * 1024 * 1024


def campaign_routes(
    *, campaigns: CampaignRepository, customers: CustomerRepository, dnc: DncNumbers
) -> Callable[[web.Application], None]:
    async def create(request: web.Request) -> web.Response:
        require(request, *OPERATORS)
        body = await json_body(request)
        name = str(body.get("name") or "").strip()
        if not name:
            raise ApiError(400, "bad-campaign", "name is required")
        try:
            mode = DialMode(body.get("mode", "progressive"))
            kind = CampaignKind(body.get("kind", "sales"))
        except ValueError as exc:
            raise ApiError(400, "bad-campaign", str(exc)) from exc
        campaign = await campaigns.create(
            Campaign(
                id=0,
                name=name,
                kind=kind,
                mode=mode,
                status=CampaignStatus.DRAFT,
                queue=body.get("queue"),
                script=str(body.get("script", "")),
                caller_id=str(body.get("caller_id", "")),
                max_attempts=int(body.get("max_attempts", 3)),
            )
        )
        return web.json_response({"id": campaign.id, "status": campaign.status.value}, status=201)

    async def _campaign(request: web.Request) -> Campaign:
        try:
            return await campaigns.get(int(request.match_info["id"]))
        except (KeyError, LookupError, ValueError) as exc:
            raise ApiError(404, "no-such-campaign", "no such campaign") from exc

    async def upload(request: web.Request) -> web.Response:
        require(request, *OPERATORS)
        campaign = await _campaign(request)
        data = await request.content.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise ApiError(413, "file-too-large", "contact lists are limited to 32 MB")
        try:
            report = await load_contacts(
                campaign.id, data, campaigns=campaigns, customers=customers, dnc=dnc
            )
        except ContactFileError as exc:
            raise ApiError(400, exc.error_id, str(exc)) from exc
        return web.json_response(report.as_dict())

    def _set_status(status: CampaignStatus) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            require(request, *OPERATORS)
            campaign = await _campaign(request)
            updated = await campaigns.update(campaign.id, status=status)
            return web.json_response({"id": updated.id, "status": updated.status.value})

        return handler

    async def results(request: web.Request) -> web.Response:
        require(request, *OPERATORS)
        campaign = await _campaign(request)
        contacts = await campaigns.contacts(campaign.id, limit=1_000_000)
        if request.query.get("format") == "csv":
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(["phone", "name", "status", "attempts", "last_result", "disposition"])
            for c in contacts:
                writer.writerow(
                    [
                        c.phone_e164,
                        c.name,
                        c.status.value,
                        c.attempts,
                        c.last_result or "",
                        c.disposition or "",
                    ]
                )
            return web.Response(
                body=out.getvalue().encode("utf-8-sig"),
                content_type="text/csv",
                charset="utf-8",
            )
        dispositions = Counter(c.disposition for c in contacts if c.disposition)
        return web.json_response(
            {
                "id": campaign.id,
                "status": campaign.status.value,
                "contacts": len(contacts),
                "dialled": sum(1 for c in contacts if c.attempts > 0),
                "reached": sum(1 for c in contacts if c.last_result == "answered"),
                "dispositions": dict(dispositions),
                "attempts_left": sum(
                    max(0, campaign.max_attempts - c.attempts)
                    for c in contacts
                    if c.status != ContactStatus.DONE
                ),
            }
        )

    def setup(app: web.Application) -> None:
        app.router.add_post("/api/campaigns", create)
        app.router.add_post("/api/campaigns/{id}/contacts", upload)
        app.router.add_post("/api/campaigns/{id}/start", _set_status(CampaignStatus.RUNNING))
        app.router.add_post("/api/campaigns/{id}/pause", _set_status(CampaignStatus.PAUSED))
        app.router.add_get("/api/campaigns/{id}/results", results)

    return setup


def setup_campaign_routes(app: web.Application) -> None:
    """`extra_setup` hook when the console's database is the full CRM `Database`."""
    db = app[SERVICES_KEY].db
    try:
        repos = (db.campaigns, db.customers, db.dnc)  # type: ignore[attr-defined]
    except AttributeError as exc:
        raise RuntimeError("campaign routes need a database with campaigns and dnc") from exc
    campaign_routes(campaigns=repos[0], customers=repos[1], dnc=repos[2])(app)
