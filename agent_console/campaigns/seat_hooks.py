"""Campaign calls on the agent's console: the card of a campaign call (name, script,
disposition codes, the contact's attempts), and the wrap-up that books the disposition
(and a follow-up's satisfaction) on the contact."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent_console.campaigns.preview import preview_routes
from agent_console.live.keys import SEATS_KEY
from agent_console.web.deps import DEPS_KEY
from agent_console.web.errors import ApiError
from crm_core.domain.models import CampaignContact, CampaignKind, Satisfaction, User
from crm_core.ports.repositories import CampaignRepository, SurveyRepository
from crm_core.services.campaigns import DncNumbers, apply_disposition, record_satisfaction
from crm_core.services.dial_rules import attempts_left


def campaign_seat_hooks(
    app: web.Application,
    *,
    campaigns: CampaignRepository,
    dnc: DncNumbers,
    surveys: SurveyRepository,
) -> None:
    """What the agent's console does with campaign calls: the card shows the campaign
    (name, script, its disposition codes, the contact's attempts) and a saved wrap-up
    books the disposition on the contact (do-not-call → DNC list)."""
    seats = app[SEATS_KEY]
    services = app[DEPS_KEY]

    async def contact_of(campaign_id: int, phone: str) -> CampaignContact | None:
        digits = "".join(ch for ch in phone if ch in "0123456789")
        candidates = [seats.cards.normalize(phone), f"+{digits}"] if digits else []
        for e164 in dict.fromkeys(candidates):
            found = await campaigns.contact_by_phone(campaign_id, e164)
            if found is not None:
                return found
        return None

    async def card(campaign_id: int, phone: str) -> dict[str, Any] | None:
        try:
            campaign = await campaigns.get(campaign_id)
        except LookupError:
            return None
        contact = await contact_of(campaign_id, phone)
        return {
            "id": campaign.id,
            "name": campaign.name,
            "kind": campaign.kind.value,
            "script": campaign.script,
            "dispositions": list(campaign.dispositions),
            "contact": None
            if contact is None
            else {
                "id": contact.id,
                "name": contact.name,
                "attempts": contact.attempts,
                "attempts_left": attempts_left(campaign, contact),
                "last_result": contact.last_result,
                "disposition": contact.disposition,
                "extra": contact.extra.get("note", ""),
            },
        }

    async def wrapup(call: dict[str, Any], body: dict[str, Any], user: User) -> None:
        campaign_id = call.get("campaign_id")
        if campaign_id is None:
            return
        try:
            campaign = await campaigns.get(int(campaign_id))
        except LookupError:
            return
        contact = await contact_of(campaign.id, str(call.get("caller_number") or ""))
        if contact is None:
            return
        now = services.clock.now()
        score = body.get("satisfaction")
        if campaign.kind is CampaignKind.FOLLOW_UP and score is not None:
            if not isinstance(score, int) or not 1 <= score <= 5:
                raise ApiError(400, "bad-satisfaction", "satisfaction: expected 1 to 5")
            await record_satisfaction(
                campaign,
                contact,
                Satisfaction(score),
                now=now,
                surveys=surveys,
                call_id=str(call.get("call_id") or "") or None,
                agent=user.member_name or user.username,
                comment=str(body.get("notes") or ""),
            )
        disposition = body.get("disposition")
        if isinstance(disposition, str) and disposition:
            await apply_disposition(
                campaign,
                contact,
                disposition,
                reason=str(body.get("disposition_reason") or "")[:500],
                now=now,
                campaigns=campaigns,
                dnc=dnc,
            )

    seats.cards.campaign_card = card
    seats.wrapup_hooks.append(wrapup)
    preview_routes(app, campaigns=campaigns, dnc=dnc, contact_card=card)
