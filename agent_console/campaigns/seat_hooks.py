"""Campaign calls on the agent's console: the card of a campaign call (name, script,
disposition codes, the contact's attempts); a saved wrap-up is booked on the contact by
`crm_core.services.campaign_wrapups`, subscribed here (docs/adr/0094)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent_console.campaigns.preview import preview_routes
from agent_console.live.keys import SEATS_KEY
from agent_console.web.deps import DEPS_KEY
from crm_core.ports.effects import CampaignBookingLedger
from crm_core.ports.repositories import CampaignRepository, SurveyRepository
from crm_core.services.campaign_wrapups import CampaignWrapUps, contact_of
from crm_core.services.campaigns import DncNumbers
from crm_core.services.dial_rules import attempts_left


def campaign_seat_hooks(
    app: web.Application,
    *,
    campaigns: CampaignRepository,
    dnc: DncNumbers,
    surveys: SurveyRepository,
    effects: CampaignBookingLedger,
) -> None:
    """What the agent's console does with campaign calls: the card shows the campaign
    (name, script, its disposition codes, the contact's attempts), and `CampaignWrapUps`
    books a saved wrap-up's disposition (and a follow-up's satisfaction) on the contact,
    exactly once across instances in the units of work of `effects`."""
    seats = app[SEATS_KEY]
    services = app[DEPS_KEY]

    async def card(campaign_id: int, phone: str) -> dict[str, Any] | None:
        try:
            campaign = await campaigns.get(campaign_id)
        except LookupError:
            return None
        contact = await contact_of(campaigns, campaign_id, phone, seats.cards.normalize)
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

    bookings = CampaignWrapUps(
        ledger=effects,
        clock=services.clock,
        normalize=seats.cards.normalize,
    )
    seats.cards.campaign_card = card
    subscription = services.bus.subscribe(bookings.handle)

    async def unsubscribe(_app: web.Application) -> None:
        subscription.close()
        await bookings.stop()

    app.on_cleanup.append(unsubscribe)
    preview_routes(app, campaigns=campaigns, dnc=dnc, contact_card=card)
