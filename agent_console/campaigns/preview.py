"""Preview dialing: the agent takes the next contact of a running preview campaign,
dials it or skips it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from agent_console.campaigns.common import OPERATORS, audit_campaign
from agent_console.live.keys import HUB_KEY, SEATS_KEY
from agent_console.web.auth import require
from agent_console.web.deps import DEPS_KEY
from agent_console.web.dialing import agent_first_call
from agent_console.web.edge import is_id
from agent_console.web.errors import ApiError
from agent_console.web.openapi import TEXT, json_object, one_of, register_operation
from agent_console.web.requests import json_body
from crm_core.domain.events import CallEnded, DomainEvent
from crm_core.domain.models import (
    CallOutcome,
    Campaign,
    CampaignContact,
    CampaignStatus,
    ContactStatus,
    DialMode,
    Role,
    User,
)
from crm_core.ports.repositories import CampaignRepository
from crm_core.ports.telephony import TelephonyError
from crm_core.services.campaigns import (
    DncNumbers,
    apply_disposition,
    pick_contacts,
    record_attempt,
    release_contact,
)
from crm_core.services.dial_rules import AttemptResult, attempts_left

SKIP_REASONS = ("wrong_number", "do_not_call", "later", "other")


_OUTCOME_RESULT = {
    CallOutcome.ANSWERED: AttemptResult.ANSWERED,
    CallOutcome.BUSY: AttemptResult.BUSY,
    CallOutcome.NO_ANSWER: AttemptResult.NO_ANSWER,
}


def preview_routes(
    app: web.Application,
    *,
    campaigns: CampaignRepository,
    dnc: DncNumbers,
    contact_card: Callable[[int, str], Awaitable[dict[str, Any] | None]],
) -> None:
    """Preview mode: the agent takes the next contact of a running preview campaign of
    their queues, reads the card, then dials it (agent first, then the customer) or
    skips it with a reason. The attempt is booked from the call's record when it ends."""
    seats = app[SEATS_KEY]
    services = app[DEPS_KEY]
    placed: dict[str, tuple[Campaign, CampaignContact]] = {}  # call id → what it dials

    def claimer(user: User) -> str:
        return f"agent:{user.username}"

    async def _mine(request: web.Request) -> tuple[User, Campaign, CampaignContact]:
        user = require(request, Role.AGENT, *OPERATORS)
        ids = (request.match_info["id"], request.match_info["contact_id"])
        if not all(is_id(x) for x in ids):
            raise ApiError(404, "no-such-contact", "no such contact")
        try:
            campaign = await campaigns.get(int(ids[0]))
            contact = await campaigns.contact(int(ids[1]))
        except LookupError as exc:
            raise ApiError(404, "no-such-contact", "no such contact") from exc
        if (
            contact.campaign_id != campaign.id
            or contact.status is not ContactStatus.DIALING
            or contact.extra.get("claimed_by") != claimer(user)
        ):
            raise ApiError(409, "not-your-contact", "take this contact with 'next' first")
        return user, campaign, contact

    async def _offer(user: User, campaign: Campaign, contact: CampaignContact) -> dict[str, Any]:
        payload = await seats.cards.customer_card(
            user, phone=contact.phone_e164, customer_id=contact.customer_id
        )
        return {
            "campaign": await contact_card(campaign.id, contact.phone_e164),
            "contact": {
                "id": contact.id,
                "name": contact.name,
                "phone": contact.phone_e164,
                "attempts": contact.attempts,
                "attempts_left": attempts_left(campaign, contact),
                "last_result": contact.last_result,
                "extra": contact.extra,
            },
            "card": payload,
        }

    async def next_contact(request: web.Request) -> web.Response:
        user = require(request, Role.AGENT, *OPERATORS)
        mine = [
            c
            for c in await campaigns.list()
            if c.status is CampaignStatus.RUNNING
            and c.mode is DialMode.PREVIEW
            and (c.queue in user.queues or user.role is not Role.AGENT)
        ]
        for campaign in mine:  # a contact already taken (page reloaded) comes back first
            for held in await campaigns.contacts(campaign.id, status=ContactStatus.DIALING.value):
                if held.extra.get("claimed_by") == claimer(user):
                    return web.json_response(await _offer(user, campaign, held))
        for campaign in mine:
            got = await pick_contacts(
                campaign,
                want=1,
                now=services.clock.now(),
                by=claimer(user),
                campaigns=campaigns,
                dnc=dnc,
            )
            if got:
                return web.json_response(await _offer(user, campaign, got[0]))
        return web.json_response({"contact": None, "campaigns": len(mine)})

    async def dial(request: web.Request) -> web.Response:
        user, campaign, contact = await _mine(request)
        if not user.interface:
            raise ApiError(409, "no-phone", "this login has no phone to dial from")
        if await dnc.contains(contact.phone_e164):  # re-read right before the dial
            await campaigns.update_contact(contact.id, status=ContactStatus.DNC)
            raise ApiError(409, "do-not-call", "this number is on the do-not-call list")
        request_id = f"cmp{campaign.id}-c{contact.id}-a{contact.attempts + 1}"
        variables = {
            "CC_AGENT": user.username,
            "CC_CAMPAIGN_ID": str(campaign.id),
            "CC_CONTACT_ID": str(contact.id),
        }
        if contact.customer_id is not None:
            variables["CC_CUSTOMER_ID"] = str(contact.customer_id)
        if campaign.caller_id:
            variables["_CC_CALLER_ID"] = campaign.caller_id
        req = agent_first_call(
            user,
            contact.phone_e164,
            services.config,
            request_id=request_id,
            variables=variables,
        )
        hub = request.app[HUB_KEY]

        async def place() -> None:
            try:
                res = await services.commands.originate(req)
            except TelephonyError as exc:  # the agent's own phone did not pick up
                await release_contact(contact, reason="agent-not-reached", campaigns=campaigns)
                hub.send_to_user(
                    user.username,
                    {
                        "type": "dial_result",
                        "request_id": request_id,
                        "success": False,
                        "error_id": exc.error_id,
                        "message": exc.message,
                    },
                )
                return
            if res.call_id:
                placed[res.call_id] = (campaign, contact)
                seats.pop_outbound(
                    user,
                    res.call_id,
                    contact.phone_e164,
                    customer_id=contact.customer_id,
                    campaign_id=campaign.id,
                )
            hub.send_to_user(
                user.username,
                {
                    "type": "dial_result",
                    "request_id": request_id,
                    "success": True,
                    "call_id": res.call_id,
                },
            )

        seats.tasks.spawn(place(), f"preview:{request_id}")
        await audit_campaign(request, "campaign.preview_dial", campaign.id, f"contact:{contact.id}")
        return web.json_response({"request_id": request_id}, status=202)

    async def skip(request: web.Request) -> web.Response:
        _, campaign, contact = await _mine(request)
        body = await json_body(request)
        reason = body.get("reason")
        if reason not in SKIP_REASONS:
            raise ApiError(400, "bad-reason", f"reason: expected one of {list(SKIP_REASONS)}")
        note = str(body.get("note") or "")[:500]
        if reason == "later":
            updated = await release_contact(contact, reason=note or "later", campaigns=campaigns)
        elif reason == "do_not_call":
            updated = await apply_disposition(
                campaign,
                contact,
                "do_not_call",
                reason=note,
                now=services.clock.now(),
                campaigns=campaigns,
                dnc=dnc,
            )
        else:
            updated = await campaigns.update_contact(
                contact.id,
                status=ContactStatus.DONE,
                disposition=reason,
                disposition_reason=note,
            )
        await audit_campaign(
            request, "campaign.preview_skip", campaign.id, f"contact:{contact.id} {reason}"
        )
        return web.json_response({"id": updated.id, "status": updated.status.value})

    def on_event(event: DomainEvent) -> None:
        if isinstance(event, CallEnded) and event.record.call_id in placed:
            campaign, contact = placed.pop(event.record.call_id)
            result = _OUTCOME_RESULT.get(event.record.outcome, AttemptResult.FAILED)
            seats.tasks.spawn(
                record_attempt(
                    campaign,
                    contact,
                    result,
                    now=event.at,
                    campaigns=campaigns,
                    call_id=event.record.call_id,
                ),
                f"preview-result:{event.record.call_id}",
            )

    subscription = services.bus.subscribe(on_event)

    async def unsubscribe(_: web.Application) -> None:
        subscription.close()

    app.on_cleanup.append(unsubscribe)
    for path, handler, summary, body in (
        ("/api/campaigns/preview/next", next_contact, "Take the next preview contact", None),
        ("/api/campaigns/{id}/contacts/{contact_id}/dial", dial, "Dial the contact taken", None),
        (
            "/api/campaigns/{id}/contacts/{contact_id}/skip",
            skip,
            "Skip the contact taken, with a reason",
            json_object("reason", reason=one_of(*SKIP_REASONS), note=TEXT),
        ),
    ):
        app.router.add_post(path, handler)
        register_operation(
            app,
            "POST",
            path,
            summary,
            roles=("agent", *(r.value for r in OPERATORS)),
            request_body=body,
            tag="campaigns",
        )
