"""Preview dialing: the agent takes the next contact of a running preview campaign,
dials it or skips it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field

from agent_console.campaigns.common import OPERATORS, audit_campaign
from agent_console.live.keys import HUB_KEY, SEATS_KEY
from agent_console.web.declared import Given, add_routes, operation
from agent_console.web.deps import DEPS_KEY
from agent_console.web.dialing import agent_first_call
from agent_console.web.edge import is_id
from agent_console.web.error_catalogue import ProblemError
from agent_console.web.models import Body, NoBody, NoQuery, Reply, ShortText, Text
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
ROLES = (Role.AGENT, *OPERATORS)
TAG = "campaigns"


class SkipBody(Body):
    # checked in the handler, after the contact: a contact that is not the agent's is
    # answered as such whatever the reason says (as before the models)
    reason: Annotated[ShortText | None, Field(json_schema_extra={"enum": list(SKIP_REASONS)})] = (
        None
    )
    note: Annotated[Text, Field(max_length=100_000)] = ""


class Offer(Reply):
    """The contact taken (`contact` null: none due; `campaigns`: the running preview
    campaigns looked at)."""

    contact: dict[str, Any] | None
    campaign: dict[str, Any] | None = None
    card: dict[str, Any] | None = None
    campaigns: int | None = None


class DialPlaced(Reply):
    request_id: str  # the `dial_result` WebSocket frame carries it


class Skipped(Reply):
    id: int
    status: str


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

    async def _mine(request: web.Request, user: User) -> tuple[Campaign, CampaignContact]:
        ids = (request.match_info["id"], request.match_info["contact_id"])
        if not all(is_id(x) for x in ids):
            raise ProblemError("no-such-contact")
        try:
            campaign = await campaigns.get(int(ids[0]))
            contact = await campaigns.contact(int(ids[1]))
        except LookupError as exc:
            raise ProblemError("no-such-contact") from exc
        if (
            contact.campaign_id != campaign.id
            or contact.status is not ContactStatus.DIALING
            or contact.extra.get("claimed_by") != claimer(user)
        ):
            raise ProblemError("not-your-contact", detail="take this contact with 'next' first")
        return campaign, contact

    async def _offer(user: User, campaign: Campaign, contact: CampaignContact) -> Offer:
        payload = await seats.cards.customer_card(
            user, phone=contact.phone_e164, customer_id=contact.customer_id
        )
        return Offer(
            campaign=await contact_card(campaign.id, contact.phone_e164),
            contact={
                "id": contact.id,
                "name": contact.name,
                "phone": contact.phone_e164,
                "attempts": contact.attempts,
                "attempts_left": attempts_left(campaign, contact),
                "last_result": contact.last_result,
                "extra": contact.extra,
            },
            card=payload,
        )

    @operation("POST", "/api/campaigns/preview/next", summary="Take the next preview contact",
               tag=TAG, roles=ROLES, response=Offer)  # fmt: skip
    async def next_contact(request: web.Request, given: Given[NoBody, NoQuery]) -> Reply:
        user = given.user
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
                    return await _offer(user, campaign, held)
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
                return await _offer(user, campaign, got[0])
        return Offer(contact=None, campaigns=len(mine))

    @operation(
        "POST", "/api/campaigns/{id}/contacts/{contact_id}/dial", summary="Dial the contact taken",
        tag=TAG, roles=ROLES, response=DialPlaced, status=202,
        errors=("no-such-contact", "not-your-contact", "no-phone", "do-not-call"),
    )  # fmt: skip
    async def dial(request: web.Request, given: Given[NoBody, NoQuery]) -> Reply:
        user = given.user
        campaign, contact = await _mine(request, user)
        if not user.interface:
            raise ProblemError("no-phone", detail="this login has no phone to dial from")
        if await dnc.contains(contact.phone_e164):  # re-read right before the dial
            await campaigns.update_contact(contact.id, status=ContactStatus.DNC)
            raise ProblemError("do-not-call")
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
        return DialPlaced(request_id=request_id)

    @operation(
        "POST", "/api/campaigns/{id}/contacts/{contact_id}/skip",
        summary="Skip the contact taken, with a reason", tag=TAG, roles=ROLES,
        body=SkipBody, response=Skipped,
        errors=("bad-reason", "no-such-contact", "not-your-contact"),
    )  # fmt: skip
    async def skip(request: web.Request, given: Given[SkipBody, NoQuery]) -> Reply:
        campaign, contact = await _mine(request, given.user)
        reason, note = given.body.reason, given.body.note[:500]
        if reason not in SKIP_REASONS:
            raise ProblemError("bad-reason", detail=f"reason: expected one of {SKIP_REASONS}")
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
        return Skipped(id=updated.id, status=updated.status.value)

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
    add_routes(app, next_contact, dial, skip)
