"""Campaign calls on the agent's console: the card of a campaign call (name, script,
disposition codes, the contact's attempts), and the wrap-up that books the disposition
(and a follow-up's satisfaction) on the contact."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent_console.campaigns.preview import preview_routes
from agent_console.live.keys import SEATS_KEY
from agent_console.web.deps import DEPS_KEY
from crm_core.domain.events import DomainEvent, WrapUpSaved
from crm_core.domain.models import CampaignContact, CampaignKind, Satisfaction
from crm_core.ports.effects import EffectClaims
from crm_core.ports.repositories import CampaignRepository, SurveyRepository
from crm_core.services.campaigns import DncNumbers, apply_disposition, record_satisfaction
from crm_core.services.dial_rules import attempts_left


def campaign_seat_hooks(
    app: web.Application,
    *,
    campaigns: CampaignRepository,
    dnc: DncNumbers,
    surveys: SurveyRepository,
    effects: EffectClaims | None = None,
) -> None:
    """What the agent's console does with campaign calls: the card shows the campaign
    (name, script, its disposition codes, the contact's attempts) and a saved wrap-up
    books the disposition on the contact (do-not-call → DNC list): it consumes the
    `WrapUpSaved` event (crm_core.services.wrapup, docs/adr/0083); with `effects`, once
    across instances."""
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

    async def booked(event: DomainEvent) -> None:
        """A saved wrap-up of a campaign call books its disposition on the contact, once
        across instances (the event reaches every instance; the first claim books it)."""
        if not isinstance(event, WrapUpSaved) or event.campaign_id is None:
            return
        try:
            campaign = await campaigns.get(event.campaign_id)
        except LookupError:
            return
        contact = await contact_of(campaign.id, event.phone)
        if contact is None:
            return
        now = services.clock.now()
        if effects is not None:
            async with effects.transaction(now) as tx:
                if not await tx.claim(event.call_id, f"wrapup-campaign:{event.wrapup_id}"):
                    return
        if campaign.kind is CampaignKind.FOLLOW_UP and event.satisfaction is not None:
            await record_satisfaction(
                campaign,
                contact,
                Satisfaction(event.satisfaction),
                now=now,
                surveys=surveys,
                call_id=event.call_id,
                agent=event.agent,
                comment=event.notes,
            )
        if event.disposition:
            await apply_disposition(
                campaign,
                contact,
                event.disposition,
                reason=event.disposition_reason[:500],
                now=now,
                campaigns=campaigns,
                dnc=dnc,
            )

    seats.cards.campaign_card = card
    subscription = services.bus.subscribe(booked)

    async def unsubscribe(_app: web.Application) -> None:
        subscription.close()

    app.on_cleanup.append(unsubscribe)
    preview_routes(app, campaigns=campaigns, dnc=dnc, contact_card=card)
