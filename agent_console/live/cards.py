"""Customer cards in the console: the screen pop's card and the card API read them from
`crm_core.services.customer_cards` (the scope of wrap-up notes and the audit live there);
this module keeps the numbers last seen (the pop shows a known caller at once) and turns
a card into the JSON the console shows."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from agent_console.web.deps import ConsoleDeps
from agent_console.web.serializers import callback_json, case_json, customer_json, iso
from crm_core.domain.models import Customer, User
from crm_core.services.customer_cards import CardCall, CustomerCard, CustomerCardService

# (campaign id, customer's number) → what the agent's card shows of the campaign
CampaignCard = Callable[[int, str], Awaitable[dict[str, Any] | None]]

REMEMBERED_NUMBERS = 5000


def call_json(call: CardCall) -> dict[str, Any]:
    return {
        "call_id": call.call_id,
        "started_at": iso(call.started_at),
        "agent": call.agent,
        "outcome": call.outcome.value,
        "disposition": call.disposition,
        "notes": call.notes,
    }


def card_json(card: CustomerCard, region: str) -> dict[str, Any]:
    return {
        "customer": customer_json(card.customer) if card.customer else None,
        "known": card.known,
        "recent_calls": [call_json(c) for c in card.recent_calls],
        "open_cases": [case_json(c) for c in card.open_cases],
        "open_callbacks": [callback_json(c, region) for c in card.open_callbacks],
    }


class CustomerCards:
    def __init__(self, deps: ConsoleDeps) -> None:
        db = deps.db
        self.service = CustomerCardService(
            customers=db.customers,
            calls=db.calls,
            cases=db.cases,
            callbacks=db.callbacks,
            audit=db.audit,
            clock=deps.clock,
            normalize_phone=deps.normalize_phone,
        )
        self.region = deps.config.phone_region  # how the card shows numbers
        self._customers: OrderedDict[str, Customer | None] = OrderedDict()  # phone -> customer
        # set by the campaign routes: what a campaign call's card shows (name, script,
        # dispositions, the contact's attempts)
        self.campaign_card: CampaignCard | None = None

    def known(self, phone: str) -> Customer | None:
        """The customer last seen with this number, from memory (no database read)."""
        return self._customers.get(phone)

    def remember_customer(self, phone: str, customer: Customer | None) -> None:
        self._customers[phone] = customer
        self._customers.move_to_end(phone)
        while len(self._customers) > REMEMBERED_NUMBERS:
            self._customers.popitem(last=False)

    async def add_campaign(self, payload: dict[str, Any], campaign_id: int, phone: str) -> None:
        """A campaign call's card also shows the campaign (set by the campaign routes)."""
        if self.campaign_card is not None:
            payload["campaign"] = await self.campaign_card(campaign_id, phone)

    async def customer_card(
        self,
        user: User,
        *,
        phone: str | None = None,
        customer_id: int | None = None,
        call_id: str | None = None,
    ) -> dict[str, Any]:
        """The card as the console shows it (customer, last calls, open cases and
        callbacks); the read is audited by the service."""
        card = await self.service.card(user, customer_id=customer_id, phone=phone, call_id=call_id)
        if phone:
            self.remember_customer(phone, card.customer)
        return card_json(card, self.region)

    def normalize(self, phone: str) -> str:
        return self.service.normalize(phone)
